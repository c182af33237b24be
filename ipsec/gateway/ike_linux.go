package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/ike"
)

// IKEConfig is a tunnel end keyed by IKEv2 (RFC 7296) instead of by hand:
// the gateway's addresses and prefixes, and the IKE policy.
type IKEConfig struct {
	Gateway Config     // Out and In are left empty: IKE keys them
	IKE     ike.Config // Local and Remote are filled in (port 500)
	// Initiate: start the IKE SA (else only respond, as Azure's
	// connectionMode ResponderOnly).
	Initiate bool
	// Retransmit is the first retransmission timeout of a request
	// (default 500 ms), doubled each time, Retries how many (default 5)
	// before the peer is declared dead.
	Retransmit time.Duration
	Retries    int
	// DPD sends a liveness check when nothing came from the peer for this
	// long (0: off).
	DPD time.Duration
	// DeadAfter declares the peer dead when a request of ours is
	// unanswered and nothing came from the peer for this long (Azure's
	// dpdTimeoutSeconds); 0: after the Retries.
	DeadAfter time.Duration
	// RespondESP, if set, is what the gateway accepts as responder in
	// place of IKE.ESP (Azure's responder accepts more than it offers).
	RespondESP []ike.Suite
	// NoRespond refuses the IKE SAs the peer starts (Azure's
	// connectionMode InitiatorOnly).
	NoRespond bool
	// InitiateDelay waits before initiating, and then initiates only if the
	// peer has started no IKE SA meanwhile (Azure's Default mode against a
	// peer that initiates too).
	InitiateDelay time.Duration
	// Reconnect, with Initiate, starts a new IKE SA this long after the
	// last one closed or died (0: never).
	Reconnect time.Duration
	// ChildLifetime and IKELifetime rekey the Child SAs and the IKE SA
	// when they are this old (0: never; SetLifetimes changes them): the
	// original initiator at 90 %, the responder, if still needed, at the
	// full lifetime, so that the two rarely collide.
	ChildLifetime, IKELifetime time.Duration
	// ChildKilobytes rekeys a Child SA when its outbound or inbound SA
	// has carried this many kilobytes (1024 octets) of inner IP packets
	// (the plaintext ESP seals or opens; no ESP header, padding or ICV):
	// at 90 % on the original initiator, 95 % on the responder, the hard
	// limit (the SA stops) at 100 %. 0: no limit; SetLifetimeKB
	// changes it.
	ChildKilobytes int64
}

// IKEGateway runs IKE for a userspace gateway: it answers or starts the
// IKE SA, installs the Child SAs it negotiates into the gateway's SAD
// (make-before-break at rekeys), and speaks IKE on port 500 and, once a
// NAT or forced encapsulation is detected, behind the non-ESP marker on
// the ESP-in-UDP port 4500 (RFC 3948, RFC 7296 §2.23).
type IKEGateway struct {
	cfg  IKEConfig
	gw   *Gateway
	us   *Userspace
	sock *net.UDPConn // port 500
	log  *slog.Logger

	mu                 sync.Mutex
	sess               *ike.Session
	resp               *ike.Responder
	float              bool // IKE on port 4500
	sent               time.Time
	tries              int
	lastRecv           time.Time
	events             []ike.Event
	eventsGone         int       // events dropped from the front of events
	nextInit           time.Time // when to (re)initiate if no IKE SA is up
	lastTry            time.Time // the last lifetime rekey started
	childLife, ikeLife time.Duration
	childKB            int64
	kick               chan struct{} // an SA reached its soft limit: check the lifetimes now
	changed            chan struct{} // closed and replaced at every event
	done               chan struct{}
	stopOnce           sync.Once
}

