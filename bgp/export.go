package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// export recomputes what the neighbour should hold for prefix and queues
// the difference against its Adj-RIB-Out (RFC 4271 §9.1.3).
func (p *peer) export(prefix netip.Prefix) {
	f := FamilyOf(prefix)
	if !p.families[f] {
		return
	}
	out := p.exportPath(p.s.rib.bestOf(prefix))
	old, had := p.adjOut[prefix]
	if q, queued := p.outQ[prefix]; queued {
		old, had = q, q != nil
	}
	switch {
	case out == nil && !had:
		return
	case out != nil && had && sameAttrs(out, old):
		return
	}
	p.outQ[prefix] = out
}

func (p *peer) exportPath(best []*Path) *Path {
	if len(best) == 0 {
		return nil
	}
	b := best[0]
	if b.Peer == p.cfg.Address {
		return nil // never back to where it came from
	}
	if !p.ebgp() && !b.Local() && !b.EBGP {
		return nil // iBGP-learned routes go to eBGP neighbours only (RFC 4271 §9.1.1)
	}
	out := p.cfg.Export.apply(b, p.s.cfg.ASN)
	if out == nil {
		return nil
	}
	if out == b {
		out = b.clone()
	}
	if p.cfg.Export.MED == nil && !b.Local() {
		// A MED received from one AS is not passed to another (RFC 4271 §5.1.4).
		out.MED, out.HasMED = 0, false
	}
	if p.ebgp() {
		out.ASPath = out.ASPath.Prepend(p.s.cfg.ASN, 1)
	}
	out.NextHop = p.localNH
	if FamilyOf(out.Prefix) == IPv6Unicast {
		out.NextHop = p.cfg.LocalAddress6
		if !out.NextHop.IsValid() {
			out.NextHop = netip.AddrFrom16(p.localNH.As16())
		}
	}
	out.Peer, out.PeerID, out.PeerASN = netip.Addr{}, netip.Addr{}, 0
	return out
}

func attrKey(p *Path) string {
	return fmt.Sprintf("%v|%d|%v/%d|%d|%s", p.NextHop, p.Origin, p.HasMED, p.MED, p.LocalPref, p.ASPath)
}

// flush sends the queued Adj-RIB-Out changes, withdrawals first, packing
// prefixes with the same attributes into as few UPDATEs as fit.
func (p *peer) flush() {
	if p.state != Established || len(p.outQ) == 0 {
		return
	}
	var withdraw [2][]netip.Prefix
	groups := map[string][]netip.Prefix{}
	tmpl := map[string]*Path{}
	for prefix, path := range p.outQ {
		fi := int(FamilyOf(prefix)) - 1
		if path == nil {
			if _, ok := p.adjOut[prefix]; ok {
				withdraw[fi] = append(withdraw[fi], prefix)
				delete(p.adjOut, prefix)
			}
			continue
		}
		k := fmt.Sprint(fi) + attrKey(path)
		groups[k] = append(groups[k], prefix)
		tmpl[k] = path
		p.adjOut[prefix] = path
	}
	clear(p.outQ)
	for _, w := range withdraw {
		if len(w) == 0 {
			continue
		}
		slices.SortFunc(w, comparePrefix)
		for _, m := range encodeWithdraw(w) {
			p.conn.send(m)
			p.counters.UpdatesOut++
			p.counters.MessagesOut++
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	for _, k := range keys {
		prefixes := groups[k]
		slices.SortFunc(prefixes, comparePrefix)
		for _, m := range encodeReach(tmpl[k], prefixes, !p.ebgp(), p.peerOpen.as4) {
			p.conn.send(m)
			p.counters.UpdatesOut++
			p.counters.MessagesOut++
		}
	}
}
