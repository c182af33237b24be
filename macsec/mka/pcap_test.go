package mka

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// writePcap writes Ethernet frames to a classic pcap file.
func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0xA1B2C3D4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // LINKTYPE_ETHERNET
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// dissect runs tshark over frames and returns its verbose output; it skips
// the test when tshark is not installed.
func dissect(t *testing.T, frames [][]byte) string {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (.ci/run installs it)")
	}
	path := filepath.Join(t.TempDir(), "mka.pcap")
	writePcap(t, path, frames)
	out, err := exec.Command(tshark, "-n", "-r", path, "-V").Output()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// TestTsharkDissectsMKPDUs checks the wire format against Wireshark's
// EAPOL-MKA dissector: every parameter set recognised, nothing malformed.
func TestTsharkDissectsMKPDUs(t *testing.T) {
	ick := testICK(t)
	full := fullMKPDU()
	aes128 := fullMKPDU()
	aes128.ICVIndicator, aes128.HasXPN, aes128.HasAnnouncement = false, false, false
	aes128.DistributedSAK.CipherSuite, aes128.DistributedSAK.WrappedSAK = 0, make([]byte, 24)
	var frames [][]byte
	for _, m := range []*MKPDU{full, aes128, {SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1, 2, 3}}} {
		f, err := m.AppendFrame(nil, testMAC, ick)
		require.NoError(t, err)
		frames = append(frames, f)
	}
	out := dissect(t, frames)
	for _, want := range []string{
		"Type: MKA (5)", "MACsec Key Agreement",
		"Basic Parameter set", "Live Peer List Parameter set", "Potential Peer List Parameter set",
		"MACsec SAK Use parameter set", "Distributed SAK parameter set", "Announcement parameter set",
		"Extended Packet Numbering set", "Integrity Check Value Indicator",
		"MACsec Cipher Suite: GCM-AES-XPN-256", "Cipher Suite: GCM-AES-128", "Cipher Suite: GCM-AES-XPN-128",
		"Algorithm Agility: IEEE Std 802.1X-2010", "Key Server SSCI (LSB): 0x02", "Integrity Check Value:",
	} {
		assert.Contains(t, out, want)
	}
	for _, bad := range []string{"Malformed", "Undecoded", "Unexpected", "Unknown parameter set", "Expert Info"} {
		assert.NotContains(t, out, bad)
	}
	assert.Equal(t, 3, strings.Count(out, "Basic Parameter set"))
	if t.Failed() {
		t.Log(out)
	}
}

// TestTsharkDissectsSession dissects every MKPDU of a real XPN session with
// a rekey: all recognised, none malformed.
func TestTsharkDissectsSession(t *testing.T) {
	suite := macsec.GCMAESXPN256
	o := nodeOpts{psk: testPSK(t, cknHex, cak256, suite), priority: 16}
	l := newLab(t, suite, o, o)
	l.advance(3*time.Second, 0, nil)
	require.NoError(t, l.a.p.Rekey(l.now))
	l.advance(5*time.Second, 0, nil)
	require.True(t, l.up())
	out := dissect(t, l.mkpdus)
	assert.Equal(t, len(l.mkpdus), strings.Count(out, "MACsec Key Agreement\n"))
	for _, want := range []string{
		"Live Peer List Parameter set", "Potential Peer List Parameter set", "MACsec SAK Use parameter set",
		"Distributed SAK parameter set", "Announcement parameter set", "Extended Packet Numbering set",
		"MACsec Cipher Suite: GCM-AES-XPN-256",
	} {
		assert.Contains(t, out, want)
	}
	for _, bad := range []string{"Malformed", "Undecoded", "Unexpected", "Unknown parameter set", "Expert Info"} {
		assert.NotContains(t, out, bad)
	}
}