// NewIKE builds the gateway (userspace backend, no SAs yet) and opens
// the IKE socket.
func NewIKE(cfg IKEConfig) (*IKEGateway, error) {
	cfg.Gateway.Backend = ipsec.BackendUserspace
	cfg.Gateway.Out, cfg.Gateway.In = ipsec.SAConfig{}, ipsec.SAConfig{}
	if cfg.Retransmit == 0 {
		cfg.Retransmit = 500 * time.Millisecond
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if err := checkESPSuites(cfg.IKE.ESP); err != nil {
		return nil, err
	}
	cfg.IKE.Local = netip.AddrPortFrom(cfg.Gateway.Local, 500)
	cfg.IKE.Remote = netip.AddrPortFrom(cfg.Gateway.Remote, 500)
	gw, err := New(cfg.Gateway)
	if err != nil {
		return nil, err
	}
	g := &IKEGateway{cfg: cfg, gw: gw, us: gw.Userspace(), log: gw.cfg.Logger, changed: make(chan struct{}), done: make(chan struct{}),
		childLife: cfg.ChildLifetime, ikeLife: cfg.IKELifetime, childKB: cfg.ChildKilobytes, kick: make(chan struct{}, 1)}
	g.resp = &ike.Responder{Cfg: &g.cfg.IKE}
	if cfg.RespondESP != nil {
		rc := g.cfg.IKE
		rc.ESP = cfg.RespondESP
		g.resp = &ike.Responder{Cfg: &rc}
	}
	err = netnsx.Do(cfg.Gateway.Namespace, func() (err error) {
		g.sock, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.IKE.Local))
		return err
	})
	if err != nil {
		gw.Close()
		return nil, fmt.Errorf("IKE in %q: %w", cfg.Gateway.Namespace, err)
	}
	g.us.OnIKE(func(msg []byte) { g.receive(msg, true) })
	return g, nil
}

// checkESPSuites refuses ESP transforms the userspace engine lacks.
func checkESPSuites(ss []ike.Suite) error {
	for _, s := range ss {
		if _, err := espCipher(s); err != nil {
			return err
		}
	}
	return nil
}

func espCipher(s ike.Suite) (ipsec.Cipher, error) {
	switch {
	case s.Encr == ike.ENCR_AES_GCM_16:
		return ipsec.AESGCM16, nil
	case s.Encr == ike.ENCR_AES_CBC && s.Integ == ike.AUTH_HMAC_SHA1_96:
		return ipsec.AESCBCHMACSHA1, nil
	case s.Encr == ike.ENCR_AES_CBC && s.Integ == ike.AUTH_HMAC_SHA2_256_128:
		return ipsec.AESCBCHMACSHA256, nil
	}
	return 0, fmt.Errorf("ESP %v: the userspace engine has AES-GCM-16 and AES-CBC with HMAC-SHA1-96 or HMAC-SHA-256-128", s)
}

// Gateway is the data plane.
func (g *IKEGateway) Gateway() *Gateway { return g.gw }

// Session is the current IKE SA (nil before one).
func (g *IKEGateway) Session() *ike.Session {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sess
}

// Children returns the Child SAs of the IKE SA.
func (g *IKEGateway) Children() []*ike.ChildSA {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == nil {
		return nil
	}
	return g.sess.Children()
}

// SPIi is the initiator's SPI of the current IKE SA (0: none).
func (g *IKEGateway) SPIi() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == nil {
		return 0
	}
	return spii(g.sess)
}

// maxEvents bounds the events a gateway keeps (the older half goes when
// it is reached): a lab that runs for days rekeys thousands of times.
const maxEvents = 1024

// Events returns what happened so far, the latest maxEvents at most.
func (g *IKEGateway) Events() []ike.Event { return g.EventsSince(0) }

// EventMark marks the events so far, for EventsSince and Wait.
func (g *IKEGateway) EventMark() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.eventsGone + len(g.events)
}

// EventsSince returns the events after mark (of those kept).
func (g *IKEGateway) EventsSince(mark int) []ike.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]ike.Event(nil), g.since(mark)...)
}

func (g *IKEGateway) since(mark int) []ike.Event {
	return g.events[min(max(mark-g.eventsGone, 0), len(g.events)):]
}

