package conformance

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frame is an Ethernet frame with an IPv4 header (protocol proto) and
// l4 after it.
func frame(src, dst string, proto byte, l4 []byte) []byte {
	f := make([]byte, 14+20, 14+20+len(l4))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return append(f, l4...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// TestWireWatchClassifies: IKE on 500 and behind the non-ESP marker on
// 4500, ESP in UDP and bare ESP, a keepalive are the tunnel's; an ICMP
// error between the outer addresses is other; a packet of the protected
// networks, in either direction, is cleartext; ARP is not counted.
func TestWireWatchClassifies(t *testing.T) {
	w := &wireWatch{protected: []netip.Prefix{netU, netK}}
	esp := append([]byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1}, make([]byte, 100)...)
	for _, f := range [][]byte{
		frame("192.0.2.1", "192.0.2.2", 17, udp(500, 500, make([]byte, 300))),
		frame("192.0.2.2", "192.0.2.1", 17, udp(4500, 4500, append([]byte{0, 0, 0, 0}, make([]byte, 80)...))),
		frame("192.0.2.1", "192.0.2.2", 17, udp(4500, 4500, []byte{0xff})),
		frame("192.0.2.1", "192.0.2.2", 17, udp(4500, 4500, esp)),
		frame("192.0.2.2", "192.0.2.1", 50, esp),
		frame("192.0.2.2", "192.0.2.1", 1, make([]byte, 36)),
		frame("10.2.0.1", "10.1.0.1", 1, make([]byte, 64)),
		frame("10.1.0.1", "10.2.0.1", 6, make([]byte, 40)),
		append(make([]byte, 12), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	} {
		w.classify(f)
	}
	assert.EqualValues(t, 3, w.ike.Load())
	assert.EqualValues(t, 2, w.esp.Load())
	assert.EqualValues(t, 2*len(esp), w.espBytes.Load())
	assert.EqualValues(t, 1, w.other.Load())
	n, first := w.cleartext()
	assert.Equal(t, 2, n)
	assert.Equal(t, []string{"protocol 1 10.2.0.1 > 10.1.0.1", "protocol 6 10.1.0.1 > 10.2.0.1"}, first)
}

func TestTrafficBytes(t *testing.T) {
	st := `006 #2: "s2s/1x1"[1] 192.0.2.1, type=ESP, add_time=1796195983, inBytes=1096460, outBytes=1097760, maxBytes=2^63B, id='192.0.2.1'
006 #4: "s2s/1x1"[1] 192.0.2.1, type=ESP, add_time=1796196983, inBytes=40, outBytes=0, maxBytes=2^63B, id='192.0.2.1'
`
	assert.EqualValues(t, 1096500, trafficBytes(st, "inBytes="))
	assert.EqualValues(t, 1097760, trafficBytes(st, "outBytes="))
	assert.Zero(t, trafficBytes("000 no SA\n", "inBytes="))
}

// TestGuestHasLibreswan: with libreswan on this system (.ci/setup-vm
// unpacks it), the ipsec suite's guest gets pluto and its helpers at
// their usual paths, certutil, and the NSS softoken and freebl beside
// libnss3, which no ldd lists.
func TestGuestHasLibreswan(t *testing.T) {
	root, err := libreswanRoot()
	if err != nil {
		t.Skip(err)
	}
	f := &Initramfs{}
	require.NoError(t, addLibreswan(f))
	for _, want := range append(libreswanFiles, "usr/bin/certutil") {
		assert.True(t, f.Has(want), "%s (from %s)", want, root)
	}
	libs, err := sharedLibs(filepath.Join(root, plutoPath))
	require.NoError(t, err)
	var nss string
	for _, l := range libs {
		assert.True(t, f.Has(l), "pluto's %s", l)
		if filepath.Base(l) == "libnss3.so" {
			nss = filepath.Dir(l)
		}
	}
	require.NotEmpty(t, nss, "pluto links libnss3")
	for _, mod := range []string{"libsoftokn3.so", "libfreeblpriv3.so"} {
		assert.True(t, f.Has(filepath.Join(nss, mod)), mod)
	}
}
