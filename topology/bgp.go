package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/value"
)

// BGP is a node's BGP speaker: secylab's own (package bgp) on a router,
// or the generated configuration of a bird or frr node.
type BGP struct {
	ASN      uint32
	RouterID netip.Addr
	Profile  BGPProfile
	// Networks are originated (and, with a profile, the only prefixes
	// exported to eBGP neighbours).
	Networks  []netip.Prefix
	Neighbors []BGPNeighbor
	// BFD runs single-hop BFD (300 ms × 3) to every neighbour unless the
	// neighbour says otherwise.
	BFD bool
	// HoldTime and Keepalive are offered to every neighbour. The lab's
	// default is 9 s / 3 s so that an exercise takes seconds; production
	// ExpressRoute uses 180 s / 60 s (the lower offer wins).
	HoldTime, Keepalive time.Duration
}

// BGPProfile is a set of policies from package bgp's profiles.
type BGPProfile string

const (
	// BGPPlain exports everything and sets nothing.
	BGPPlain BGPProfile = ""
	// BGPCustomer is an on-premises router: exports only its networks;
	// a link not marked prefer gets AS-path prepend ×3 on export and
	// local preference 90 (against 100) on import.
	BGPCustomer BGPProfile = "customer"
	// BGPMicrosoftEdge is an MSEE: AS 12076, exports only its networks,
	// enforces the private-peering prefix limits (4,000 IPv4, 100 IPv6).
	BGPMicrosoftEdge BGPProfile = "microsoft-edge"
)

// BGPNeighbor is a session over one link to the node at its other end,
// on the port itself or on one peering of a circuit the port carries.
type BGPNeighbor struct {
	// Name names the session: the link, or on a peering the link and the
	// peering's tags as its interface has them (link1.100, link1.10.200).
	Name  string
	Link  string
	Port  string // our port on the link
	Iface string // our interface: the port, or the peering's VLAN interface
	// Peering is the peering's type, "" for a session on the port itself.
	Peering PeeringType
	// AcceptOnly, on Microsoft's end of a Microsoft peering, is the
	// peering's advertised public prefixes: nothing else is accepted.
	AcceptOnly []netip.Prefix
	Local      netip.Addr // our address on the link
	Peer       netip.Addr // the other end's address in the same subnet
	PeerNode   string
	PeerASN    uint32
	// Prefer marks a customer router's preferred link (active-passive):
	// no prepend, local preference 100.
	Prefer bool
	BFD    bool
	// Tunnel, on a session over an IKE-keyed tunnel with enableBgp, names
	// the tunnel (Link and Port are then empty, Iface is the tunnel's
	// inner interface, Local and Peer its ends' APIPA BGP addresses).
	Tunnel string
}

// IBGP reports whether the session is internal (same AS both ends).
func (n BGPNeighbor) IBGP(asn uint32) bool { return n.PeerASN == asn }

// Neighbor returns the session called name, or nil.
func (b *BGP) Neighbor(name string) *BGPNeighbor {
	for i := range b.Neighbors {
		if b.Neighbors[i].Name == name {
			return &b.Neighbors[i]
		}
	}
	return nil
}

// OnLink returns the sessions over link: the port's own and its peerings'.
func (b *BGP) OnLink(link string) []*BGPNeighbor {
	var nbs []*BGPNeighbor
	for i := range b.Neighbors {
		if b.Neighbors[i].Link == link {
			nbs = append(nbs, &b.Neighbors[i])
		}
	}
	return nbs
}

type rawBGP struct {
	ASN       *int64           `yaml:"asn"`
	RouterID  string           `yaml:"routerID"`
	Profile   string           `yaml:"profile"`
	Networks  []string         `yaml:"networks"`
	Neighbors []rawBGPNeighbor `yaml:"neighbors"`
	BFD       bool             `yaml:"bfd"`
	HoldTime  string           `yaml:"holdTime"`
	Keepalive string           `yaml:"keepalive"`
}

type rawBGPNeighbor struct {
	Link    string `yaml:"link"`
	Peering string `yaml:"peering"`
	Circuit string `yaml:"circuit"`
	Prefer  bool   `yaml:"prefer"`
	BFD     *bool  `yaml:"bfd"`
}

