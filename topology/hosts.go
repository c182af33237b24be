package topology

import (
	"fmt"
	"net/netip"
	"slices"
)

// Multi-host labs: a hosts block lists the machines a lab spans, each
// node says which host runs it, and a link whose ends run on two hosts is
// carried between them by a kernel VXLAN device that each half of the lab
// creates with the other host's underlay address and the link's VNI.

// VXLANOverhead is what VXLAN adds on the underlay: the inner Ethernet
// header (14), the VXLAN header (8), UDP (8) and IPv4 (20).
const VXLANOverhead = 50

// VXLANPort is IANA's VXLAN port (RFC 7348).
const VXLANPort = 4789

// MinUnderlayMTU is the least underlay MTU a VXLAN link can run on: a
// 1280-octet IPv6 packet, MACsec's overhead and VXLAN's.
const MinUnderlayMTU = 1280 + MACsecOverhead + VXLANOverhead

// FullUnderlayMTU carries a 1500-octet packet with MACsec and VXLAN.
const FullUnderlayMTU = PlainMTU + MACsecOverhead + VXLANOverhead

// Host is a machine a multi-host lab runs on.
type Host struct {
	Name string
	// Address is the host's underlay address, which the far half's VXLAN
	// devices send to.
	Address netip.Addr
	// MTU is the underlay's MTU (default 1500).
	MTU int
}

// VXLAN is how a link between two hosts is carried, seen from the half of
// the lab that runs here (Topology.Host).
type VXLAN struct {
	VNI uint32
	// Device is the VXLAN device the lab creates in the namespace it was
	// started in.
	Device        string
	Local, Remote *Host
}

// rawHost is one machine of a multi-host lab (hosts.NAME).
type rawHost struct {
	// Address is the host's underlay IPv4 address: the other hosts' VXLAN
	// devices send to it, and its half finds its underlay interface by it.
	Address string `yaml:"address"`
	// MTU is the underlay's (default 1500): at least 1362 (1280 + MACsec's
	// 32 + VXLAN's 50 octets), 1582 for 1500-octet packets.
	MTU int `yaml:"mtu"`
}

// VXLANDevice names the device of a VNI.
func VXLANDevice(vni uint32) string { return fmt.Sprintf("slvx%d", vni) }

// hosts checks the hosts block, the nodes' host and the links' vni.
func (c *checker) hosts(t *Topology, raw *rawTopology) {
	for _, name := range sortedKeys(raw.Hosts) {
		rh, path := raw.Hosts[name], "hosts."+name
		h := &Host{Name: name, MTU: rh.MTU}
		if err := checkName(name, MaxLabName); err != nil {
			c.Errorf(path, "host name %v", err)
		}
		a, err := netip.ParseAddr(rh.Address)
		if err != nil || !a.Is4() {
			c.Errorf(path+".address", "%q is not an IPv4 address: the host's underlay address, which the other hosts' VXLAN devices send to", rh.Address)
		}
		h.Address = a
		if h.MTU == 0 {
			h.MTU = PlainMTU
		}
		if h.MTU < MinUnderlayMTU {
			c.Errorf(path+".mtu", "%d cannot carry a 1280-octet IPv6 packet over VXLAN with MACsec: the underlay needs at least %d (1280 + MACsec's %d + VXLAN's %d octets), %d for 1500-octet packets", h.MTU, MinUnderlayMTU, MACsecOverhead, VXLANOverhead, FullUnderlayMTU)
		}
		t.Hosts = append(t.Hosts, h)
	}
	for _, n := range t.Nodes {
		h, path := raw.Nodes[n.Name].Host, "nodes."+n.Name+".host"
		switch {
		case h == "" && len(t.Hosts) > 0 && !n.External():
			c.Errorf(path, "missing: with a hosts block every node names the host that runs it (one of %s)", hostNames(t))
		case h != "" && len(t.Hosts) == 0:
			c.Errorf(path, "%q: no hosts block lists the hosts a lab spans", h)
		case h != "" && t.HostNamed(h) == nil:
			c.Errorf(path, "%q is not a host of the hosts block (%s)", h, hostNames(t))
		case h != "" && n.External():
			c.Errorf(path, "an external node is reached over a host interface, not run on a host")
		}
		n.Host = h
	}
	vnis := map[uint32]string{}
	for i, rl := range raw.Links {
		path := fmt.Sprintf("links[%d]", i)
		l := t.Link(rl.Name)
		if l == nil {
			continue
		}
		a, b := t.Node(l.Ends[0].Node), t.Node(l.Ends[1].Node)
		cross := a != nil && b != nil && a.Host != b.Host && a.Host != "" && b.Host != ""
		switch {
		case cross && rl.VNI == nil:
			c.Errorf(path+".vni", "missing: %s runs on host %s and %s on %s, so the link is carried over VXLAN: give it a VNI (1 to 16777215)", a.Name, a.Host, b.Name, b.Host)
		case !cross && rl.VNI != nil:
			c.Errorf(path+".vni", "only a link whose ends run on two hosts is carried over VXLAN")
		case rl.VNI != nil && (*rl.VNI < 1 || *rl.VNI > 1<<24-1):
			c.Errorf(path+".vni", "%d is not a VNI: want 1 to 16777215", *rl.VNI)
		case rl.VNI != nil:
			v := uint32(*rl.VNI)
			if prev, ok := vnis[v]; ok {
				c.Errorf(path+".vni", "VNI %d is already link %s's: each link has its own", v, prev)
			}
			vnis[v] = l.Name
			l.VNI = v
			for _, h := range []string{a.Host, b.Host} {
				if m := t.HostNamed(h).MTU; m >= MinUnderlayMTU && m < FullUnderlayMTU {
					t.Warnings = append(t.Warnings, fmt.Sprintf("link %s: host %s's underlay MTU %d carries packets of %d octets at most over VXLAN with MACsec (%d for 1500)", l.Name, h, m, m-VXLANOverhead-MACsecOverhead, FullUnderlayMTU))
				}
			}
		}
	}
}

