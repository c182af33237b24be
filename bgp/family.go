package bgp

import (
	"fmt"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Family is an address family / subsequent address family pair (RFC 4760).
type Family uint8

// The families the speaker carries.
const (
	IPv4Unicast Family = iota + 1
	IPv6Unicast
)

// Families lists every Family in a fixed order.
var Families = []Family{IPv4Unicast, IPv6Unicast}

func (f Family) String() string {
	switch f {
	case IPv4Unicast:
		return "ipv4-unicast"
	case IPv6Unicast:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// FamilyOf returns the family a prefix belongs to.
func FamilyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return IPv4Unicast
	}
	return IPv6Unicast
}

func (f Family) routeFamily() bgp.RouteFamily {
	if f == IPv6Unicast {
		return bgp.RF_IPv6_UC
	}
	return bgp.RF_IPv4_UC
}

func (f Family) afiSafi() (uint16, uint8) {
	if f == IPv6Unicast {
		return bgp.AFI_IP6, bgp.SAFI_UNICAST
	}
	return bgp.AFI_IP, bgp.SAFI_UNICAST
}

func familyFrom(afi uint16, safi uint8) (Family, bool) {
	switch {
	case afi == bgp.AFI_IP && safi == bgp.SAFI_UNICAST:
		return IPv4Unicast, true
	case afi == bgp.AFI_IP6 && safi == bgp.SAFI_UNICAST:
		return IPv6Unicast, true
	}
	return 0, false
}