// bgpNode checks a node's bgp block, except the neighbours (which need
// the links).
func (c *checker) bgpNode(path string, n *Node, rb *rawBGP) {
	b := &BGP{Profile: BGPProfile(rb.Profile), BFD: rb.BFD, HoldTime: expressroute.LabHoldTime, Keepalive: expressroute.LabKeepaliveTime}
	switch n.Kind {
	case KindHost:
		c.Errorf(path, "a host does not route: BGP runs on nodes of kind router, bird or frr")
	}
	switch b.Profile {
	case BGPPlain, BGPCustomer, BGPMicrosoftEdge:
	default:
		c.Errorf(path+".profile", "%q is not a BGP profile: want customer, microsoft-edge or nothing", rb.Profile)
	}
	if (n.Kind == KindBIRD || n.Kind == KindFRR) && b.Profile != BGPCustomer {
		c.Errorf(path+".profile", "a %s node runs the customer profile: want profile: customer", n.Kind)
	}
	switch {
	case rb.ASN == nil && b.Profile == BGPMicrosoftEdge:
		b.ASN = expressroute.MicrosoftASN
	case rb.ASN == nil:
		c.Errorf(path+".asn", "missing: want an AS number, e.g. 65001 (private 64512-65534, 4200000000-4294967294)")
	case *rb.ASN < 1 || *rb.ASN > 4294967294:
		c.Errorf(path+".asn", "%d is out of range: want 1 to 4294967294", *rb.ASN)
	case *rb.ASN == 23456 || *rb.ASN == 65535:
		c.Errorf(path+".asn", "%d is reserved (AS_TRANS 23456, 65535): choose another", *rb.ASN)
	case *rb.ASN == expressroute.MicrosoftASN && b.Profile != BGPMicrosoftEdge:
		c.Errorf(path+".asn", "12076 is Microsoft's AS: only a node with profile microsoft-edge may use it")
	case *rb.ASN != expressroute.MicrosoftASN && b.Profile == BGPMicrosoftEdge:
		c.Errorf(path+".asn", "%d: the Microsoft edge is always AS 12076 (leave asn out or write 12076)", *rb.ASN)
	default:
		b.ASN = uint32(*rb.ASN)
	}
	if rb.RouterID != "" {
		id, err := netip.ParseAddr(strings.TrimSpace(rb.RouterID))
		if err != nil || !id.Is4() || id.IsUnspecified() {
			c.Errorf(path+".routerID", "%q is not a router ID: want a non-zero IPv4 address, e.g. 1.1.1.1", rb.RouterID)
		} else {
			b.RouterID = id
		}
	}
	seen := map[netip.Prefix]bool{}
	for i, s := range rb.Networks {
		npath := fmt.Sprintf("%s.networks[%d]", path, i)
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		switch {
		case err != nil:
			c.Errorf(npath, "%q is not a prefix, e.g. 10.1.0.0/16", s)
		case p != p.Masked():
			c.Errorf(npath, "%s has host bits set: did you mean %s?", p, p.Masked())
		case seen[p]:
			c.Errorf(npath, "%s is listed twice", p)
		default:
			seen[p] = true
			b.Networks = append(b.Networks, p)
		}
	}
	var err error
	if rb.HoldTime != "" {
		if b.HoldTime, err = value.ParseDuration(rb.HoldTime); err != nil {
			c.Errorf(path+".holdTime", "%v", err)
		} else if b.HoldTime != 0 && (b.HoldTime < 3*time.Second || b.HoldTime > 65535*time.Second || b.HoldTime%time.Second != 0) {
			c.Errorf(path+".holdTime", "%v: want 0 (no keepalives) or whole seconds from 3s to 65535s (RFC 4271 §4.2); production ExpressRoute uses 180s", b.HoldTime)
		}
	}
	if rb.Keepalive != "" {
		if b.Keepalive, err = value.ParseDuration(rb.Keepalive); err != nil {
			c.Errorf(path+".keepalive", "%v", err)
		} else if b.Keepalive < time.Second || b.Keepalive%time.Second != 0 {
			c.Errorf(path+".keepalive", "%v: want whole seconds, at least 1s; production ExpressRoute uses 60s", b.Keepalive)
		}
	}
	if b.HoldTime > 0 && b.Keepalive >= b.HoldTime {
		c.Errorf(path+".keepalive", "keepalive %v must be shorter than the hold time %v (usually a third of it)", b.Keepalive, b.HoldTime)
	}
	n.BGP = b
}

