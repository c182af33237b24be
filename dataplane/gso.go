package dataplane

import (
	"encoding/binary"
	"errors"
)

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88A8

	ipProtoTCP = 6
	ipProtoUDP = 17

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10
	tcpFlagCWR = 0x80
)

var errBadGSO = errors.New("malformed GSO super-frame")

// l3Offset returns where the network header of the Ethernet frame f starts
// and its EtherType, after up to two VLAN tags.
func l3Offset(f []byte) (int, uint16) {
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

// gsoFrame is a TCP super-frame read from a TAP with TSO on, cut into
// gsoSize segments one at a time, the way the kernel's tcp_gso_segment
// would have cut it for a device without TSO.
type gsoFrame struct {
	pkt        []byte
	v6         bool
	l3, l4     int // network and TCP header offsets
	hdrLen     int // Ethernet, IP and TCP headers
	gsoSize    int
	segs, next int // segments in all, the next one to cut
	id         uint16
	seq        uint32
	flags      uint8
}

// init prepares the super-frame pkt described by h for cutting. It keeps
// pkt, which must not change until every segment is cut.
func (g *gsoFrame) init(pkt []byte, h *virtioNetHdr) error {
	*g = gsoFrame{}
	l3, et := l3Offset(pkt)
	switch h.gsoType &^ virtioNetHdrGSOECN {
	case virtioNetHdrGSOTCPv4:
		if et != etherTypeIPv4 || len(pkt) < l3+20 || pkt[l3]>>4 != 4 || pkt[l3+9] != ipProtoTCP {
			return errBadGSO
		}
		g.l4 = l3 + int(pkt[l3]&0xf)*4
		if g.l4 < l3+20 {
			return errBadGSO
		}
		g.id = binary.BigEndian.Uint16(pkt[l3+4:])
	case virtioNetHdrGSOTCPv6:
		if et != etherTypeIPv6 || len(pkt) < l3+40 || pkt[l3]>>4 != 6 {
			return errBadGSO
		}
		g.v6 = true
		g.l4 = l3 + 40
		if pkt[l3+6] != ipProtoTCP {
			// Extension headers: the kernel's csum_start says where
			// TCP begins.
			if h.flags&virtioNetHdrFNeedsCsum == 0 || int(h.csumStart) < g.l4 {
				return errBadGSO
			}
			g.l4 = int(h.csumStart)
		}
	default:
		return errBadGSO
	}
	if h.flags&virtioNetHdrFNeedsCsum != 0 && (int(h.csumStart) != g.l4 || h.csumOffset != 16) {
		return errBadGSO
	}
	if len(pkt) < g.l4+20 {
		return errBadGSO
	}
	g.hdrLen = g.l4 + int(pkt[g.l4+12]>>4)*4
	if g.hdrLen < g.l4+20 || g.hdrLen > len(pkt) || h.gsoSize == 0 {
		return errBadGSO
	}
	g.pkt, g.l3, g.gsoSize = pkt, l3, int(h.gsoSize)
	g.segs = max(1, (len(pkt)-g.hdrLen+g.gsoSize-1)/g.gsoSize)
	g.seq = binary.BigEndian.Uint32(pkt[g.l4+4:])
	g.flags = pkt[g.l4+13]
	return nil
}

// pending reports whether segments remain to be cut.
func (g *gsoFrame) pending() bool { return g.next < g.segs }

// cut writes the next segment, a complete frame with correct checksums,
// into b and returns its length; 0 if b is too short (the segment is lost).
func (g *gsoFrame) cut(b []byte) int {
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
		binary.BigEndian.PutUint16(ip[10:], ^checksumFold(checksumAdd(ip, 0)))
		src, dst = ip[12:16], ip[16:20]
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
	sum := checksumAdd(tcp, pseudoHeaderSum(src, dst, ipProtoTCP, len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], ^checksumFold(sum))
	return n
}

// completeChecksum finishes the partial checksum of a frame read with
// NEEDS_CSUM: the field holds the pseudo-header sum and the checksum
// covers everything from csumStart.
func completeChecksum(pkt []byte, h *virtioNetHdr) error {
	start, at := int(h.csumStart), int(h.csumStart)+int(h.csumOffset)
	if at+2 > len(pkt) || at < start {
		return errBadGSO
	}
	c := ^checksumFold(checksumAdd(pkt[start:], 0))
	if c == 0 {
		c = 0xffff // UDP's "no checksum" must not appear; equal to 0 for TCP
	}
	binary.BigEndian.PutUint16(pkt[at:], c)
	return nil
}
