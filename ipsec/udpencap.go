package ipsec

import (
	"encoding/binary"
	"net/netip"
)

// UDPKind is what a datagram on the ESP-in-UDP port carries (RFC 3948 §2).
type UDPKind uint8

const (
	UDPInvalid   UDPKind = iota // too short for any of the others
	UDPESP                      // an ESP packet: the first 4 octets are a non-zero SPI
	UDPIKE                      // IKE behind the non-ESP marker (4 zero octets)
	UDPKeepalive                // NAT-keepalive: one octet 0xFF (RFC 3948 §2.3)
)

// UDPHeaderLen is the length of the UDP header before an encapsulated ESP packet.
const UDPHeaderLen = 8

// ClassifyUDP tells what the payload of a datagram on port 4500 is. Only
// UDPESP goes to Open; IKE belongs to the key exchange, a keepalive to
// nobody.
func ClassifyUDP(p []byte) UDPKind {
	switch {
	case len(p) == 1 && p[0] == 0xFF:
		return UDPKeepalive
	case len(p) >= 4 && binary.BigEndian.Uint32(p) == 0:
		return UDPIKE
	case len(p) >= minESP:
		return UDPESP
	}
	return UDPInvalid
}

// PutUDPHeader writes, in the UDPHeaderLen octets before off, the UDP
// header of an encapsulated ESP packet of n octets at buf[off:], and
// returns the start of the datagram. The checksum is 0, as RFC 3948 §2.1
// allows over IPv4 (ESP authenticates the payload).
func PutUDPHeader(buf []byte, off, n int, srcPort, dstPort uint16) int {
	h := off - UDPHeaderLen
	binary.BigEndian.PutUint16(buf[h:], srcPort)
	binary.BigEndian.PutUint16(buf[h+2:], dstPort)
	binary.BigEndian.PutUint16(buf[h+4:], uint16(UDPHeaderLen+n))
	binary.BigEndian.PutUint16(buf[h+6:], 0)
	return h
}

// UDPPayload returns the ESP packet inside a UDP datagram, checking the
// datagram's length field, or nil.
func UDPPayload(d []byte) []byte {
	if len(d) < UDPHeaderLen {
		return nil
	}
	l := int(binary.BigEndian.Uint16(d[4:]))
	if l < UDPHeaderLen || l > len(d) {
		return nil
	}
	return d[UDPHeaderLen:l]
}

// PutIPv4Header writes the 20-octet outer IPv4 header of a packet whose
// payload of n octets (protocol proto) starts at buf[off:], and returns
// the start of the packet. With raw sockets and in captures the outer
// header is the gateway's; with a UDP socket the kernel writes it.
func PutIPv4Header(buf []byte, off, n int, src, dst netip.Addr, proto byte, id uint16) int {
	h := off - 20
	b := buf[h:off]
	b[0], b[1] = 0x45, 0
	binary.BigEndian.PutUint16(b[2:], uint16(20+n))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], 0x4000) // DF: ESP is fragmented before, not after (RFC 4303 §3.3.4)
	b[8], b[9] = 64, proto
	b[10], b[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], ^checksum(b, 0))
	return h
}

// checksum is the Internet checksum (RFC 1071) of b added to sum, folded.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return uint16(sum)
}
