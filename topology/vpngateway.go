package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/ipsec/ike"
)

// KindVPNGateway is Azure's VPN gateway (a virtualNetworkGateways
// resource of gatewayType Vpn, route-based): it forwards, and keys its
// tunnels with secylab's IKEv2 as Azure does (Azure's default policy sets
// as initiator and responder, or the connection's ipsecPolicies), with BGP
// over the tunnels on its bgpSettings.
const KindVPNGateway NodeKind = "vpngateway"

// AzureVPNGatewayASN is the ASN of an Azure VPN gateway unless its
// bgpSettings say otherwise.
const AzureVPNGatewayASN = 65515

// VPNGateway is a vpngateway node's Azure properties.
type VPNGateway struct {
	// ActiveActive runs two gateway instances, each with its own tunnel
	// address and BGP address: a connection then has a tunnel to each.
	ActiveActive bool
	ASN          uint32
	// Instances are bgpSettings.bgpPeeringAddresses: one per instance.
	Instances []VPNGatewayInstance
}

// VPNGatewayInstance is one instance of a VPN gateway (an IP
// configuration): its tunnel address and its APIPA BGP addresses.
type VPNGatewayInstance struct {
	IPConfigurationID string
	TunnelIPAddresses []netip.Addr
	CustomBGPIPs      []netip.Addr
}

// Instance returns the instance whose tunnel address is a, or nil.
func (g *VPNGateway) Instance(a netip.Addr) *VPNGatewayInstance {
	for i := range g.Instances {
		if slices.Contains(g.Instances[i].TunnelIPAddresses, a) {
			return &g.Instances[i]
		}
	}
	return nil
}

type rawBGPSettings struct {
	ASN                 *int64                 `yaml:"asn"`
	BGPPeeringAddresses []rawBGPPeeringAddress `yaml:"bgpPeeringAddresses"`
}

type rawBGPPeeringAddress struct {
	IPConfigurationID    string   `yaml:"ipconfigurationId"`
	TunnelIPAddresses    []string `yaml:"tunnelIpAddresses"`
	CustomBGPIPAddresses []string `yaml:"customBgpIpAddresses"`
}

// apipaFirst and apipaLast bound the APIPA range Azure allows for custom
// BGP addresses of a VPN gateway.
var apipaFirst, apipaLast = netip.MustParseAddr("169.254.21.0"), netip.MustParseAddr("169.254.22.255")

// APIPA reports whether a is in Azure's APIPA range for BGP over a VPN
// (169.254.21.0 to 169.254.22.255).
func APIPA(a netip.Addr) bool { return a.Compare(apipaFirst) >= 0 && a.Compare(apipaLast) <= 0 }

