package lab

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &ConfigOp{} }) }

// ConfigOp asks for what a customer router's configuration must say to
// match the lab's Microsoft edge: the node's links, the MACsec settings
// the far end of each runs now and the node's BGP. Its answer is an
// *edgeconfig.Node, rendered by secylab lab config; with Secrets it
// carries the CKN and CAK the far end uses (never logged).
type ConfigOp struct {
	EdgeOptions `json:",inline" yaml:",inline"`
}

// EdgeOptions select what EdgeConfig describes.
type EdgeOptions struct {
	Node string `json:"node" yaml:"node"`
	// Link limits the export to one of the node's links.
	Link string `json:"link,omitempty" yaml:"link"`
	// Interface names the link's interface on the user's router (default:
	// the lab's port name); it needs a single link.
	Interface string `json:"interface,omitempty" yaml:"interface"`
	// Secrets asks for the CKN and CAK values instead of placeholders.
	Secrets bool `json:"secrets,omitempty" yaml:"secrets"`
	// PSKFile is where the caller writes the tunnels' shared keys (0600):
	// the IPsec exports include it, and their tunnels carry the key for
	// that file only (never the output).
	PSKFile string `json:"pskFile,omitempty" yaml:"pskFile"`
	// keyDir, in a running lab, holds the generated shared keys.
	keyDir string
}

func (*ConfigOp) Kind() string       { return "config" }
func (o *ConfigOp) Describe() string { return "the configuration of " + o.Node }

func (o *ConfigOp) Check(t *topology.Topology) error {
	_, err := edgeNode(t, o.EdgeOptions)
	return err
}

func (o *ConfigOp) Apply(_ context.Context, l *Lab) (any, error) {
	opts := o.EdgeOptions
	secrets := opts.Secrets
	opts.Secrets = false       // the running ports' keys, not the files'
	opts.keyDir = l.cfg.KeyDir // a generated shared key is there (SharedKeyFile)
	n, err := EdgeConfig(l.topo, opts, cmp.Or(l.cfg.HelloTime, mka.DefaultHelloTime), cmp.Or(l.cfg.LifeTime, mka.DefaultLifeTime))
	if err != nil {
		return nil, err
	}
	n.Live = true
	for i := range n.Links {
		lk := &n.Links[i]
		p := l.Port(lk.Peer, lk.PeerPort)
		if p == nil {
			continue
		}
		p.mu.Lock()
		mc, kay := p.mc, p.kay
		p.mu.Unlock()
		if mc == nil {
			lk.MACsec = nil // the far end runs without MACsec now
			continue
		}
		m := &edgeconfig.MACsec{
			Suite: mc.Suite, IncludeSCI: mc.IncludeSCI, ReplayProtect: mc.ReplayProtect, ReplayWindow: mc.ReplayWindow,
			KeyServerPriority: mc.KeyServerPriority,
			HelloTime:         cmp.Or(mc.HelloTime, mka.DefaultHelloTime), LifeTime: cmp.Or(mc.LifeTime, mka.DefaultLifeTime),
		}
		if secrets && kay != nil {
			e := kay.ExportKeys()
			m.CKN, m.CAK = e.CKN.String(), hex.EncodeToString(e.CAK)
			e.Zero()
		}
		lk.MACsec = m
	}
	return n, nil
}

