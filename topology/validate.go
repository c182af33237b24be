package topology

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/internal/yamlx"
	"github.com/secylab/secylab/macsec"
)

// checker turns the raw file into a Topology, collecting every problem with
// its field path rather than stopping at the first.
type checker struct {
	*yamlx.Doc
	dir     string
	fsys    fs.FS // a built-in topology's files (ParseFS); nil: the disk
	profile Profile
	addrs   map[netip.Addr]string // address → path that claims it
	plain   []string              // problems found without a file (DefaultAzure)
	ifaces  map[string]string     // host interface → external port that uses it
	// named holds the ports a link names whose other end is wrong: they are
	// on a link, so "not on any link" would only repeat that link's error.
	named map[*Port]bool
}

func (c *checker) build(raw *rawTopology) *Topology {
	t := &Topology{Name: raw.Name, raw: raw}
	if err := checkName(raw.Name, MaxLabName); err != nil {
		c.Errorf("name", "%v", err)
	}
	switch p := Profile(raw.Profile); p {
	case ProfileNone, ProfileExpressRoute:
		t.Profile, c.profile = p, p
	default:
		c.Errorf("profile", "%q is not a profile: want expressroute or nothing", raw.Profile)
	}
	if len(raw.Nodes) == 0 {
		c.Errorf("nodes", "missing: a lab needs at least one node")
	}
	c.addrs, c.ifaces = map[netip.Addr]string{}, map[string]string{}
	for _, name := range sortedKeys(raw.Nodes) {
		t.Nodes = append(t.Nodes, c.node(name, raw.Nodes[name]))
	}
	for i := range raw.Links {
		if l := c.link(t, i, &raw.Links[i]); l != nil {
			t.Links = append(t.Links, l)
		}
	}
	c.hosts(t, raw)
	c.erPorts(t, raw.ExpressRoutePorts)
	c.wires(t)
	for _, n := range t.Nodes {
		c.routes(n, raw.Nodes[n.Name].Routes)
	}
	for i := range raw.Tunnels {
		if tu := c.tunnel(t, i, &raw.Tunnels[i]); tu != nil {
			t.Tunnels = append(t.Tunnels, tu)
		}
	}
	c.sameOuter(t)
	dropIdleVPNGatewayBGP(t)
	c.bgpNeighbors(t, raw.Nodes)
	if raw.Azure != nil {
		t.Azure = c.azure(t, raw.Azure)
	}
	return t
}

