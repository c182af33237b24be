package ipsec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

var (
	gwA = netip.MustParseAddr("192.0.2.1")
	gwB = netip.MustParseAddr("192.0.2.2")
)

func keymat(n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(i*7 + 1)
	}
	return k
}

// pair returns an outbound SA and the inbound SA that matches it.
func pair(t testing.TB, keyLen int, esn bool, window int, initial uint64) (out, in *SA) {
	t.Helper()
	return cipherPair(t, AESGCM16, keyLen, esn, window, initial)
}

// cipherPair is pair with a cipher: keyLen is the AES key length.
func cipherPair(t testing.TB, c Cipher, keyLen int, esn bool, window int, initial uint64) (out, in *SA) {
	t.Helper()
	cfg := SAConfig{SPI: 0x1000, Src: gwA, Dst: gwB, ReqID: 1, KEYMAT: keymat(keyLen + 4), ESN: esn, ReplayWindow: window, InitialSN: initial, Cipher: c}
	switch c {
	case AESCBCHMACSHA1:
		cfg.KEYMAT, cfg.AuthKey = keymat(keyLen), keymat(20)
	case AESCBCHMACSHA256:
		cfg.KEYMAT, cfg.AuthKey = keymat(keyLen), keymat(32)
	}
	cfg.Dir = DirOut
	out, err := NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = DirIn
	in, err = NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

// ipv4 returns an IPv4/UDP packet of n octets (n ≥ 28).
func ipv4(n int, id uint16) []byte {
	p := make([]byte, n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(n))
	binary.BigEndian.PutUint16(p[4:], id)
	p[8], p[9] = 64, 17
	copy(p[12:], []byte{10, 1, 0, 1, 10, 50, 0, 1})
	binary.BigEndian.PutUint16(p[10:], ^checksum(p[:20], 0))
	for i := 28; i < n; i++ {
		p[i] = byte(i)
	}
	return p
}

func ipv6(n int) []byte {
	p := make([]byte, n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(n-40))
	p[6], p[7] = 59, 64
	return p
}

// seal seals a copy of inner and returns a copy of the ESP packet.
func seal(t testing.TB, sa *SA, inner []byte, nh byte) []byte {
	t.Helper()
	buf := make([]byte, Headroom+len(inner)+Tailroom)
	copy(buf[Headroom:], inner)
	esp, err := sa.Seal(buf, Headroom, len(inner), nh)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(esp)
}

// open opens a copy of esp.
func open(sa *SA, esp []byte) ([]byte, Result) {
	buf := make([]byte, Headroom+len(esp))
	copy(buf[Headroom:], esp)
	return sa.Open(buf, Headroom, len(esp))
}

func TestRoundTrip(t *testing.T) {
	for _, keyLen := range []int{16, 32} {
		for _, esn := range []bool{false, true} {
			out, in := pair(t, keyLen, esn, 64, 0)
			for i, n := range []int{28, 29, 30, 31, 64, 1400, 8000} {
				p := ipv4(n, uint16(i))
				esp := seal(t, out, p, NextHeaderIPv4)
				if len(esp) != HeaderLen+IVLen+n+(4-(n+2)%4)%4+2+ICVLen || (len(esp)-HeaderLen-IVLen-ICVLen)%4 != 0 {
					t.Fatalf("ESP of %d octets is %d", n, len(esp))
				}
				if sn := binary.BigEndian.Uint32(esp[4:]); sn != uint32(i+1) {
					t.Fatalf("SN %d, want %d", sn, i+1)
				}
				got, r := open(in, esp)
				if r != OK || !bytes.Equal(got, p) {
					t.Fatalf("AES-%d ESN %v n %d: %v", keyLen*8, esn, n, r)
				}
			}
			p := ipv6(100)
			if got, r := open(in, seal(t, out, p, NextHeaderIPv6)); r != OK || !bytes.Equal(got, p) {
				t.Fatalf("IPv6: %v", r)
			}
			if s := in.Stats(); s.Packets != 8 || s.Bytes != 28+29+30+31+64+1400+8000+100 {
				t.Fatalf("inbound stats %+v", s)
			}
			if s := out.Stats(); s.Packets != 8 {
				t.Fatalf("outbound stats %+v", s)
			}
		}
	}
}

func TestTamperedDropped(t *testing.T) {
	out, in := pair(t, 16, false, 64, 0)
	esp := seal(t, out, ipv4(100, 1), NextHeaderIPv4)
	for i := range esp {
		bad := bytes.Clone(esp)
		bad[i] ^= 0x01
		if _, r := open(in, bad); r == OK {
			t.Fatalf("flipping octet %d was accepted", i)
		}
	}
	if _, r := open(in, esp); r != OK {
		t.Fatalf("genuine packet after the tampered ones: %v", r)
	}
	if s := in.Stats(); s.IntegrityFailed == 0 || s.Malformed == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReplay(t *testing.T) {
	const w = 32
	out, in := pair(t, 16, false, w, 0)
	var pkts [][]byte
	for i := range 100 {
		pkts = append(pkts, seal(t, out, ipv4(60, uint16(i)), NextHeaderIPv4))
	}
	// pkts[i] has SN i+1.
	mustOpen := func(i int, want Result) {
		t.Helper()
		if _, r := open(in, pkts[i]); r != want {
			t.Fatalf("SN %d: %v, want %v", i+1, r, want)
		}
	}
	mustOpen(49, OK)              // SN 50: the right edge moves to 50, the left edge to 19
	mustOpen(49, ReplayDuplicate) // duplicate
	mustOpen(17, ReplayOld)       // SN 18: just left of the window
	mustOpen(18, OK)              // SN 19: the left edge, inside
	mustOpen(18, ReplayDuplicate)
	for i := 47; i >= 25; i -= 3 { // out of order within the window
		mustOpen(i, OK)
	}
	mustOpen(99, OK) // SN 100: a jump; SN 69 is now the left edge
	mustOpen(67, ReplayOld)
	mustOpen(68, OK)
	mustOpen(68, ReplayDuplicate)
	s := in.Stats()
	if s.Replay != 3 || s.ReplayWindow != 2 || s.IntegrityFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReplayWindowSizes(t *testing.T) {
	for _, w := range []int{32, 64, 100, 1024, 4096} {
		var rw replayWindow
		rw.init(uint64(w), 0)
		if rw.update(uint64(w)*3) != OK {
			t.Fatal("first")
		}
		top := uint64(w) * 3
		for sn := top - uint64(w) + 1; sn < top; sn++ {
			if r := rw.update(sn); r != OK {
				t.Fatalf("window %d: SN %d inside: %v", w, sn, r)
			}
		}
		for sn := top - uint64(w) + 1; sn <= top; sn++ {
			if r := rw.check(sn); r != ReplayDuplicate {
				t.Fatalf("window %d: SN %d again: %v", w, sn, r)
			}
		}
		if r := rw.check(top - uint64(w)); r != ReplayOld {
			t.Fatalf("window %d: left of the edge: %v", w, r)
		}
		// A jump of more than the ring clears everything.
		if rw.update(top+10*uint64(w)) != OK || rw.check(top+10*uint64(w)-1) != OK {
			t.Fatalf("window %d: after a jump", w)
		}
	}
}

func TestESNCrossing(t *testing.T) {
	start := uint64(1<<32 - 5)
	out, in := pair(t, 32, true, 64, start)
	var pkts [][]byte
	for i := range 10 {
		pkts = append(pkts, seal(t, out, ipv4(80, uint16(i)), NextHeaderIPv4))
	}
	// SNs 2^32-4 .. 2^32+5: the low 32 bits wrap, the high half moves to 1.
	if sn := binary.BigEndian.Uint32(pkts[5][4:]); sn != 1 {
		t.Fatalf("wire SN after the crossing %d, want 1", sn)
	}
	for _, i := range []int{0, 1, 5, 3, 2, 4, 9, 6, 8, 7} {
		if _, r := open(in, pkts[i]); r != OK {
			t.Fatalf("packet %d: %v", i, r)
		}
	}
	if _, r := open(in, pkts[2]); r != ReplayDuplicate {
		t.Fatalf("replay across the crossing: %v", r)
	}
	if got := in.SN(); got != 1<<32+5 {
		t.Fatalf("highest SN %#x", got)
	}
	// A receiver without ESN fails the ICV: the high half is in the AAD.
	cfg := in.Config()
	cfg.ESN, cfg.InitialSN = false, 0
	plain, _ := NewSA(cfg)
	if _, r := open(plain, pkts[7]); r != IntegrityFailed {
		t.Fatalf("non-ESN receiver: %v", r)
	}
}

func TestInferSN(t *testing.T) {
	for _, c := range []struct {
		top  uint64
		w    uint64
		seql uint32
		want uint64
		ok   bool
	}{
		{100, 64, 101, 101, true},
		{100, 64, 50, 50, true},
		{100, 64, 36, 1<<32 + 36, true}, // below the window: taken for the next epoch (A2.1), the ICV then fails
		{1<<32 - 2, 64, 3, 1<<32 + 3, true},
		{1<<32 + 2, 64, 0xFFFFFFF0, 1<<32 - 16, true}, // case B: previous epoch
		{1<<32 + 2, 64, 40, 1<<32 + 40, true},
		{5, 64, 0xFFFFFFF0, 0, false}, // before the first epoch
		{0x1234_0000_0010, 64, 0x11, 0x1234_0000_0011, true},
	} {
		got, ok := inferSN(c.top, c.w, c.seql)
		if got != c.want || ok != c.ok {
			t.Errorf("inferSN(%#x, %d, %#x) = %#x %v, want %#x %v", c.top, c.w, c.seql, got, ok, c.want, c.ok)
		}
	}
}

func TestSNOverflowStopsSA(t *testing.T) {
	var soft int
	cfg := SAConfig{SPI: 0x2000, Src: gwA, Dst: gwB, Dir: DirOut, KEYMAT: keymat(20), InitialSN: 1<<32 - 3,
		OnSoftExpire: func(*SA) { soft++ }}
	out, err := NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, Headroom+100+Tailroom)
	for i := range 2 { // SN 2^32-2 and 2^32-1
		if _, err := out.Seal(buf, Headroom, 40, NextHeaderIPv4); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if soft != 1 {
		t.Fatalf("soft-expire events %d, want 1", soft)
	}
	if _, err := out.Seal(buf, Headroom, 40, NextHeaderIPv4); !errors.Is(err, ErrSNOverflow) {
		t.Fatalf("SN 2^32: %v, want %v", err, ErrSNOverflow)
	}
	if _, err := out.Seal(buf, Headroom, 40, NextHeaderIPv4); !errors.Is(err, ErrSAExpired) || !out.Expired() {
		t.Fatalf("after the overflow: %v", err)
	}
	if s := out.Stats(); s.Packets != 2 || s.Expired != 2 || !s.SoftExpired {
		t.Fatalf("stats %+v", s)
	}
}

func TestHardLimit(t *testing.T) {
	cfg := SAConfig{SPI: 0x2000, Src: gwA, Dst: gwB, Dir: DirOut, KEYMAT: keymat(20), Limits: Limits{SoftPackets: 2, HardPackets: 3}}
	out, _ := NewSA(cfg)
	buf := make([]byte, 200)
	for i := range 3 {
		if _, err := out.Seal(buf, Headroom, 40, NextHeaderIPv4); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := out.Seal(buf, Headroom, 40, NextHeaderIPv4); !errors.Is(err, ErrSAExpired) {
		t.Fatalf("past the hard limit: %v", err)
	}
}

// sealTrailer seals plaintext pt (payload and a trailer of the test's
// making) with SN sn.
func sealTrailer(t *testing.T, sa *SA, pt []byte, sn uint64) []byte {
	buf := make([]byte, Headroom+len(pt)+ICVLen)
	copy(buf[Headroom:], pt)
	h := Headroom - HeaderLen - IVLen
	binary.BigEndian.PutUint32(buf[h:], sa.cfg.SPI)
	binary.BigEndian.PutUint32(buf[h+4:], uint32(sn))
	binary.BigEndian.PutUint64(buf[h+8:], sn)
	nonce, aad := sa.nonceAAD(buf, h, sn)
	p := buf[Headroom : Headroom+len(pt)]
	sa.aead.Seal(p[:0], nonce, p, aad)
	return bytes.Clone(buf[h:])
}

func TestPadding(t *testing.T) {
	out, in := pair(t, 16, false, 64, 0)
	inner := ipv4(30, 1)
	for i, c := range []struct {
		trailer []byte
		want    Result
	}{
		{[]byte{0, 4}, OK},
		{[]byte{1, 2, 3, 4, 4, 4}, OK}, // more padding than needed is allowed
		{[]byte{1, 2, 4, 3, 4}, BadPadding},
		{[]byte{0, 0, 2, 4}, BadPadding},
		{[]byte{1, 2, 200, 4}, BadPadding},
		{[]byte{0, 6}, BadNextHeader},
		{[]byte{0, 41}, BadNextHeader}, // says IPv6, carries IPv4
		{[]byte{1, 2, 2, 59}, Dummy},
	} {
		pt := append(bytes.Clone(inner), c.trailer...)
		if _, r := open(in, sealTrailer(t, out, pt, uint64(i+1))); r != c.want {
			t.Errorf("trailer %v: %v, want %v", c.trailer, r, c.want)
		}
	}
	// The largest pad length that fits, over a payload that is all padding.
	pt := make([]byte, 257)
	for i := range 255 {
		pt[i] = byte(i + 1)
	}
	pt[255], pt[256] = 255, NextHeaderDummy
	if _, r := open(in, sealTrailer(t, out, pt, 100)); r != Dummy {
		t.Errorf("255 octets of padding: %v", r)
	}
	s := in.Stats()
	if s.BadPadding != 3 || s.BadNextHeader != 2 || s.Dummy != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDummySilentlyDropped(t *testing.T) {
	out, in := pair(t, 16, false, 64, 0)
	esp := seal(t, out, []byte{0xde, 0xad}, NextHeaderDummy)
	if got, r := open(in, esp); r != Dummy || got != nil {
		t.Fatalf("dummy: %v", r)
	}
	if s := in.Stats(); s.Dummy != 1 || s.IntegrityFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTFCPaddingTrimmed(t *testing.T) {
	out, in := pair(t, 16, false, 64, 0)
	p := ipv4(60, 9)
	padded := append(bytes.Clone(p), make([]byte, 40)...) // TFC padding (RFC 4303 §2.7)
	got, r := open(in, seal(t, out, padded, NextHeaderIPv4))
	if r != OK || !bytes.Equal(got, p) {
		t.Fatalf("TFC: %v %x", r, got)
	}
}

func TestUDPEncap(t *testing.T) {
	out, in := pair(t, 16, false, 64, 0)
	inner := ipv4(64, 3)
	buf := make([]byte, Headroom+UDPHeaderLen+20+len(inner)+Tailroom)
	off := Headroom + UDPHeaderLen + 20
	copy(buf[off:], inner)
	esp, err := out.Seal(buf, off, len(inner), NextHeaderIPv4)
	if err != nil {
		t.Fatal(err)
	}
	espOff := off - HeaderLen - IVLen
	u := PutUDPHeader(buf, espOff, len(esp), UDPEncapPort, UDPEncapPort)
	ip := PutIPv4Header(buf, u, UDPHeaderLen+len(esp), gwA, gwB, 17, 1)
	pkt := bytes.Clone(buf[ip : espOff+len(esp)])
	if checksum(pkt[:20], 0) != 0xFFFF {
		t.Fatal("outer IPv4 checksum")
	}
	d := UDPPayload(pkt[20:])
	if ClassifyUDP(d) != UDPESP {
		t.Fatal("not classified as ESP")
	}
	got, r := open(in, d)
	if r != OK || !bytes.Equal(got, inner) {
		t.Fatalf("decapsulated: %v", r)
	}
	for _, c := range []struct {
		p    []byte
		want UDPKind
	}{
		{[]byte{0xFF}, UDPKeepalive},
		{[]byte{0, 0, 0, 0, 0x2f}, UDPIKE},
		{[]byte{0, 0, 1}, UDPInvalid},
		{make([]byte, minESP-1), UDPIKE},
	} {
		if k := ClassifyUDP(c.p); k != c.want {
			t.Errorf("ClassifyUDP(%x) = %v, want %v", c.p, k, c.want)
		}
	}
}

func TestStrongSwanVectorsUDP(t *testing.T) {
	for _, v := range loadVectors(t)[21:] {
		outer := mustHex(t, v.Outer)
		d := UDPPayload(outer[20:])
		if outer[9] != 17 || ClassifyUDP(d) != UDPESP || binary.BigEndian.Uint16(outer[22:]) != UDPEncapPort {
			t.Fatalf("%s: not ESP in UDP to 4500", v.Name)
		}
		if _, r := open(v.receiver(t), d); r != OK {
			t.Fatalf("%s: %v", v.Name, r)
		}
	}
}

func TestNewSAChecks(t *testing.T) {
	ok := SAConfig{SPI: 0x100, Src: gwA, Dst: gwB, Dir: DirIn, KEYMAT: keymat(36), ReplayWindow: 64}
	if _, err := NewSA(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*SAConfig){
		"SPI 0":        func(c *SAConfig) { c.SPI = 0 },
		"SPI reserved": func(c *SAConfig) { c.SPI = 255 },
		"key length":   func(c *SAConfig) { c.KEYMAT = keymat(32) },
		"window":       func(c *SAConfig) { c.ReplayWindow = 8 },
		"window max":   func(c *SAConfig) { c.ReplayWindow = 8192 },
		"ESN no replay": func(c *SAConfig) {
			c.ESN, c.ReplayWindow = true, 0
		},
		"direction": func(c *SAConfig) { c.Dir = DirFwd },
		"endpoints": func(c *SAConfig) { c.Src = netip.Addr{} },
	} {
		c := ok
		mod(&c)
		if _, err := NewSA(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
