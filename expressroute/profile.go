package expressroute

import (
	"cmp"
	"net/netip"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
)

// Link is one ExpressRoute link as a BGP neighbour: our address on its
// /30, the other end's, the other side's AS and an optional BFD session.
type Link struct {
	Name    string // "link1", "link2"
	Local   netip.Addr
	Peer    netip.Addr
	PeerASN uint32
	BFD     *bfd.Session
}

// MicrosoftEdge is the MSEE profile: AS 12076, hold 180 s / keepalive
// 60 s, exporting only the VNet prefixes, and the private-peering prefix
// limits (4,000 IPv4, 100 IPv6) on every neighbour, held down until
// reset, as the service drops the session. Pass BFD sessions in the
// links: the service runs BFD on every private peering.
func MicrosoftEdge(routerID netip.Addr, vnet []netip.Prefix, links ...Link) bgp.Config {
	cfg := bgp.Config{
		ASN: MicrosoftASN, RouterID: routerID, HoldTime: HoldTime, KeepaliveTime: KeepaliveTime,
		Networks: vnet,
	}
	for _, l := range links {
		cfg.Neighbors = append(cfg.Neighbors, bgp.NeighborConfig{
			Name: l.Name, Address: l.Peer, ASN: l.PeerASN, LocalAddress: l.Local, BFD: l.BFD,
			Export:    bgp.Policy{Prefixes: bgp.Exact(vnet...)},
			MaxPrefix: bgp.MaxPrefix{IPv4: MaxPrefixIPv4, IPv6: MaxPrefixIPv6},
		})
	}
	return cfg
}

// MicrosoftPeeringEdge is the MSEE's session on Microsoft peering: AS
// 12076 advertising Microsoft's public service prefixes, accepting from the
// customer only the advertised public prefixes configured on the peering
// (and no more specific ones), 200 prefixes per family at most.
func MicrosoftPeeringEdge(services, advertised []netip.Prefix, l Link) bgp.NeighborConfig {
	return bgp.NeighborConfig{
		Name: l.Name, Address: l.Peer, ASN: l.PeerASN, LocalAddress: l.Local, BFD: l.BFD,
		Import:    bgp.Policy{Prefixes: bgp.Exact(advertised...)},
		Export:    bgp.Policy{Prefixes: bgp.Exact(services...)},
		MaxPrefix: bgp.MaxPrefix{IPv4: MaxPrefixMicrosoftPeering, IPv6: MaxPrefixMicrosoftPeering},
	}
}

// Customer is the on-premises router profile: any AS, exporting the
// on-premises prefixes over both links, with link1 preferred both ways
// as Azure recommends for active-passive: on link2 the export is
// prepended three times (so Azure prefers link1 inbound) and imports get
// local preference 90 against link1's 100 (so we prefer link1 outbound).
func Customer(asn uint32, routerID netip.Addr, onprem []netip.Prefix, link1, link2 Link) bgp.Config {
	l1, l2 := link1, link2
	l1.PeerASN = cmp.Or(l1.PeerASN, MicrosoftASN)
	l2.PeerASN = cmp.Or(l2.PeerASN, MicrosoftASN)
	return bgp.Config{
		ASN: asn, RouterID: routerID, HoldTime: HoldTime, Networks: onprem,
		Neighbors: []bgp.NeighborConfig{
			{Name: l1.Name, Address: l1.Peer, ASN: l1.PeerASN, LocalAddress: l1.Local, BFD: l1.BFD,
				Import: bgp.Policy{LocalPref: PrimaryLocalPref}, Export: bgp.Policy{Prefixes: bgp.Exact(onprem...)}},
			{Name: l2.Name, Address: l2.Peer, ASN: l2.PeerASN, LocalAddress: l2.Local, BFD: l2.BFD,
				Import: bgp.Policy{LocalPref: BackupLocalPref},
				Export: bgp.Policy{Prefixes: bgp.Exact(onprem...), Prepend: BackupPrepend}},
		},
	}
}