// Wait blocks until cond (called under the gateway's lock, with the
// events after mark) holds, or ctx ends.
func (g *IKEGateway) Wait(ctx context.Context, mark int, cond func(s *ike.Session, evs []ike.Event) bool) error {
	for {
		g.mu.Lock()
		ok := cond(g.sess, g.since(mark))
		ch := g.changed
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run carries traffic and IKE until ctx ends; with Initiate it starts the
// IKE SA first. It deletes the IKE SA and closes the gateway when it
// returns.
func (g *IKEGateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- g.gw.Run(ctx) }()
	go g.readLoop()
	if g.cfg.Initiate && g.cfg.InitiateDelay == 0 {
		if err := g.Initiate(); err != nil {
			return err
		}
	}
	if g.cfg.InitiateDelay > 0 {
		g.mu.Lock()
		g.nextInit = time.Now().Add(g.cfg.InitiateDelay)
		g.mu.Unlock()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			g.shutdown()
			return <-errc
		case err := <-errc:
			g.shutdown()
			return err
		case <-tick.C:
			g.timers()
		case <-g.kick:
			g.timers()
		}
	}
}

func (g *IKEGateway) shutdown() {
	g.stopOnce.Do(func() {
		g.mu.Lock()
		if g.sess != nil && g.sess.State() == ike.StateEstablished {
			out, evs := g.sess.Delete()
			g.apply(evs)
			g.send(out)
		}
		g.mu.Unlock()
		g.sock.Close()
		g.gw.Close()
		close(g.done)
	})
}

// Close stops a gateway that is not running (Run closes its own).
func (g *IKEGateway) Close() { g.shutdown() }

// SetLifetimes changes the lifetimes that drive rekeys (0: no rekey).
func (g *IKEGateway) SetLifetimes(child, ikeSA time.Duration) {
	g.mu.Lock()
	g.childLife, g.ikeLife = child, ikeSA
	g.mu.Unlock()
}

// Lifetimes returns the lifetimes that drive rekeys.
func (g *IKEGateway) Lifetimes() (child, ikeSA time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.childLife, g.ikeLife
}

// SetLifetimeKB changes the Child SA lifetime in kilobytes (0: none).
// The SAs installed from now on take it as their limits; those in place
// rekey when their counters reach the new soft limit.
func (g *IKEGateway) SetLifetimeKB(kb int64) {
	g.mu.Lock()
	g.childKB = kb
	g.mu.Unlock()
	g.softHit(nil)
}

// LifetimeKB returns the Child SA lifetime in kilobytes (0: none).
func (g *IKEGateway) LifetimeKB() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.childKB
}

// softBytes is the share of the kilobyte lifetime at which this side
// rekeys: the original initiator first, the responder if still needed.
func (g *IKEGateway) softBytes(kb int64) uint64 {
	if g.sess != nil && !g.sess.Initiator() {
		return uint64(kb) * 1024 * 95 / 100
	}
	return uint64(kb) * 1024 * 9 / 10
}

// softHit wakes the timer loop (from the data path: no allocation, no
// blocking).
func (g *IKEGateway) softHit(*ipsec.SA) {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Initiate starts a new IKE SA.
func (g *IKEGateway) Initiate() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.initiate()
}

func (g *IKEGateway) initiate() error {
	if g.sess != nil {
		g.apply(closeChildren(g.sess))
	}
	s, req, err := ike.NewInitiator(&g.cfg.IKE)
	if err != nil {
		return err
	}
	g.sess, g.float, g.lastRecv = s, false, time.Now()
	g.log.Info("ike initiate", "namespace", g.cfg.Gateway.Namespace, "peer", g.cfg.IKE.Remote)
	g.sendRequest(req)
	return nil
}

// RekeyChild rekeys the first Child SA (make-before-break).
func (g *IKEGateway) RekeyChild() error {
	return g.do(func(s *ike.Session) ([]byte, error) {
		cs := s.Children()
		if len(cs) == 0 {
			return nil, errors.New("ike: no Child SA to rekey")
		}
		return s.RekeyChild(cs[0].InSPI)
	})
}

// RekeyIKE rekeys the IKE SA.
func (g *IKEGateway) RekeyIKE() error { return g.do((*ike.Session).RekeyIKE) }

func (g *IKEGateway) do(f func(*ike.Session) ([]byte, error)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == nil {
		return errors.New("ike: no IKE SA")
	}
	req, err := f(g.sess)
	if err != nil {
		return err
	}
	g.sendRequest(req)
	return nil
}