func (c *checker) node(name string, rn rawNode) *Node {
	path := "nodes." + name
	n := &Node{Name: name, Kind: NodeKind(rn.Kind)}
	if err := checkName(name, MaxNodeName); err != nil {
		c.Errorf(path, "node name %v", err)
	}
	switch n.Kind {
	case KindRouter, KindHost, KindVPNGateway:
	case KindBIRD, KindFRR:
		if rn.BGP == nil {
			c.Errorf(path+".kind", "a %s node is a BGP customer router: give it a bgp block (profile: customer)", rn.Kind)
		}
	case KindStrongswan:
		if rn.Config == "" {
			c.Errorf(path+".config", "missing: a strongswan node runs your own swanctl.conf (config: FILE, relative to the topology file)")
		}
	case KindLinux:
		if rn.BGP == nil {
			c.Errorf(path+".kind", "a linux node is a BGP customer router (BIRD on the macsec interface): give it a bgp block (profile: customer)")
		}
		fallthrough
	case KindExternal:
		if len(rn.Routes) > 0 {
			c.Errorf(path+".routes", "an external node is not run by the lab: its routes are its own (configure them on the device)")
		}
	case "":
		c.Errorf(path+".kind", "missing: want router, host, bird, frr, strongswan, external, linux or vpngateway")
	default:
		c.Errorf(path+".kind", "%q is not a node kind: want router, host, bird (BIRD 2), frr (FRR), strongswan (charon with your swanctl.conf), external (a device on a host interface), linux (kernel macsec + wpa_supplicant + BIRD) or vpngateway (Azure's VPN gateway)", rn.Kind)
	}
	switch k := LinuxKaY(rn.MACsec); {
	case k == "":
	case n.Kind != KindLinux:
		c.Errorf(path+".macsec", "only a node of kind linux chooses what keys its macsec (the lab's own nodes run secylab's KaY)")
	case k == LinuxWPA || k == LinuxKernelKaY:
		n.KaY = k
	default:
		c.Errorf(path+".macsec", "%q: want wpa_supplicant (the default; GcmAes128 only) or kernel-kay (secylab's KaY on the kernel's macsec, every cipher suite)", rn.MACsec)
	}
	if rn.BGP != nil {
		c.bgpNode(path+".bgp", n, rn.BGP)
	}
	if rn.Config != "" && c.fsys != nil {
		// A built-in topology's companion file, embedded beside it.
		n.Config = filepath.ToSlash(filepath.Join(c.dir, rn.Config))
		data, err := fs.ReadFile(c.fsys, n.Config)
		switch {
		case n.Kind != KindBIRD && n.Kind != KindFRR && n.Kind != KindStrongswan:
			c.Errorf(path+".config", "only a bird, frr or strongswan node runs a configuration file of its own")
		case err != nil:
			c.Errorf(path+".config", "%v", err)
		}
		n.ConfigData = data
	} else if rn.Config != "" {
		n.Config = rn.Config
		if !filepath.IsAbs(n.Config) {
			n.Config = filepath.Join(c.dir, n.Config)
		}
		switch _, err := os.Stat(n.Config); {
		case n.Kind != KindBIRD && n.Kind != KindFRR && n.Kind != KindStrongswan:
			c.Errorf(path+".config", "only a bird, frr or strongswan node runs a configuration file of its own")
		case err != nil:
			c.Errorf(path+".config", "%v", err)
		}
	}
	for _, pname := range sortedKeys(rn.Ports) {
		p := c.port(path+".ports."+pname, pname, rn.Ports[pname])
		c.externalPort(path+".ports."+pname, n, p, rn.Ports[pname])
		n.Ports = append(n.Ports, p)
	}
	switch {
	case n.Kind == KindVPNGateway:
		c.vpnGateway(path, n, rn)
	case rn.ActiveActive:
		c.Errorf(path+".activeActive", "only a vpngateway node (Azure's VPN gateway) is active-active")
	case rn.BGPSettings != nil:
		c.Errorf(path+".bgpSettings", "only a vpngateway node has Azure's bgpSettings; other nodes give a bgp block")
	}
	return n
}

// externalPort checks the host interface of an external node's port; other
// nodes' ports have none.
func (c *checker) externalPort(path string, n *Node, p *Port, rp rawPort) {
	if !n.External() {
		if rp.Interface != "" || rp.Force {
			c.Errorf(path+".interface", "only a port of a node of kind external names a host interface (the lab makes the interfaces of its own nodes)")
		}
		return
	}
	if rp.Interface == "" && n.Kind == KindLinux {
		c.Errorf(path+".interface", "missing: this kernel has no macsec, so a linux node runs where one has (the conformance VM, another host) and the lab reaches it over a host interface: name it (e.g. the VM's TAP)")
		return
	}
	if rp.Interface == "" {
		c.Errorf(path+".interface", "missing: name the host interface that leads to %s (a NIC, a VM's TAP, a veth into a container)", n.Name)
		return
	}
	if err := checkName(rp.Interface, MaxIfName); err != nil {
		c.Errorf(path+".interface", "interface name %v", err)
		return
	}
	if prev, ok := c.ifaces[rp.Interface]; ok {
		c.Errorf(path+".interface", "host interface %s is already used by %s; an interface carries one link", rp.Interface, prev)
		return
	}
	c.ifaces[rp.Interface] = path
	p.Interface, p.Force = rp.Interface, rp.Force
}

