package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/xfrm"
)

// Gateway is one end of an ESP tunnel in a network namespace: the SAs and
// policies in the selected backend, the routes to the remote prefixes,
// and, with the userspace backend, the data path.
type Gateway struct {
	cfg     Config
	backend ipsec.Backend
	reason  string
	us      *Userspace // with the userspace backend
	encap   int        // kernel: the ESP-in-UDP socket (-1: none)

	closeOnce sync.Once
	closeErr  error
}

// ErrBackendUnavailable is returned when a forced backend cannot run here.
var ErrBackendUnavailable = errors.New("ipsec: backend unavailable")

// New selects the backend, installs the SAs and policies and the
// routes. Run then carries the traffic; Close removes what it made.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, encap: -1}
	switch cfg.Backend {
	case "", ipsec.BackendAuto:
		r := xfrm.Probe()
		g.reason = r.Reason
		if r.Kernel {
			cfg.Backend = ipsec.BackendKernel
		} else {
			cfg.Backend = ipsec.BackendUserspace
		}
	case ipsec.BackendKernel:
		r := xfrm.Probe()
		if !r.Kernel {
			return nil, fmt.Errorf("%w: --backend kernel: %s (use --backend userspace or auto)", ErrBackendUnavailable, r.Reason)
		}
		g.reason = "kernel xfrm forced; " + r.Reason
	case ipsec.BackendUserspace:
		g.reason = "userspace ESP forced"
	default:
		return nil, fmt.Errorf("gateway %q: backend %q: use kernel, userspace or auto", cfg.Namespace, cfg.Backend)
	}
	g.cfg.Backend = cfg.Backend
	cfg.Logger.Info("ipsec gateway", "namespace", cfg.Namespace, "backend", cfg.Backend, "reason", g.reason)

	var err error
	if cfg.Backend == ipsec.BackendKernel {
		err = g.setupKernel()
	} else {
		err = g.setupUserspace()
	}
	if err != nil {
		g.Close()
		return nil, err
	}
	for _, sa := range []ipsec.SAConfig{cfg.Out, cfg.In} {
		if sa.SPI == 0 {
			continue // keyed later, by IKE
		}
		if err := g.backend.AddSA(sa); err != nil {
			g.Close()
			return nil, err
		}
		cfg.Logger.Info("ipsec SA", "namespace", cfg.Namespace, "dir", sa.Dir, "spi", fmt.Sprintf("%#x", sa.SPI), "key", ipsec.Fingerprint(sa.KEYMAT))
	}
	for _, p := range cfg.policies() {
		if err := g.backend.AddPolicy(p); err != nil {
			g.Close()
			return nil, err
		}
	}
	return g, nil
}

func (g *Gateway) inNS(fn func() error) error {
	if g.cfg.Namespace == "" {
		return fn()
	}
	return netnsx.Do(g.cfg.Namespace, fn)
}

func (g *Gateway) setupUserspace() error {
	u, err := NewUserspace(UserspaceConfig{
		Namespace: g.cfg.Namespace, TUNName: g.cfg.TUNName, MSS: g.cfg.MSS,
		Local: netip.AddrPortFrom(g.cfg.Local, ipsec.UDPEncapPort), Remote: netip.AddrPortFrom(g.cfg.Remote, ipsec.UDPEncapPort),
	})
	if err != nil {
		return err
	}
	g.us, g.backend = u, u
	// The TUN: MTU, up, and a route per remote prefix.
	return g.inNS(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		link, err := h.LinkByName(g.cfg.TUNName)
		if err != nil {
			return fmt.Errorf("TUN %s: %w", g.cfg.TUNName, err)
		}
		if err := h.LinkSetMTU(link, g.cfg.MTU); err != nil {
			return fmt.Errorf("TUN %s: MTU %d: %w", g.cfg.TUNName, g.cfg.MTU, err)
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("TUN %s: up: %w", g.cfg.TUNName, err)
		}
		if a := g.cfg.TUNAddress; a.IsValid() {
			if err := h.AddrReplace(link, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, a.BitLen()))}); err != nil {
				return fmt.Errorf("TUN %s: address %v: %w", g.cfg.TUNName, a, err)
			}
		}
		routes := g.cfg.RemotePrefixes
		if g.cfg.Routes != nil {
			routes = g.cfg.Routes
		}
		for _, p := range routes {
			r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
			if g.cfg.RouteSrc.IsValid() && g.cfg.RouteSrc.Is4() == p.Addr().Is4() {
				r.Src = ip(g.cfg.RouteSrc)
			}
			if a := g.cfg.TUNAddress; a.IsValid() && a.Is4() == p.Addr().Is4() {
				r.Src = ip(a)
			}
			if err := h.RouteReplace(r); err != nil {
				return fmt.Errorf("route %v dev %s: %w", p, g.cfg.TUNName, err)
			}
		}
		return nil
	})
}

