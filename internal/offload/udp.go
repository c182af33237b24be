package offload

import (
	"bytes"
	"encoding/binary"
)

// GSOUDPL4 is VIRTIO_NET_HDR_GSO_UDP_L4: a UDP super-packet cut into
// datagrams of GSOSize payload octets (the last may be shorter), each with
// the super-packet's headers, as a UDP_SEGMENT send is cut. The kernel
// exchanges these with a TUN or TAP only after TUNSETOFFLOAD with
// TUN_F_USO4 / TUN_F_USO6.
const GSOUDPL4 = 5

// MaxUDPGROSegs bounds the datagrams of one UDP super-packet: the
// kernel's UDP_MAX_SEGMENTS.
const MaxUDPGROSegs = 64

// UDPSeg is what coalescing needs to know of a UDP datagram in an
// untagged Ethernet frame or a bare IP packet.
type UDPSeg struct {
	v6      bool
	l3, l4  int
	payload int
	id      uint16
}

// HdrLen is the length of the datagram's headers (link, IP and UDP).
func (s *UDPSeg) HdrLen() int { return s.l4 + 8 }

// IsUDP reports whether f (after a link header of length link) is an
// untagged IPv4 or IPv6 packet that carries UDP: what UDPRun considers.
func IsUDP(f []byte, link int) bool {
	if len(f) < link+28 {
		return false
	}
	ip := f[link:]
	switch ip[0] >> 4 {
	case 4:
		return ip[9] == ipProtoUDP && (link != LinkEthernet || binary.BigEndian.Uint16(f[12:]) == EtherTypeIPv4)
	case 6:
		return len(ip) >= 48 && ip[6] == ipProtoUDP && (link != LinkEthernet || binary.BigEndian.Uint16(f[12:]) == EtherTypeIPv6)
	}
	return false
}

// parseUDPSeg recognises the datagrams that may be coalesced: untagged
// IPv4 without options, not fragmented, or IPv6 without extension
// headers, carrying UDP with a payload and a checksum, with lengths that
// match the packet exactly.
func parseUDPSeg(f []byte, link int) (UDPSeg, bool) {
	var s UDPSeg
	if !IsUDP(f, link) {
		return s, false
	}
	ip := f[link:]
	s.l3 = link
	if ip[0]>>4 == 4 {
		if ip[0] != 0x45 || int(binary.BigEndian.Uint16(ip[2:])) != len(ip) ||
			binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return s, false
		}
		s.l4 = link + 20
		s.id = binary.BigEndian.Uint16(ip[4:])
	} else {
		if int(binary.BigEndian.Uint16(ip[4:])) != len(ip)-40 {
			return s, false
		}
		s.v6 = true
		s.l4 = link + 40
	}
	udp := f[s.l4:]
	if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) || len(udp) <= 8 || udp[6]|udp[7] == 0 {
		return s, false
	}
	s.payload = len(udp) - 8
	return s, true
}

// canAppendUDP reports whether the datagram next (parsed as n) continues
// the run that starts with first (fs) and ends with a datagram parsed as
// prev: the same flow and headers but for lengths, IDs and checksums, no
// longer than the first, and the run not ended by a shorter datagram. The
// fields compared are those the kernel's udp_gro_receive_segment and
// inet_gro_receive compare.
func canAppendUDP(first []byte, fs, prev UDPSeg, next []byte, n UDPSeg) bool {
	if n.v6 != fs.v6 || prev.payload != fs.payload || n.payload > fs.payload {
		return false
	}
	if !sameIPHeaders(first, next, fs.l3, fs.l4, fs.v6) || !fs.v6 && n.id != prev.id+1 {
		return false
	}
	return bytes.Equal(first[fs.l4:fs.l4+4], next[fs.l4:fs.l4+4]) // ports
}

// UDPRun returns how many datagrams from pkts[0] make one coalesced UDP
// write (1 when pkts[0] stands alone, 0 when it is not UDP as IsUDP
// tells), the first datagram parsed, and the run's payload length. With
// verify, as for GRORun, datagrams whose checksums are wrong are not
// coalesced, and valid reports whether pkts[0]'s are right.
func UDPRun(pkts [][]byte, link int, verify bool) (n int, fs UDPSeg, payload int, valid bool) {
	if !IsUDP(pkts[0], link) {
		return 0, fs, 0, false
	}
	if verify && !L4ChecksumOK(pkts[0], link) {
		return 1, fs, 0, false
	}
	fs, ok := parseUDPSeg(pkts[0], link)
	if !ok {
		return 1, fs, 0, true
	}
	prev, payload := fs, fs.payload
	n = 1
	for n < len(pkts) && n < MaxUDPGROSegs {
		s, ok := parseUDPSeg(pkts[n], link)
		if !ok || !canAppendUDP(pkts[0], fs, prev, pkts[n], s) ||
			fs.l4+8-link+payload+s.payload > MaxGROLen ||
			verify && !L4ChecksumOK(pkts[n], link) {
			break
		}
		prev = s
		payload += s.payload
		n++
	}
	return n, fs, payload, true
}

// UDPHeader writes into b (at least MaxGROHeader long) the virtio header
// and the link, IP and UDP headers of the UDP super-packet made of run (as
// UDPRun found it) and returns their length; the payloads follow:
// run[i][fs.HdrLen():]. The UDP checksum field gets the pseudo-header sum
// of the whole super-packet, as a UDP_SEGMENT send leaves it.
func UDPHeader(b []byte, run [][]byte, fs UDPSeg, payload int) int {
	hdrLen := fs.HdrLen()
	h := VirtioNetHdr{
		Flags:      FlagNeedsCsum,
		GSOType:    GSOUDPL4,
		HdrLen:     uint16(hdrLen),
		GSOSize:    uint16(fs.payload),
		CsumStart:  uint16(fs.l4),
		CsumOffset: 6,
	}
	h.Encode(b)
	f := b[VirtioNetHdrLen : VirtioNetHdrLen+hdrLen]
	copy(f, run[0][:hdrLen])
	n := hdrLen + payload
	src, dst := setIPLength(f, fs.l3, fs.l4, n, fs.v6)
	udp := f[fs.l4:]
	binary.BigEndian.PutUint16(udp[4:], uint16(n-fs.l4))
	binary.BigEndian.PutUint16(udp[6:], ChecksumFold(PseudoHeaderSum(src, dst, ipProtoUDP, n-fs.l4)))
	return VirtioNetHdrLen + hdrLen
}
