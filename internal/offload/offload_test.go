package offload

import (
	"bytes"
	"encoding/binary"
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
