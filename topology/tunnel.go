package topology

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/secylab/secylab/ipsec/ike"
)

// Tunnel is a manually keyed IPsec ESP tunnel (AES-GCM-16, tunnel mode,
// ESP in UDP 4500) between two gateway nodes, across the lab — over
// ExpressRoute private peering, independent of MACsec.
type Tunnel struct {
	Name         string
	Ends         [2]TunnelEnd
	KeyBits      int // 128 or 256
	ESN          bool
	ReplayWindow int
	Backend      string // auto, kernel or userspace
	// MSS clamps TCP SYNs crossing the tunnel (0: 1350, as Azure's VPN
	// gateway; -1: off).
	MSS int
	// IKE, when set (the tunnel has a sharedKey), keys the tunnel with
	// IKEv2 as an Azure connection; KeyBits, ESN and ReplayWindow are then
	// unused. Nil: keyed by hand (the lab makes the keys).
	IKE *IKE
}

// TunnelEnd is one gateway of a tunnel.
type TunnelEnd struct {
	Node     string
	Outer    netip.Addr     // the tunnel endpoint: one of the node's addresses
	Protects []netip.Prefix // the networks behind this gateway
	// OwnIKE marks an end on a node whose own IKE daemon keys it from
	// the user's configuration: the lab starts no gateway there.
	OwnIKE bool
	// BGPAddress is the end's BGP address on an enableBgp tunnel.
	BGPAddress netip.Addr
	// Device, on an IKE-keyed tunnel's on-premises end, is how that
	// device is configured where it differs from the connection (nil: as
	// the connection): the lab keys this end's gateway from it, to
	// rehearse a mismatch.
	Device *DeviceIKE
}

// DeviceIKE is an on-premises device's own IKE configuration, where it
// differs from the Azure connection's.
type DeviceIKE struct {
	// GenerateKey: the device holds a shared key of its own, generated at
	// lab up (not the connection's), never printed.
	GenerateKey bool
	// Policy: the device's only proposal, in Azure's names (nil: it
	// offers what the connection does).
	Policy               *ike.AzurePolicy
	IKESuites, ESPSuites []ike.Suite
}

type rawTunnel struct {
	Name         string         `yaml:"name"`
	Ends         []rawTunnelEnd `yaml:"ends"`
	Cipher       string         `yaml:"cipher"`
	ESN          *bool          `yaml:"esn"`
	ReplayWindow *int           `yaml:"replayWindow"`
	Backend      string         `yaml:"backend"`
	MSS          string         `yaml:"mss"`
	// An IKE-keyed tunnel (a sharedKey is given) has Azure's connection
	// properties (vpngateway.go).
	SharedKey                      string           `yaml:"sharedKey"`
	IPsecPolicies                  []rawIPsecPolicy `yaml:"ipsecPolicies"`
	ConnectionMode                 string           `yaml:"connectionMode"`
	DPDTimeoutSeconds              *int             `yaml:"dpdTimeoutSeconds"`
	EnableBGP                      bool             `yaml:"enableBgp"`
	UsePolicyBasedTrafficSelectors bool             `yaml:"usePolicyBasedTrafficSelectors"`
}

type rawTunnelEnd struct {
	Node     string   `yaml:"node"`
	Outer    string   `yaml:"outer"`
	Protects []string `yaml:"protects"`
	// BGPPeeringAddress is this gateway's BGP address on an enableBgp
	// tunnel (not on a vpngateway, whose bgpSettings give it).
	BGPPeeringAddress string `yaml:"bgpPeeringAddress"`
	// Device: the on-premises device's own IKE configuration where it
	// differs from the connection's (vpngateway.go).
	Device *rawDevice `yaml:"device"`
}