func hostNames(t *Topology) string {
	s := ""
	for i, h := range t.Hosts {
		if i > 0 {
			s += ", "
		}
		s += h.Name
	}
	return s
}

// HostNamed returns the host called name, or nil.
func (t *Topology) HostNamed(name string) *Host {
	for _, h := range t.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// halve rewrites raw into the half of the lab that runs on host: the
// nodes of other hosts at the far end of a VXLAN link become external
// nodes whose ports are the VXLAN devices (their addresses and BGP still
// describe them to this half); the other nodes of other hosts, and their
// links, are left out. t is the whole topology, already valid.
func halve(t *Topology, raw *rawTopology, host string) (*rawTopology, error) {
	if t.HostNamed(host) == nil {
		if len(t.Hosts) == 0 {
			return nil, fmt.Errorf("--host %s: the topology has no hosts block", host)
		}
		return nil, fmt.Errorf("--host %s: not a host of the topology (%s)", host, hostNames(t))
	}
	return split(t, raw, func(n string) bool { return t.Node(n).Host == host }, func(l *Link) string { return VXLANDevice(l.VNI) }), nil
}

// split rewrites raw into the lab of the nodes here: each node at the far
// end of one of their links becomes an external node whose port is the
// interface wire names for that link (its addresses, and its BGP with the
// neighbours on that link only, still describe it); the other nodes, and
// the links between them, are left out, and so are hosts and VNIs; a
// Direct port pair keeps the links here (portsOf).
func split(t *Topology, raw *rawTopology, here func(node string) bool, wire func(l *Link) string) *rawTopology {
	half := *raw
	half.Nodes = map[string]rawNode{}
	half.Links = nil
	for _, l := range t.Links {
		a, b := l.Ends[0].Node, l.Ends[1].Node
		if !here(a) && !here(b) {
			continue
		}
		i := slices.IndexFunc(raw.Links, func(rl rawLink) bool { return rl.Name == l.Name })
		half.Links = append(half.Links, raw.Links[i])
		if here(a) && here(b) {
			continue
		}
		far := l.Ends[0]
		if here(a) {
			far = l.Ends[1]
		}
		rn, ok := half.Nodes[far.Node]
		if !ok {
			orig := raw.Nodes[far.Node]
			rn = rawNode{Kind: string(KindExternal), Ports: map[string]rawPort{}}
			if orig.BGP != nil {
				bgp := *orig.BGP
				bgp.Neighbors = nil
				rn.BGP = &bgp
			}
		}
		rp := raw.Nodes[far.Node].Ports[far.Port]
		rp.Interface = wire(l)
		rn.Ports[far.Port] = rp
		if orig := raw.Nodes[far.Node].BGP; orig != nil {
			for _, nb := range orig.Neighbors {
				if nb.Link == l.Name {
					rn.BGP.Neighbors = append(rn.BGP.Neighbors, nb)
				}
			}
		}
		half.Nodes[far.Node] = rn
	}
	for name, rn := range half.Nodes {
		if rn.BGP != nil && len(rn.BGP.Neighbors) == 0 {
			// It peers with none of the nodes here (e.g. only over a tunnel).
			rn.BGP = nil
			half.Nodes[name] = rn
		}
	}
	for name, rn := range raw.Nodes {
		if here(name) {
			rn.Host = ""
			half.Nodes[name] = rn
		}
	}
	half.Hosts = nil
	for i := range half.Links {
		half.Links[i].VNI = nil
	}
	half.ExpressRoutePorts = portsOf(raw.ExpressRoutePorts, half.Links)
	return &half
}

// portsOf is ports with only their links among links: a port pair with
// neither is left out, and a peering on the secondary link alone, the
// port's only link now, keeps the secondary prefix as its primary.
func portsOf(ports []rawERPort, links []rawLink) []rawERPort {
	var out []rawERPort
	for _, rp := range ports {
		var keep []string
		for _, name := range rp.Links {
			if slices.ContainsFunc(links, func(rl rawLink) bool { return rl.Name == name }) {
				keep = append(keep, name)
			}
		}
		if len(keep) == 0 {
			continue
		}
		if len(keep) == 1 && len(rp.Links) == 2 && keep[0] == rp.Links[1] {
			cs := make([]rawCircuit, len(rp.Circuits))
			for i, rc := range rp.Circuits {
				rc.Peerings = slices.Clone(rc.Peerings)
				for j := range rc.Peerings {
					rc.Peerings[j].Primary, rc.Peerings[j].Secondary = rc.Peerings[j].Secondary, ""
				}
				cs[i] = rc
			}
			rp.Circuits = cs
		}
		rp.Links = keep
		out = append(out, rp)
	}
	return out
}

// vxlans marks the links of a half that cross to another host.
func vxlans(whole, half *Topology, host string) {
	half.Host, half.Hosts = host, whole.Hosts
	for _, l := range half.Links {
		wl := whole.Link(l.Name)
		if wl.VNI == 0 {
			continue
		}
		far := whole.Node(wl.Ends[0].Node).Host
		if far == host {
			far = whole.Node(wl.Ends[1].Node).Host
		}
		l.VNI = wl.VNI
		l.VXLAN = &VXLAN{VNI: wl.VNI, Device: VXLANDevice(wl.VNI), Local: whole.HostNamed(host), Remote: whole.HostNamed(far)}
	}
}