// vpnGateway checks a vpngateway node's Azure properties; its BGP speaker
// is made from bgpSettings (its sessions once the tunnels are known).
func (c *checker) vpnGateway(path string, n *Node, rn rawNode) {
	g := &VPNGateway{ActiveActive: rn.ActiveActive, ASN: AzureVPNGatewayASN}
	n.VPNGateway = g
	defer func() {
		n.BGP = &BGP{ASN: g.ASN, HoldTime: expressroute.LabHoldTime, Keepalive: expressroute.LabKeepaliveTime}
		for _, in := range g.Instances {
			if len(in.CustomBGPIPs) > 0 {
				n.BGP.RouterID = in.CustomBGPIPs[0]
				break
			}
		}
	}()
	if rn.BGP != nil {
		c.Errorf(path+".bgp", "a vpngateway's BGP is Azure's: give bgpSettings {asn, bgpPeeringAddresses}, not a bgp block")
	}
	bs := rn.BGPSettings
	if bs == nil {
		bs = &rawBGPSettings{}
	}
	bpath := path + ".bgpSettings"
	if bs.ASN != nil {
		switch a := *bs.ASN; {
		case a < 1 || a > 4294967294:
			c.Errorf(bpath+".asn", "%d is out of range: want 1 to 4294967294", a)
		case (a >= 65517 && a <= 65520) || a == 8074 || a == 8075 || a == 12076 || a == 23456 || a == 65535:
			c.Errorf(bpath+".asn", "%d is reserved by Azure (8074, 8075, 12076, 65517-65520; 65515 is the gateway's default) or by the IANA (23456, 65535)", a)
		default:
			g.ASN = uint32(a)
		}
	}
	want := 1
	if g.ActiveActive {
		want = 2
	}
	if len(bs.BGPPeeringAddresses) > want {
		c.Errorf(bpath+".bgpPeeringAddresses", "%d entries: a gateway has one IP configuration per instance (%d with activeActive %v)", len(bs.BGPPeeringAddresses), want, g.ActiveActive)
	}
	for i, ra := range bs.BGPPeeringAddresses {
		apath := fmt.Sprintf("%s.bgpPeeringAddresses[%d]", bpath, i)
		in := VPNGatewayInstance{IPConfigurationID: ra.IPConfigurationID}
		if in.IPConfigurationID == "" {
			in.IPConfigurationID = []string{"default", "activeActive"}[min(i, 1)]
		}
		if len(ra.TunnelIPAddresses) == 0 {
			c.Errorf(apath+".tunnelIpAddresses", "missing: the instance's tunnel address (one of the node's port addresses)")
		}
		for j, s := range ra.TunnelIPAddresses {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			switch {
			case err != nil:
				c.Errorf(fmt.Sprintf("%s.tunnelIpAddresses[%d]", apath, j), "%q is not an IP address", s)
			case !nodeHasAddr(n, a):
				c.Errorf(fmt.Sprintf("%s.tunnelIpAddresses[%d]", apath, j), "%s is not an address of %s's ports", a, n.Name)
			default:
				in.TunnelIPAddresses = append(in.TunnelIPAddresses, a)
			}
		}
		for j, s := range ra.CustomBGPIPAddresses {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			switch {
			case err != nil || !APIPA(a):
				c.Errorf(fmt.Sprintf("%s.customBgpIpAddresses[%d]", apath, j), "%q: a custom BGP address must be an APIPA address from 169.254.21.0 to 169.254.22.255 (Azure's rule for BGP over VPN)", s)
			default:
				in.CustomBGPIPs = append(in.CustomBGPIPs, a)
			}
		}
		g.Instances = append(g.Instances, in)
	}
}

// ConnectionMode is which side of an IKE-keyed tunnel may start the IKE
// SA (Azure's connectionMode, seen from the Azure gateway).
type ConnectionMode string

const (
	// ModeDefault: the Azure gateway both initiates and responds.
	ModeDefault ConnectionMode = "Default"
	// ModeResponderOnly: the Azure gateway never initiates.
	ModeResponderOnly ConnectionMode = "ResponderOnly"
	// ModeInitiatorOnly: the Azure gateway initiates and refuses what the
	// peer starts.
	ModeInitiatorOnly ConnectionMode = "InitiatorOnly"
)

// IKE is how an IKE-keyed tunnel is keyed: Azure's connection properties
// (virtualNetworkGateways/connections).
type IKE struct {
	// SharedKey is the pre-shared key: a file (read by the key-file rule,
	// printable ASCII, 1 to 128 characters) or Generate (the lab makes one
	// and writes it 0600 into the lab's directory). Never printed.
	SharedKey Secret
	// Policy is the custom policy (ipsecPolicies[0]); nil: Azure's
	// default policy sets.
	Policy *ike.AzurePolicy
	// IKESuites and ESPSuites are what a custom policy stands for (nil
	// with the default policy).
	IKESuites, ESPSuites []ike.Suite
	Mode                 ConnectionMode
	// DPDTimeoutSeconds: a peer silent this long is dead.
	DPDTimeoutSeconds int
	EnableBGP         bool
	// PolicyBasedTS narrows the Child SA's traffic selectors to the ends'
	// protected prefixes (usePolicyBasedTrafficSelectors) instead of any.
	PolicyBasedTS bool
}

// DefaultDPDTimeoutSeconds is Azure's DPD timeout unless a connection
// sets dpdTimeoutSeconds (the portal's default; it allows 9 to 3600).
const DefaultDPDTimeoutSeconds = 45

