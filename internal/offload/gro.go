package offload

import (
	"bytes"
	"encoding/binary"
)

const (
	// MaxGROSegs bounds one coalesced write: the kernel takes the
	// super-packet's payload as page fragments of one skb.
	MaxGROSegs = 64
	// MaxGROLen bounds the IP packet of a coalesced write (IPv4 total
	// length, IPv6 payload length).
	MaxGROLen = 65535
	// MaxGROHeader is the most GROHeader writes: the virtio header and
	// the link, IP and TCP headers.
	MaxGROHeader = VirtioNetHdrLen + LinkEthernet + 40 + 60
)

// TCPSeg is what coalescing needs to know of a TCP segment in an untagged
// Ethernet frame or a bare IP packet.
type TCPSeg struct {
	v6      bool
	l3      int // IP header offset: the link header's length
	l4      int // TCP header offset
	hdrLen  int // link, IP and TCP headers
	payload int
	seq     uint32
	flags   uint8
}

// HdrLen is the length of the segment's headers (link, IP and TCP).
func (s *TCPSeg) HdrLen() int { return s.hdrLen }

// parseTCPSeg recognises the packets that may be coalesced: untagged IPv4
// without options, not fragmented, or IPv6 without extension headers,
// carrying TCP with a payload and only ACK or ACK|PSH set, with lengths
// that match the packet exactly.
func parseTCPSeg(f []byte, link int) (TCPSeg, bool) {
	var s TCPSeg
	if len(f) < link+20+20 {
		return s, false
	}
	ip := f[link:]
	var et uint16
	if link == LinkEthernet {
		et = binary.BigEndian.Uint16(f[12:])
	} else {
		_, et = L3Offset(f, link)
	}
	switch et {
	case EtherTypeIPv4:
		if ip[0] != 0x45 || ip[9] != ipProtoTCP ||
			int(binary.BigEndian.Uint16(ip[2:])) != len(ip) ||
			binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or a fragment offset
			return s, false
		}
		s.l4 = link + 20
	case EtherTypeIPv6:
		if len(ip) < 40+20 || ip[0]>>4 != 6 || ip[6] != ipProtoTCP ||
			int(binary.BigEndian.Uint16(ip[4:])) != len(ip)-40 {
			return s, false
		}
		s.v6 = true
		s.l4 = link + 40
	default:
		return s, false
	}
	s.l3 = link
	tcp := f[s.l4:]
	s.hdrLen = s.l4 + int(tcp[12]>>4)*4
	s.flags = tcp[13]
	if s.hdrLen < s.l4+20 || s.hdrLen >= len(f) ||
		(s.flags != tcpFlagACK && s.flags != tcpFlagACK|tcpFlagPSH) {
		return s, false
	}
	s.payload = len(f) - s.hdrLen
	s.seq = binary.BigEndian.Uint32(tcp[4:])
	return s, true
}

// canAppend reports whether the segment next (parsed as n) continues the
// run that starts with first (fs) and ends with a segment parsed as prev:
// the same flow and headers but for lengths, IDs, sequence numbers and
// checksums, next in sequence, and the run not ended by a PSH or a short
// segment. Header fields compared are those the kernel's tcp_gro_receive
// compares, so the stack sees what GRO on a NIC would have given it.
func canAppend(first []byte, fs, prev TCPSeg, next []byte, n TCPSeg) bool {
	if n.v6 != fs.v6 || n.hdrLen != fs.hdrLen ||
		prev.flags&tcpFlagPSH != 0 || prev.payload != fs.payload ||
		n.payload > fs.payload || n.seq != prev.seq+uint32(prev.payload) {
		return false
	}
	if !sameIPHeaders(first, next, fs.l3, fs.l4, fs.v6) {
		return false
	}
	a, b := first[fs.l4:fs.hdrLen], next[fs.l4:fs.hdrLen]
	// Ports; ack; data offset; window; urgent pointer; options.
	return bytes.Equal(a[:4], b[:4]) && bytes.Equal(a[8:13], b[8:13]) &&
		bytes.Equal(a[14:16], b[14:16]) && bytes.Equal(a[18:], b[18:])
}

// sameIPHeaders reports whether packets a and b have the same link header
// (before l3) and the same IP header (l3 to l4) but for the fields GRO
// lets differ: lengths, IDs and checksums, as inet_gro_receive and
// ipv6_gro_receive compare them.
func sameIPHeaders(a, b []byte, l3, l4 int, v6 bool) bool {
	if !bytes.Equal(a[:l3], b[:l3]) {
		return false
	}
	a, b = a[l3:l4], b[l3:l4]
	if v6 {
		// Version, traffic class, flow label; next header, hop limit,
		// addresses.
		return bytes.Equal(a[:4], b[:4]) && bytes.Equal(a[6:40], b[6:40])
	}
	// TOS; flags, TTL, protocol; addresses.
	return a[1] == b[1] && bytes.Equal(a[6:10], b[6:10]) && bytes.Equal(a[12:20], b[12:20])
}

