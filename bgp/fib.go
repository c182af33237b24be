package bgp

import (
	"net/netip"
	"slices"
)

// Route is a best route as the forwarding table needs it: the prefix and
// its next hops (more than one under ECMP).
type Route struct {
	Prefix   netip.Prefix
	NextHops []netip.Addr
}

// FIB is where the speaker installs its best routes. The speaker calls
// Replace when the selected paths of a learned prefix change and Delete
// when none is left; locally originated prefixes are never installed.
// Calls come from the speaker's loop, one at a time.
type FIB interface {
	Replace(Route) error
	Delete(netip.Prefix) error
}

func routeOf(best []*Path) Route {
	r := Route{Prefix: best[0].Prefix}
	for _, p := range best {
		if !slices.Contains(r.NextHops, p.NextHop) {
			r.NextHops = append(r.NextHops, p.NextHop)
		}
	}
	slices.SortFunc(r.NextHops, netip.Addr.Compare)
	return r
}