// bgpNeighbors resolves the neighbours of every node with BGP, once the
// links are known, and checks what needs the whole lab.
func (c *checker) bgpNeighbors(t *Topology, raws map[string]rawNode) {
	ids := map[netip.Addr]string{}
	for _, n := range t.Nodes {
		b := n.BGP
		if b == nil {
			continue
		}
		path := "nodes." + n.Name + ".bgp"
		rb := raws[n.Name].BGP
		if rb == nil {
			continue // a vpngateway: sessions over its tunnels only
		}
		if len(rb.Neighbors) == 0 && len(b.Neighbors) == 0 {
			c.Errorf(path+".neighbors", "missing: a BGP speaker needs at least one neighbour {link: NAME}")
		}
		for i, rn := range rb.Neighbors {
			npath := fmt.Sprintf("%s.neighbors[%d]", path, i)
			if nb, ok := c.bgpNeighbor(t, n, npath, rn); ok {
				b.Neighbors = append(b.Neighbors, nb)
			}
		}
		if !b.RouterID.IsValid() {
			for _, nb := range b.Neighbors {
				if nb.Local.Is4() {
					b.RouterID = nb.Local
					break
				}
			}
		}
		if !b.RouterID.IsValid() {
			continue
		}
		if other, ok := ids[b.RouterID]; ok {
			c.Errorf(path+".routerID", "router ID %v is also %s's; router IDs must be unique (give routerID explicitly)", b.RouterID, other)
		}
		ids[b.RouterID] = n.Name
	}
	// Both ends of a session must configure it.
	for _, n := range t.Nodes {
		if n.BGP == nil {
			continue
		}
		for i, nb := range n.BGP.Neighbors {
			peer := t.Node(nb.PeerNode)
			if peer == nil || peer.BGP == nil {
				continue
			}
			pn := peer.BGP.Neighbor(nb.Name)
			npath := fmt.Sprintf("nodes.%s.bgp.neighbors[%d]", n.Name, i)
			switch {
			case pn == nil && nb.Peering != "":
				c.Errorf(npath+".peering", "%s has no neighbour on %s of link %s: a session needs both ends (add {link: %s, peering: %s} to nodes.%s.bgp.neighbors)", nb.PeerNode, nb.Peering, nb.Link, nb.Link, nb.Peering, nb.PeerNode)
			case pn == nil:
				c.Errorf(npath+".link", "%s has no neighbour on link %s: a session needs both ends (add {link: %s} to nodes.%s.bgp.neighbors)", nb.PeerNode, nb.Link, nb.Link, nb.PeerNode)
			case pn.BFD != nb.BFD && n.Name < peer.Name:
				t.Warnings = append(t.Warnings, fmt.Sprintf("BGP on link %s: BFD is on at one end only (%s %v, %s %v); the BFD session never comes up", nb.Link, n.Name, nb.BFD, peer.Name, pn.BFD))
			}
		}
	}
}

