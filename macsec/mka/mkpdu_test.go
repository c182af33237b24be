package mka

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

var testMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}

func testICK(t testing.TB) ICK {
	cak, err := NewCAK(bytes.Repeat([]byte{0x11}, 16))
	require.NoError(t, err)
	ick, err := DeriveICK(cak, CKN{0xAB, 0xCD})
	require.NoError(t, err)
	return ick
}

// fullMKPDU has every parameter set this package knows.
func fullMKPDU() *MKPDU {
	mi := func(b byte) MI { var m MI; m[0], m[11] = b, b; return m }
	return &MKPDU{
		Version:           MKAVersion,
		KeyServerPriority: 16,
		KeyServer:         true,
		MACsecDesired:     true,
		MACsecCapability:  CapabilityConfidentiality,
		SCI:               macsec.NewSCI(testMAC, 1),
		MI:                mi(1),
		MN:                7,
		AlgorithmAgility:  AlgorithmAgility,
		CKN:               CKN{0xAB, 0xCD, 0xEF},
		LivePeers:         []Peer{{MI: mi(2), MN: 5}},
		KeyServerSSCI:     2,
		PotentialPeers:    []Peer{{MI: mi(3), MN: 1}, {MI: mi(4), MN: 9}},
		HasSAKUse:         true,
		SAKUse: SAKUse{
			LatestAN: 1, LatestTx: true, LatestRx: true, OldAN: 0, OldRx: true, DelayProtect: true,
			Latest: KI{MI: mi(1), KN: 2}, LatestLPN: 0x10, Old: KI{MI: mi(1), KN: 1}, OldLPN: 0xFFFF0000,
		},
		HasDistributedSAK: true,
		DistributedSAK: DistributedSAK{
			AN: 1, KN: 2, CipherSuite: macsec.GCMAESXPN256, WrappedSAK: bytes.Repeat([]byte{0x5A}, 40),
		},
		HasXPN:          true,
		XPN:             XPN{LatestLPNHigh: 1, OldLPNHigh: 2},
		HasAnnouncement: true,
		CipherSuites: []AnnouncedSuite{
			{CapabilityConfidentiality, macsec.GCMAES128}, {CapabilityConfidentiality, macsec.GCMAES256},
			{CapabilityConfidentiality, macsec.GCMAESXPN128}, {CapabilityConfidentiality, macsec.GCMAESXPN256},
		},
		ICVIndicator: true,
	}
}

func TestMKPDURoundTrip(t *testing.T) {
	ick := testICK(t)
	for name, m := range map[string]*MKPDU{
		"full":    fullMKPDU(),
		"hello":   {SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}},
		"aes128":  {SCI: 1, MI: MI{1}, MN: 1, CKN: bytes.Repeat([]byte{9}, 32), HasDistributedSAK: true, DistributedSAK: DistributedSAK{AN: 3, KN: 1, CipherSuite: macsec.GCMAES128, WrappedSAK: make([]byte, 24)}},
		"xpn128":  {SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1, 2}, HasDistributedSAK: true, DistributedSAK: DistributedSAK{KN: 1, CipherSuite: macsec.GCMAESXPN128, WrappedSAK: make([]byte, 24)}},
		"plain":   {SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1, 2, 3, 4, 5}, HasDistributedSAK: true},
		"nokeys":  {SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}, HasSAKUse: true, SAKUse: SAKUse{PlainTx: true, PlainRx: true}},
		"empty-a": {SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}, HasAnnouncement: true},
	} {
		t.Run(name, func(t *testing.T) {
			frame, err := m.AppendFrame(nil, testMAC, ick)
			require.NoError(t, err)
			assert.Equal(t, PAEGroupAddress[:], frame[:6])
			assert.Equal(t, []byte(testMAC), frame[6:12])
			assert.Equal(t, []byte{0x88, 0x8E, EAPOLVersion, EAPOLTypeMKA}, frame[12:16])
			assert.Equal(t, len(frame)-frameHeaderLen, int(binary.BigEndian.Uint16(frame[16:])))
			assert.Zero(t, (len(frame)-frameHeaderLen)%4)

			var got MKPDU
			covered, icv, err := DecodeFrame(frame, &got)
			require.NoError(t, err)
			assert.True(t, CheckICV(covered, icv, ick))
			want := *m
			if want.Version == 0 {
				want.Version = MKAVersion
			}
			if want.AlgorithmAgility == 0 {
				want.AlgorithmAgility = AlgorithmAgility
			}
			normalize(&want)
			normalize(&got)
			assert.Equal(t, want, got)

			// Ethernet padding after the EAPOL body is ignored.
			padded := append(append([]byte(nil), frame...), 0, 0, 0, 0)
			_, _, err = DecodeFrame(padded, &got)
			assert.NoError(t, err)
		})
	}
}