func (g *IKEGateway) readLoop() {
	buf := make([]byte, 65535)
	for {
		n, _, err := g.sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		g.receive(append([]byte(nil), buf[:n]...), false)
	}
}

// receive handles one IKE message from port 500 or (onUDP4500) 4500.
func (g *IKEGateway) receive(msg []byte, on4500 bool) {
	h, err := ike.ParseHeader(msg)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.signal()
	g.lastRecv = time.Now()
	newInit := h.Exchange == ike.IKE_SA_INIT && !h.IsResponse() && h.SPIr == 0
	if newInit && (g.sess == nil || g.sess.State() == ike.StateClosed || !g.sess.Initiator() || spii(g.sess) != h.SPIi) {
		if g.sess != nil && spii(g.sess) == h.SPIi {
			return // a retransmission; the answer went out already
		}
		if g.cfg.NoRespond {
			g.log.Info("ike: refused an IKE SA the peer started (initiator only)", "namespace", g.cfg.Gateway.Namespace)
			return
		}
		if g.sess != nil && g.sess.Initiator() && g.sess.State() != ike.StateEstablished && g.sess.State() != ike.StateClosed &&
			g.cfg.Gateway.Local.Compare(g.cfg.Gateway.Remote) < 0 {
			// Both sides started an IKE SA at once: the side with the lower
			// address keeps its own, the other answers it (both decide
			// alike, so one IKE SA comes up).
			g.log.Info("ike: both sides initiated; keeping ours", "namespace", g.cfg.Gateway.Namespace)
			return
		}
		reply, s, err := g.resp.HandleInit(msg, g.cfg.IKE.Remote)
		if err != nil {
			g.log.Warn("ike", "namespace", g.cfg.Gateway.Namespace, "err", err)
			g.record(ike.Event{Kind: ike.EvFailed, Err: err, Notify: ike.NO_PROPOSAL_CHOSEN})
		}
		if s != nil {
			if g.sess != nil {
				g.apply(closeChildren(g.sess))
			}
			g.sess, g.float = s, s.NAT
			if s.NAT {
				g.record(ike.Event{Kind: ike.EvNATDetected})
			}
		}
		g.reply(reply, on4500)
		return
	}
	if g.sess == nil {
		return
	}
	out, evs, err := g.sess.Handle(msg)
	if err != nil && !errors.Is(err, ike.ErrNotThisSA) {
		g.log.Debug("ike drop", "err", err)
	}
	g.apply(evs)
	if out == nil {
		return
	}
	if m, perr := ike.ParseHeader(out); perr == nil && m.IsResponse() {
		g.reply(out, on4500)
	} else {
		g.sendRequest(out)
	}
}

func spii(s *ike.Session) uint64 { a, _ := s.SPIs(); return a }

func closeChildren(s *ike.Session) []ike.Event {
	var evs []ike.Event
	for _, c := range s.Children() {
		evs = append(evs, ike.Event{Kind: ike.EvRemove, Child: c})
	}
	return evs
}

// reply answers on the port the request came to.
func (g *IKEGateway) reply(msg []byte, on4500 bool) {
	if msg == nil {
		return
	}
	if on4500 {
		g.us.SendIKE(msg)
		return
	}
	g.sock.WriteToUDPAddrPort(msg, g.cfg.IKE.Remote)
}

func (g *IKEGateway) sendRequest(msg []byte) {
	if msg == nil {
		return
	}
	g.sent, g.tries = time.Now(), 0
	g.send(msg)
}

// send sends on port 4500 once IKE floated there, else on 500.
func (g *IKEGateway) send(msg []byte) {
	if msg == nil {
		return
	}
	if g.float || (g.sess != nil && g.sess.NAT && g.sess.State() != ike.StateInit) {
		g.float = true
		g.us.SendIKE(msg)
		return
	}
	g.sock.WriteToUDPAddrPort(msg, g.cfg.IKE.Remote)
}

