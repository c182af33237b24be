package bgp

import (
	"net/netip"
	"slices"
)

// dest is one prefix in the Loc-RIB: every candidate path (after import
// policy) and the selected set, best first.
type dest struct {
	paths []*Path
	best  []*Path
}

// locRIB is the Loc-RIB (RFC 4271 §3.2). Not safe for concurrent use;
// the speaker's loop owns it.
type locRIB struct {
	dests    map[netip.Prefix]*dest
	maxPaths int
}

func newLocRIB(maxPaths int) *locRIB {
	return &locRIB{dests: map[netip.Prefix]*dest{}, maxPaths: max(maxPaths, 1)}
}

// sameSource reports whether two paths come from the same neighbour (or
// both from us).
func sameSource(a, b *Path) bool { return a.Peer == b.Peer }

// put adds or replaces the path from p's source and reports whether the
// selected set changed.
func (r *locRIB) put(p *Path) bool {
	d := r.dests[p.Prefix]
	if d == nil {
		d = &dest{}
		r.dests[p.Prefix] = d
	}
	i := slices.IndexFunc(d.paths, func(q *Path) bool { return sameSource(p, q) })
	if i >= 0 {
		d.paths[i] = p
	} else {
		d.paths = append(d.paths, p)
	}
	return r.reselect(p.Prefix, d)
}

// remove drops the path from source peer (invalid Addr: local) and
// reports whether the selected set changed.
func (r *locRIB) remove(prefix netip.Prefix, peer netip.Addr) bool {
	d := r.dests[prefix]
	if d == nil {
		return false
	}
	n := len(d.paths)
	d.paths = slices.DeleteFunc(d.paths, func(q *Path) bool { return q.Peer == peer })
	if len(d.paths) == n {
		return false
	}
	return r.reselect(prefix, d)
}

func (r *locRIB) reselect(prefix netip.Prefix, d *dest) bool {
	old := d.best
	d.best = selectBest(slices.Clone(d.paths), r.maxPaths)
	if len(d.paths) == 0 {
		delete(r.dests, prefix)
	}
	return !sameSet(old, d.best)
}

func sameSet(a, b []*Path) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Peer != b[i].Peer || !sameAttrs(a[i], b[i]) {
			return false
		}
	}
	return true
}

// bestOf returns the selected set for prefix, best first.
func (r *locRIB) bestOf(prefix netip.Prefix) []*Path {
	if d := r.dests[prefix]; d != nil {
		return d.best
	}
	return nil
}
