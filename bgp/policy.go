package bgp

import (
	"fmt"
	"net/netip"
	"time"
)

// PrefixRule is one prefix-list entry. A prefix matches when it lies
// inside Prefix and its length is in [GE, LE]; as in IOS and FRR, an
// unset GE is Prefix's length, an unset LE is GE when GE is unset and the
// family's maximum otherwise.
type PrefixRule struct {
	Prefix netip.Prefix
	GE, LE int
	Deny   bool
}

// Match reports whether p matches the rule's prefix and length range.
func (r PrefixRule) Match(p netip.Prefix) bool {
	if p.Addr().Is4() != r.Prefix.Addr().Is4() || p.Bits() < r.Prefix.Bits() || !r.Prefix.Contains(p.Addr()) {
		return false
	}
	ge, le := r.GE, r.LE
	if ge == 0 {
		ge = r.Prefix.Bits()
	}
	if le == 0 {
		le = p.Addr().BitLen()
		if r.GE == 0 {
			le = r.Prefix.Bits()
		}
	}
	return p.Bits() >= ge && p.Bits() <= le
}

func (r PrefixRule) String() string {
	s := "permit "
	if r.Deny {
		s = "deny "
	}
	s += r.Prefix.String()
	if r.GE > 0 {
		s += fmt.Sprintf(" ge %d", r.GE)
	}
	if r.LE > 0 {
		s += fmt.Sprintf(" le %d", r.LE)
	}
	return s
}

// PrefixList is an ordered list of rules: the first match decides, and a
// prefix nothing matches is denied.
type PrefixList []PrefixRule

// Permit reports whether the list lets p through.
func (l PrefixList) Permit(p netip.Prefix) bool {
	for _, r := range l {
		if r.Match(p) {
			return !r.Deny
		}
	}
	return false
}

// Exact returns a list permitting exactly the given prefixes.
func Exact(prefixes ...netip.Prefix) PrefixList {
	l := make(PrefixList, len(prefixes))
	for i, p := range prefixes {
		l[i] = PrefixRule{Prefix: p}
	}
	return l
}

// Policy is one direction of a neighbour's policy, applied in order:
// prefix filter, then the attribute changes.
type Policy struct {
	// Prefixes filters routes; nil lets everything through.
	Prefixes PrefixList
	// LocalPref, when non-zero, sets LOCAL_PREF on import.
	LocalPref uint32
	// Prepend adds the speaker's own AS this many extra times on export
	// (RFC 4271 already adds it once towards an eBGP neighbour).
	Prepend int
	// MED, when non-nil, sets MULTI_EXIT_DISC.
	MED *uint32
}

// apply returns the path as changed by the policy, or nil when filtered.
// The caller's path is not modified.
func (pol *Policy) apply(p *Path, asn uint32) *Path {
	if pol.Prefixes != nil && !pol.Prefixes.Permit(p.Prefix) {
		return nil
	}
	if pol.LocalPref == 0 && pol.Prepend == 0 && pol.MED == nil {
		return p
	}
	c := p.clone()
	if pol.LocalPref != 0 {
		c.LocalPref = pol.LocalPref
	}
	if pol.Prepend > 0 {
		c.ASPath = c.ASPath.Prepend(asn, pol.Prepend)
	}
	if pol.MED != nil {
		c.MED, c.HasMED = *pol.MED, true
	}
	return c
}

// MaxPrefix is the per-family limit on prefixes a neighbour may send
// (counted as received, before import policy). Exceeding it ends the
// session with Cease / Maximum Number of Prefixes Reached (RFC 4486) and
// keeps it down for Restart, or until Reset when Restart is 0.
type MaxPrefix struct {
	IPv4, IPv6 int // 0: no limit
	Restart    time.Duration
}

func (m MaxPrefix) limit(f Family) int {
	if f == IPv6Unicast {
		return m.IPv6
	}
	return m.IPv4
}