// timers retransmits the request in flight, declares the peer dead,
// (re)initiates, rekeys what reached its lifetime and starts DPD.
func (g *IKEGateway) timers() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.sess == nil || g.sess.State() == ike.StateClosed {
		if g.cfg.Initiate && !g.nextInit.IsZero() && !now.Before(g.nextInit) {
			g.nextInit = time.Time{}
			if err := g.initiate(); err != nil {
				g.log.Warn("ike initiate", "err", err)
			}
		}
		return
	}
	if p := g.sess.Pending(); p != nil {
		dead := g.tries >= g.cfg.Retries
		if g.cfg.DeadAfter > 0 {
			dead = now.Sub(g.lastRecv) >= g.cfg.DeadAfter
		}
		if dead {
			g.log.Warn("ike peer dead", "namespace", g.cfg.Gateway.Namespace, "silent", now.Sub(g.lastRecv).Round(time.Millisecond), "retries", g.tries)
			evs := closeChildren(g.sess)
			g.sess.Delete()
			g.apply(append(evs, ike.Event{Kind: ike.EvClosed, Err: fmt.Errorf("the peer did not answer for %v: dead", now.Sub(g.lastRecv).Round(time.Millisecond))}))
			return
		}
		wait := g.cfg.Retransmit << min(g.tries, 16)
		if g.cfg.DeadAfter > 0 {
			wait = min(wait, g.cfg.DeadAfter/4)
		}
		if now.Sub(g.sent) < wait {
			return
		}
		g.sent, g.tries = now, g.tries+1
		g.send(p)
		return
	}
	if g.sess.State() != ike.StateEstablished {
		// A half-open responder SA whose initiator went away (no IKE_AUTH).
		if half := max(g.cfg.DeadAfter, 10*time.Second); now.Sub(g.lastRecv) > half {
			g.log.Warn("ike: half-open IKE SA timed out", "namespace", g.cfg.Gateway.Namespace)
			g.sess.Delete()
			g.apply([]ike.Event{{Kind: ike.EvClosed, Err: errors.New("half-open: the peer did not complete IKE_AUTH")}})
		}
		return
	}
	if req := g.lifetimeRekey(now); req != nil {
		g.lastTry = now
		g.sendRequest(req)
		return
	}
	if g.cfg.DPD > 0 && now.Sub(g.lastRecv) > g.cfg.DPD {
		if req, err := g.sess.DPD(nil); err == nil {
			g.sendRequest(req)
		}
	}
}

// lifetimeRekey starts the rekey of the IKE SA or of a Child SA that
// reached its lifetime (nil: none due). The caller holds g.mu.
func (g *IKEGateway) lifetimeRekey(now time.Time) []byte {
	// A rekey that just started or failed is given time; a Child SA made
	// since (the new one of a completed rekey, which heavy traffic may
	// fill to its kilobyte lifetime within a second) is not held back.
	recent := now.Sub(g.lastTry) < time.Second
	due := func(life time.Duration, since time.Time) bool {
		if life <= 0 {
			return false
		}
		if g.sess.Initiator() {
			life = life * 9 / 10
		}
		return now.Sub(since) >= life
	}
	if !recent && due(g.ikeLife, g.sess.Established()) {
		if req, err := g.sess.RekeyIKE(); err == nil {
			g.log.Info("ike: IKE SA lifetime reached: rekey", "namespace", g.cfg.Gateway.Namespace)
			return req
		}
	}
	for _, c := range g.sess.Children() {
		if recent && !c.Created.After(g.lastTry) {
			continue
		}
		why := ""
		if due(g.childLife, c.Created) {
			why = "seconds"
		} else if g.bytesDue(c) {
			why = "kilobytes"
		}
		if why != "" {
			if req, err := g.sess.RekeyChild(c.InSPI); err == nil {
				g.log.Info("ike: Child SA lifetime reached: rekey", "namespace", g.cfg.Gateway.Namespace, "spi", fmt.Sprintf("%08x", c.InSPI), "by", why)
				return req
			}
		}
	}
	return nil
}

