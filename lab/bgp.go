package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/routers"
	"github.com/secylab/secylab/topology"
)

// bgpRouter is one node's BGP: secylab's speaker (with its BFD endpoints
// and FIB) or a BIRD/FRR daemon.
type bgpRouter struct {
	node string
	cfg  *topology.BGP

	speaker   *bgp.Speaker
	endpoints []*bfd.Endpoint
	conns     []net.PacketConn
	handle    *netlink.Handle
	fib       *routers.NetlinkFIB

	daemon    *routers.Daemon
	daemonDir string
	dconf     routers.DaemonConfig // the daemon's configured policies

	mu      sync.Mutex
	base    map[string]bgp.NeighborConfig // by link: the configured policies
	drained map[string]bool
}

// close releases what the router holds once it stopped running.
func (r *bgpRouter) close() {
	for _, c := range r.conns {
		c.Close()
	}
	if r.fib != nil {
		r.fib.Close()
	}
	if r.handle != nil {
		r.handle.Close()
	}
	if r.daemon != nil {
		r.daemon.Stop()
		os.RemoveAll(r.daemonDir)
	}
}

// run runs the speaker and its BFD endpoints until ctx ends.
func (r *bgpRouter) run(ctx context.Context) error {
	defer r.close()
	if r.daemon != nil {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for _, ep := range r.endpoints {
		wg.Add(1)
		go func() { defer wg.Done(); ep.Run(ctx) }()
	}
	err := r.speaker.Run(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("bgp on %s: %w", r.node, err)
	}
	return nil
}

// startBGP prepares every node's BGP; the ports must be configured (the
// addresses the sessions use exist). Speakers start running with the
// ports; daemons are started here.
func (l *Lab) startBGP() error {
	for _, n := range l.topo.Nodes {
		if n.BGP == nil {
			continue
		}
		var r *bgpRouter
		var err error
		if n.Kind == topology.KindBIRD || n.Kind == topology.KindFRR {
			r, err = l.startDaemon(n)
		} else {
			r, err = l.newSpeaker(n)
		}
		if err != nil {
			return fmt.Errorf("bgp on %s: %w", n.Name, err)
		}
		l.routers = append(l.routers, r)
	}
	return nil
}

func (l *Lab) newSpeaker(n *topology.Node) (*bgpRouter, error) {
	b := n.BGP
	ns := topology.NamespaceName(l.topo.Name, n.Name)
	r := &bgpRouter{node: n.Name, cfg: b, base: map[string]bgp.NeighborConfig{}, drained: map[string]bool{}}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	// BFD: one endpoint per local address.
	eps := map[netip.Addr]*bfd.Endpoint{}
	sessions := map[string]*bfd.Session{}
	for _, nb := range b.Neighbors {
		if !nb.BFD {
			continue
		}
		ep := eps[nb.Local]
		if ep == nil {
			var rx, tx net.PacketConn
			if err := netnsx.Do(ns, func() (err error) { rx, tx, err = routers.ListenBFD(nb.Local); return err }); err != nil {
				return nil, err
			}
			r.conns = append(r.conns, rx, tx)
			ep = bfd.NewEndpoint(rx, tx)
			eps[nb.Local] = ep
			r.endpoints = append(r.endpoints, ep)
		}
		sessions[nb.Link] = ep.Add(bfd.Config{Peer: nb.Peer, Local: nb.Local,
			DesiredMinTx: expressroute.BFDInterval, RequiredMinRx: expressroute.BFDInterval, DetectMult: expressroute.BFDMultiplier,
			Clock: l.cfg.Clock, Logger: l.cfg.Logger.With("node", n.Name, "bfd", nb.Link)})
	}
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	r.handle, err = netlink.NewHandleAt(nsh)
	nsh.Close()
	if err != nil {
		return nil, err
	}
	if r.fib, err = routers.NewNetlinkFIB(r.handle, 0); err != nil {
		return nil, err
	}
	cfg := speakerConfig(b, sessions)
	cfg.Listen = routers.ListenIn(ns, netip.Addr{})
	cfg.Dial = routers.DialIn(ns)
	cfg.FIB = r.fib
	cfg.Logger = l.cfg.Logger.With("node", n.Name)
	cfg.Clock = l.cfg.Clock
	for _, nc := range cfg.Neighbors {
		r.base[nc.Name] = nc
	}
	if r.speaker, err = bgp.New(cfg); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// speakerConfig turns a node's bgp block into a speaker configuration
// through package bgp's profiles; neighbours are named after their link.
func speakerConfig(b *topology.BGP, sessions map[string]*bfd.Session) bgp.Config {
	link := func(nb topology.BGPNeighbor) expressroute.Link {
		return expressroute.Link{Name: nb.Link, Local: nb.Local, Peer: nb.Peer, PeerASN: nb.PeerASN, BFD: sessions[nb.Link]}
	}
	cfg := bgp.Config{ASN: b.ASN, RouterID: b.RouterID, Networks: b.Networks}
	for _, nb := range b.Neighbors {
		var nc bgp.NeighborConfig
		switch {
		case nb.IBGP(b.ASN) || b.Profile == topology.BGPPlain:
			// Between siblings (and without a profile) nothing is filtered;
			// iBGP carries the local preference.
			nc = bgp.NeighborConfig{Name: nb.Link, Address: nb.Peer, ASN: nb.PeerASN, LocalAddress: nb.Local, BFD: sessions[nb.Link]}
		case b.Profile == topology.BGPCustomer:
			// Customer's first link is the preferred one, its second the backup.
			c := expressroute.Customer(b.ASN, b.RouterID, b.Networks, link(nb), link(nb))
			nc = c.Neighbors[1]
			if nb.Prefer {
				nc = c.Neighbors[0]
			}
		case b.Profile == topology.BGPMicrosoftEdge:
			nc = expressroute.MicrosoftEdge(b.RouterID, b.Networks, link(nb)).Neighbors[0]
		}
		if b.HoldTime == 0 {
			nc.HoldTimeZero = true
		}
		cfg.Neighbors = append(cfg.Neighbors, nc)
	}
	cfg.HoldTime, cfg.KeepaliveTime = b.HoldTime, b.Keepalive
	return cfg
}

// daemonName makes a link name usable in BIRD and FRR identifiers.
func daemonName(link string) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, link)
	if s == "" || s[0] >= '0' && s[0] <= '9' || s[0] == '_' {
		s = "l" + s
	}
	return s
}

