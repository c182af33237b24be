package dataplane

import (
	"bytes"
	"encoding/binary"
)

const (
	// maxGROSegs bounds one coalesced write: the kernel takes the
	// super-frame's payload as page fragments of one skb.
	maxGROSegs = 64
	// maxGROLen bounds the IP packet of a coalesced write (IPv4 total
	// length, IPv6 payload length).
	maxGROLen = 65535
)

// tcpSeg is what coalescing needs to know of a TCP segment in an
// untagged Ethernet frame.
type tcpSeg struct {
	v6      bool
	l4      int // TCP header offset
	hdrLen  int // Ethernet, IP and TCP headers
	payload int
	seq     uint32
	flags   uint8
}

// parseTCPSeg recognises the frames that may be coalesced: untagged IPv4
// without options, not fragmented, or IPv6 without extension headers,
// carrying TCP with a payload and only ACK or ACK|PSH set, with lengths
// that match the frame exactly.
func parseTCPSeg(f []byte) (tcpSeg, bool) {
	var s tcpSeg
	if len(f) < 14+20+20 {
		return s, false
	}
	ip := f[14:]
	switch binary.BigEndian.Uint16(f[12:]) {
	case etherTypeIPv4:
		if ip[0] != 0x45 || ip[9] != ipProtoTCP ||
			int(binary.BigEndian.Uint16(ip[2:])) != len(ip) ||
			binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or a fragment offset
			return s, false
		}
		s.l4 = 14 + 20
	case etherTypeIPv6:
		if len(ip) < 40+20 || ip[0]>>4 != 6 || ip[6] != ipProtoTCP ||
			int(binary.BigEndian.Uint16(ip[4:])) != len(ip)-40 {
			return s, false
		}
		s.v6 = true
		s.l4 = 14 + 40
	default:
		return s, false
	}
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
func canAppend(first []byte, fs, prev tcpSeg, next []byte, n tcpSeg) bool {
	if n.v6 != fs.v6 || n.hdrLen != fs.hdrLen ||
		prev.flags&tcpFlagPSH != 0 || prev.payload != fs.payload ||
		n.payload > fs.payload || n.seq != prev.seq+uint32(prev.payload) {
		return false
	}
	if !bytes.Equal(first[:14], next[:14]) {
		return false
	}
	a, b := first[14:fs.l4], next[14:fs.l4]
	if fs.v6 {
		// Version, traffic class, flow label; next header, hop limit,
		// addresses.
		if !bytes.Equal(a[:4], b[:4]) || !bytes.Equal(a[6:40], b[6:40]) {
			return false
		}
	} else {
		// TOS; flags, TTL, protocol; addresses.
		if a[1] != b[1] || !bytes.Equal(a[6:10], b[6:10]) || !bytes.Equal(a[12:20], b[12:20]) {
			return false
		}
	}
	a, b = first[fs.l4:fs.hdrLen], next[fs.l4:fs.hdrLen]
	// Ports; ack; data offset; window; urgent pointer; options.
	return bytes.Equal(a[:4], b[:4]) && bytes.Equal(a[8:13], b[8:13]) &&
		bytes.Equal(a[14:16], b[14:16]) && bytes.Equal(a[18:], b[18:])
}

// groRun returns how many frames from frames[0] make one coalesced write
// (1 when frames[0] stands alone), the first segment parsed, and the run's
// payload length. With verify, frames whose checksums are wrong are not
// coalesced, and valid reports whether frames[0]'s are right: the kernel
// trusts a super-frame's payload and a frame marked DATA_VALID, so they
// get only what a NIC with receive checksum offload would have vouched
// for. Without verify, valid is always true.
func groRun(frames [][]byte, verify bool) (n int, fs tcpSeg, payload int, valid bool) {
	if verify && !l4ChecksumOK(frames[0]) {
		return 1, fs, 0, false
	}
	fs, ok := parseTCPSeg(frames[0])
	if !ok {
		return 1, fs, 0, true
	}
	prev, payload := fs, fs.payload
	n = 1
	for n < len(frames) && n < maxGROSegs {
		s, ok := parseTCPSeg(frames[n])
		if !ok || !canAppend(frames[0], fs, prev, frames[n], s) ||
			fs.hdrLen-14+payload+s.payload > maxGROLen ||
			verify && !l4ChecksumOK(frames[n]) {
			break
		}
		prev = s
		payload += s.payload
		n++
	}
	return n, fs, payload, true
}

// groHeader writes into b the virtio header and the Ethernet, IP and TCP
// headers of the super-frame made of run (as groRun found it) and returns
// their length. The payloads of run follow these headers in the write.
// The TCP checksum field gets the pseudo-header sum, as for any frame with
// NEEDS_CSUM; the kernel finishes it if it forwards the frame.
func groHeader(b []byte, run [][]byte, fs tcpSeg, payload int) int {
	h := virtioNetHdr{
		flags:      virtioNetHdrFNeedsCsum,
		gsoType:    virtioNetHdrGSOTCPv4,
		hdrLen:     uint16(fs.hdrLen),
		gsoSize:    uint16(fs.payload),
		csumStart:  uint16(fs.l4),
		csumOffset: 16,
	}
	if fs.v6 {
		h.gsoType = virtioNetHdrGSOTCPv6
	}
	h.encode(b)
	f := b[virtioNetHdrLen : virtioNetHdrLen+fs.hdrLen]
	copy(f, run[0][:fs.hdrLen])
	n := fs.hdrLen + payload
	ip := f[14:fs.l4]
	var src, dst []byte
	if fs.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n-14-40))
		src, dst = ip[8:24], ip[24:40]
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^checksumFold(checksumAdd(ip, 0)))
		src, dst = ip[12:16], ip[16:20]
	}
	tcp := f[fs.l4:]
	tcp[13] |= run[len(run)-1][fs.l4+13] & tcpFlagPSH
	binary.BigEndian.PutUint16(tcp[16:], checksumFold(pseudoHeaderSum(src, dst, ipProtoTCP, n-fs.l4)))
	return virtioNetHdrLen + fs.hdrLen
}

// l4ChecksumOK reports whether f is an unfragmented IPv4 or IPv6 (without
// extension headers) TCP or UDP packet whose IP header and transport
// checksums are right: what a NIC with receive checksum offload would
// vouch for. UDP over IPv4 without a checksum does not count.
func l4ChecksumOK(f []byte) bool {
	l3, et := l3Offset(f)
	if l3 == 0 {
		return false
	}
	var src, dst []byte
	var l4, end int
	var proto uint8
	switch et {
	case etherTypeIPv4:
		if len(f) < l3+20 || f[l3]>>4 != 4 {
			return false
		}
		l4 = l3 + int(f[l3]&0xf)*4
		end = l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
		if l4 < l3+20 || end < l4 || end > len(f) ||
			binary.BigEndian.Uint16(f[l3+6:])&0x3fff != 0 ||
			checksumFold(checksumAdd(f[l3:l4], 0)) != 0xffff {
			return false
		}
		proto, src, dst = f[l3+9], f[l3+12:l3+16], f[l3+16:l3+20]
	case etherTypeIPv6:
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
	return checksumFold(checksumAdd(f[l4:end], pseudoHeaderSum(src, dst, proto, end-l4))) == 0xffff
}