func (c *checker) port(path, name string, rp rawPort) *Port {
	p := &Port{Name: name, Kind: PortKind(rp.Kind)}
	if err := checkName(name, MaxIfName); err != nil {
		c.Errorf(path, "port name %v", err)
	} else if name == "lo" {
		c.Errorf(path, `port name "lo" is the loopback interface`)
	}
	switch p.Kind {
	case PortDirect, PortProvider, PortEthernet:
	case "":
		p.Kind = PortEthernet
	default:
		c.Errorf(path+".kind", "%q is not a port kind: want direct (ExpressRoute Direct), provider (provider circuit) or ethernet", rp.Kind)
	}
	for i, s := range rp.Addresses {
		apath := fmt.Sprintf("%s.addresses[%d]", path, i)
		a, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			c.Errorf(apath, "%q is not an address with a prefix length, e.g. 10.1.0.1/24 or 2001:db8::1/64", s)
			continue
		}
		if a.Addr().Is4() && a.Bits() < 31 {
			last := lastAddr(a)
			if a.Addr() == a.Masked().Addr() || a.Addr() == last {
				c.Errorf(apath, "%s is the network or broadcast address of %s; give a host address", a.Addr(), a.Masked())
				continue
			}
		}
		if prev, ok := c.addrs[a.Addr()]; ok {
			c.Errorf(apath, "%s is already used by %s; addresses must be unique in a lab", a.Addr(), prev)
			continue
		}
		c.addrs[a.Addr()] = apath
		p.Addresses = append(p.Addresses, a)
	}
	return p
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (c *checker) link(t *Topology, i int, rl *rawLink) *Link {
	path := fmt.Sprintf("links[%d]", i)
	l := &Link{Name: rl.Name}
	if l.Name == "" {
		l.Name = fmt.Sprintf("link%d", i+1)
	}
	if err := checkName(l.Name, MaxIfName); err != nil {
		c.Errorf(path+".name", "link name %v (it names the wire interface)", err)
	}
	for j, other := range t.Links {
		if other.Name == l.Name {
			c.Errorf(path+".name", "%q is already the name of links[%d]", l.Name, j)
		}
	}
	ports, ok := c.endpoints(t, path, l, rl.Endpoints)
	if rl.MACsec != nil {
		c.macsec(path+".macsec", l, rl.MACsec, ports, ok)
		if ok && l.MACsec.Enabled {
			c.linuxCipher(t, path+".macsec", l)
		}
		if ok {
			c.keys(t, path+".macsec", l)
		}
	}
	if rl.Impairments != nil {
		c.impairments(path+".impairments", l, rl.Impairments)
	}
	if !ok {
		return nil
	}
	for e, p := range ports {
		p.Link, p.End = l.Name, e
	}
	c.sameSubnet(path, l, ports)
	return l
}

// endpoints resolves "node:port" strings into l.Ends and the ports. Both
// endpoints are checked, so a file's every error is told at once.
func (c *checker) endpoints(t *Topology, path string, l *Link, eps []string) (ports [2]*Port, ok bool) {
	if len(eps) != 2 {
		c.Errorf(path+".endpoints", "want exactly two endpoints \"node:port\", found %d", len(eps))
		return ports, false
	}
	ok = true
	for e, s := range eps {
		if p := c.endpoint(t, fmt.Sprintf("%s.endpoints[%d]", path, e), s); p != nil {
			l.Ends[e] = Endpoint{Node: strings.SplitN(s, ":", 2)[0], Port: p.Name}
			ports[e] = p
		} else {
			ok = false
		}
	}
	if !ok {
		for _, p := range ports {
			if p != nil {
				if c.named == nil {
					c.named = map[*Port]bool{}
				}
				c.named[p] = true
			}
		}
		return ports, false
	}
	if l.Ends[0].Node == l.Ends[1].Node {
		c.Errorf(path+".endpoints", "both ends are on node %s; a link joins two different nodes", l.Ends[0].Node)
		return ports, false
	}
	if t.Node(l.Ends[0].Node).External() && t.Node(l.Ends[1].Node).External() {
		c.Errorf(path+".endpoints", "both ends (%s, %s) are external: a link needs a lab node at one end at least, whose port runs on the host interface", l.Ends[0], l.Ends[1])
	}
	return ports, true
}