type rawIPsecPolicy struct {
	SALifeTimeSeconds   int64  `yaml:"saLifeTimeSeconds"`
	SADataSizeKilobytes int64  `yaml:"saDataSizeKilobytes"`
	IPsecEncryption     string `yaml:"ipsecEncryption"`
	IPsecIntegrity      string `yaml:"ipsecIntegrity"`
	IKEEncryption       string `yaml:"ikeEncryption"`
	IKEIntegrity        string `yaml:"ikeIntegrity"`
	DHGroup             string `yaml:"dhGroup"`
	PFSGroup            string `yaml:"pfsGroup"`
}

type rawDevice struct {
	// SharedKey generate: the device holds a shared key of its own (not
	// the connection's), made at lab up and never printed.
	SharedKey string `yaml:"sharedKey"`
	// IPsecPolicy is the device's only proposal, in Azure's ipsecPolicies
	// names (e.g. DHGroup14 for a strongSwan without modp1024).
	IPsecPolicy *rawIPsecPolicy `yaml:"ipsecPolicy"`
}

// azurePolicy checks a policy in Azure's names, errors under path.
func (c *checker) azurePolicy(path string, rp rawIPsecPolicy) (*ike.AzurePolicy, []ike.Suite, []ike.Suite) {
	p := ike.AzurePolicy{SALifeTimeSeconds: rp.SALifeTimeSeconds, SADataSizeKilobytes: rp.SADataSizeKilobytes,
		IPsecEncryption: rp.IPsecEncryption, IPsecIntegrity: rp.IPsecIntegrity, IKEEncryption: rp.IKEEncryption,
		IKEIntegrity: rp.IKEIntegrity, DHGroup: rp.DHGroup, PFSGroup: rp.PFSGroup}
	is, es, errs := p.Suites()
	for _, err := range errs {
		pe := err.(*ike.AzurePolicyError)
		c.Errorf(path+"."+pe.Field, "%s", pe.Msg)
	}
	if len(errs) > 0 {
		return nil, nil, nil
	}
	return &p, []ike.Suite{is}, []ike.Suite{es}
}

// device checks an on-premises end's device block.
func (c *checker) device(path string, n *Node, rd *rawDevice) *DeviceIKE {
	if rd == nil {
		return nil
	}
	if n.Kind == KindVPNGateway || ownIKEKinds[n.Kind] {
		c.Errorf(path, "a device block describes an on-premises gateway the lab keys (not %s, a %s)", n.Name, n.Kind)
		return nil
	}
	d := &DeviceIKE{}
	switch rd.SharedKey {
	case "":
	case "generate":
		d.GenerateKey = true
	default:
		c.Errorf(path+".sharedKey", "%q: a device's own shared key is generate (one other than the connection's)", rd.SharedKey)
	}
	if rd.IPsecPolicy != nil {
		d.Policy, d.IKESuites, d.ESPSuites = c.azurePolicy(path+".ipsecPolicy", *rd.IPsecPolicy)
	}
	return d
}

// ownIKEKinds are the node kinds whose tunnel end is keyed by the node's
// own IKE daemon from the user's configuration, not by the lab: the lab
// starts no gateway for such an end (TunnelEnd.OwnIKE).
var ownIKEKinds = map[NodeKind]bool{KindStrongswan: true}

// tunnelEndKinds are the node kinds a tunnel may end on.
var tunnelEndKinds = map[NodeKind]bool{KindRouter: true, KindVPNGateway: true}