func (c *checker) tunnel(t *Topology, i int, rt *rawTunnel) *Tunnel {
	path := fmt.Sprintf("tunnels[%d]", i)
	tu := &Tunnel{Name: rt.Name, ESN: true, ReplayWindow: 1024, Backend: "auto", KeyBits: 256}
	if err := checkName(rt.Name, MaxIfName); err != nil {
		c.Errorf(path+".name", "tunnel name %v", err)
	}
	for j, o := range t.Tunnels {
		if o.Name == rt.Name {
			c.Errorf(path+".name", "%q is also tunnels[%d]", rt.Name, j)
		}
	}
	switch rt.Cipher {
	case "", "aes256gcm16":
	case "aes128gcm16":
		tu.KeyBits = 128
	default:
		c.Errorf(path+".cipher", "%q: want aes256gcm16 (the default) or aes128gcm16 (AES-GCM with a 16-octet ICV, RFC 4106)", rt.Cipher)
	}
	if rt.ESN != nil {
		tu.ESN = *rt.ESN
	}
	if rt.ReplayWindow != nil {
		tu.ReplayWindow = *rt.ReplayWindow
		if w := tu.ReplayWindow; w != 0 && (w < 32 || w > 4096) {
			c.Errorf(path+".replayWindow", "%d: use 0 (off) or 32 to 4096 packets", w)
		}
		if tu.ESN && tu.ReplayWindow == 0 {
			c.Errorf(path+".replayWindow", "ESN needs a replay window (RFC 4303 3.3.3)")
		}
	}
	switch rt.MSS {
	case "":
	case "off":
		tu.MSS = -1
	default:
		n, err := strconv.Atoi(rt.MSS)
		if err != nil || n < 536 || n > 1460 {
			c.Errorf(path+".mss", "%q: want off or a TCP MSS of 536 to 1460 (Azure's VPN gateway clamps to 1350)", rt.MSS)
		}
		tu.MSS = n
	}
	switch rt.Backend {
	case "", "auto", "kernel", "userspace":
		if rt.Backend != "" {
			tu.Backend = rt.Backend
		}
	default:
		c.Errorf(path+".backend", "%q: want auto, kernel or userspace", rt.Backend)
	}
	if len(rt.Ends) != 2 {
		c.Errorf(path+".ends", "a tunnel has two ends, found %d", len(rt.Ends))
		return nil
	}
	for e, re := range rt.Ends {
		epath := fmt.Sprintf("%s.ends[%d]", path, e)
		end := TunnelEnd{Node: re.Node}
		n := t.Node(re.Node)
		switch {
		case n == nil:
			c.Errorf(epath+".node", "no node %q", re.Node)
		case !tunnelEndKinds[n.Kind] && !ownIKEKinds[n.Kind]:
			c.Errorf(epath+".node", "%s is a %s: a VPN gateway forwards, so it must be a router, a vpngateway or a strongswan node", re.Node, n.Kind)
		case ownIKEKinds[n.Kind] && rt.SharedKey == "":
			c.Errorf(epath+".node", "%s is a %s, which keys its tunnels with its own IKE: give the tunnel a sharedKey (manual keys are the lab's)", re.Node, n.Kind)
		}
		var err error
		if end.Outer, err = netip.ParseAddr(re.Outer); err != nil {
			c.Errorf(epath+".outer", "%q is not an IP address", re.Outer)
		} else if n != nil && !nodeHasAddr(n, end.Outer) {
			c.Errorf(epath+".outer", "%s is not an address of %s: the tunnel endpoint must be one of its port addresses", end.Outer, re.Node)
		}
		if re.Device != nil && rt.SharedKey == "" {
			c.Errorf(epath+".device", "a device block is for an IKE-keyed tunnel (one with a sharedKey)")
		}
		if len(re.Protects) == 0 {
			c.Errorf(epath+".protects", "missing: the networks behind this gateway")
		}
		for k, s := range re.Protects {
			pfx, err := netip.ParsePrefix(s)
			if err != nil || pfx != pfx.Masked() {
				c.Errorf(fmt.Sprintf("%s.protects[%d]", epath, k), "%q is not a network prefix (e.g. 10.1.0.0/16)", s)
				continue
			}
			end.Protects = append(end.Protects, pfx)
		}
		tu.Ends[e] = end
	}
	// The outer addresses must not be protected, or the tunnel would carry
	// itself.
	for e, end := range tu.Ends {
		for _, o := range tu.Ends {
			for _, p := range o.Protects {
				if end.Outer.IsValid() && p.Contains(end.Outer) {
					c.Errorf(fmt.Sprintf("%s.ends[%d].outer", path, e), "%s lies in the protected prefix %s: tunnel endpoints must be outside what the tunnel protects", end.Outer, p)
				}
			}
		}
	}
	if rt.SharedKey != "" {
		c.ike(t, path, tu, rt)
		if tu.IKE.EnableBGP {
			c.tunnelBGP(t, path, tu, rt)
		}
	} else {
		for field, set := range map[string]bool{"ipsecPolicies": rt.IPsecPolicies != nil, "connectionMode": rt.ConnectionMode != "",
			"dpdTimeoutSeconds": rt.DPDTimeoutSeconds != nil, "enableBgp": rt.EnableBGP, "usePolicyBasedTrafficSelectors": rt.UsePolicyBasedTrafficSelectors} {
			if set {
				c.Errorf(path+"."+field, "an IKE setting on a manually keyed tunnel: give the tunnel a sharedKey (IKEv2 keys it then)")
			}
		}
	}
	c.bypassWarnings(t, tu)
	return tu
}

func nodeHasAddr(n *Node, a netip.Addr) bool {
	for _, p := range n.Ports {
		for _, pa := range p.Addresses {
			if pa.Addr() == a {
				return true
			}
		}
	}
	return false
}

// bypassWarnings finds Azure's routing trap: a node on one side that reaches
// the other side's protected networks by a route that does not go through
// its gateway takes the ExpressRoute path, unencrypted by IPsec, because a
// route to the prefix itself wins over the tunnel.
func (c *checker) bypassWarnings(t *Topology, tu *Tunnel) {
	for e, end := range tu.Ends {
		gw := t.Node(end.Node)
		if gw == nil {
			continue
		}
		remote := tu.Ends[1-e].Protects
		for _, n := range t.Nodes {
			if n == gw {
				continue
			}
			for _, r := range n.Routes {
				for _, p := range remote {
					if !r.Prefix.Overlaps(p) || viaNode(t, n, r) == gw.Name || !sideOf(n, end.Protects) {
						continue
					}
					t.Warnings = append(t.Warnings, fmt.Sprintf(
						"tunnel %s: %s reaches %s by %s via %s, not through the gateway %s: that traffic takes the ExpressRoute path and is not protected by IPsec (Azure's routing trap: the same prefixes over ExpressRoute and over the VPN, and the ExpressRoute route wins)",
						tu.Name, n.Name, p, r.Prefix, r.Via, gw.Name))
				}
			}
		}
	}
}

// sideOf reports whether node n holds an address in one of the prefixes:
// it is behind that gateway.
func sideOf(n *Node, prefixes []netip.Prefix) bool {
	for _, port := range n.Ports {
		for _, a := range port.Addresses {
			for _, p := range prefixes {
				if p.Contains(a.Addr()) {
					return true
				}
			}
		}
	}
	return false
}

// viaNode names the node that owns a route's next hop.
func viaNode(t *Topology, from *Node, r Route) string {
	for _, n := range t.Nodes {
		if n != from && nodeHasAddr(n, r.Via) {
			return n.Name
		}
	}
	return ""
}
