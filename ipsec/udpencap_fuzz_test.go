package ipsec

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzUDPEncap feeds arbitrary datagrams on the ESP-in-UDP port to the
// demultiplexer (RFC 3948): it never panics, the payload it finds is the
// one the UDP length says, and each kind is what the RFC says it is: a
// NAT-keepalive is the single octet 0xFF, IKE starts with the 4-octet
// non-ESP marker, ESP starts with a non-zero SPI and is long enough for
// Open. A datagram built by PutUDPHeader gives its payload back.
func FuzzUDPEncap(f *testing.F) {
	dgram := func(p []byte) []byte {
		b := make([]byte, UDPHeaderLen+len(p))
		copy(b[UDPHeaderLen:], p)
		PutUDPHeader(b, UDPHeaderLen, len(p), UDPEncapPort, UDPEncapPort)
		return b
	}
	f.Add(dgram([]byte{0xFF}))
	f.Add(dgram(append([]byte{0, 0, 0, 0}, bytes.Repeat([]byte{0x21}, 28)...)))
	f.Add(dgram(append([]byte{0, 0, 0x20, 0x01, 0, 0, 0, 1}, make([]byte, minESP)...)))
	f.Add([]byte{0x11, 0x94, 0x11, 0x94, 0, 4, 0, 0})
	f.Fuzz(func(t *testing.T, d []byte) {
		p := UDPPayload(d)
		if p == nil {
			if len(d) >= UDPHeaderLen {
				if l := int(binary.BigEndian.Uint16(d[4:])); l >= UDPHeaderLen && l <= len(d) && l > UDPHeaderLen {
					t.Fatalf("no payload found in a datagram of length %d (%d octets)", l, len(d))
				}
			}
		} else if l := int(binary.BigEndian.Uint16(d[4:])); len(p) != l-UDPHeaderLen {
			t.Fatalf("payload of %d octets, the UDP length %d says %d", len(p), l, l-UDPHeaderLen)
		}
		for _, q := range [][]byte{p, d} {
			switch k := ClassifyUDP(q); k {
			case UDPKeepalive:
				if len(q) != 1 || q[0] != 0xFF {
					t.Fatalf("keepalive: % x", q)
				}
			case UDPIKE:
				if len(q) < 4 || binary.BigEndian.Uint32(q) != 0 {
					t.Fatalf("IKE without the non-ESP marker: % x", q)
				}
			case UDPESP:
				if len(q) < minESP || binary.BigEndian.Uint32(q) == 0 {
					t.Fatalf("ESP with SPI 0 or shorter than %d octets: % x", minESP, q)
				}
			case UDPInvalid:
				if len(q) >= minESP || len(q) >= 4 && binary.BigEndian.Uint32(q) == 0 || len(q) == 1 && q[0] == 0xFF {
					t.Fatalf("a valid datagram refused: % x", q)
				}
			default:
				t.Fatalf("unknown kind %d", k)
			}
		}
		if len(d) <= 0xFFFF-UDPHeaderLen {
			if got := UDPPayload(dgram(d)); !bytes.Equal(got, d) {
				t.Fatalf("PutUDPHeader then UDPPayload: % x, want % x", got, d)
			}
		}
	})
}