// ike checks an IKE-keyed tunnel's connection properties.
func (c *checker) ike(t *Topology, path string, tu *Tunnel, rt *rawTunnel) {
	k := &IKE{SharedKey: c.secret(rt.SharedKey), Mode: ModeDefault, DPDTimeoutSeconds: DefaultDPDTimeoutSeconds,
		EnableBGP: rt.EnableBGP, PolicyBasedTS: rt.UsePolicyBasedTrafficSelectors}
	tu.IKE = k
	if !k.SharedKey.Generate {
		data, err := readSharedKey(k.SharedKey.Path)
		clear(data)
		if err != nil {
			c.Errorf(path+".sharedKey", "%v", err)
		}
	}
	for field, set := range map[string]bool{"cipher": rt.Cipher != "", "esn": rt.ESN != nil, "replayWindow": rt.ReplayWindow != nil} {
		if set {
			c.Errorf(path+"."+field, "IKE negotiates the ESP transforms of a tunnel with a sharedKey: give ipsecPolicies instead (or leave them to Azure's default policy)")
		}
	}
	switch m := ConnectionMode(rt.ConnectionMode); m {
	case "":
	case ModeDefault, ModeResponderOnly, ModeInitiatorOnly:
		k.Mode = m
	default:
		c.Errorf(path+".connectionMode", "%q: Azure allows Default, ResponderOnly or InitiatorOnly", rt.ConnectionMode)
	}
	if rt.DPDTimeoutSeconds != nil {
		k.DPDTimeoutSeconds = *rt.DPDTimeoutSeconds
		if d := k.DPDTimeoutSeconds; d < 9 || d > 3600 {
			c.Errorf(path+".dpdTimeoutSeconds", "%d: Azure allows 9 to 3600 seconds (default %d)", d, DefaultDPDTimeoutSeconds)
		}
	}
	switch len(rt.IPsecPolicies) {
	case 0:
	case 1:
		if p, is, es := c.azurePolicy(path+".ipsecPolicies[0]", rt.IPsecPolicies[0]); p != nil {
			k.Policy, k.IKESuites, k.ESPSuites = p, is, es
		}
	default:
		c.Errorf(path+".ipsecPolicies", "%d policies: Azure takes one IPsec/IKE policy per connection", len(rt.IPsecPolicies))
	}
	for e := range tu.Ends {
		n := t.Node(tu.Ends[e].Node)
		if n == nil {
			continue
		}
		tu.Ends[e].OwnIKE = ownIKEKinds[n.Kind]
		tu.Ends[e].Device = c.device(fmt.Sprintf("%s.ends[%d].device", path, e), n, rt.Ends[e].Device)
		if k.EnableBGP && !tu.Ends[e].OwnIKE && n.BGP == nil {
			c.Errorf(fmt.Sprintf("%s.ends[%d].node", path, e), "enableBgp: %s runs no BGP: give it a bgp block (asn, networks)", n.Name)
		}
	}
	if k.EnableBGP && t.Link(tu.Name) != nil {
		c.Errorf(path+".name", "%q is also a link: a tunnel with enableBgp names its BGP session, which must differ from the links'", tu.Name)
	}
}

// readSharedKey reads a shared key file by the key-file rule (0600, small)
// and Azure's rule for a shared key: printable ASCII, 1 to 128 characters.
func readSharedKey(path string) ([]byte, error) {
	data, err := secret.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k := []byte(strings.TrimRight(string(data), "\r\n"))
	clear(data)
	if len(k) == 0 || len(k) > 128 {
		clear(k)
		return nil, fmt.Errorf("shared key file %s: Azure's shared key is 1 to 128 printable ASCII characters (found %d)", path, len(k))
	}
	for _, b := range k {
		if b < 0x20 || b > 0x7e {
			clear(k)
			return nil, fmt.Errorf("shared key file %s: Azure's shared key is printable ASCII only", path)
		}
	}
	return k, nil
}

// ReadSharedKey reads the tunnel's pre-shared key file (the caller
// clears it).
func (k *IKE) ReadSharedKey() ([]byte, error) { return readSharedKey(k.SharedKey.Path) }

// BGPAddresses are the tunnel's BGP session addresses at end e: its own
// and the other end's (invalid without enableBgp).
func (tu *Tunnel) BGPAddresses(e int) (local, peer netip.Addr) {
	return tu.Ends[e].BGPAddress, tu.Ends[1-e].BGPAddress
}