// bytesDue reports whether a Child SA's outbound or inbound SA carried
// this side's share of the kilobyte lifetime, or raised its soft-expire
// event (its own soft limit, from the lifetime it was installed with, or
// the end of its sequence numbers). The caller holds g.mu.
func (g *IKEGateway) bytesDue(c *ike.ChildSA) bool {
	soft := uint64(0)
	if g.childKB > 0 {
		soft = g.softBytes(g.childKB)
	}
	for _, sa := range g.us.SAD().List() {
		cfg := sa.Config()
		if !(cfg.Dir == ipsec.DirOut && cfg.SPI == c.OutSPI) && !(cfg.Dir == ipsec.DirIn && cfg.SPI == c.InSPI) {
			continue
		}
		st := sa.Stats()
		if st.SoftExpired || (soft > 0 && st.Bytes >= soft) {
			return true
		}
	}
	return false
}

// inboundGrace is how long an inbound SA outlives its Child SA's delete.
const inboundGrace = 500 * time.Millisecond

// apply acts on events: installs and removes SAs. The caller holds g.mu.
func (g *IKEGateway) apply(evs []ike.Event) {
	for _, e := range evs {
		g.record(e)
		switch e.Kind {
		case ike.EvInstallIn:
			if err := g.us.AddSA(g.childSA(e.Child, ipsec.DirIn)); err != nil {
				g.log.Warn("ike install", "err", err)
			}
		case ike.EvInstallOut:
			if err := g.us.SwapOutbound(g.childSA(e.Child, ipsec.DirOut)); err != nil {
				g.log.Warn("ike install", "err", err)
			}
		case ike.EvRemove:
			// The outbound SA goes at once; the inbound one a little later:
			// the peer's data path may have sealed packets with it before
			// its IKE sent the Delete, which can overtake them.
			g.us.DelSA(e.Child.OutSPI, g.cfg.Gateway.Remote)
			spi := e.Child.InSPI
			time.AfterFunc(inboundGrace, func() { g.us.DelSA(spi, g.cfg.Gateway.Local) })
		case ike.EvNATDetected:
			g.float = true
		case ike.EvClosed, ike.EvFailed:
			if g.cfg.Initiate && g.cfg.Reconnect > 0 && g.nextInit.IsZero() {
				g.nextInit = time.Now().Add(g.cfg.Reconnect)
			}
		}
	}
}

func (g *IKEGateway) record(e ike.Event) {
	if len(g.events) == maxEvents {
		n := copy(g.events, g.events[maxEvents/2:])
		clear(g.events[n:])
		g.events, g.eventsGone = g.events[:n], g.eventsGone+maxEvents/2
	}
	g.events = append(g.events, e)
	g.log.Info("ike", "namespace", g.cfg.Gateway.Namespace, "event", e.String())
	g.signal()
}

// signal wakes the waiters: the session may have changed. The caller
// holds g.mu.
func (g *IKEGateway) signal() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// childSA is the ipsec SA of one direction of a Child SA.
func (g *IKEGateway) childSA(c *ike.ChildSA, dir ipsec.Direction) ipsec.SAConfig {
	cipher, _ := espCipher(c.Suite)
	cfg := ipsec.SAConfig{Dir: dir, ReqID: g.gw.cfg.ReqID, Mode: ipsec.ModeTunnel, Cipher: cipher, ESN: c.Suite.ESN,
		Encap: ipsec.EncapUDP, EncapSrcPort: ipsec.UDPEncapPort, EncapDstPort: ipsec.UDPEncapPort, OnSoftExpire: g.softHit}
	if g.childKB > 0 {
		cfg.Limits.SoftBytes, cfg.Limits.HardBytes = g.softBytes(g.childKB), uint64(g.childKB)*1024
	}
	if dir == ipsec.DirIn {
		cfg.SPI, cfg.Src, cfg.Dst, cfg.KEYMAT, cfg.AuthKey = c.InSPI, g.cfg.Gateway.Remote, g.cfg.Gateway.Local, c.InEncr, c.InInteg
		cfg.ReplayWindow = 1024
	} else {
		cfg.SPI, cfg.Src, cfg.Dst, cfg.KEYMAT, cfg.AuthKey = c.OutSPI, g.cfg.Gateway.Local, g.cfg.Gateway.Remote, c.OutEncr, c.OutInteg
	}
	return cfg
}
