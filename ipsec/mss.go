package ipsec

import "encoding/binary"

// DefaultMSS is the TCP MSS Azure's VPN gateway clamps SYNs to, which
// keeps a TCP segment inside one ESP packet of the tunnel's MTU.
const DefaultMSS = 1350

// DefaultTunnelMTU is the MTU of the tunnel interface, as strongSwan's
// kernel-libipsec and Azure's VPN gateway use.
const DefaultTunnelMTU = 1400

// TunnelMTU is the largest inner packet that fits in one outer packet of
// the given MTU: the outer IP header (20 or 40), UDP (8 with
// encapsulation), ESP's header, IV, trailer and ICV, with the ciphertext
// kept to a 4-octet boundary.
func TunnelMTU(outerMTU int, ipv6 bool, encap Encap) int {
	o := outerMTU - 20 - HeaderLen - IVLen - ICVLen
	if ipv6 {
		o -= 20
	}
	if encap == EncapUDP {
		o -= UDPHeaderLen
	}
	return o&^3 - 2 // payload, pad length and next header end on a 4-octet boundary
}

// ClampMSS lowers the MSS option of a TCP SYN in the IPv4 or IPv6 packet
// p to mss, in place, fixing the TCP checksum incrementally (RFC 1624).
// It reports whether it changed the packet. Other packets are left alone.
func ClampMSS(p []byte, mss uint16) bool {
	var tcp []byte
	switch {
	case len(p) >= 20 && p[0]>>4 == 4:
		hl := int(p[0]&0x0F) * 4
		if p[9] != 6 || hl < 20 || binary.BigEndian.Uint16(p[6:])&0x1FFF != 0 || len(p) < hl+20 {
			return false
		}
		tcp = p[hl:]
	case len(p) >= 60 && p[0]>>4 == 6:
		if p[6] != 6 {
			return false
		}
		tcp = p[40:]
	default:
		return false
	}
	if tcp[13]&0x02 == 0 { // not a SYN
		return false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return false
	}
	opts := tcp[20:doff]
	for i := 0; i < len(opts); {
		switch kind := opts[i]; kind {
		case 0: // end of options
			return false
		case 1: // no-op
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return false
		}
		if opts[i] == 2 && opts[i+1] == 4 {
			old := binary.BigEndian.Uint16(opts[i+2:])
			if old <= mss {
				return false
			}
			binary.BigEndian.PutUint16(opts[i+2:], mss)
			// HC' = ~(~HC + ~m + m'), RFC 1624 eqn. 3. The option sits
			// at an even offset in practice; an odd one swaps octets.
			sum := uint32(^binary.BigEndian.Uint16(tcp[16:]))
			if (20+i+2)%2 == 0 {
				sum += uint32(^old) + uint32(mss)
			} else {
				sum += uint32(^swap16(old)) + uint32(swap16(mss))
			}
			for sum > 0xFFFF {
				sum = sum>>16 + sum&0xFFFF
			}
			binary.BigEndian.PutUint16(tcp[16:], ^uint16(sum))
			return true
		}
		i += int(opts[i+1])
	}
	return false
}

func swap16(v uint16) uint16 { return v<<8 | v>>8 }
