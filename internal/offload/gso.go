package offload

import (
	"encoding/binary"
	"errors"
)

// Link is the length of the link-layer header before the IP header.
const (
	LinkIP       = 0  // a TUN: bare IP packets
	LinkEthernet = 14 // a TAP: Ethernet frames, optionally VLAN-tagged
)

const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86DD
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88A8

	ipProtoTCP = 6
	ipProtoUDP = 17

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10
	tcpFlagCWR = 0x80
)

// ErrBadGSO is returned for a super-packet or virtio header that makes no
// sense.
var ErrBadGSO = errors.New("malformed GSO super-packet")

// L3Offset returns where the network header of f starts and its
// EtherType (for LinkIP, that of the IP version in the first nibble).
// For Ethernet it skips up to two VLAN tags. The EtherType is 0 when there
// is none to tell.
func L3Offset(f []byte, link int) (int, uint16) {
	if link != LinkEthernet {
		if len(f) <= link {
			return 0, 0
		}
		switch f[link] >> 4 {
		case 4:
			return link, EtherTypeIPv4
		case 6:
			return link, EtherTypeIPv6
		}
		return 0, 0
	}
	off := 12
	for range 3 {
		if len(f) < off+2 {
			return 0, 0
		}
		et := binary.BigEndian.Uint16(f[off:])
		if et != etherTypeVLAN && et != etherTypeQinQ {
			return off + 2, et
		}
		off += 4
	}
	return 0, 0
}

// GSO is a TCP super-packet read from a device with TSO on (or a UDP
// one from a device with USO on), cut into GSOSize segments one at a time,
// the way the kernel's tcp_gso_segment (__udp_gso_segment) would have cut
// it for a device without the offload.
type GSO struct {
	pkt        []byte
	v6, udp    bool
	l3, l4     int // network and TCP header offsets
	hdrLen     int // link, IP and TCP headers
	gsoSize    int
	segs, next int // segments in all, the next one to cut
	id         uint16
	seq        uint32
	flags      uint8
}

// Init prepares the super-packet pkt described by h, with a link header
// of length link (LinkIP or LinkEthernet), for cutting. It keeps pkt,
// which must not change until every segment is cut.
func (g *GSO) Init(pkt []byte, h *VirtioNetHdr, link int) error {
	*g = GSO{}
	l3, et := L3Offset(pkt, link)
	switch h.GSOType &^ GSOECN {
	case GSOTCPv4:
		if et != EtherTypeIPv4 || len(pkt) < l3+20 || pkt[l3]>>4 != 4 || pkt[l3+9] != ipProtoTCP {
			return ErrBadGSO
		}
		g.l4 = l3 + int(pkt[l3]&0xf)*4
		if g.l4 < l3+20 {
			return ErrBadGSO
		}
		g.id = binary.BigEndian.Uint16(pkt[l3+4:])
	case GSOTCPv6:
		if et != EtherTypeIPv6 || len(pkt) < l3+40 || pkt[l3]>>4 != 6 {
			return ErrBadGSO
		}
		g.v6 = true
		g.l4 = l3 + 40
		if pkt[l3+6] != ipProtoTCP {
			// Extension headers: the kernel's csum_start says where
			// TCP begins.
			if h.Flags&FlagNeedsCsum == 0 || int(h.CsumStart) < g.l4 {
				return ErrBadGSO
			}
			g.l4 = int(h.CsumStart)
		}
	case GSOUDPL4:
		return g.initUDP(pkt, h, l3, et)
	default:
		return ErrBadGSO
	}
	if h.Flags&FlagNeedsCsum != 0 && (int(h.CsumStart) != g.l4 || h.CsumOffset != 16) {
		return ErrBadGSO
	}
	if len(pkt) < g.l4+20 {
		return ErrBadGSO
	}
	g.hdrLen = g.l4 + int(pkt[g.l4+12]>>4)*4
	if g.hdrLen < g.l4+20 || g.hdrLen > len(pkt) || h.GSOSize == 0 {
		return ErrBadGSO
	}
	g.pkt, g.l3, g.gsoSize = pkt, l3, int(h.GSOSize)
	g.segs = max(1, (len(pkt)-g.hdrLen+g.gsoSize-1)/g.gsoSize)
	g.seq = binary.BigEndian.Uint32(pkt[g.l4+4:])
	g.flags = pkt[g.l4+13]
	return nil
}