func (g *Gateway) setupKernel() error {
	k, err := xfrm.New(g.cfg.Namespace)
	if err != nil {
		return err
	}
	g.backend = k
	// The kernel decapsulates ESP in UDP only on a socket that asks for it;
	// the remote prefixes are routed towards the peer, where the out
	// policies catch them.
	return g.inNS(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		g.encap = fd
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP); err != nil {
			return fmt.Errorf("UDP_ENCAP: %w", err)
		}
		if err := unix.Bind(fd, frameio.Sockaddr(netip.AddrPortFrom(g.cfg.Local, ipsec.UDPEncapPort))); err != nil {
			return fmt.Errorf("bind %v:%d: %w", g.cfg.Local, ipsec.UDPEncapPort, err)
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		for _, p := range g.cfg.RemotePrefixes {
			r := &netlink.Route{Dst: ipNet(p), Gw: net.IP(g.cfg.Remote.AsSlice())}
			if g.cfg.RouteSrc.IsValid() {
				r.Src = ip(g.cfg.RouteSrc)
			}
			if err := h.RouteReplace(r); err != nil {
				return fmt.Errorf("route %v via %v: %w", p, g.cfg.Remote, err)
			}
		}
		return nil
	})
}

// Backend returns the backend in use.
func (g *Gateway) Backend() ipsec.Backend { return g.backend }

// Reason says why the backend was chosen.
func (g *Gateway) Reason() string { return g.reason }

// Userspace returns the userspace backend, or nil with the kernel's.
func (g *Gateway) Userspace() *Userspace { return g.us }

// Run carries the traffic until ctx is done: the userspace data path, or,
// with the kernel backend, nothing to do but wait. It closes the gateway
// when it returns.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	if g.us != nil {
		return g.us.Run(ctx)
	}
	<-ctx.Done()
	return nil
}

// Status reports the backend, the SAs with their counters, and the policies.
func (g *Gateway) Status() (Status, error) {
	s := Status{Namespace: g.cfg.Namespace, Backend: g.backend.Name(), Reason: g.reason}
	var err error
	if s.States, err = g.backend.States(); err != nil {
		return s, err
	}
	if s.Policies, err = g.backend.Policies(); err != nil {
		return s, err
	}
	if g.us != nil {
		d := g.us.Stats()
		s.DataPath = &d
	}
	return s, nil
}

// Close stops the data path and removes the SAs and policies it added
// (the TUN's routes go with the TUN).
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() { g.closeErr = g.close() })
	return g.closeErr
}

func (g *Gateway) close() error {
	if g.encap >= 0 {
		unix.Close(g.encap)
		g.encap = -1
	}
	if g.backend == nil {
		return nil
	}
	if g.backend.Name() == ipsec.BackendKernel {
		for _, p := range g.cfg.policies() {
			g.backend.DelPolicy(p.Selector, p.Dir)
		}
		g.backend.DelSA(g.cfg.Out.SPI, g.cfg.Out.Dst)
		g.backend.DelSA(g.cfg.In.SPI, g.cfg.In.Dst)
	}
	return g.backend.Close()
}

func ip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: ip(p.Addr()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