// endpoint resolves one "node:port" string, or says at epath why not.
func (c *checker) endpoint(t *Topology, epath, s string) *Port {
	node, port, found := strings.Cut(s, ":")
	if !found || node == "" || port == "" {
		c.Errorf(epath, "%q is not an endpoint: want \"node:port\", e.g. ce1:er1", s)
		return nil
	}
	n := t.Node(node)
	if n == nil {
		c.Errorf(epath, "node %q does not exist", node)
		return nil
	}
	p := n.Port(port)
	if p == nil {
		c.Errorf(epath, "node %s has no port %q (ports: %s)", node, port, portNames(n))
		return nil
	}
	if p.Link != "" {
		c.Errorf(epath, "port %s is already on link %s; a port joins at most one link", s, p.Link)
		return nil
	}
	return p
}

func portNames(n *Node) string {
	var s []string
	for _, p := range n.Ports {
		s = append(s, p.Name)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// sameSubnet refuses a link whose ends have addresses of a family but no
// subnet in common: nothing would answer ARP across it.
func (c *checker) sameSubnet(path string, l *Link, ports [2]*Port) {
	for _, is4 := range []bool{true, false} {
		var have [2]bool
		shared := false
		for _, a := range ports[0].Addresses {
			if a.Addr().Is4() != is4 {
				continue
			}
			have[0] = true
			for _, b := range ports[1].Addresses {
				if b.Addr().Is4() == is4 && a.Masked() == b.Masked() {
					shared = true
				}
			}
		}
		for _, b := range ports[1].Addresses {
			have[1] = have[1] || b.Addr().Is4() == is4
		}
		if have[0] && have[1] && !shared {
			c.Errorf(path+".endpoints", "%s and %s have no subnet in common (%s; %s)", l.Ends[0], l.Ends[1], prefixes(ports[0].Addresses), prefixes(ports[1].Addresses))
		}
	}
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func (c *checker) cipher(path, s string) macsec.CipherSuite {
	cs, err := value.ParseCipher(s)
	if err != nil {
		c.Errorf(path, "%v", err)
		return 0
	}
	return cs.Suite()
}

func (c *checker) secret(s string) Secret {
	switch s {
	case "", "generate":
		return Secret{Generate: true}
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(c.dir, s)
	}
	return Secret{Path: s}
}

// macsec checks a link's MACsec settings; the checks that need the ends run
// only when endsOK.
func (c *checker) macsec(path string, l *Link, rm *rawMACsec, ports [2]*Port, endsOK bool) {
	m := MACsec{
		Enabled:           rm.Enabled,
		Secret:            c.secret(rm.Secret),
		ReplayProtect:     true,
		KeyServerPriority: 16,
		AllowMismatch:     rm.AllowMismatch,
	}
	if rm.Cipher != "" {
		m.Cipher = c.cipher(path+".cipher", rm.Cipher)
	} else if rm.Enabled {
		c.Errorf(path+".cipher", "missing: want one of %s", expressroute.Ciphers)
	}
	if rm.SCIState != "" {
		sci, err := value.ParseSwitch(rm.SCIState)
		if err != nil {
			c.Errorf(path+".sciState", "%v", err)
		}
		m.IncludeSCI = bool(sci)
	}
	if rm.ReplayProtect != nil {
		m.ReplayProtect = *rm.ReplayProtect
	}
	if w := rm.ReplayWindow; w != nil {
		switch {
		case *w < 0 || *w > 1<<32-1:
			c.Errorf(path+".replayWindow", "%d is out of range: want 0 to 4294967295 frames", *w)
		case *w > 0 && !m.ReplayProtect:
			c.Errorf(path+".replayWindow", "a replay window needs replayProtect: true")
		default:
			m.ReplayWindow = uint32(*w)
		}
	}
	if p := rm.KeyServerPriority; p != nil {
		if *p < 0 || *p > 255 {
			c.Errorf(path+".keyServerPriority", "%d is out of range: want 0 to 255 (0 is the highest priority)", *p)
		} else {
			m.KeyServerPriority = uint8(*p)
		}
	}
	l.MACsec = m
	if !endsOK {
		return
	}
	for e := range l.Ends {
		l.Ends[e].Cipher, l.Ends[e].Secret = m.Cipher, m.Secret
	}
	for _, key := range sortedKeys(rm.Overrides) {
		opath := path + ".overrides." + key
		e := slices.IndexFunc(l.Ends[:], func(ep Endpoint) bool { return ep.String() == key })
		if e < 0 {
			c.Errorf(opath, "%q is not an end of this link: want %s or %s", key, l.Ends[0], l.Ends[1])
			continue
		}
		o := rm.Overrides[key]
		if o.Cipher != "" {
			l.Ends[e].Cipher = c.cipher(opath+".cipher", o.Cipher)
		}
		if o.Secret != "" {
			l.Ends[e].Secret = c.secret(o.Secret)
			l.Ends[e].OwnSecret = true
		}
	}
	if !m.Enabled {
		return
	}
	a, b := l.Ends[0], l.Ends[1]
	if !m.AllowMismatch {
		if a.Cipher != b.Cipher && a.Cipher != 0 && b.Cipher != 0 {
			c.Errorf(path+".overrides", "the ends differ in cipher (%s %s, %s %s); both ends of a link must agree unless allowMismatch: true", a, a.Cipher.AzureName(), b, b.Cipher.AzureName())
		}
		if a.Secret != b.Secret || (a.Secret.Generate && (a.OwnSecret || b.OwnSecret)) {
			c.Errorf(path+".overrides", "the ends use different secrets (%s %s, %s %s); both ends of a link must agree unless allowMismatch: true", a, a.Secret, b, b.Secret)
		}
	}
	for e, p := range ports {
		switch {
		case p.Kind == PortProvider:
			c.Errorf(path+".enabled", "%s is a provider circuit (kind provider): MACsec is available only on ExpressRoute Direct ports (kind direct)", l.Ends[e])
		case c.profile == ProfileExpressRoute && p.Kind != PortDirect:
			c.Errorf(path+".enabled", "%s is kind %s: profile expressroute allows MACsec only on ExpressRoute Direct ports (kind direct)", l.Ends[e], p.Kind)
		}
	}
}

// linuxCipher refuses what a linux node's wpa_supplicant cannot run
// (secylab's KaY on the kernel's macsec runs every suite).
func (c *checker) linuxCipher(t *Topology, path string, l *Link) {
	for _, e := range l.Ends {
		if n := t.Node(e.Node); n == nil || n.Kind != KindLinux || n.KaY == LinuxKernelKaY || e.Cipher == macsec.GCMAES128 || e.Cipher == 0 {
			continue
		}
		c.Errorf(path+".cipher", "%s is a linux node, whose wpa_supplicant (2.10, Debian 12) has no XPN and no macsec_csindex: it makes its SecY GCM-AES-128 whatever MKA agrees, so it cannot run %s; a stock Linux edge cannot do Azure's XPN ciphers: use GcmAes128 on this link, or give the node macsec: kernel-kay (secylab's KaY on the kernel's macsec, which has XPN since Linux 5.7)", e.Node, e.Cipher.AzureName())
	}
}

func (c *checker) impairments(path string, l *Link, ri *rawImpairments) {
	im := Impairments{Down: ri.Down}
	var err error
	if ri.Delay != "" {
		if im.Delay, err = value.ParseDuration(ri.Delay); err != nil {
			c.Errorf(path+".delay", "%v", err)
		}
	}
	if ri.Jitter != "" {
		if im.Jitter, err = value.ParseDuration(ri.Jitter); err != nil {
			c.Errorf(path+".jitter", "%v", err)
		}
	}
	if ri.Loss != "" {
		v, err := value.ParseLoss(ri.Loss)
		if err != nil {
			c.Errorf(path+".loss", "%v", err)
		}
		im.Loss = float64(v)
	}
	if ri.Rate != "" {
		v, err := value.ParseRate(ri.Rate)
		if err != nil {
			c.Errorf(path+".rate", "%v", err)
		}
		im.Rate = uint64(v)
	}
	l.Impairments = im
}

// wires decides which ports are controlled, names their wire veth after the
// link, and refuses unlinked ports and interface-name clashes in a node.
func (c *checker) wires(t *Topology) {
	for _, n := range t.Nodes {
		owner := map[string]string{} // interface name → what uses it
		for _, p := range n.Ports {
			path := "nodes." + n.Name + ".ports." + p.Name
			if p.Link == "" {
				if !c.named[p] {
					c.Errorf(path, "port %s:%s is not on any link; every port must be an endpoint of exactly one link", n.Name, p.Name)
				}
				continue
			}
			l := t.Link(p.Link)
			owner[p.Name] = "port " + p.Name
			if n.External() {
				continue // the lab makes nothing for it
			}
			far := l.Ends[1-p.End]
			if fp := t.Node(far.Node).Port(far.Port); fp.Interface != "" {
				// The far end is a device on a host interface: every frame
				// passes through this port's data plane onto it.
				p.Controlled, p.HostWire, p.Wire = true, true, fp.Interface
				continue
			}
			// Impairments are applied in user space, so they need the forwarder.
			p.Controlled = l.MACsec.Enabled || p.Kind == PortDirect || l.Impairments.Any()
			p.Wire = p.Name
			if p.Controlled {
				p.Wire = l.Name
			}
		}
		for _, p := range n.Ports {
			if !p.Controlled || p.HostWire {
				continue
			}
			if o, ok := owner[p.Wire]; ok {
				c.Errorf(fmt.Sprintf("links[%d].name", slices.IndexFunc(t.Links, func(l *Link) bool { return l.Name == p.Link })),
					"link %s names the wire interface of %s:%s, but node %s already has %s; rename the link or the port", p.Wire, n.Name, p.Name, n.Name, o)
				continue
			}
			owner[p.Wire] = "the wire of port " + p.Name
		}
	}
}

func (c *checker) routes(n *Node, rrs []rawRoute) {
	seen := map[netip.Prefix]bool{}
	for i, rr := range rrs {
		path := fmt.Sprintf("nodes.%s.routes[%d]", n.Name, i)
		pfx, err := netip.ParsePrefix(strings.TrimSpace(rr.Prefix))
		if err != nil {
			c.Errorf(path+".prefix", "%q is not a prefix, e.g. 10.50.0.0/16", rr.Prefix)
			continue
		}
		if pfx != pfx.Masked() {
			c.Errorf(path+".prefix", "%s has host bits set: did you mean %s?", pfx, pfx.Masked())
			continue
		}
		if seen[pfx] {
			c.Errorf(path+".prefix", "%s is already routed by an earlier route of %s", pfx, n.Name)
			continue
		}
		seen[pfx] = true
		via, err := netip.ParseAddr(strings.TrimSpace(rr.Via))
		if err != nil {
			c.Errorf(path+".via", "%q is not a next-hop address, e.g. 192.168.100.130", rr.Via)
			continue
		}
		if via.Is4() != pfx.Addr().Is4() {
			c.Errorf(path+".via", "next hop %s is not of the same address family as %s", via, pfx)
			continue
		}
		r := Route{Prefix: pfx, Via: via}
		var connected []string
		for _, p := range n.Ports {
			connect := func(iface string, addrs []netip.Prefix) {
				for _, a := range addrs {
					connected = append(connected, iface+" "+a.String())
					if a.Contains(via) && r.Port == "" {
						r.Port = p.Name
						if iface != p.Name {
							r.Iface = iface
						}
						if a.Addr() == via {
							c.Errorf(path+".via", "next hop %s is %s's own address on %s", via, n.Name, iface)
						}
					}
				}
			}
			connect(p.Name, p.Addresses)
			for _, v := range p.VLANs {
				connect(v.Name, v.Addresses)
			}
		}
		if r.Port == "" {
			if len(connected) == 0 {
				connected = []string{"none"}
			}
			c.Errorf(path+".via", "next hop %s is not on a connected subnet of %s (%s)", via, n.Name, strings.Join(connected, "; "))
			continue
		}
		n.Routes = append(n.Routes, r)
	}
}
