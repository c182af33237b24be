package ike

import (
	"fmt"
	"net/netip"
)

// AnyTS is the traffic selector of a route-based tunnel: every address of
// a family, every protocol and port.
func AnyTS(ipv6 bool) TrafficSelector {
	if ipv6 {
		return TrafficSelector{EndPort: 65535, Start: netip.IPv6Unspecified(),
			End: netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}
	}
	return TrafficSelector{EndPort: 65535, Start: netip.IPv4Unspecified(), End: netip.AddrFrom4([4]byte{255, 255, 255, 255})}
}

// PrefixTS is the traffic selector of a prefix, any protocol and port.
func PrefixTS(p netip.Prefix) TrafficSelector {
	p = p.Masked()
	start := p.Addr()
	end := start.AsSlice()
	for i := p.Bits(); i < len(end)*8; i++ {
		end[i/8] |= 0x80 >> (i % 8)
	}
	e, _ := netip.AddrFromSlice(end)
	return TrafficSelector{EndPort: 65535, Start: start, End: e}
}

// Prefixes returns the prefixes that make up the selector's address range.
func (ts TrafficSelector) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	a := ts.Start
	for a.IsValid() && a.Compare(ts.End) <= 0 {
		bits := a.BitLen()
		// The largest prefix starting at a that ends at or before End.
		for ; bits > 0; bits-- {
			p := netip.PrefixFrom(a, bits-1).Masked()
			if p.Addr() != a || PrefixTS(p).End.Compare(ts.End) > 0 {
				break
			}
		}
		p := netip.PrefixFrom(a, bits)
		out = append(out, p)
		last := PrefixTS(p).End
		if last == ts.End {
			break
		}
		a = last.Next()
	}
	return out
}

func (ts TrafficSelector) String() string {
	s := fmt.Sprintf("%v-%v", ts.Start, ts.End)
	if ps := ts.Prefixes(); len(ps) == 1 {
		s = ps[0].String()
	}
	if ts.Protocol != 0 || ts.StartPort != 0 || ts.EndPort != 65535 {
		s += fmt.Sprintf("[%d/%d-%d]", ts.Protocol, ts.StartPort, ts.EndPort)
	}
	return s
}

// Narrow intersects the selectors a peer proposed with those policy
// allows, as a responder narrows them (RFC 7296 §2.9): each pair of the
// same family gives its common range, protocol and ports, if any.
func Narrow(proposed, allowed []TrafficSelector) []TrafficSelector {
	var out []TrafficSelector
	for _, p := range proposed {
		for _, a := range allowed {
			if p.Start.Is4() != a.Start.Is4() {
				continue
			}
			r := TrafficSelector{Start: maxAddr(p.Start, a.Start), End: minAddr(p.End, a.End),
				StartPort: max(p.StartPort, a.StartPort), EndPort: min(p.EndPort, a.EndPort), Protocol: p.Protocol}
			switch {
			case p.Protocol == 0:
				r.Protocol = a.Protocol
			case a.Protocol != 0 && a.Protocol != p.Protocol:
				continue
			}
			if r.Start.Compare(r.End) > 0 || r.StartPort > r.EndPort {
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) <= 0 {
		return a
	}
	return b
}