// DaemonConfig is the BIRD/FRR configuration of a bird or frr node, from
// package bgp's customer profile.
func DaemonConfig(b *topology.BGP) routers.DaemonConfig {
	c := routers.DaemonConfig{ASN: b.ASN, RouterID: b.RouterID, Networks: b.Networks, HoldTime: b.HoldTime, Keepalive: b.Keepalive}
	for _, nb := range b.Neighbors {
		if nb.IBGP(b.ASN) {
			// A sibling: everything both ways, next hop self (as
			// secylab's own router does).
			c.Neighbors = append(c.Neighbors, routers.DaemonNeighbor{Name: daemonName(nb.Link), Local: nb.Local, Peer: nb.Peer, PeerASN: nb.PeerASN, BFD: nb.BFD})
			continue
		}
		l := expressroute.Link{Name: daemonName(nb.Link), Local: nb.Local, Peer: nb.Peer, PeerASN: nb.PeerASN}
		p := routers.CustomerDaemon(b.ASN, b.RouterID, b.Networks, l, l, nb.BFD)
		dn := p.Neighbors[1]
		if nb.Prefer {
			dn = p.Neighbors[0]
		}
		dn.BFD = nb.BFD
		c.Neighbors = append(c.Neighbors, dn)
	}
	return c
}