// tunnelBGP resolves the BGP addresses of the ends of an enableBgp tunnel
// (a vpngateway end: its instance's custom BGP address; another end: its
// bgpPeeringAddress) and adds the session to both ends' speakers.
func (c *checker) tunnelBGP(t *Topology, path string, tu *Tunnel, rt *rawTunnel) {
	for e := range tu.Ends {
		end := &tu.Ends[e]
		re := rt.Ends[e]
		epath := fmt.Sprintf("%s.ends[%d]", path, e)
		n := t.Node(end.Node)
		if n == nil {
			continue
		}
		if n.Kind == KindVPNGateway {
			for _, p := range end.Protects {
				if n.BGP != nil && !slices.Contains(n.BGP.Networks, p) {
					n.BGP.Networks = append(n.BGP.Networks, p)
				}
			}
			in := n.VPNGateway.Instance(end.Outer)
			switch {
			case re.BGPPeeringAddress != "":
				c.Errorf(epath+".bgpPeeringAddress", "a vpngateway's BGP address is its instance's: set nodes.%s.bgpSettings.bgpPeeringAddresses[].customBgpIpAddresses", n.Name)
			case in == nil:
				c.Errorf(epath+".outer", "%s is no instance's tunnel address of %s: list it in bgpSettings.bgpPeeringAddresses[].tunnelIpAddresses", end.Outer, n.Name)
			case len(in.CustomBGPIPs) == 0:
				c.Errorf(epath+".outer", "enableBgp over private peering: %s's instance %s needs customBgpIpAddresses (APIPA, 169.254.21.0 to 169.254.22.255)", n.Name, in.IPConfigurationID)
			default:
				end.BGPAddress = in.CustomBGPIPs[0]
			}
			continue
		}
		a, err := netip.ParseAddr(strings.TrimSpace(re.BGPPeeringAddress))
		switch {
		case re.BGPPeeringAddress == "":
			c.Errorf(epath+".bgpPeeringAddress", "missing: enableBgp needs this gateway's BGP address on the tunnel (an APIPA address, e.g. 169.254.21.2)")
		case err != nil || !a.Is4():
			c.Errorf(epath+".bgpPeeringAddress", "%q is not an IPv4 address", re.BGPPeeringAddress)
		default:
			end.BGPAddress = a
		}
	}
	if tu.Ends[0].BGPAddress.IsValid() && tu.Ends[0].BGPAddress == tu.Ends[1].BGPAddress {
		c.Errorf(path+".ends[1].bgpPeeringAddress", "%s is the other end's BGP address too", tu.Ends[1].BGPAddress)
	}
	for e, end := range tu.Ends {
		n := t.Node(end.Node)
		if n == nil || n.BGP == nil || !end.BGPAddress.IsValid() || !tu.Ends[1-e].BGPAddress.IsValid() {
			continue
		}
		peer := t.Node(tu.Ends[1-e].Node)
		var peerASN uint32
		if peer != nil && peer.BGP != nil {
			peerASN = peer.BGP.ASN
		}
		n.BGP.Neighbors = append(n.BGP.Neighbors, BGPNeighbor{Name: tu.Name, Tunnel: tu.Name, Iface: tu.Name,
			Local: end.BGPAddress, Peer: tu.Ends[1-e].BGPAddress, PeerNode: tu.Ends[1-e].Node, PeerASN: peerASN})
	}
}

// dropIdleVPNGatewayBGP removes the speaker of a vpngateway whose
// connections run no BGP.
func dropIdleVPNGatewayBGP(t *Topology) {
	for _, n := range t.Nodes {
		if n.VPNGateway != nil && n.BGP != nil && len(n.BGP.Neighbors) == 0 {
			n.BGP = nil
		}
	}
}

// sameOuter refuses two IKE-keyed tunnel ends on one node at one outer
// address: each IKE gateway instance has its own address (IKE's port 500
// and ESP in UDP's 4500 are bound to it), as each instance of an
// active-active Azure gateway has.
func (c *checker) sameOuter(t *Topology) {
	type key struct {
		node string
		addr netip.Addr
	}
	seen := map[key]string{}
	for i, tu := range t.Tunnels {
		for e, end := range tu.Ends {
			k := key{end.Node, end.Outer}
			if prev, ok := seen[k]; ok && !end.OwnIKE {
				c.Errorf(fmt.Sprintf("tunnels[%d].ends[%d].outer", i, e), "%s is also the outer address of %s on %s: each tunnel end of a node needs an address of its own", end.Outer, prev, end.Node)
			}
			seen[k] = tu.Name
		}
	}
}