// EdgeConfig describes node of t for the exports (package edgeconfig)
// from the topology alone: the MACsec settings of each link's far end
// with the MKA timers given, the node's BGP as BIRD and FRR would run it.
// With opts.Secrets it reads the links' key files; a generated secret
// exists only in a running lab (ConfigOp).
func EdgeConfig(t *topology.Topology, opts EdgeOptions, hello, life time.Duration) (*edgeconfig.Node, error) {
	n, err := edgeNode(t, opts)
	if err != nil {
		return nil, err
	}
	out := &edgeconfig.Node{Lab: t.Name, Name: n.Name, Kind: string(n.Kind), Source: t.Source, KernelKaY: n.KaY == topology.LinuxKernelKaY}
	if n.BGP != nil {
		d := DaemonConfig(n.BGP)
		d.BFDInterval, d.BFDMult = expressroute.BFDInterval, expressroute.BFDMultiplier
		out.BGP = &d
	}
	for _, tl := range t.Links {
		end := slices.IndexFunc(tl.Ends[:], func(e topology.Endpoint) bool { return e.Node == n.Name })
		if end < 0 || opts.Link != "" && tl.Name != opts.Link {
			continue
		}
		far := tl.Ends[1-end]
		peer, port := t.Node(far.Node), n.Port(tl.Ends[end].Port)
		ebgp := false
		if n.BGP != nil {
			for _, nb := range n.BGP.OnLink(tl.Name) {
				ebgp = ebgp || !nb.IBGP(n.BGP.ASN)
			}
		}
		if !tl.MACsec.Enabled && !ebgp && opts.Link == "" {
			continue
		}
		lk := edgeconfig.Link{
			Name: tl.Name, Port: port.Name, Interface: cmp.Or(opts.Interface, port.Name), Addresses: port.Addresses,
			Peer: far.Node, PeerPort: far.Port,
			MicrosoftEdge: peer.BGP != nil && peer.BGP.Profile == topology.BGPMicrosoftEdge,
		}
		for _, v := range port.VLANs {
			// The sub-interface is named after the interface the export
			// uses: er1.100, or the user's --interface with the same tags.
			lk.VLANs = append(lk.VLANs, edgeconfig.VLAN{
				Interface: lk.Interface + strings.TrimPrefix(v.Name, port.Name), STag: v.STag, CTag: v.CTag,
				Circuit: v.Circuit, Peering: string(v.Peering), Addresses: v.Addresses,
			})
		}
		if m := tl.MACsec; m.Enabled {
			lk.MACsec = &edgeconfig.MACsec{
				Suite: far.Cipher, IncludeSCI: m.IncludeSCI, ReplayProtect: m.ReplayProtect, ReplayWindow: m.ReplayWindow,
				KeyServerPriority: m.KeyServerPriority, HelloTime: hello, LifeTime: life,
			}
			if opts.Secrets {
				if far.Secret.Generate {
					return nil, fmt.Errorf("link %s: its secret is generated when the lab starts: ask the running lab for it", tl.Name)
				}
				k, err := secret.LoadKey(far.Secret.Path, far.Cipher)
				if err != nil {
					return nil, fmt.Errorf("link %s: %w", tl.Name, err)
				}
				lk.MACsec.CKN, lk.MACsec.CAK = k.CKN.String(), hex.EncodeToString(k.CAK.Bytes())
				k.Zero()
			}
		}
		out.Links = append(out.Links, lk)
	}
	for _, tu := range t.Tunnels {
		et, err := edgeTunnel(t, tu, n.Name, opts.PSKFile, opts.keyDir)
		if err != nil {
			return nil, err
		}
		if et != nil {
			out.Tunnels = append(out.Tunnels, *et)
		}
	}
	if opts.Interface != "" && len(out.Links) != 1 {
		return nil, fmt.Errorf("--interface %s names one interface, and %s has %d links to export: choose one with --link", opts.Interface, n.Name, len(out.Links))
	}
	return out, nil
}

