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
	// ExpressRoutePorts are the Direct port pairs and their circuits.
	ExpressRoutePorts []*ExpressRoutePort
	// Azure is the emulation of Azure's control plane the lab runs (ARM
	// expressRoutePorts, Key Vault, a token endpoint): its port's links drive
	// the Microsoft edge (secylab azure --help); nil: none.
	Azure *Azure
	// Warnings are problems that do not stop the lab but that its user
	// must know, e.g. traffic that bypasses a tunnel.
	Warnings []string
	// Hosts are the machines a multi-host lab spans (hosts.go); Host is
	// the one this half runs on ("": the whole lab runs here).
	Hosts []*Host
	Host  string
	// raw is the file as read, from which Alone writes a node's own lab.
	raw *rawTopology
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
	// KindExternal is a device the lab does not run (the engineer's own
	// router, a VM, a container): no namespace, no configuration. Each of
	// its ports names the host interface that leads to it; the lab's port
	// at the other end of the link sends and receives on that interface.
	// Its addresses and bgp block describe the device, so that the lab's
	// side knows its peer address and AS.
	KindExternal NodeKind = "external"
	// KindLinux is a Linux customer router as a Linux, VyOS or SONiC edge
	// does MACsec: the kernel's macsec driven by wpa_supplicant
	// (macsec_linux, static CAK) with BIRD on the macsec interface. This
	// kernel has no macsec, so the node runs where one has (the
	// conformance VM) and the lab reaches it over a host interface, as an
	// external node: its ports name that interface.
	KindLinux NodeKind = "linux"
	// KindStrongswan is an on-premises VPN gateway run by strongSwan:
	// Debian's charon with the user's own swanctl.conf (config:), started
	// and stopped by the lab in the namespace; the kernel forwards. ESP is
	// the kernel's where it has xfrm with AES-GCM (probed), else charon's
	// kernel-libipsec on a TUN device (ESP always in UDP 4500).
	KindStrongswan NodeKind = "strongswan"
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
	// Config, on a bird or frr node, is the user's own configuration
	// file (absolute), which the daemon runs instead of the one secylab
	// writes from BGP; BGP then says what the lab expects of it (its AS
	// and sessions: what lab status shows and lab up waits for). On a
	// strongswan node it is the swanctl.conf charon loads (required).
	Config string
	// ConfigData, on a node of a built-in topology, is its Config file's
	// contents, embedded beside the topology (Config then names it in the
	// binary): the lab writes it 0600 into the node's private directory
	// (0700, removed with the lab) and runs that (ConfigFile).
	ConfigData []byte `json:",omitempty"`
	// Host is the host of a multi-host lab that runs the node.
	Host string
	// KaY is what keys a linux node's kernel macsec: LinuxWPA ("" reads
	// as it) or LinuxKernelKaY.
	KaY LinuxKaY
	// VPNGateway is a vpngateway node's Azure properties (vpngateway.go).
	VPNGateway *VPNGateway
}

// LinuxKaY is the MKA implementation of a linux node.
type LinuxKaY string

const (
	// LinuxWPA is wpa_supplicant's macsec_linux driver: 2.10 (Debian 12)
	// has no XPN and makes its SecY GCM-AES-128.
	LinuxWPA LinuxKaY = "wpa_supplicant"
	// LinuxKernelKaY is secylab's own KaY (secylab mka run --kernel)
	// programming the kernel's macsec over generic netlink: every cipher
	// suite, XPN too (Linux 5.7 and later).
	LinuxKernelKaY LinuxKaY = "kernel-kay"
)

// Port is one interface of a node, joined to exactly one link.
type Port struct {
	Name      string
	Kind      PortKind
	Addresses []netip.Prefix
	// VLANs are the peerings the port carries (of the circuits of its
	// ExpressRoute port), each its own interface in the node.
	VLANs []VLANIface
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
	// Wire is the name of the port's veth end inside the node's namespace,
	// or, with HostWire, of the host interface of an external end.
	Wire string
	// HostWire is set on a lab port whose link leads to an external node:
	// its wire is that node's host interface, in the namespace the lab was
	// started in, which the lab neither makes nor removes.
	HostWire bool
	// Interface and Force are an external node's port: the host interface
	// that leads to the device, and whether to use it although it is up
	// with addresses (it then carries the host's own traffic too).
	Interface string
	Force     bool
}

// Route is a static route of a node.
type Route struct {
	Prefix netip.Prefix
	Via    netip.Addr
	// Port is the node's port whose connected subnet holds Via, or the
	// port's VLAN interface (Iface) when that subnet is a peering's.
	Port  string
	Iface string
}

// Link is a point-to-point link (a veth pair) between two ports.
type Link struct {
	Name        string
	Ends        [2]Endpoint
	MACsec      MACsec
	Impairments Impairments
	// VNI carries a link between two hosts over VXLAN; VXLAN is set in the
	// half of the lab that runs on one of them (hosts.go).
	VNI   uint32
	VXLAN *VXLAN
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

// AllAddresses returns the port's addresses and its peerings'.
func (p *Port) AllAddresses() []netip.Prefix {
	as := p.Addresses
	for _, v := range p.VLANs {
		as = append(as[:len(as):len(as)], v.Addresses...)
	}
	return as
}

// External reports whether the lab does not run the node but reaches it
// over host interfaces (KindExternal, KindLinux).
func (n *Node) External() bool { return n.Kind == KindExternal || n.Kind == KindLinux }

// Forwards reports whether the node routes between its ports.
func (n *Node) Forwards() bool {
	return n.Kind == KindRouter || n.Kind == KindBIRD || n.Kind == KindFRR || n.Kind == KindVPNGateway || n.Kind == KindStrongswan
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