// initUDP is Init for a UDP super-packet (GSOUDPL4): IPv4 without
// options or IPv6 without extension headers, as the kernel builds them.
func (g *GSO) initUDP(pkt []byte, h *VirtioNetHdr, l3 int, et uint16) error {
	switch {
	case et == EtherTypeIPv4 && len(pkt) >= l3+20 && pkt[l3] == 0x45 && pkt[l3+9] == ipProtoUDP:
		g.l4 = l3 + 20
		g.id = binary.BigEndian.Uint16(pkt[l3+4:])
	case et == EtherTypeIPv6 && len(pkt) >= l3+40 && pkt[l3]>>4 == 6 && pkt[l3+6] == ipProtoUDP:
		g.v6 = true
		g.l4 = l3 + 40
	default:
		return ErrBadGSO
	}
	if h.Flags&FlagNeedsCsum != 0 && (int(h.CsumStart) != g.l4 || h.CsumOffset != 6) {
		return ErrBadGSO
	}
	g.hdrLen = g.l4 + 8
	if g.hdrLen > len(pkt) || h.GSOSize == 0 {
		return ErrBadGSO
	}
	g.pkt, g.l3, g.gsoSize, g.udp = pkt, l3, int(h.GSOSize), true
	g.segs = max(1, (len(pkt)-g.hdrLen+g.gsoSize-1)/g.gsoSize)
	return nil
}

// Pending reports whether segments remain to be cut.
func (g *GSO) Pending() bool { return g.next < g.segs }

// Remaining is the number of segments still to cut.
func (g *GSO) Remaining() int { return g.segs - g.next }

// Packet is the super-packet being cut (nil when none).
func (g *GSO) Packet() []byte { return g.pkt }

// Cut writes the next segment, a complete packet with correct checksums,
// into b and returns its length; 0 if b is too short (the segment is lost).
func (g *GSO) Cut(b []byte) int {
	k := g.next
	g.next++
	start := g.hdrLen + k*g.gsoSize
	end := min(start+g.gsoSize, len(g.pkt))
	n := g.hdrLen + end - start
	if len(b) < n {
		return 0
	}
	copy(b, g.pkt[:g.hdrLen])
	copy(b[g.hdrLen:n], g.pkt[start:end])

	ip := b[g.l3:g.l4]
	var src, dst []byte
	if g.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n-g.l3-40))
		src, dst = ip[8:24], ip[24:40]
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(n-g.l3))
		binary.BigEndian.PutUint16(ip[4:], g.id+uint16(k))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^ChecksumFold(ChecksumAdd(ip, 0)))
		src, dst = ip[12:16], ip[16:20]
	}

	if g.udp {
		udp := b[g.l4:n]
		binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
		udp[6], udp[7] = 0, 0
		c := ^ChecksumFold(ChecksumAdd(udp, PseudoHeaderSum(src, dst, ipProtoUDP, len(udp))))
		if c == 0 {
			c = 0xffff // 0 would mean no checksum
		}
		binary.BigEndian.PutUint16(udp[6:], c)
		return n
	}
	tcp := b[g.l4:n]
	binary.BigEndian.PutUint32(tcp[4:], g.seq+uint32(k*g.gsoSize))
	flags := g.flags
	if k > 0 {
		flags &^= tcpFlagCWR // CWR goes with the first segment only
	}
	if g.next < g.segs {
		flags &^= tcpFlagFIN | tcpFlagPSH // FIN and PSH with the last only
	}
	tcp[13] = flags
	tcp[16], tcp[17] = 0, 0
	sum := ChecksumAdd(tcp, PseudoHeaderSum(src, dst, ipProtoTCP, len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], ^ChecksumFold(sum))
	return n
}

// CompleteChecksum finishes the partial checksum of a packet read with
// NEEDS_CSUM: the field holds the pseudo-header sum and the checksum
// covers everything from CsumStart.
func CompleteChecksum(pkt []byte, h *VirtioNetHdr) error {
	start, at := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
	if at+2 > len(pkt) || at < start {
		return ErrBadGSO
	}
	c := ^ChecksumFold(ChecksumAdd(pkt[start:], 0))
	if c == 0 {
		c = 0xffff // UDP's "no checksum" must not appear; equal to 0 for TCP
	}
	binary.BigEndian.PutUint16(pkt[at:], c)
	return nil
}
