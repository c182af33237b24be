package bgp

import (
	"net"
	"net/netip"
	"slices"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// received is the content of one UPDATE, attributes decoded once.
type received struct {
	attrs    *Path // nil when the UPDATE carries no reachable NLRI
	reach    []netip.Prefix
	withdraw []netip.Prefix
}

func prefixOf(ip net.IP, bits uint8, v4 bool) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	if v4 {
		a = a.Unmap()
		if !a.Is4() {
			return netip.Prefix{}, false
		}
	}
	p, err := a.Prefix(int(bits))
	return p, err == nil
}

func nlriPrefix(n bgp.AddrPrefixInterface) (netip.Prefix, bool) {
	switch n := n.(type) {
	case *bgp.IPAddrPrefix:
		return prefixOf(n.Prefix, n.Length, true)
	case *bgp.IPv6AddrPrefix:
		return prefixOf(n.Prefix, n.Length, false)
	}
	return netip.Prefix{}, false
}

// decodeUpdate turns a parsed UPDATE into prefixes and one attribute set.
// as4 says whether the peer sends 4-octet AS numbers in AS_PATH.
func decodeUpdate(u *bgp.BGPUpdate, as4 bool) (*received, *Notification) {
	r := &received{}
	for _, w := range u.WithdrawnRoutes {
		if p, ok := nlriPrefix(w); ok {
			r.withdraw = append(r.withdraw, p)
		}
	}
	for _, n := range u.NLRI {
		p, ok := nlriPrefix(n)
		if !ok {
			return nil, notify(CodeUpdateMessage, 10, nil)
		}
		r.reach = append(r.reach, p)
	}
	a := &Path{LocalPref: 100}
	var as4Path ASPath
	var nextHop netip.Addr
	haveOrigin, haveASPath := false, false
	for _, attr := range u.PathAttributes {
		switch attr := attr.(type) {
		case *bgp.PathAttributeOrigin:
			a.Origin, haveOrigin = Origin(attr.Value), true
		case *bgp.PathAttributeAsPath:
			haveASPath = true
			for _, seg := range attr.Value {
				a.ASPath = append(a.ASPath, ASSegment{Set: seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_SET, ASNs: seg.GetAS()})
			}
		case *bgp.PathAttributeAs4Path:
			for _, seg := range attr.Value {
				as4Path = append(as4Path, ASSegment{Set: seg.Type == bgp.BGP_ASPATH_ATTR_TYPE_SET, ASNs: seg.AS})
			}
		case *bgp.PathAttributeNextHop:
			if ip, ok := netip.AddrFromSlice(attr.Value.To4()); ok {
				nextHop = ip
			}
		case *bgp.PathAttributeMultiExitDisc:
			a.MED, a.HasMED = attr.Value, true
		case *bgp.PathAttributeLocalPref:
			a.LocalPref = attr.Value
		case *bgp.PathAttributeCommunities:
			a.Communities = slices.Clone(attr.Value)
		case *bgp.PathAttributeMpReachNLRI:
			fam, ok := familyFrom(attr.AFI, attr.SAFI)
			if !ok {
				continue // a family we did not negotiate: ignore (RFC 4760 §7)
			}
			nh, _ := netip.AddrFromSlice(attr.Nexthop)
			if fam == IPv4Unicast {
				nh = nh.Unmap()
			}
			a.NextHop = nh
			for _, n := range attr.Value {
				p, ok := nlriPrefix(n)
				if !ok || FamilyOf(p) != fam {
					return nil, notify(CodeUpdateMessage, 9, nil)
				}
				r.reach = append(r.reach, p)
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			for _, n := range attr.Value {
				if p, ok := nlriPrefix(n); ok {
					r.withdraw = append(r.withdraw, p)
				}
			}
		}
	}
	if len(r.reach) == 0 {
		return r, nil
	}
	if !haveOrigin || !haveASPath {
		// RFC 7606 §3(d): treat-as-withdraw, do not reset the session.
		r.withdraw = append(r.withdraw, r.reach...)
		r.reach = nil
		return r, nil
	}
	if !a.NextHop.IsValid() {
		a.NextHop = nextHop
	}
	if !as4 && len(as4Path) > 0 {
		a.ASPath = mergeAS4Path(a.ASPath, as4Path)
	}
	r.attrs = a
	return r, nil
}

// mergeAS4Path rebuilds the true path from AS_PATH and AS4_PATH
// (RFC 6793 §4.2.3): keep the leading ASes AS_PATH has in excess, then
// AS4_PATH.
func mergeAS4Path(asPath, as4Path ASPath) ASPath {
	extra := asPath.Len() - as4Path.Len()
	if extra < 0 {
		return asPath
	}
	var out ASPath
	for _, s := range asPath {
		if extra == 0 {
			break
		}
		if s.Set {
			out = append(out, s)
			extra--
			continue
		}
		n := min(extra, len(s.ASNs))
		out = append(out, ASSegment{ASNs: s.ASNs[:n]})
		extra -= n
	}
	return append(out, as4Path...)
}

// encodeAttrs builds the path attributes of an announcement; the NEXT_HOP
// (IPv4) or MP_REACH_NLRI (IPv6) goes with the NLRI in encodeReach.
func encodeAttrs(p *Path, ibgp, as4 bool) []bgp.PathAttributeInterface {
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(uint8(p.Origin))}
	var segs []bgp.AsPathParamInterface
	var segs4 []*bgp.As4PathParam
	needAS4 := false
	for _, s := range p.ASPath {
		typ := uint8(bgp.BGP_ASPATH_ATTR_TYPE_SEQ)
		if s.Set {
			typ = bgp.BGP_ASPATH_ATTR_TYPE_SET
		}
		if as4 {
			segs = append(segs, bgp.NewAs4PathParam(typ, s.ASNs))
			continue
		}
		two := make([]uint16, len(s.ASNs))
		for i, a := range s.ASNs {
			if a > 0xffff {
				two[i], needAS4 = asTrans, true
			} else {
				two[i] = uint16(a)
			}
		}
		segs = append(segs, bgp.NewAsPathParam(typ, two))
		segs4 = append(segs4, bgp.NewAs4PathParam(typ, s.ASNs))
	}
	attrs = append(attrs, bgp.NewPathAttributeAsPath(segs))
	if p.HasMED {
		attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(p.MED))
	}
	if ibgp {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(p.LocalPref))
	}
	if len(p.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(p.Communities))
	}
	if needAS4 {
		attrs = append(attrs, bgp.NewPathAttributeAs4Path(segs4))
	}
	return attrs
}

