package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/secylab/secylab/expressroute"
)

// ExpressRoutePort is an ExpressRoute Direct port pair as Azure's
// expressRoutePorts resource has it: its two links (primary, secondary),
// their encapsulation and bandwidth, and the circuits that ride it as
// VLANs.
type ExpressRoutePort struct {
	Name          string
	BandwidthGbps int
	Encapsulation Encapsulation
	// Links are the lab's links standing for link1 (primary) and link2
	// (secondary); a lab may model only the first.
	Links    []string
	Circuits []*Circuit
}

// Encapsulation is a Direct port's tagging: one 802.1Q tag per peering, or
// an S-tag per circuit and a C-tag per peering.
type Encapsulation string

const (
	Dot1Q Encapsulation = "Dot1Q"
	QinQ  Encapsulation = "QinQ"
)

// Circuit is an ExpressRoute circuit on a Direct port.
type Circuit struct {
	Name          string
	BandwidthGbps int
	// STag is the circuit's 802.1ad S-tag on a QinQ port, 0 on Dot1Q.
	STag     uint16
	Peerings []*Peering
}

// PeeringType is Azure's name of a peering.
type PeeringType string

const (
	PrivatePeering   PeeringType = "AzurePrivatePeering"
	MicrosoftPeering PeeringType = "MicrosoftPeering"
)

// Peering is one peering of a circuit: its VLAN and its pair of /30s
// (primary on link1, secondary on link2), each with a BGP session to
// Microsoft.
type Peering struct {
	Type    PeeringType
	VLANID  uint16
	PeerASN uint32
	// Primary and Secondary are the /30s of link1 and link2: the customer
	// takes the first host address, Microsoft the second.
	Primary, Secondary netip.Prefix
	// AdvertisedPublicPrefixes are what the customer may advertise on
	// Microsoft peering; Microsoft's edge accepts nothing else.
	AdvertisedPublicPrefixes []netip.Prefix
}

// VLANIface is a peering's interface in a node: a sub-interface of a
// Direct port, tagged by the port's forwarder.
type VLANIface struct {
	// Name is the interface name in the node: PORT.VID on a Dot1Q port,
	// PORT.STAG.CTAG on a QinQ port (as Linux names VLAN devices).
	Name       string
	STag, CTag uint16
	Circuit    string
	Peering    PeeringType
	Addresses  []netip.Prefix
	// Microsoft says this end is Microsoft's edge; AdvertisedPublicPrefixes
	// is then the Microsoft peering's import filter.
	Microsoft                bool
	AdvertisedPublicPrefixes []netip.Prefix
}

// Tags describes the interface's tags, e.g. "VLAN 100" or "S-tag 10 C-tag 200".
func (v VLANIface) Tags() string {
	if v.STag == 0 {
		return fmt.Sprintf("VLAN %d", v.CTag)
	}
	return fmt.Sprintf("S-tag %d C-tag %d", v.STag, v.CTag)
}

// ExpressRoutePortOf returns the Direct port pair that link belongs to, or
// nil.
func (t *Topology) ExpressRoutePortOf(link string) *ExpressRoutePort {
	for _, ep := range t.ExpressRoutePorts {
		if slices.Contains(ep.Links, link) {
			return ep
		}
	}
	return nil
}

// VLAN returns the port's sub-interface called name, or nil.
func (p *Port) VLAN(name string) *VLANIface {
	for i := range p.VLANs {
		if p.VLANs[i].Name == name {
			return &p.VLANs[i]
		}
	}
	return nil
}

// Direct port bandwidths and the circuit bandwidths Azure offers on each.
var (
	directPortGbps    = []int{10, 100}
	directCircuitGbps = map[int][]int{10: {1, 2, 5, 10}, 100: {5, 10, 40, 100}}
)

type rawERPort struct {
	Name            string       `yaml:"name"`
	BandwidthInGbps int          `yaml:"bandwidthInGbps"`
	Encapsulation   string       `yaml:"encapsulation"`
	Links           []string     `yaml:"links"`
	Circuits        []rawCircuit `yaml:"circuits"`
}