// setIPLength writes the IP header of a super-packet f of n octets (the
// link header included), its IPv4 checksum anew, and returns the
// addresses for the transport's pseudo-header sum.
func setIPLength(f []byte, l3, l4, n int, v6 bool) (src, dst []byte) {
	ip := f[l3:l4]
	if v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n-l3-40))
		return ip[8:24], ip[24:40]
	}
	binary.BigEndian.PutUint16(ip[2:], uint16(n-l3))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^ChecksumFold(ChecksumAdd(ip, 0)))
	return ip[12:16], ip[16:20]
}

// GRORun returns how many packets from pkts[0] make one coalesced write
// (1 when pkts[0] stands alone), the first segment parsed, and the run's
// payload length. link is the length of the link header (LinkIP or
// LinkEthernet). With verify, packets whose checksums are wrong are not
// coalesced, and valid reports whether pkts[0]'s are right: the kernel
// trusts a super-packet's payload and a packet marked DATA_VALID, so they
// get only what a NIC with receive checksum offload would have vouched
// for. Without verify, valid is always true.
func GRORun(pkts [][]byte, link int, verify bool) (n int, fs TCPSeg, payload int, valid bool) {
	if verify && !L4ChecksumOK(pkts[0], link) {
		return 1, fs, 0, false
	}
	fs, ok := parseTCPSeg(pkts[0], link)
	if !ok {
		return 1, fs, 0, true
	}
	prev, payload := fs, fs.payload
	n = 1
	for n < len(pkts) && n < MaxGROSegs {
		s, ok := parseTCPSeg(pkts[n], link)
		if !ok || !canAppend(pkts[0], fs, prev, pkts[n], s) ||
			fs.hdrLen-link+payload+s.payload > MaxGROLen ||
			verify && !L4ChecksumOK(pkts[n], link) {
			break
		}
		prev = s
		payload += s.payload
		n++
	}
	return n, fs, payload, true
}

// GROHeader writes into b (at least MaxGROHeader long) the virtio header
// and the link, IP and TCP headers of the super-packet made of run (as
// GRORun found it) and returns their length. The payloads of run follow
// these headers in the write: run[i][fs.HdrLen():]. The TCP checksum field
// gets the pseudo-header sum, as for any packet with NEEDS_CSUM; the
// kernel finishes it if it forwards the packet.
func GROHeader(b []byte, run [][]byte, fs TCPSeg, payload int) int {
	h := VirtioNetHdr{
		Flags:      FlagNeedsCsum,
		GSOType:    GSOTCPv4,
		HdrLen:     uint16(fs.hdrLen),
		GSOSize:    uint16(fs.payload),
		CsumStart:  uint16(fs.l4),
		CsumOffset: 16,
	}
	if fs.v6 {
		h.GSOType = GSOTCPv6
	}
	h.Encode(b)
	f := b[VirtioNetHdrLen : VirtioNetHdrLen+fs.hdrLen]
	copy(f, run[0][:fs.hdrLen])
	n := fs.hdrLen + payload
	src, dst := setIPLength(f, fs.l3, fs.l4, n, fs.v6)
	tcp := f[fs.l4:]
	tcp[13] |= run[len(run)-1][fs.l4+13] & tcpFlagPSH
	binary.BigEndian.PutUint16(tcp[16:], ChecksumFold(PseudoHeaderSum(src, dst, ipProtoTCP, n-fs.l4)))
	return VirtioNetHdrLen + fs.hdrLen
}

// L4ChecksumOK reports whether f (after a link header of length link) is
// an unfragmented IPv4 or IPv6 (without extension headers) TCP or UDP
// packet whose IP header and transport checksums are right: what a NIC
// with receive checksum offload would vouch for. UDP over IPv4 without a
// checksum does not count.
func L4ChecksumOK(f []byte, link int) bool {
	l3, et := L3Offset(f, link)
	var src, dst []byte
	var l4, end int
	var proto uint8
	switch et {
	case EtherTypeIPv4:
		if len(f) < l3+20 || f[l3]>>4 != 4 {
			return false
		}
		l4 = l3 + int(f[l3]&0xf)*4
		end = l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
		if l4 < l3+20 || end < l4 || end > len(f) ||
			binary.BigEndian.Uint16(f[l3+6:])&0x3fff != 0 ||
			ChecksumFold(ChecksumAdd(f[l3:l4], 0)) != 0xffff {
			return false
		}
		proto, src, dst = f[l3+9], f[l3+12:l3+16], f[l3+16:l3+20]
	case EtherTypeIPv6:
		if len(f) < l3+40 || f[l3]>>4 != 6 {
			return false
		}
		l4 = l3 + 40
		end = l4 + int(binary.BigEndian.Uint16(f[l3+4:]))
		if end > len(f) {
			return false
		}
		proto, src, dst = f[l3+6], f[l3+8:l3+24], f[l3+24:l3+40]
	default:
		return false
	}
	switch proto {
	case ipProtoTCP:
		if end-l4 < 20 {
			return false
		}
	case ipProtoUDP:
		if end-l4 < 8 || f[l4+6]|f[l4+7] == 0 {
			return false
		}
	default:
		return false
	}
	return ChecksumFold(ChecksumAdd(f[l4:end], PseudoHeaderSum(src, dst, proto, end-l4))) == 0xffff
}
