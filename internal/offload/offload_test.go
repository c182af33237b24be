package offload

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// ipSegment builds an IPv4 TCP segment (no link header) with correct
// checksums, or with the pseudo-header sum in the TCP checksum if partial.
func ipSegment(seq uint32, id uint16, flags uint8, payload []byte, partial bool) []byte {
	p := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, ipProtoTCP, 0, 0, 10, 1, 0, 1, 10, 50, 0, 1}
	binary.BigEndian.PutUint16(p[2:], uint16(20+32+len(payload)))
	binary.BigEndian.PutUint16(p[4:], id)
	binary.BigEndian.PutUint16(p[10:], ^ChecksumFold(ChecksumAdd(p, 0)))
	p = binary.BigEndian.AppendUint16(p, 40000)
	p = binary.BigEndian.AppendUint16(p, 5201)
	p = binary.BigEndian.AppendUint32(p, seq)
	p = binary.BigEndian.AppendUint32(p, 99)
	p = append(p, 8<<4, flags, 0xfa, 0xf0, 0, 0, 0, 0)
	p = append(p, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2) // NOP NOP timestamps
	p = append(p, payload...)
	sum := PseudoHeaderSum(p[12:16], p[16:20], ipProtoTCP, len(p)-20)
	if partial {
		binary.BigEndian.PutUint16(p[36:], ChecksumFold(sum))
	} else {
		binary.BigEndian.PutUint16(p[36:], ^ChecksumFold(ChecksumAdd(p[20:], sum)))
	}
	return p
}

// TestIPRoundTrip cuts a TUN super-packet (LinkIP) into segments,
// coalesces them back, and gets the super-packet again.
func TestIPRoundTrip(t *testing.T) {
	const mss, n = 1338, 40*1338 + 77
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 13)
	}
	sf := ipSegment(0xfffff000, 7, tcpFlagACK|tcpFlagPSH, data, true)
	h := VirtioNetHdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, HdrLen: 52, GSOSize: mss, CsumStart: 20, CsumOffset: 16}
	var g GSO
	if err := g.Init(sf, &h, LinkIP); err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	for k := 0; g.Pending(); k++ {
		b := make([]byte, 1500)
		m := g.Cut(b)
		fl := uint8(tcpFlagACK)
		if !g.Pending() {
			fl |= tcpFlagPSH
		}
		want := ipSegment(0xfffff000+uint32(k*mss), 7+uint16(k), fl, data[k*mss:min((k+1)*mss, n)], false)
		if !bytes.Equal(b[:m], want) {
			t.Fatalf("segment %d:\n got %x\nwant %x", k, b[:m], want)
		}
		if !L4ChecksumOK(b[:m], LinkIP) {
			t.Fatalf("segment %d: checksum", k)
		}
		segs = append(segs, b[:m])
	}
	run, fs, total, valid := GRORun(segs, LinkIP, true)
	if run != len(segs) || total != n || !valid {
		t.Fatalf("GRORun: %d of %d segments, %d octets, valid %v", run, len(segs), total, valid)
	}
	hdr := make([]byte, MaxGROHeader)
	hl := GROHeader(hdr, segs, fs, total)
	var gh VirtioNetHdr
	gh.Decode(hdr)
	got := append(bytes.Clone(hdr[VirtioNetHdrLen:hl]), data...)
	if gh != h {
		t.Fatalf("header %+v, want %+v", gh, h)
	}
	// The coalesced IPv4 ID is the first segment's, as the kernel's GRO.
	if !bytes.Equal(got, sf) {
		t.Fatalf("coalesced:\n got %x\nwant %x", got[:60], sf[:60])
	}
	// A partial checksum on a single packet is completed.
	one := ipSegment(5, 5, tcpFlagACK, data[:100], true)
	h1 := VirtioNetHdr{Flags: FlagNeedsCsum, CsumStart: 20, CsumOffset: 16}
	if err := CompleteChecksum(one, &h1); err != nil || !bytes.Equal(one, ipSegment(5, 5, tcpFlagACK, data[:100], false)) {
		t.Fatalf("CompleteChecksum: %v", err)
	}
	// Not IP at all.
	if err := g.Init([]byte{0x00, 1, 2, 3}, &h, LinkIP); err != ErrBadGSO {
		t.Fatalf("Init of garbage: %v", err)
	}
}

// ipDatagram builds an IPv4 UDP datagram (no link header) from port 4500
// to dport with correct checksums, or with the pseudo-header sum in the
// UDP checksum if partial.
func ipDatagram(id, dport uint16, payload []byte, partial bool) []byte {
	p := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, ipProtoUDP, 0, 0, 10, 1, 0, 1, 10, 50, 0, 1}
	binary.BigEndian.PutUint16(p[2:], uint16(20+8+len(payload)))
	binary.BigEndian.PutUint16(p[4:], id)
	binary.BigEndian.PutUint16(p[10:], ^ChecksumFold(ChecksumAdd(p, 0)))
	p = binary.BigEndian.AppendUint16(p, 4500)
	p = binary.BigEndian.AppendUint16(p, dport)
	p = binary.BigEndian.AppendUint16(p, uint16(8+len(payload)))
	p = append(p, 0, 0)
	p = append(p, payload...)
	sum := PseudoHeaderSum(p[12:16], p[16:20], ipProtoUDP, len(p)-20)
	if partial {
		binary.BigEndian.PutUint16(p[26:], ChecksumFold(sum))
	} else {
		c := ^ChecksumFold(ChecksumAdd(p[20:], sum))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(p[26:], c)
	}
	return p
}

