package bgp

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// asTrans stands in for a 4-octet AS number in 2-octet fields (RFC 6793 §9).
const asTrans = 23456

// openInfo is what a received OPEN tells us about the peer.
type openInfo struct {
	asn          uint32
	hold         uint16
	id           netip.Addr
	as4          bool
	routeRefresh bool
	families     map[Family]bool
}

func buildOpen(asn uint32, hold uint16, id netip.Addr, fams []Family) *bgp.BGPMessage {
	my := uint16(asTrans)
	if asn <= 0xffff {
		my = uint16(asn)
	}
	caps := []bgp.ParameterCapabilityInterface{}
	for _, f := range fams {
		caps = append(caps, bgp.NewCapMultiProtocol(f.routeFamily()))
	}
	caps = append(caps, bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(asn))
	return bgp.NewBGPOpenMessage(my, hold, id.String(),
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
}

// parseOpen checks an OPEN as RFC 4271 §6.2 says, except the peer AS,
// which the caller knows.
func parseOpen(o *bgp.BGPOpen) (openInfo, *Notification) {
	var info openInfo
	if o.Version != 4 {
		return info, notify(CodeOpenMessage, 1, []byte{0, 4}) // data: the version we speak
	}
	if o.HoldTime == 1 || o.HoldTime == 2 {
		return info, notify(CodeOpenMessage, 6, nil)
	}
	id, ok := netip.AddrFromSlice(net.IP(o.ID).To4())
	if !ok || id.IsUnspecified() {
		return info, notify(CodeOpenMessage, 3, nil)
	}
	info.id, info.hold, info.asn = id, o.HoldTime, uint32(o.MyAS)
	info.families = map[Family]bool{}
	sawMP := false
	for _, p := range o.OptParams {
		pc, ok := p.(*bgp.OptionParameterCapability)
		if !ok {
			// RFC 5492 §5: only the Capabilities parameter is defined.
			return info, notify(CodeOpenMessage, 4, nil)
		}
		for _, c := range pc.Capability {
			switch c := c.(type) {
			case *bgp.CapFourOctetASNumber:
				info.as4, info.asn = true, c.CapValue
			case *bgp.CapMultiProtocol:
				sawMP = true
				afi, safi := bgp.RouteFamilyToAfiSafi(c.CapValue)
				if f, ok := familyFrom(afi, safi); ok {
					info.families[f] = true
				}
			case *bgp.CapRouteRefresh:
				info.routeRefresh = true
			}
		}
	}
	if !sawMP {
		// RFC 4760 §8: a speaker without the capability carries IPv4 unicast.
		info.families[IPv4Unicast] = true
	}
	return info, nil
}

// badPeerAS is the NOTIFICATION for an OPEN from the wrong AS; the data
// is the AS the peer announced in the 2-octet field (RFC 4271 §6.2).
func badPeerAS(o *bgp.BGPOpen) *Notification {
	d := make([]byte, 2)
	binary.BigEndian.PutUint16(d, o.MyAS)
	return notify(CodeOpenMessage, 2, d)
}