// normalize makes empty slices nil so decoded and built MKPDUs compare.
func normalize(m *MKPDU) {
	if len(m.LivePeers) == 0 {
		m.LivePeers = nil
	}
	if len(m.PotentialPeers) == 0 {
		m.PotentialPeers = nil
	}
	if len(m.CipherSuites) == 0 {
		m.CipherSuites = nil
	}
	if len(m.DistributedSAK.WrappedSAK) == 0 {
		m.DistributedSAK.WrappedSAK = nil
	}
}

// paramSets splits an encoded MKPDU body (after Basic, before the ICV) into
// its parameter sets.
func paramSets(t *testing.T, frame []byte) (head []byte, sets [][]byte, icv []byte) {
	body := frame[frameHeaderLen:]
	n := pad4(int(binary.BigEndian.Uint16(body[2:]) & 0x0FFF))
	head, rest := frame[:frameHeaderLen+4+n], body[4+n:len(body)-ICVLen]
	for len(rest) > 0 {
		l := 4 + pad4(int(binary.BigEndian.Uint16(rest[2:])&0x0FFF))
		if rest[0] == paramICVIndicator {
			l = 4
		}
		sets = append(sets, rest[:l])
		rest = rest[l:]
	}
	return head, sets, body[len(body)-ICVLen:]
}

// TestMKPDUAnyOrder reverses the order of the parameter sets after Basic:
// the decoder accepts it and finds the same content.
func TestMKPDUAnyOrder(t *testing.T) {
	m := fullMKPDU()
	m.ICVIndicator = false
	frame, err := m.AppendFrame(nil, testMAC, testICK(t))
	require.NoError(t, err)
	head, sets, icv := paramSets(t, frame)
	require.Len(t, sets, 6)
	re := append([]byte(nil), head...)
	for i := len(sets) - 1; i >= 0; i-- {
		re = append(re, sets[i]...)
	}
	re = append(re, icv...)
	require.Equal(t, len(frame), len(re))
	var a, b MKPDU
	_, _, err = DecodeFrame(frame, &a)
	require.NoError(t, err)
	_, _, err = DecodeFrame(re, &b)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestDecodeUnknownParameterSetSkipped(t *testing.T) {
	m := &MKPDU{SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}}
	frame, err := m.AppendFrame(nil, testMAC, testICK(t))
	require.NoError(t, err)
	head, _, icv := paramSets(t, frame)
	re := append(append([]byte(nil), head...), 200, 0, 0, 3, 1, 2, 3, 0, paramKMD, 0, 0, 4, 'k', 'm', 'd', '!')
	re = append(re, icv...)
	binary.BigEndian.PutUint16(re[16:], uint16(len(re)-frameHeaderLen))
	var got MKPDU
	_, _, err = DecodeFrame(re, &got)
	assert.NoError(t, err)
}

