package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/secylab/secylab/clock"
)

// ErrNotRunning is returned by management calls when Run is not running.
var ErrNotRunning = errors.New("bgp: speaker not running")

// Speaker is one BGP speaker (one router). Create it with New, run it with
// Run; the other methods may be called from any goroutine while it runs.
type Speaker struct {
	cfg   Config
	clk   clock.Clock
	log   *slog.Logger
	dial  func(ctx context.Context, local netip.Addr, remote netip.AddrPort) (net.Conn, error)
	fib   FIB
	peers []*peer

	events  chan func()
	done    chan struct{} // closed when Run returns
	running chan struct{} // closed when Run starts
	ctx     context.Context

	// Owned by the loop.
	rib       *locRIB
	local     map[netip.Prefix]bool
	changed   map[netip.Prefix]bool
	installed map[netip.Prefix]Route
	nextConn  uint64
	seq       int64
	fibErrors int

	startOnce sync.Once
}

// New checks cfg and returns a speaker ready to Run.
func New(cfg Config) (*Speaker, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.HoldTime = orDefault(cfg.HoldTime, 90*time.Second)
	cfg.ConnectRetryTime = orDefault(cfg.ConnectRetryTime, 5*time.Second)
	cfg.IdleHoldTime = orDefault(cfg.IdleHoldTime, time.Second)
	s := &Speaker{
		cfg:       cfg,
		clk:       cfg.Clock,
		log:       cfg.Logger,
		dial:      cfg.Dial,
		fib:       cfg.FIB,
		events:    make(chan func(), 1024),
		done:      make(chan struct{}),
		running:   make(chan struct{}),
		rib:       newLocRIB(cfg.MaxPaths),
		local:     map[netip.Prefix]bool{},
		changed:   map[netip.Prefix]bool{},
		installed: map[netip.Prefix]Route{},
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.cfg.Rand == nil {
		s.cfg.Rand = rand.Uint32
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("asn", cfg.ASN, "router_id", cfg.RouterID)
	for _, n := range cfg.Neighbors {
		s.peers = append(s.peers, newPeer(s, n))
	}
	return s, nil
}

// Run runs the speaker until ctx ends, then closes every session with
// Cease / Administrative Shutdown, withdraws its routes from the FIB and
// returns nil. It returns an error at once if the listener cannot be opened.
func (s *Speaker) Run(ctx context.Context) error {
	started := false
	s.startOnce.Do(func() { started = true })
	if !started {
		return errors.New("bgp: Run called twice")
	}
	defer close(s.done)
	var ln net.Listener
	if s.cfg.Listen != nil {
		var err error
		if ln, err = s.cfg.Listen(); err != nil {
			return fmt.Errorf("bgp: listen: %w", err)
		}
		defer ln.Close()
		go s.accept(ln)
	}
	s.ctx = ctx
	for _, p := range s.cfg.Networks {
		s.originate(p)
	}
	for _, p := range s.peers {
		p.subscribeBFD()
		p.start(0)
	}
	s.settle()
	close(s.running)
	for {
		select {
		case f := <-s.events:
			f()
			s.settle()
		case <-ctx.Done():
			s.shutdown()
			return nil
		}
	}
}

func (s *Speaker) shutdown() {
	for _, p := range s.peers {
		p.unsubscribeBFD()
		p.stopped = true
		p.down(notify(CodeCease, CeaseAdminShutdown, nil), "shutdown")
	}
	s.settle()
	for prefix := range s.installed {
		s.fibDelete(prefix)
	}
}

// post hands f to the loop; it gives up once Run has returned.
func (s *Speaker) post(f func()) {
	select {
	case s.events <- f:
	case <-s.done:
	}
}

// do runs f on the loop and waits for it.
func (s *Speaker) do(f func()) error {
	select {
	case <-s.running:
	case <-s.done:
		return ErrNotRunning
	}
	ch := make(chan struct{})
	select {
	case s.events <- func() { f(); close(ch) }:
	case <-s.done:
		return ErrNotRunning
	}
	select {
	case <-ch:
		return nil
	case <-s.done:
		return ErrNotRunning
	}
}

func (s *Speaker) accept(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.post(func() { s.incoming(nc) })
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (s *Speaker) peerByAddr(a netip.Addr) *peer {
	for _, p := range s.peers {
		if p.cfg.Address == a {
			return p
		}
	}
	return nil
}

func (s *Speaker) incoming(nc net.Conn) {
	p := s.peerByAddr(addrOf(nc.RemoteAddr()))
	if p == nil || p.stopped {
		// RFC 4271 §8.2.1.5 would have us answer; an unknown source gets nothing.
		nc.Close()
		return
	}
	p.connected(nc, false)
}

func (s *Speaker) newConn(nc net.Conn, outgoing bool) *conn {
	s.nextConn++
	return newConn(s.nextConn, nc, outgoing)
}

// originate adds a locally originated prefix to the Loc-RIB.
func (s *Speaker) originate(prefix netip.Prefix) {
	prefix = prefix.Masked()
	s.local[prefix] = true
	if s.rib.put(&Path{Prefix: prefix, Origin: OriginIGP, LocalPref: 100}) {
		s.changed[prefix] = true
	}
}

// Originate starts announcing prefixes as locally originated.
func (s *Speaker) Originate(prefixes ...netip.Prefix) error {
	return s.do(func() {
		for _, p := range prefixes {
			s.originate(p)
		}
	})
}

// StopOriginating withdraws locally originated prefixes.
func (s *Speaker) StopOriginating(prefixes ...netip.Prefix) error {
	return s.do(func() {
		for _, p := range prefixes {
			p = p.Masked()
			delete(s.local, p)
			if s.rib.remove(p, netip.Addr{}) {
				s.changed[p] = true
			}
		}
	})
}

func (s *Speaker) neighbor(addr netip.Addr) (*peer, error) {
	if p := s.peerByAddr(addr); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("bgp: no neighbour %v", addr)
}

// Reset ends the session with addr (Cease / Administrative Reset) and
// lets it come back, also after a maximum-prefix shutdown.
func (s *Speaker) Reset(addr netip.Addr) error {
	p, err := s.neighbor(addr)
	if err != nil {
		return err
	}
	return s.do(func() {
		p.holdDown = false
		if p.state == Idle {
			p.start(0)
			return
		}
		p.down(notify(CodeCease, CeaseAdminReset, nil), "administrative reset")
	})
}

// SetImportPolicy replaces the import policy of addr and re-applies it
// to the routes already received (kept as received, before policy).
func (s *Speaker) SetImportPolicy(addr netip.Addr, pol Policy) error {
	p, err := s.neighbor(addr)
	if err != nil {
		return err
	}
	return s.do(func() {
		p.cfg.Import = pol
		for _, path := range p.adjIn {
			p.importPath(path)
		}
	})
}

// SetExportPolicy replaces the export policy of addr and sends the
// resulting changes (for example a new AS-path prepend to drain a link).
func (s *Speaker) SetExportPolicy(addr netip.Addr, pol Policy) error {
	p, err := s.neighbor(addr)
	if err != nil {
		return err
	}
	return s.do(func() {
		p.cfg.Export = pol
		if p.state == Established {
			for prefix := range s.rib.dests {
				p.export(prefix)
			}
		}
	})
}

// RouteRefresh asks addr to send its routes of family f again (RFC 2918).
func (s *Speaker) RouteRefresh(addr netip.Addr, f Family) error {
	p, err := s.neighbor(addr)
	if err != nil {
		return err
	}
	var rerr error
	err = s.do(func() {
		if p.state != Established || !p.peerOpen.routeRefresh || !p.families[f] {
			rerr = fmt.Errorf("bgp: route refresh %v to %v: session %v, capability %v", f, addr, p.state, p.peerOpen.routeRefresh)
			return
		}
		afi, safi := f.afiSafi()
		p.conn.send(bgpRouteRefresh(afi, safi))
	})
	return errors.Join(err, rerr)
}

// settle runs after every event: it re-selects changed prefixes, updates
// the FIB and queues the UPDATEs, then flushes them per neighbour.
func (s *Speaker) settle() {
	if len(s.changed) > 0 {
		prefixes := make([]netip.Prefix, 0, len(s.changed))
		for p := range s.changed {
			prefixes = append(prefixes, p)
		}
		clear(s.changed)
		slices.SortFunc(prefixes, comparePrefix)
		for _, prefix := range prefixes {
			s.syncFIB(prefix)
			for _, p := range s.peers {
				if p.state == Established {
					p.export(prefix)
				}
			}
		}
	}
	for _, p := range s.peers {
		p.flush()
	}
}

// jitter scales d by a random factor in [0.75, 1] (RFC 4271 §10).
func (s *Speaker) jitter(d time.Duration) time.Duration {
	return d - time.Duration(float64(d/4)*float64(s.cfg.Rand())/(1<<32))
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func (s *Speaker) syncFIB(prefix netip.Prefix) {
	if s.fib == nil {
		return
	}
	best := s.rib.bestOf(prefix)
	if len(best) == 0 || best[0].Local() {
		if _, ok := s.installed[prefix]; ok {
			s.fibDelete(prefix)
		}
		return
	}
	r := routeOf(best)
	if old, ok := s.installed[prefix]; ok && slices.Equal(old.NextHops, r.NextHops) {
		return
	}
	if err := s.fib.Replace(r); err != nil {
		s.fibErrors++
		s.log.Warn("FIB replace failed", "prefix", prefix, "err", err)
		return
	}
	s.installed[prefix] = r
}

func (s *Speaker) fibDelete(prefix netip.Prefix) {
	delete(s.installed, prefix)
	if err := s.fib.Delete(prefix); err != nil {
		s.fibErrors++
		s.log.Warn("FIB delete failed", "prefix", prefix, "err", err)
	}
}
