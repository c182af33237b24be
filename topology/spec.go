package topology

import (
	"net/netip"
	"time"

	"github.com/secylab/secylab/macsec"
)

// Topology is a validated lab graph. Nodes are sorted by name; links keep
// the order of the file.
type Topology struct {
	Name    string
	Profile Profile
	// Source is the file the topology came from ("builtin/<name>.yaml" for
	// a built-in); secret paths are already resolved against its directory.
	Source string
	Nodes  []*Node
	Links  []*Link
	// Tunnels are IPsec ESP tunnels between gateway nodes.
	Tunnels []*Tunnel
	// Warnings are problems that do not stop the lab but that its user
	// must know, e.g. traffic that bypasses a tunnel.
	Warnings []string
}

// Profile selects extra validation rules.
type Profile string

const (
	// ProfileNone applies graph sanity only.
	ProfileNone Profile = ""
	// ProfileExpressRoute adds Azure ExpressRoute Direct's MACsec rules.
	ProfileExpressRoute Profile = "expressroute"
)

// NodeKind says what runs in a node's namespace.
type NodeKind string

const (
	// KindRouter forwards IP (net.ipv4.ip_forward=1) with static routes.
	KindRouter NodeKind = "router"
	// KindHost is an end system: no forwarding.
	KindHost NodeKind = "host"
	// KindBIRD and KindFRR are customer routers run by a real routing
	// daemon (BIRD 2, FRR) that the lab configures from the node's bgp
	// block and starts in the namespace; the kernel forwards.
	KindBIRD NodeKind = "bird"
	KindFRR  NodeKind = "frr"
)

// PortKind says what a port stands for in an ExpressRoute deployment.
type PortKind string

const (
	// PortDirect is a port of an ExpressRoute Direct port pair; only these
	// may run MACsec.
	PortDirect PortKind = "direct"
	// PortProvider is a circuit bought through a connectivity provider.
	PortProvider PortKind = "provider"
	// PortEthernet is a plain LAN port.
	PortEthernet PortKind = "ethernet"
)

// Node is a device in its own network namespace.
type Node struct {
	Name   string
	Kind   NodeKind
	Ports  []*Port // sorted by name
	Routes []Route
	// BGP is the node's BGP speaker, or nil.
	BGP *BGP
}

// Port is one interface of a node, joined to exactly one link.
type Port struct {
	Name      string
	Kind      PortKind
	Addresses []netip.Prefix
	Circuits  []Circuit
	// Link is the name of the link the port is on and End its index in
	// Link.Ends.
	Link string
	End  int
	// Controlled reports whether the port is a TAP (the controlled port,
	// named Name, made by the dataplane) in front of the veth Wire: when
	// its link has MACsec or impairments, or the port is kind direct (so
	// that MACsec can be switched on while the lab runs). When false, the
	// veth itself is named Name and carries the addresses, and no frame of
	// it passes through user space.
	Controlled bool
	// Wire is the name of the port's veth end inside the node's namespace.
	Wire string
}

// Circuit is an ExpressRoute circuit carried on a port.
type Circuit struct {
	Name   string
	VLAN   uint16
	MACsec CircuitMACsec
}

// CircuitMACsec is a circuit's MACsec setting; Azure has no per-circuit
// opt-out, so only Inherit is valid on an encrypted port.
type CircuitMACsec string

const (
	CircuitInherit CircuitMACsec = "inherit"
	CircuitOff     CircuitMACsec = "off"
)

// Route is a static route of a node.
type Route struct {
	Prefix netip.Prefix
	Via    netip.Addr
	// Port is the node's port whose connected subnet holds Via.
	Port string
}

// Link is a point-to-point link (a veth pair) between two ports.
type Link struct {
	Name        string
	Ends        [2]Endpoint
	MACsec      MACsec
	Impairments Impairments
}

// Endpoint is one end of a link, with its effective MACsec settings.
type Endpoint struct {
	Node, Port string
	// Cipher and Secret are the link's, or this end's override.
	Cipher macsec.CipherSuite
	Secret Secret
	// OwnSecret is set when this end overrides the link's secret; with
	// Secret.Generate it gets a freshly generated pair of its own, so the
	// ends mismatch on purpose.
	OwnSecret bool
}

// String returns "node:port".
func (e Endpoint) String() string { return e.Node + ":" + e.Port }

// MACsec is a link's 802.1AE configuration, shaped like Azure's
// macSecConfig plus the 802.1AE knobs a lab needs.
type MACsec struct {
	Enabled bool
	Cipher  macsec.CipherSuite
	// IncludeSCI is Azure's sciState Enabled: the SCI is sent in the SecTAG.
	IncludeSCI        bool
	Secret            Secret
	ReplayProtect     bool
	ReplayWindow      uint32
	KeyServerPriority uint8
	// AllowMismatch permits ends with different ciphers or secrets, for
	// scenarios that rehearse a mismatch.
	AllowMismatch bool
}

// Secret names where a CAK/CKN pair comes from.
type Secret struct {
	// Generate asks the lab to make a fresh pair at up. A link-level
	// "generate" gives both ends the same pair; an endpoint override
	// "generate" gives that end a pair of its own.
	Generate bool
	// Path is a key file (secret.LoadKey), absolute or relative to
	// the working directory (resolved against the topology file at load).
	Path string
}

// String returns "generate" or the path.
func (s Secret) String() string {
	if s.Generate {
		return "generate"
	}
	return s.Path
}

// Impairments degrade a link's wire, in user space.
type Impairments struct {
	Delay, Jitter time.Duration
	// Loss is the share of frames dropped, 0 to 1.
	Loss float64
	// Rate limits the wire in bits per second; 0 means unlimited.
	Rate uint64
	Down bool
}

// Any reports whether any impairment is set.
func (im Impairments) Any() bool { return im != Impairments{} }

// Node returns the node called name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Link returns the link called name, or nil.
func (t *Topology) Link(name string) *Link {
	for _, l := range t.Links {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// Port returns the port called name, or nil.
func (n *Node) Port(name string) *Port {
	for _, p := range n.Ports {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Forwards reports whether the node routes between its ports.
func (n *Node) Forwards() bool {
	return n.Kind == KindRouter || n.Kind == KindBIRD || n.Kind == KindFRR
}

// RoutesVia returns the node's routes that leave through port.
func (n *Node) RoutesVia(port string) []Route {
	var rs []Route
	for _, r := range n.Routes {
		if r.Port == port {
			rs = append(rs, r)
		}
	}
	return rs
}