func (c *checker) bgpNeighbor(t *Topology, n *Node, path string, rn rawBGPNeighbor) (BGPNeighbor, bool) {
	b := n.BGP
	nb := BGPNeighbor{Link: rn.Link, Prefer: rn.Prefer, BFD: b.BFD}
	if rn.BFD != nil {
		nb.BFD = *rn.BFD
	}
	if rn.Link == "" {
		c.Errorf(path+".link", "missing: name the link the session runs over, e.g. link1")
		return nb, false
	}
	l := t.Link(rn.Link)
	if l == nil {
		var names []string
		for _, l := range t.Links {
			names = append(names, l.Name)
		}
		c.Errorf(path+".link", "link %q does not exist (links: %s)", rn.Link, strings.Join(names, ", "))
		return nb, false
	}
	end := slices.IndexFunc(l.Ends[:], func(e Endpoint) bool { return e.Node == n.Name })
	if end < 0 {
		c.Errorf(path+".link", "%s is not an end of link %s (%s ⇄ %s)", n.Name, l.Name, l.Ends[0], l.Ends[1])
		return nb, false
	}
	me, other := l.Ends[end], l.Ends[1-end]
	nb.Port, nb.Iface, nb.Name, nb.PeerNode = me.Port, me.Port, l.Name, other.Node
	peer := t.Node(other.Node)
	if peer.BGP == nil {
		c.Errorf(path+".link", "%s at the other end of %s runs no BGP: give it a bgp block", other.Node, l.Name)
		return nb, false
	}
	nb.PeerASN = peer.BGP.ASN
	mine, theirs := n.Port(me.Port), peer.Port(other.Port)
	mineAddrs, theirAddrs := mine.Addresses, theirs.Addresses
	if rn.Peering != "" || rn.Circuit != "" {
		v := c.neighborPeering(path, mine, l, rn)
		if v == nil {
			return nb, false
		}
		suffix := strings.TrimPrefix(v.Name, mine.Name)
		pv := theirs.VLAN(theirs.Name + suffix)
		if pv == nil {
			return nb, false // both ends get every peering: reported there
		}
		nb.Name, nb.Iface, nb.Peering = l.Name+suffix, v.Name, v.Peering
		mineAddrs, theirAddrs = v.Addresses, pv.Addresses
		if v.Peering == MicrosoftPeering && v.Microsoft {
			nb.AcceptOnly = v.AdvertisedPublicPrefixes
		}
	}
	if b.Neighbor(nb.Name) != nil {
		if nb.Peering == "" {
			c.Errorf(path+".link", "link %s already has a neighbour of this node", rn.Link)
		} else {
			c.Errorf(path+".peering", "link %s already has a neighbour of this node on %s", rn.Link, nb.Peering)
		}
		return nb, false
	}
	for _, a := range mineAddrs {
		for _, p := range theirAddrs {
			if a.Addr().Is4() && p.Addr().Is4() && a.Masked() == p.Masked() && !nb.Local.IsValid() {
				nb.Local, nb.Peer = a.Addr(), p.Addr()
			}
		}
	}
	if !nb.Local.IsValid() {
		hint := ""
		if len(mine.VLANs) > 0 && rn.Peering == "" {
			hint = " (the port carries peerings: name one, e.g. peering: AzurePrivatePeering)"
		}
		c.Errorf(path+".link", "%s and %s have no IPv4 subnet in common on link %s: BGP needs their addresses%s", me, other, l.Name, hint)
		return nb, false
	}
	if nb.Prefer && b.Profile != BGPCustomer {
		c.Errorf(path+".prefer", "prefer is a customer router's choice of its active link: want profile: customer")
	}
	return nb, true
}

// neighborPeering finds the peering interface a neighbour names on port p.
func (c *checker) neighborPeering(path string, p *Port, l *Link, rn rawBGPNeighbor) *VLANIface {
	var found []*VLANIface
	var have []string
	for i := range p.VLANs {
		v := &p.VLANs[i]
		have = append(have, v.Circuit+" "+string(v.Peering))
		if (rn.Peering == "" || string(v.Peering) == rn.Peering) && (rn.Circuit == "" || v.Circuit == rn.Circuit) {
			found = append(found, v)
		}
	}
	switch {
	case len(p.VLANs) == 0:
		c.Errorf(path+".peering", "link %s's port %s carries no peering (expressRoutePorts lists the circuits)", l.Name, p.Name)
	case rn.Peering != string(PrivatePeering) && rn.Peering != string(MicrosoftPeering):
		c.Errorf(path+".peering", "%q is not a peering type: want AzurePrivatePeering or MicrosoftPeering", rn.Peering)
	case len(found) == 0:
		c.Errorf(path+".peering", "no circuit on link %s has that peering (it carries: %s)", l.Name, strings.Join(have, ", "))
	case len(found) > 1:
		c.Errorf(path+".circuit", "several circuits on link %s have %s: name the circuit (it carries: %s)", l.Name, rn.Peering, strings.Join(have, ", "))
	default:
		return found[0]
	}
	return nil
}

// SessionLink is the link a BGP session runs over, from its name: names
// hold no dots, so a peering's session link1.100 runs over link1.
func SessionLink(session string) string {
	l, _, _ := strings.Cut(session, ".")
	return l
}