// TestUDPRoundTrip cuts a UDP super-packet (GSOUDPL4, as a TUN or TAP with
// USO hands it over) into datagrams, coalesces them back with UDPRun, and
// gets the super-packet again; datagrams of another flow, with a wrong
// checksum, an IPv4 ID out of order or longer than the first end a run.
func TestUDPRoundTrip(t *testing.T) {
	const size, n = 1402, 20*1402 + 301
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sf := ipDatagram(9, 4500, data, true)
	h := VirtioNetHdr{Flags: FlagNeedsCsum, GSOType: GSOUDPL4, HdrLen: 28, GSOSize: size, CsumStart: 20, CsumOffset: 6}
	var g GSO
	if err := g.Init(sf, &h, LinkIP); err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	for k := 0; g.Pending(); k++ {
		b := make([]byte, 1500)
		m := g.Cut(b)
		want := ipDatagram(9+uint16(k), 4500, data[k*size:min((k+1)*size, n)], false)
		if !bytes.Equal(b[:m], want) {
			t.Fatalf("datagram %d:\n got %x\nwant %x", k, b[:m], want)
		}
		if !L4ChecksumOK(b[:m], LinkIP) {
			t.Fatalf("datagram %d: checksum", k)
		}
		segs = append(segs, b[:m])
	}
	if len(segs) != 21 {
		t.Fatalf("%d datagrams, want 21", len(segs))
	}
	run, us, total, valid := UDPRun(segs, LinkIP, true)
	if run != len(segs) || total != n || !valid {
		t.Fatalf("UDPRun: %d of %d datagrams, %d octets, valid %v", run, len(segs), total, valid)
	}
	hdr := make([]byte, MaxGROHeader)
	hl := UDPHeader(hdr, segs, us, total)
	var gh VirtioNetHdr
	gh.Decode(hdr)
	if gh != h {
		t.Fatalf("header %+v, want %+v", gh, h)
	}
	if got := append(bytes.Clone(hdr[VirtioNetHdrLen:hl]), data...); !bytes.Equal(got, sf) {
		t.Fatalf("coalesced:\n got %x\nwant %x", got[:40], sf[:40])
	}

	p := data[:size]
	for name, tc := range map[string]struct {
		second []byte
		run    int
	}{
		"same flow":     {ipDatagram(2, 4500, p, false), 2},
		"shorter last":  {ipDatagram(2, 4500, p[:10], false), 2},
		"other port":    {ipDatagram(2, 4501, p, false), 1},
		"id gap":        {ipDatagram(3, 4500, p, false), 1},
		"longer":        {ipDatagram(2, 4500, data[:size+1], false), 1},
		"bad checksum":  {func() []byte { b := ipDatagram(2, 4500, p, false); b[40] ^= 1; return b }(), 1},
		"no checksum":   {func() []byte { b := ipDatagram(2, 4500, p, false); b[26], b[27] = 0, 0; return b }(), 1},
		"partial check": {ipDatagram(2, 4500, p, true), 1},
	} {
		pkts := [][]byte{ipDatagram(1, 4500, p, false), tc.second}
		if run, _, _, _ := UDPRun(pkts, LinkIP, true); run != tc.run {
			t.Errorf("%s: run of %d, want %d", name, run, tc.run)
		}
	}
	// TCP is not UDPRun's.
	if run, _, _, _ := UDPRun([][]byte{ipSegment(1, 1, tcpFlagACK, p, false)}, LinkIP, true); run != 0 {
		t.Errorf("TCP: run of %d, want 0", run)
	}
}

// checksumRef is RFC 1071's algorithm word by word, the reference
// ChecksumAdd is checked against.
func checksumRef(b []byte, sum uint64) uint16 {
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestChecksumAdd(t *testing.T) {
	// RFC 1071, 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	if got := ChecksumFold(ChecksumAdd([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0)); got != 0xddf2 {
		t.Fatalf("RFC 1071 example: %#04x, want 0xddf2", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 2100)
	for n := range len(b) {
		for i := range b[:n] {
			b[i] = byte(rng.Uint32())
		}
		if n%7 == 0 {
			clear(b[:n]) // runs of zeros and of ones: the carries' edge cases
		} else if n%11 == 0 {
			for i := range b[:n] {
				b[i] = 0xff
			}
		}
		sum := rng.Uint64() >> 16
		if got, want := ChecksumFold(ChecksumAdd(b[:n], sum)), checksumRef(b[:n], sum); got != want {
			t.Fatalf("%d octets from sum %#x: %#04x, want %#04x", n, sum, got, want)
		}
	}
}

func BenchmarkChecksumAdd(b *testing.B) {
	buf := make([]byte, 1480) // a full-sized TCP segment's L4 octets
	b.SetBytes(int64(len(buf)))
	var s uint64
	for b.Loop() {
		s = ChecksumAdd(buf, s&0xffff)
	}
}
