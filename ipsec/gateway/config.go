package gateway

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/secylab/secylab/ipsec"
)

// Config describes one end of a manually keyed ESP tunnel between
// two gateways, in a network namespace.
type Config struct {
	Namespace string // the gateway's network namespace ("" = the caller's)
	// Backend is BackendKernel, BackendUserspace, or BackendAuto (or ""):
	// probe, and take the kernel where it can do AES-GCM ESP.
	Backend string
	// Local and Remote are the gateways' outer (tunnel) addresses.
	Local, Remote netip.Addr
	// LocalPrefixes and RemotePrefixes are the protected networks on each
	// side; each pair gets out, in and fwd policies.
	LocalPrefixes, RemotePrefixes []netip.Prefix
	// Out and In key the two SAs (SPI 0: none yet, IKE keys them later,
	// see IKEGateway): SPI and KEYMAT at least; ESN,
	// ReplayWindow (default 64), Limits, InitialSN and OnSoftExpire as
	// wanted. Endpoints, direction, reqid and encapsulation are filled in.
	Out, In ipsec.SAConfig
	ReqID   uint32 // default 1
	TUNName string // userspace: the TUN device, default "ipsec0"
	MTU     int    // userspace: the TUN's MTU, default DefaultTunnelMTU
	MSS     int    // userspace: clamp TCP SYNs to this (0: DefaultMSS, <0: off)
	// RouteSrc, if set, is the source the gateway's own packets to the
	// remote prefixes take (an address of a local prefix on this host).
	RouteSrc netip.Addr
	// Routes, if set, are the prefixes the userspace gateway routes to its
	// TUN instead of RemotePrefixes (BGP over the tunnel routes the rest).
	Routes []netip.Prefix
	// TUNAddress, if set, is the TUN's own address (a /32: BGP over the
	// tunnel speaks from it).
	TUNAddress netip.Addr
	Logger     *slog.Logger
}

func (c *Config) fill() error {
	if c.ReqID == 0 {
		c.ReqID = 1
	}
	if c.MTU == 0 {
		c.MTU = ipsec.DefaultTunnelMTU
	}
	if c.TUNName == "" {
		c.TUNName = "ipsec0"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if !c.Local.IsValid() || !c.Remote.IsValid() {
		return fmt.Errorf("gateway %q: needs local and remote tunnel addresses", c.Namespace)
	}
	if len(c.LocalPrefixes) == 0 || len(c.RemotePrefixes) == 0 {
		return fmt.Errorf("gateway %q: needs local and remote protected prefixes", c.Namespace)
	}
	for dir, sa := range map[ipsec.Direction]*ipsec.SAConfig{ipsec.DirOut: &c.Out, ipsec.DirIn: &c.In} {
		sa.Dir, sa.ReqID, sa.Mode = dir, c.ReqID, ipsec.ModeTunnel
		sa.Encap, sa.EncapSrcPort, sa.EncapDstPort = ipsec.EncapUDP, ipsec.UDPEncapPort, ipsec.UDPEncapPort
		if dir == ipsec.DirOut {
			sa.Src, sa.Dst = c.Local, c.Remote
		} else {
			sa.Src, sa.Dst = c.Remote, c.Local
			if sa.ReplayWindow == 0 {
				sa.ReplayWindow = 64 // RFC 4303 §3.4.3: 64 SHOULD be the default
			}
		}
	}
	return nil
}

// policies are the SPD entries of a gateway: for each pair of protected
// prefixes, out (local → remote) and in and fwd (remote → local), all
// naming the tunnel's reqid, as a tunnel gateway needs in xfrm.
func (c *Config) policies() []ipsec.Policy {
	var ps []ipsec.Policy
	for _, l := range c.LocalPrefixes {
		for _, r := range c.RemotePrefixes {
			out := ipsec.Template{Src: c.Local, Dst: c.Remote, Mode: ipsec.ModeTunnel, ReqID: c.ReqID}
			in := ipsec.Template{Src: c.Remote, Dst: c.Local, Mode: ipsec.ModeTunnel, ReqID: c.ReqID}
			ps = append(ps,
				ipsec.Policy{Selector: ipsec.Selector{Src: l, Dst: r}, Dir: ipsec.DirOut, Tmpl: out},
				ipsec.Policy{Selector: ipsec.Selector{Src: r, Dst: l}, Dir: ipsec.DirIn, Tmpl: in},
				ipsec.Policy{Selector: ipsec.Selector{Src: r, Dst: l}, Dir: ipsec.DirFwd, Tmpl: in},
			)
		}
	}
	return ps
}

// Status is what a gateway reports.
type Status struct {
	Namespace string
	Backend   string
	Reason    string // why this backend
	States    []ipsec.State
	Policies  []ipsec.Policy
	DataPath  *DataPathStats // userspace only
}