func TestDecodeMalformed(t *testing.T) {
	ick := testICK(t)
	good, err := fullMKPDU().AppendFrame(nil, testMAC, ick)
	require.NoError(t, err)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	bodyOff := frameHeaderLen
	head, sets, _ := paramSets(t, good)
	setOff := func(typ uint8) int {
		off := len(head)
		for _, s := range sets {
			if s[0] == typ {
				return off
			}
			off += len(s)
		}
		t.Fatalf("no set %d", typ)
		return 0
	}
	for name, tc := range map[string]struct {
		frame []byte
		err   error
	}{
		"short frame":     {good[:10], ErrNotMKPDU},
		"ethertype":       {mut(func(b []byte) []byte { b[12] = 0x08; return b }), ErrNotMKPDU},
		"eapol type":      {mut(func(b []byte) []byte { b[15] = 0; return b }), ErrNotMKPDU},
		"unicast DA":      {mut(func(b []byte) []byte { b[0] = 0; return b }), ErrMalformed},
		"eapol version 0": {mut(func(b []byte) []byte { b[14] = 0; return b }), ErrMalformed},
		"eapol len long":  {mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[16:], 0xFFFF); return b }), ErrMalformed},
		"eapol len odd": {mut(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[16:], uint16(len(b)-frameHeaderLen-1))
			return b[:len(b)-1]
		}), ErrMalformed},
		"truncated": {mut(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[16:], uint16(len(b)-frameHeaderLen-8))
			return b[:len(b)-8]
		}), ErrMalformed},
		"tiny body":         {mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[16:], 16); return b }), ErrMalformed},
		"basic len short":   {mut(func(b []byte) []byte { b[bodyOff+3] = 28; return b }), ErrMalformed},
		"basic len long":    {mut(func(b []byte) []byte { b[bodyOff+3] = 61; return b }), ErrMalformed},
		"basic overrun":     {mut(func(b []byte) []byte { b[bodyOff+3] = 60; return b[:bodyOff+4+44+ICVLen-4] }), ErrMalformed},
		"peer list len":     {mut(func(b []byte) []byte { b[setOff(paramLivePeerList)+3] = 15; return b }), ErrMalformed},
		"sak use len":       {mut(func(b []byte) []byte { b[setOff(paramSAKUse)+3] = 36; return b }), ErrMalformed},
		"dist sak len":      {mut(func(b []byte) []byte { b[setOff(paramDistributedSAK)+3] = 44; return b }), ErrMalformed},
		"xpn len":           {mut(func(b []byte) []byte { b[setOff(paramXPN)+3] = 4; return b }), ErrMalformed},
		"set overrun":       {mut(func(b []byte) []byte { b[setOff(paramXPN)+2] = 0x0F; return b }), ErrMalformed},
		"tlv overrun":       {mut(func(b []byte) []byte { b[setOff(paramAnnouncement)+5] = 0xFF; return b }), ErrMalformed},
		"suite tlv len":     {mut(func(b []byte) []byte { b[setOff(paramAnnouncement)+5] = 9; return b }), ErrMalformed},
		"icv indicator len": {mut(func(b []byte) []byte { b[len(b)-ICVLen-1] = 8; return b }), ErrMalformed},
		"duplicate set": {mut(func(b []byte) []byte {
			off := setOff(paramXPN)
			x := append([]byte(nil), b[off:off+12]...)
			b = append(b[:off+12:off+12], append(x, b[off+12:]...)...)
			binary.BigEndian.PutUint16(b[16:], uint16(len(b)-frameHeaderLen))
			return b
		}), ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			var m MKPDU
			assert.NotPanics(t, func() { _, _, err = DecodeFrame(tc.frame, &m) })
			assert.ErrorIs(t, err, tc.err)
		})
	}
}

func TestICVCoversEveryOctet(t *testing.T) {
	ick := testICK(t)
	frame, err := fullMKPDU().AppendFrame(nil, testMAC, ick)
	require.NoError(t, err)
	var m MKPDU
	for i := range frame {
		bad := append([]byte(nil), frame...)
		bad[i] ^= 0x04
		covered, icv, err := DecodeFrame(bad, &m)
		if err != nil {
			continue // the change broke the format: dropped before the ICV
		}
		assert.False(t, CheckICV(covered, icv, ick), "octet %d is not covered by the ICV", i)
	}
}

func TestAppendFrameErrors(t *testing.T) {
	ick := testICK(t)
	for name, m := range map[string]*MKPDU{
		"no CKN":       {},
		"long CKN":     {CKN: make(CKN, 33)},
		"capability":   {CKN: CKN{1}, MACsecCapability: 4},
		"wrapped size": {CKN: CKN{1}, HasDistributedSAK: true, DistributedSAK: DistributedSAK{KN: 1, WrappedSAK: make([]byte, 16)}},
		"too many":     {CKN: CKN{1}, LivePeers: make([]Peer, 100)},
	} {
		_, err := m.AppendFrame(nil, testMAC, ick)
		assert.Error(t, err, name)
	}
	_, err := fullMKPDU().AppendFrame(nil, testMAC[:4], ick)
	assert.Error(t, err)
}

func TestCodecAllocs(t *testing.T) {
	mac, err := newCMAC(testICK(t).Bytes())
	require.NoError(t, err)
	m := fullMKPDU()
	buf := make([]byte, 0, 512)
	frame, err := m.appendFrame(buf, [6]byte(testMAC), mac)
	require.NoError(t, err)
	var got MKPDU
	_, _, err = DecodeFrame(frame, &got) // grows got's slices once
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		frame, _ = m.appendFrame(buf, [6]byte(testMAC), mac)
		covered, icv, _ := DecodeFrame(frame, &got)
		_ = mac.check(covered, icv)
	})
	assert.Zero(t, allocs)
}

func BenchmarkDecodeFrame(b *testing.B) {
	frame, err := fullMKPDU().AppendFrame(nil, testMAC, testICK(b))
	require.NoError(b, err)
	var m MKPDU
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = DecodeFrame(frame, &m)
	}
}