func nlriOf(p netip.Prefix) bgp.AddrPrefixInterface {
	if p.Addr().Is4() {
		return bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
	}
	return bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
}

func nlriLen(p netip.Prefix) int { return 1 + (p.Bits()+7)/8 }

// chunk splits prefixes so that each group fits in budget bytes of NLRI.
func chunk(prefixes []netip.Prefix, budget int) [][]netip.Prefix {
	var out [][]netip.Prefix
	start, size := 0, 0
	for i, p := range prefixes {
		n := nlriLen(p)
		if size+n > budget && i > start {
			out = append(out, prefixes[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(prefixes) {
		out = append(out, prefixes[start:])
	}
	return out
}

// encodeReach builds the UPDATEs announcing prefixes (all of one family)
// with the attributes of tmpl.
func encodeReach(tmpl *Path, prefixes []netip.Prefix, ibgp, as4 bool) []*bgp.BGPMessage {
	attrs := encodeAttrs(tmpl, ibgp, as4)
	attrLen := 0
	for _, a := range attrs {
		attrLen += a.Len()
	}
	budget := maxMessageLen - headerLen - 4 - attrLen - 48 // 48: NEXT_HOP or MP_REACH header
	var msgs []*bgp.BGPMessage
	for _, c := range chunk(prefixes, budget) {
		if c[0].Addr().Is4() {
			nlri := make([]*bgp.IPAddrPrefix, len(c))
			for i, p := range c {
				nlri[i] = nlriOf(p).(*bgp.IPAddrPrefix)
			}
			a := append(append([]bgp.PathAttributeInterface(nil), attrs...), bgp.NewPathAttributeNextHop(tmpl.NextHop.Unmap().String()))
			msgs = append(msgs, bgp.NewBGPUpdateMessage(nil, a, nlri))
			continue
		}
		nlri := make([]bgp.AddrPrefixInterface, len(c))
		for i, p := range c {
			nlri[i] = nlriOf(p)
		}
		nh := tmpl.NextHop
		if nh.Is4() {
			nh = netip.AddrFrom16(nh.As16()) // IPv4-mapped IPv6 next hop
		}
		a := append([]bgp.PathAttributeInterface{bgp.NewPathAttributeMpReachNLRI(nh.String(), nlri)}, attrs...)
		msgs = append(msgs, bgp.NewBGPUpdateMessage(nil, a, nil))
	}
	return msgs
}

// encodeWithdraw builds the UPDATEs withdrawing prefixes of one family.
func encodeWithdraw(prefixes []netip.Prefix) []*bgp.BGPMessage {
	var msgs []*bgp.BGPMessage
	for _, c := range chunk(prefixes, maxMessageLen-headerLen-4-16) {
		if c[0].Addr().Is4() {
			w := make([]*bgp.IPAddrPrefix, len(c))
			for i, p := range c {
				w[i] = nlriOf(p).(*bgp.IPAddrPrefix)
			}
			msgs = append(msgs, bgp.NewBGPUpdateMessage(w, nil, nil))
			continue
		}
		nlri := make([]bgp.AddrPrefixInterface, len(c))
		for i, p := range c {
			nlri[i] = nlriOf(p)
		}
		msgs = append(msgs, bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeMpUnreachNLRI(nlri)}, nil))
	}
	return msgs
}