type rawCircuit struct {
	Name string `yaml:"name"`
	// ServiceProviderName is Azure's serviceProviderProperties field: a
	// circuit on a Direct port has none.
	ServiceProviderName string       `yaml:"serviceProviderName"`
	BandwidthInGbps     int          `yaml:"bandwidthInGbps"`
	STag                int          `yaml:"sTag"`
	MACsec              string       `yaml:"macsec"`
	Peerings            []rawPeering `yaml:"peerings"`
}

type rawPeering struct {
	PeeringType            string        `yaml:"peeringType"`
	VLANID                 int           `yaml:"vlanId"`
	PeerASN                *int64        `yaml:"peerASN"`
	Primary                string        `yaml:"primaryPeerAddressPrefix"`
	Secondary              string        `yaml:"secondaryPeerAddressPrefix"`
	MicrosoftPeeringConfig *rawMSPeering `yaml:"microsoftPeeringConfig"`
}

type rawMSPeering struct {
	AdvertisedPublicPrefixes []string `yaml:"advertisedPublicPrefixes"`
}

// erPorts checks the Direct port pairs and their circuits once the links
// are known, and gives each peering its interface at both ends of each
// link.
func (c *checker) erPorts(t *Topology, raws []rawERPort) {
	names := map[string]bool{}
	linkUsed := map[string]string{}
	for i := range raws {
		rp := &raws[i]
		path := fmt.Sprintf("expressRoutePorts[%d]", i)
		ep := &ExpressRoutePort{Name: rp.Name, BandwidthGbps: rp.BandwidthInGbps, Encapsulation: Encapsulation(rp.Encapsulation)}
		switch {
		case rp.Name == "":
			c.Errorf(path+".name", "missing: every ExpressRoute Direct port needs a name")
		case names[rp.Name]:
			c.Errorf(path+".name", "%q is already the name of another port", rp.Name)
		}
		names[rp.Name] = true
		if !slices.Contains(directPortGbps, rp.BandwidthInGbps) {
			c.Errorf(path+".bandwidthInGbps", "%d: an ExpressRoute Direct port is 10 or 100 Gbps", rp.BandwidthInGbps)
		}
		switch ep.Encapsulation {
		case Dot1Q, QinQ:
		case "":
			c.Errorf(path+".encapsulation", "missing: want Dot1Q or QinQ")
		default:
			c.Errorf(path+".encapsulation", "%q is not an encapsulation: want Dot1Q (a VLAN per peering) or QinQ (an S-tag per circuit, a C-tag per peering)", rp.Encapsulation)
		}
		var links []*Link
		switch {
		case len(rp.Links) == 0 || len(rp.Links) > 2:
			c.Errorf(path+".links", "want the port's links, primary first: [link1, link2] (or one link)")
		}
		for j, name := range rp.Links {
			lpath := fmt.Sprintf("%s.links[%d]", path, j)
			l := t.Link(name)
			if l == nil {
				c.Errorf(lpath, "link %q does not exist", name)
				continue
			}
			if prev, ok := linkUsed[name]; ok {
				c.Errorf(lpath, "link %s is already a link of port %s", name, prev)
				continue
			}
			linkUsed[name] = rp.Name
			ok := true
			for e, end := range l.Ends {
				if p := t.Node(end.Node).Port(end.Port); p.Kind != PortDirect {
					c.Errorf(lpath, "%s is kind %s: circuits ride only ExpressRoute Direct ports (kind direct)", l.Ends[e], p.Kind)
					ok = false
				}
			}
			c.portCipher(t, lpath, l, ep)
			if ok {
				links = append(links, l)
			}
			ep.Links = append(ep.Links, name)
		}
		c.circuits(t, path, rp, ep, links)
		t.ExpressRoutePorts = append(t.ExpressRoutePorts, ep)
	}
}

// portCipher refuses the XPN ciphers on a 10 Gbps port, as Azure does.
func (c *checker) portCipher(t *Topology, path string, l *Link, ep *ExpressRoutePort) {
	if ep.BandwidthGbps != expressroute.NoXPNPortGbps || !l.MACsec.Enabled {
		return
	}
	i := slices.Index(t.Links, l)
	for _, e := range l.Ends {
		if e.Cipher.XPN() {
			c.Errorf(fmt.Sprintf("links[%d].macsec.cipher", i), "%s on %s: %s", e.Cipher.AzureName(), e, expressroute.NoXPNReason(ep.Name))
			return
		}
	}
}