// edgeTunnel is tu as node's side must configure it to meet the Azure
// VPN gateway at the other end, or nil when tu is no IKE-keyed tunnel of
// node's to a vpngateway. With pskFile the shared key is read from its
// file (a generated one exists only in a running lab: keyDir).
func edgeTunnel(t *topology.Topology, tu *topology.Tunnel, node, pskFile, keyDir string) (*edgeconfig.Tunnel, error) {
	e := slices.IndexFunc(tu.Ends[:], func(end topology.TunnelEnd) bool { return end.Node == node })
	if e < 0 || tu.IKE == nil {
		return nil, nil
	}
	me, az := tu.Ends[e], tu.Ends[1-e]
	if g := t.Node(az.Node); g == nil || g.Kind != topology.KindVPNGateway {
		return nil, nil
	}
	k := tu.IKE
	et := &edgeconfig.Tunnel{
		Name: tu.Name, Gateway: az.Node, Local: me.Outer, Remote: az.Outer,
		LocalNets: slices.Clone(me.Protects), RemoteNets: slices.Clone(az.Protects), PolicyBased: k.PolicyBasedTS,
		IKE: ike.AzureDefaultIKE(), ESP: ike.AzureDefaultESP(),
		IKELifetime: ike.AzureIKELifetimeSeconds * time.Second, ChildLifetime: ike.AzureChildLifetimeSeconds * time.Second,
		ChildKB: ike.AzureChildLifetimeKB, DPDTimeout: time.Duration(k.DPDTimeoutSeconds) * time.Second, Mode: string(k.Mode),
	}
	if k.Policy != nil {
		et.Custom, et.IKE, et.ESP = true, slices.Clone(k.IKESuites), slices.Clone(k.ESPSuites)
		et.ChildLifetime, et.ChildKB = time.Duration(k.Policy.SALifeTimeSeconds)*time.Second, k.Policy.SADataSizeKilobytes
	}
	for _, p := range t.Node(node).Ports {
		for _, a := range p.Addresses {
			if !et.SourceIP.IsValid() && slices.ContainsFunc(me.Protects, func(n netip.Prefix) bool { return n.Contains(a.Addr()) }) {
				et.SourceIP = a.Addr()
			}
		}
	}
	if l, p := tu.BGPAddresses(e); l.IsValid() && p.IsValid() {
		// BGP over the tunnel runs between these addresses: the Child SA carries them.
		et.LocalNets = append(et.LocalNets, netip.PrefixFrom(l, l.BitLen()))
		et.RemoteNets = append(et.RemoteNets, netip.PrefixFrom(p, p.BitLen()))
	}
	if pskFile != "" {
		et.PSKFile = pskFile
		var psk []byte
		var err error
		switch {
		case k.SharedKey.Generate && keyDir == "":
			return nil, fmt.Errorf("tunnel %s: its shared key is generated when the lab starts: ask the running lab for it", tu.Name)
		case k.SharedKey.Generate:
			var b []byte
			if b, err = secret.ReadFile(SharedKeyFile(keyDir, tu.Name)); err == nil {
				psk = []byte(strings.TrimSpace(string(b)))
				clear(b)
			}
		default:
			psk, err = k.ReadSharedKey()
		}
		if err != nil {
			return nil, fmt.Errorf("tunnel %s: %w", tu.Name, err)
		}
		et.PSK = string(psk)
		clear(psk)
	}
	return et, nil
}

// edgeNode is the node opts names, refused when it is no customer router.
func edgeNode(t *topology.Topology, opts EdgeOptions) (*topology.Node, error) {
	var customers []string
	for _, n := range t.Nodes {
		if n.Kind != topology.KindHost && n.Kind != topology.KindVPNGateway && (n.BGP == nil || n.BGP.Profile != topology.BGPMicrosoftEdge) {
			customers = append(customers, n.Name)
		}
	}
	which := fmt.Sprintf("the customer routers of lab %s are %s", t.Name, strings.Join(customers, ", "))
	n := t.Node(opts.Node)
	switch {
	case opts.Node == "":
		return nil, &FieldError{Field: "node", Msg: "missing: " + which}
	case n == nil:
		return nil, &FieldError{Field: "node", Msg: fmt.Sprintf("no node %q in lab %s: %s", opts.Node, t.Name, which)}
	case n.Kind == topology.KindHost:
		return nil, &FieldError{Field: "node", Msg: fmt.Sprintf("%s is a host: it has no MACsec link or BGP session to configure; %s", n.Name, which)}
	case n.Kind == topology.KindVPNGateway:
		return nil, &FieldError{Field: "node", Msg: fmt.Sprintf("%s is the Azure VPN gateway: Azure runs its configuration; %s", n.Name, which)}
	case n.BGP != nil && n.BGP.Profile == topology.BGPMicrosoftEdge:
		return nil, &FieldError{Field: "node", Msg: fmt.Sprintf("%s is the Microsoft edge (profile microsoft-edge): Azure runs its configuration; %s", n.Name, which)}
	}
	if opts.Link != "" {
		l := t.Link(opts.Link)
		if l == nil || l.Ends[0].Node != n.Name && l.Ends[1].Node != n.Name {
			var mine []string
			for _, l := range t.Links {
				if l.Ends[0].Node == n.Name || l.Ends[1].Node == n.Name {
					mine = append(mine, l.Name)
				}
			}
			return nil, &FieldError{Field: "link", Msg: fmt.Sprintf("%q is not a link of %s: want one of %s", opts.Link, n.Name, strings.Join(mine, ", "))}
		}
	}
	return n, nil
}
