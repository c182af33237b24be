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
	"time"

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
	own       string               // the user's own configuration file, if any
	dconf     routers.DaemonConfig // the daemon's configured policies

	// nbrs is a daemon's sessions as it last showed them (scrape).
	nbrMu  sync.Mutex
	nbrs   []bgp.NeighborStatus
	nbrErr error

	mu      sync.Mutex
	base    map[string]bgp.NeighborConfig // by session name: the configured policies
	drained map[string]bool
	holds   map[string][2]bool // by session with a sibling: in, out (see drain)
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
		// The daemon is asked for its sessions once a second, so that
		// status (polled by lab up --wait and the scenario runner every
		// 50–100 ms) never waits for birdc or vtysh.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				r.scrape()
			}
		}
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
	routers := make([]*bgpRouter, len(l.topo.Nodes)) // in node order; nodes in parallel
	err := parallel(len(l.topo.Nodes), func(i int) error {
		n := l.topo.Nodes[i]
		if n.BGP == nil || n.External() {
			return nil // an external node's bgp block describes the device
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
		routers[i] = r
		return nil
	})
	for _, r := range routers {
		if r != nil {
			l.routers = append(l.routers, r) // closed by StartLab's fail on an error
		}
	}
	return err
}

func (l *Lab) newSpeaker(n *topology.Node) (*bgpRouter, error) {
	b := n.BGP
	ns := topology.NamespaceName(l.topo.Name, n.Name)
	r := &bgpRouter{node: n.Name, cfg: b, base: map[string]bgp.NeighborConfig{}, drained: map[string]bool{}, holds: map[string][2]bool{}}
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
		sessions[nb.Name] = ep.Add(bfd.Config{Peer: nb.Peer, Local: nb.Local,
			DesiredMinTx: expressroute.BFDInterval, RequiredMinRx: expressroute.BFDInterval, DetectMult: expressroute.BFDMultiplier,
			Clock: l.cfg.Clock, Logger: l.cfg.Logger.With("node", n.Name, "bfd", nb.Name)})
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
// through package bgp's profiles; neighbours are named as their sessions
// (topology.BGPNeighbor.Name).
func speakerConfig(b *topology.BGP, sessions map[string]*bfd.Session) bgp.Config {
	link := func(nb topology.BGPNeighbor) expressroute.Link {
		return expressroute.Link{Name: nb.Name, Local: nb.Local, Peer: nb.Peer, PeerASN: nb.PeerASN, BFD: sessions[nb.Name]}
	}
	cfg := bgp.Config{ASN: b.ASN, RouterID: b.RouterID, Networks: b.Networks}
	for _, nb := range b.Neighbors {
		var nc bgp.NeighborConfig
		switch {
		case nb.IBGP(b.ASN) || b.Profile == topology.BGPPlain:
			// Between siblings (and without a profile) nothing is filtered;
			// iBGP carries the local preference.
			nc = bgp.NeighborConfig{Name: nb.Name, Address: nb.Peer, ASN: nb.PeerASN, LocalAddress: nb.Local, BFD: sessions[nb.Name]}
		case b.Profile == topology.BGPCustomer:
			// Customer's first link is the preferred one, its second the backup.
			c := expressroute.Customer(b.ASN, b.RouterID, b.Networks, link(nb), link(nb))
			nc = c.Neighbors[1]
			if nb.Prefer {
				nc = c.Neighbors[0]
			}
		case b.Profile == topology.BGPMicrosoftEdge && nb.Peering == topology.MicrosoftPeering:
			nc = expressroute.MicrosoftPeeringEdge(publicNetworks(b.Networks, true), nb.AcceptOnly, link(nb))
		case b.Profile == topology.BGPMicrosoftEdge && nb.Peering == topology.PrivatePeering:
			nc = expressroute.MicrosoftEdge(b.RouterID, publicNetworks(b.Networks, false), link(nb)).Neighbors[0]
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

// publicNetworks returns the networks of an MSEE that its Microsoft
// peering advertises (public, Microsoft's services) or, with public false,
// those of its private peering (the VNets' private space).
func publicNetworks(nets []netip.Prefix, public bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range nets {
		if !p.Addr().IsPrivate() == public {
			out = append(out, p)
		}
	}
	return out
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
			c.Neighbors = append(c.Neighbors, routers.DaemonNeighbor{Name: daemonName(nb.Name), Local: nb.Local, Peer: nb.Peer, PeerASN: nb.PeerASN, BFD: nb.BFD})
			continue
		}
		l := expressroute.Link{Name: daemonName(nb.Name), Local: nb.Local, Peer: nb.Peer, PeerASN: nb.PeerASN}
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
	r := &bgpRouter{node: n.Name, cfg: n.BGP, daemonDir: dir, dconf: dc, drained: map[string]bool{}, holds: map[string][2]bool{}}
	var conf string
	switch {
	case n.Config != "":
		r.own = n.Config
		conf, err = ownConfig(n)
	case n.Kind == topology.KindBIRD:
		conf, err = routers.BIRDConfig(dc)
	default:
		conf, err = routers.FRRConfig(dc)
	}
	if err == nil {
		if n.Kind == topology.KindBIRD {
			r.daemon, err = routers.StartBIRD(ns, dir, conf)
		} else {
			r.daemon, err = routers.StartFRR(ns, dir, conf)
		}
		if err != nil && n.Config != "" {
			err = fmt.Errorf("%s's own configuration %s: %w", n.Name, n.Config, err)
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
	r.scrape()
	l.cfg.Logger.Info("routing daemon started", "node", n.Name, "kind", n.Kind, "dir", dir, "pids", r.daemon.PIDs())
	return r, nil
}

// OwnConfigAdds says what secylab adds to a bird or frr node's own
// configuration file (topology's config:), for lab up and the docs.
const OwnConfigAdds = "secylab adds nothing to it and overrides nothing in it (the interface addresses are the topology's, set by the lab on the ports; the daemons' sockets, pid files and logs are in the node's run directory, given on their command lines); lab bgp drain is then yours to do in it"

// ownConfig reads a node's own configuration file and has the daemon's
// own parser check it (vtysh --dryrun, bird -p), so that one it rejects
// fails lab up with the daemon's message before anything runs.
func ownConfig(n *topology.Node) (string, error) {
	b, err := os.ReadFile(n.Config)
	if err != nil {
		return "", err
	}
	if err := routers.CheckConfig(string(n.Kind), n.Config); err != nil {
		return "", fmt.Errorf("%s's own configuration: %w", n.Name, err)
	}
	return string(b), nil
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
	// Refused are the prefixes the Microsoft edge's route filter of a
	// Microsoft peering refused, each with the reason.
	Refused []RefusedPrefix `json:"refused,omitempty"`
}

// RefusedPrefix is a prefix a customer advertised on a Microsoft peering
// that is not one of the peering's advertisedPublicPrefixes: Azure drops
// it, as the Microsoft edge here does.
type RefusedPrefix struct {
	Session string       `json:"session"`
	Prefix  netip.Prefix `json:"prefix"`
	Reason  string       `json:"reason"`
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
		r.nbrMu.Lock()
		st.Status = &bgp.Status{ASN: r.cfg.ASN, RouterID: r.cfg.RouterID, Neighbors: slices.Clone(r.nbrs)}
		if r.nbrErr != nil {
			st.Error = r.nbrErr.Error()
		}
		r.nbrMu.Unlock()
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
	for _, n := range s.Neighbors {
		nb := r.cfg.Neighbor(n.Name)
		if nb == nil || nb.Peering != topology.MicrosoftPeering || len(nb.AcceptOnly) == 0 {
			continue
		}
		for _, p := range n.Refused {
			st.Refused = append(st.Refused, RefusedPrefix{Session: n.Name, Prefix: p, Reason: refusedReason(p, nb.AcceptOnly)})
		}
	}
	if detail {
		if st.RIB, err = r.speaker.LocRIB(); err != nil {
			st.Error = err.Error()
		}
	}
	return st
}

// refusedReason says why a Microsoft peering's route filter refuses p,
// given the peering's advertised public prefixes.
func refusedReason(p netip.Prefix, advertised []netip.Prefix) string {
	var list []string
	for _, a := range advertised {
		list = append(list, a.String())
		if a.Bits() < p.Bits() && a.Contains(p.Addr()) {
			return fmt.Sprintf("more specific than the advertised public prefix %s: Microsoft peering accepts the configured prefixes exactly", a)
		}
	}
	if p.Addr().IsPrivate() {
		return fmt.Sprintf("private: Microsoft peering carries only the public prefixes of advertisedPublicPrefixes (%s)", strings.Join(list, ", "))
	}
	return fmt.Sprintf("not in the peering's advertisedPublicPrefixes (%s)", strings.Join(list, ", "))
}

// scrape asks a daemon for its sessions and names each as the topology
// does (by its peer address), so that status, lab up --wait and the
// scenario's BGP conditions and events see a daemon's sessions, its
// sessions with sibling daemons too, as they see the speaker's.
func (r *bgpRouter) scrape() {
	nbrs, err := r.daemon.Neighbors()
	for i := range nbrs {
		for _, tn := range r.cfg.Neighbors {
			if tn.Peer == nbrs[i].Address {
				nbrs[i].Name = tn.Name
			}
		}
	}
	r.nbrMu.Lock()
	defer r.nbrMu.Unlock()
	if err != nil {
		r.nbrErr = err // keep the last sessions seen
		return
	}
	r.nbrs, r.nbrErr = nbrs, nil
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