func (c *checker) circuits(t *Topology, path string, rp *rawERPort, ep *ExpressRoutePort, links []*Link) {
	names := map[string]bool{}
	stags := map[int]string{}
	vlans := map[[2]int]string{} // (S-tag, VID) → the peering that has it
	total := 0
	encrypted := slices.ContainsFunc(links, func(l *Link) bool { return l.MACsec.Enabled })
	for i := range rp.Circuits {
		rc := &rp.Circuits[i]
		cpath := fmt.Sprintf("%s.circuits[%d]", path, i)
		ci := &Circuit{Name: rc.Name, BandwidthGbps: rc.BandwidthInGbps}
		switch {
		case rc.Name == "":
			c.Errorf(cpath+".name", "missing: every circuit needs a name")
		case names[rc.Name]:
			c.Errorf(cpath+".name", "%q is already a circuit of this port", rc.Name)
		}
		names[rc.Name] = true
		if sp := rc.ServiceProviderName; sp != "" && !strings.EqualFold(sp, "none") {
			c.Errorf(cpath+".serviceProviderName", "%q: a circuit on an ExpressRoute Direct port has no service provider (none): Azure makes it with the port (expressRoutePort) and bandwidthInGbps, not serviceProviderProperties; a provider's circuit is a port of kind provider", sp)
		}
		if offers := directCircuitGbps[rp.BandwidthInGbps]; offers != nil && !slices.Contains(offers, rc.BandwidthInGbps) {
			c.Errorf(cpath+".bandwidthInGbps", "%d: a circuit on a %d Gbps Direct port is %s Gbps", rc.BandwidthInGbps, rp.BandwidthInGbps, joinInts(offers))
		}
		total += rc.BandwidthInGbps
		if total > rp.BandwidthInGbps && rp.BandwidthInGbps > 0 {
			c.Errorf(cpath+".bandwidthInGbps", "the circuits of port %s add up to %d Gbps, more than its %d Gbps (bandwidthInGbps): Azure refuses a circuit that does not fit", rp.Name, total, rp.BandwidthInGbps)
		}
		switch rc.MACsec {
		case "", "inherit":
		case "off":
			if encrypted {
				c.Errorf(cpath+".macsec", "circuit %q cannot be left in clear: MACsec encrypts the whole port %s, and all its circuits share the port's MACsec setting (use inherit)", rc.Name, rp.Name)
			}
		default:
			c.Errorf(cpath+".macsec", "%q is not a circuit MACsec setting: want inherit (the port's; there is no per-circuit opt-out)", rc.MACsec)
		}
		switch {
		case ep.Encapsulation == QinQ && (rc.STag < 1 || rc.STag > 4094):
			c.Errorf(cpath+".sTag", "%d is not an S-tag: a circuit on a QinQ port needs one, 1 to 4094", rc.STag)
		case ep.Encapsulation == QinQ && stags[rc.STag] != "":
			c.Errorf(cpath+".sTag", "S-tag %d is already circuit %s's: S-tags are unique per port", rc.STag, stags[rc.STag])
		case ep.Encapsulation == QinQ:
			stags[rc.STag] = rc.Name
			ci.STag = uint16(rc.STag)
		case rc.STag != 0:
			c.Errorf(cpath+".sTag", "an S-tag needs encapsulation: QinQ (port %s is %s)", rp.Name, rp.Encapsulation)
		}
		if len(rc.Peerings) == 0 {
			c.Errorf(cpath+".peerings", "missing: a circuit carries AzurePrivatePeering, MicrosoftPeering or both")
		}
		types := map[PeeringType]bool{}
		for j := range rc.Peerings {
			ppath := fmt.Sprintf("%s.peerings[%d]", cpath, j)
			pe := c.peering(ppath, &rc.Peerings[j], len(links))
			if pe == nil {
				continue
			}
			if types[pe.Type] {
				c.Errorf(ppath+".peeringType", "circuit %s already has %s", rc.Name, pe.Type)
				continue
			}
			types[pe.Type] = true
			if pe.VLANID != 0 {
				key := [2]int{int(ci.STag), int(pe.VLANID)}
				if prev, ok := vlans[key]; ok {
					where := "port"
					if ci.STag != 0 {
						where = fmt.Sprintf("S-tag %d", ci.STag)
					}
					c.Errorf(ppath+".vlanId", "VLAN %d is already used by %s: VLAN IDs are unique per %s", pe.VLANID, prev, where)
					continue
				}
				vlans[key] = rc.Name + " " + string(pe.Type)
			}
			ci.Peerings = append(ci.Peerings, pe)
			c.peeringIfaces(t, ppath, ci, pe, links)
		}
		ep.Circuits = append(ep.Circuits, ci)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// peering checks one peering's fields; nlinks says whether the secondary
// prefix is needed.
func (c *checker) peering(path string, rp *rawPeering, nlinks int) *Peering {
	pe := &Peering{Type: PeeringType(rp.PeeringType)}
	switch pe.Type {
	case PrivatePeering, MicrosoftPeering:
	case "":
		c.Errorf(path+".peeringType", "missing: want AzurePrivatePeering or MicrosoftPeering")
		return nil
	default:
		c.Errorf(path+".peeringType", "%q is not a peering type: want AzurePrivatePeering or MicrosoftPeering", rp.PeeringType)
		return nil
	}
	if rp.VLANID < 1 || rp.VLANID > 4094 {
		c.Errorf(path+".vlanId", "%d is not a VLAN ID: want 1 to 4094", rp.VLANID)
	} else {
		pe.VLANID = uint16(rp.VLANID)
	}
	switch a := rp.PeerASN; {
	case a == nil:
		c.Errorf(path+".peerASN", "missing: the customer's AS number on this peering, e.g. 65001")
	case *a < 1 || *a > 4294967294 || *a == 23456:
		c.Errorf(path+".peerASN", "%d is not a usable AS number", *a)
	case *a == expressroute.MicrosoftASN || *a >= 65515 && *a <= 65520:
		c.Errorf(path+".peerASN", "%d is reserved by Microsoft (12076, 65515 to 65520)", *a)
	default:
		pe.PeerASN = uint32(*a)
	}
	public := pe.Type == MicrosoftPeering
	pe.Primary = c.linkPrefix(path+".primaryPeerAddressPrefix", rp.Primary, public)
	if rp.Secondary != "" || nlinks > 1 {
		pe.Secondary = c.linkPrefix(path+".secondaryPeerAddressPrefix", rp.Secondary, public)
	}
	if pe.Primary.IsValid() && pe.Primary.Overlaps(pe.Secondary) {
		c.Errorf(path+".secondaryPeerAddressPrefix", "%s overlaps the primary %s: each link needs its own /30", pe.Secondary, pe.Primary)
	}
	ms := rp.MicrosoftPeeringConfig
	switch {
	case public && (ms == nil || len(ms.AdvertisedPublicPrefixes) == 0):
		c.Errorf(path+".microsoftPeeringConfig.advertisedPublicPrefixes", "missing: Microsoft peering needs the public prefixes you will advertise")
	case !public && ms != nil:
		c.Errorf(path+".microsoftPeeringConfig", "only MicrosoftPeering has a microsoftPeeringConfig")
	case public:
		for k, s := range ms.AdvertisedPublicPrefixes {
			apath := fmt.Sprintf("%s.microsoftPeeringConfig.advertisedPublicPrefixes[%d]", path, k)
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			switch {
			case err != nil:
				c.Errorf(apath, "%q is not a prefix, e.g. 198.51.100.0/24", s)
			case p != p.Masked():
				c.Errorf(apath, "%s has host bits set: did you mean %s?", p, p.Masked())
			case !publicPrefix(p):
				c.Errorf(apath, "%s is not public: Microsoft peering carries only public prefixes you own", p)
			default:
				pe.AdvertisedPublicPrefixes = append(pe.AdvertisedPublicPrefixes, p)
			}
		}
	}
	return pe
}

// linkPrefix parses a peering's /30.
func (c *checker) linkPrefix(path, s string, public bool) netip.Prefix {
	if s == "" {
		c.Errorf(path, "missing: a /30 for the link's BGP session, e.g. 192.168.100.128/30")
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	switch {
	case err != nil || !p.Addr().Is4():
		c.Errorf(path, "%q is not an IPv4 prefix, e.g. 192.168.100.128/30", s)
	case p.Bits() != expressroute.LinkPrefixBits:
		c.Errorf(path, "%s is a /%d: Azure wants a /%d per link (the customer takes the first host address, Microsoft the second)", p, p.Bits(), expressroute.LinkPrefixBits)
	case p != p.Masked():
		c.Errorf(path, "%s has host bits set: did you mean %s?", p, p.Masked())
	case public && !publicPrefix(p):
		c.Errorf(path, "%s is not public: Microsoft peering's sessions use public addresses you own", p)
	default:
		return p
	}
	return netip.Prefix{}
}

// publicPrefix: not private, shared (100.64/10), loopback, link-local or
// multicast space.
func publicPrefix(p netip.Prefix) bool {
	a := p.Addr()
	cgn := netip.MustParsePrefix("100.64.0.0/10")
	return !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() && !a.IsUnspecified() && !cgn.Overlaps(p)
}

// peeringIfaces gives the peering its interface at both ends of each link:
// link i takes the primary (i = 0) or secondary prefix.
func (c *checker) peeringIfaces(t *Topology, path string, ci *Circuit, pe *Peering, links []*Link) {
	for i, l := range links {
		pfx := pe.Primary
		if i == 1 {
			pfx = pe.Secondary
		}
		if !pfx.IsValid() || pe.VLANID == 0 {
			continue
		}
		ms := microsoftEnd(t, l)
		for e, end := range l.Ends {
			n := t.Node(end.Node)
			p := n.Port(end.Port)
			v := VLANIface{Name: fmt.Sprintf("%s.%d", p.Name, pe.VLANID), STag: ci.STag, CTag: pe.VLANID,
				Circuit: ci.Name, Peering: pe.Type, Microsoft: e == ms}
			if ci.STag != 0 {
				v.Name = fmt.Sprintf("%s.%d.%d", p.Name, ci.STag, pe.VLANID)
			}
			if len(v.Name) > MaxIfName {
				c.Errorf(path+".vlanId", "the interface %s of %s would be longer than %d characters: shorten port %s", v.Name, end, MaxIfName, p.Name)
				continue
			}
			host := pfx.Addr().Next()
			if e == ms {
				host = host.Next()
				v.AdvertisedPublicPrefixes = pe.AdvertisedPublicPrefixes
			}
			a := netip.PrefixFrom(host, pfx.Bits())
			apath := path + ".primaryPeerAddressPrefix"
			if i == 1 {
				apath = path + ".secondaryPeerAddressPrefix"
			}
			if prev, ok := c.addrs[a.Addr()]; ok {
				c.Errorf(apath, "%s (%s on %s) is already used by %s; addresses must be unique in a lab", a.Addr(), v.Name, end.Node, prev)
				continue
			}
			c.addrs[a.Addr()] = apath
			v.Addresses = []netip.Prefix{a}
			if e != ms && n.BGP != nil && pe.PeerASN != 0 && n.BGP.ASN != pe.PeerASN {
				c.Errorf(path+".peerASN", "%d, but %s (the customer end of %s) runs AS %d", pe.PeerASN, end.Node, l.Name, n.BGP.ASN)
			}
			p.VLANs = append(p.VLANs, v)
		}
	}
}

// microsoftEnd is the index of the Microsoft end of a link: the end whose
// node runs the microsoft-edge BGP profile, else the second.
func microsoftEnd(t *Topology, l *Link) int {
	if n := t.Node(l.Ends[0].Node); n.BGP != nil && n.BGP.Profile == BGPMicrosoftEdge {
		return 0
	}
	return 1
}