func (l *Lab) startDaemon(n *topology.Node) (*bgpRouter, error) {
	ns := topology.NamespaceName(l.topo.Name, n.Name)
	// Not under the lab's state directory: FRR drops to the frr user,
	// which cannot reach a root-only 0700 directory. One left by a lab
	// process that was killed goes now.
	prefix := filepath.Join(os.TempDir(), "secylab-"+l.topo.Name+"-"+n.Name+"-")
	if old, _ := filepath.Glob(prefix + "*"); len(old) > 0 {
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp("", filepath.Base(prefix))
	if err != nil {
		return nil, err
	}
	dc := DaemonConfig(n.BGP)
	r := &bgpRouter{node: n.Name, cfg: n.BGP, daemonDir: dir, dconf: dc, drained: map[string]bool{}}
	var conf string
	if n.Kind == topology.KindBIRD {
		conf, err = routers.BIRDConfig(dc)
	} else {
		conf, err = routers.FRRConfig(dc)
	}
	if err == nil {
		if n.Kind == topology.KindBIRD {
			r.daemon, err = routers.StartBIRD(ns, dir, conf)
		} else {
			r.daemon, err = routers.StartFRR(ns, dir, conf)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if l.cfg.RecordProcess != nil {
		for _, pid := range r.daemon.PIDs() {
			if err := l.cfg.RecordProcess(string(n.Kind)+"-"+n.Name, pid); err != nil {
				r.close()
				return nil, err
			}
		}
	}
	l.cfg.Logger.Info("routing daemon started", "node", n.Name, "kind", n.Kind, "dir", dir, "pids", r.daemon.PIDs())
	return r, nil
}

// BGPStatus is one router's BGP for display.
type BGPStatus struct {
	Node string `json:"node"`
	Kind string `json:"kind"` // "secylab", "bird" or "frr"
	// Status is the speaker's; nil for a daemon (see Daemon).
	Status  *bgp.Status `json:"status,omitempty"`
	Drained []string    `json:"drained,omitempty"` // links drained on this router
	// RunDir is a daemon's runtime directory (config, control sockets,
	// logs); lab exec shows it to the daemon's CLI at its default path.
	RunDir string `json:"runDir,omitempty"`
	// RIB and Daemon (a daemon's own show output) are filled by the bgp
	// operation only.
	RIB    []bgp.RIBEntry `json:"rib,omitempty"`
	Daemon string         `json:"daemon,omitempty"`
	Error  string         `json:"error,omitempty"`
}

func (r *bgpRouter) status(detail bool) BGPStatus {
	st := BGPStatus{Node: r.node, Kind: "secylab"}
	r.mu.Lock()
	for link, on := range r.drained {
		if on {
			st.Drained = append(st.Drained, link)
		}
	}
	r.mu.Unlock()
	slices.Sort(st.Drained)
	if r.daemon != nil {
		st.Kind, st.RunDir = r.daemon.Kind, r.daemon.Dir
		if detail {
			var out string
			var err error
			cmds := []string{"show bgp summary", "show bfd peers", "show bgp ipv4 unicast"}
			if r.daemon.Kind == "bird" {
				cmds = []string{"show protocols", "show bfd sessions", "show route"}
			}
			for _, c := range cmds {
				var more string
				if more, err = r.daemon.Show(c); err != nil {
					break
				}
				out += strings.TrimRight(more, "\n") + "\n"
			}
			st.Daemon = out
			if err != nil {
				st.Error = err.Error()
			}
		}
		return st
	}
	s, err := r.speaker.Status()
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.Status = &s
	if detail {
		if st.RIB, err = r.speaker.LocRIB(); err != nil {
			st.Error = err.Error()
		}
	}
	return st
}

// BGPStatus returns every router's BGP state: sessions, timers, BFD,
// prefixes received and advertised, in node order.
func (l *Lab) BGPStatus() []BGPStatus {
	var out []BGPStatus
	for _, r := range l.routers {
		out = append(out, r.status(false))
	}
	return out
}

// router returns the BGP router on node, or nil.
func (l *Lab) router(node string) *bgpRouter {
	for _, r := range l.routers {
		if r.node == node {
			return r
		}
	}
	return nil
}

// drain drains (on) or undrains a link the way ExpressRoute users do, on
// the customer router facing it: AS-path prepend on export
// (expressroute.DrainPrepend in all) so Microsoft prefers the other link,
// and local preference expressroute.DrainLocalPref on import so the
// customer side does too. Undrain restores the configured policies. Traffic
// moves as soon as the UPDATEs have
// crossed, without loss when the other link is up.
func (l *Lab) drain(link string, on bool) error {
	tl := l.topo.Link(link)
	if tl == nil {
		return fmt.Errorf("no link %q in lab %s", link, l.topo.Name)
	}
	var r *bgpRouter
	for _, e := range tl.Ends {
		c := l.router(e.Node)
		if c == nil || c.cfg.Neighbor(link) == nil || c.cfg.ASN == expressroute.MicrosoftASN {
			continue
		}
		if r == nil || c.cfg.Profile == topology.BGPCustomer {
			r = c
		}
	}
	switch {
	case r == nil:
		return fmt.Errorf("link %s has no customer BGP router at either end to drain it", link)
	case r.daemon != nil:
		return l.drainDaemon(r, link, on)
	}
	nb := r.cfg.Neighbor(link)
	r.mu.Lock()
	defer r.mu.Unlock()
	base := r.base[link]
	imp, exp := base.Import, base.Export
	if on {
		imp.LocalPref = expressroute.DrainLocalPref
		exp.Prepend = expressroute.DrainPrepend
	}
	if err := r.speaker.SetImportPolicy(nb.Peer, imp); err != nil {
		return err
	}
	if err := r.speaker.SetExportPolicy(nb.Peer, exp); err != nil {
		return err
	}
	r.drained[link] = on
	l.cfg.Logger.Info("BGP drain", "link", link, "router", r.node, "on", on)
	return nil
}

// drainDaemon drains or undrains link on a BIRD or FRR router with the
// same policy, through the daemon's own configuration and CLI
// (routers.Daemon.SetPolicy): the sessions stay up.
func (l *Lab) drainDaemon(r *bgpRouter, link string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.dconf
	c.Neighbors = slices.Clone(c.Neighbors)
	for i, dn := range c.Neighbors {
		for _, nb := range r.cfg.Neighbors {
			if daemonName(nb.Link) == dn.Name && (nb.Link == link && on || nb.Link != link && r.drained[nb.Link]) {
				c.Neighbors[i].LocalPref, c.Neighbors[i].Prepend = expressroute.DrainLocalPref, expressroute.DrainPrepend
			}
		}
	}
	if err := r.daemon.SetPolicy(c, daemonName(link)); err != nil {
		return fmt.Errorf("link %s on %s: %w", link, r.node, err)
	}
	r.drained[link] = on
	l.cfg.Logger.Info("BGP drain", "link", link, "router", r.node, "kind", r.daemon.Kind, "on", on)
	return nil
}

// ExecArgv wraps argv, run in the router's namespace with `ip netns exec`,
// so that on a bird or frr node the daemon's own CLI (birdc, vtysh) finds
// the daemon at its default path (routers.ExecArgv); other routers' argv
// is returned as it is.
func (st BGPStatus) ExecArgv(argv []string) []string {
	if st.RunDir == "" {
		return argv
	}
	return routers.ExecArgv(st.Kind, st.RunDir, argv)
}
