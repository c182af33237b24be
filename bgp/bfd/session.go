package bfd

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/secylab/secylab/clock"
)

// Defaults: 300 ms × 3 (the Microsoft edge's; the lab passes
// expressroute.BFDInterval explicitly), and RFC 5880 §6.8.3's one second
// between packets while the session is not Up.
const (
	DefaultInterval   = 300 * time.Millisecond
	DefaultDetectMult = 3
	DefaultSlowTx     = time.Second
)

// Config is one session's parameters.
type Config struct {
	Peer  netip.Addr // the neighbour's address on the link
	Local netip.Addr // ours, for display

	DesiredMinTx  time.Duration // bfd.DesiredMinTxInterval; default 300 ms
	RequiredMinRx time.Duration // bfd.RequiredMinRxInterval; default 300 ms
	DetectMult    uint8         // bfd.DetectMult; default 3
	// SlowTx is the transmit interval, and the Desired Min TX sent,
	// while the session is not Up; default 1 s.
	SlowTx time.Duration

	Clock  clock.Clock // default real
	Rand   func() uint32
	Logger *slog.Logger
}

// Change is a state transition of a session.
type Change struct {
	Old, New State
	Diag     Diag
	At       time.Time
}

// Status is a session's state for display.
type Status struct {
	Peer, Local              netip.Addr
	State, RemoteState       State
	Diag, RemoteDiag         Diag
	LocalDiscr, RemoteDiscr  uint32
	DesiredMinTx             time.Duration // as configured
	RequiredMinRx            time.Duration
	RemoteMinRx, RemoteMinTx time.Duration
	DetectMult, RemoteMult   uint8
	// TxInterval is the negotiated transmit interval, the larger of our
	// Desired Min TX and the peer's Required Min RX (RFC 5880 §6.8.7).
	TxInterval time.Duration
	// DetectTime is the peer's Detect Mult times the larger of our
	// Required Min RX and its Desired Min TX (RFC 5880 §6.8.4).
	DetectTime            time.Duration
	PacketsIn, PacketsOut uint64
	Dropped               uint64
	Since                 time.Time
	Polling               bool
}

// Session is one BFD session. Its methods are safe for concurrent use.
type Session struct {
	cfg  Config
	clk  clock.Clock
	log  *slog.Logger
	rand func() uint32

	mu          sync.Mutex
	send        func(*Control) // set by the Endpoint
	running     bool
	state       State
	diag        Diag
	localDiscr  uint32
	remoteDiscr uint32
	remote      Control // the last packet received
	remoteMinRx time.Duration

	// advTx/advRx are advertised; txUsed/rxUsed are in force and lag
	// behind during a Poll Sequence (RFC 5880 §6.8.3).
	advTx, advRx   time.Duration
	txUsed, rxUsed time.Duration
	mult           uint8
	polling        bool

	// txGen numbers the periodic transmission queued on the clock's grid
	// (scheduleTx) for txAt (Unix ns); a newer one, or stop, makes the
	// queued one stale.
	txGen uint64
	txAt  int64
	// detectTimer fires at or before detectAt (Unix ns), the end of the
	// detection time; a packet moves detectAt and leaves the timer, which
	// re-arms for what is left when it fires early: no timer per packet.
	detectTimer      clock.Slot
	detectAt         int64
	detectArmed      int64 // when detectTimer fires
	since            time.Time
	in, out, dropped uint64

	// out is filled under mu and drained outside it.
	outbox  []*Control
	changes []Change

	notifyMu sync.Mutex
	subs     map[int]func(Change)
	nextSub  int
}

// NewSession returns a session in state Down; an Endpoint starts it.
func NewSession(cfg Config) *Session {
	cfg.DesiredMinTx = orDefault(cfg.DesiredMinTx, DefaultInterval)
	cfg.RequiredMinRx = orDefault(cfg.RequiredMinRx, DefaultInterval)
	cfg.DetectMult = orDefault(cfg.DetectMult, DefaultDetectMult)
	cfg.SlowTx = orDefault(cfg.SlowTx, DefaultSlowTx)
	s := &Session{cfg: cfg, clk: cfg.Clock, log: cfg.Logger, rand: cfg.Rand, subs: map[int]func(Change){}}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("bfd_peer", cfg.Peer)
	if s.rand == nil {
		s.rand = rand.Uint32
	}
	for s.localDiscr == 0 {
		s.localDiscr = s.rand()
	}
	s.state = Down
	s.mult = cfg.DetectMult
	s.setSlowLocked()
	s.remoteMinRx = time.Microsecond // RFC 5880 §6.8.1: initialised to 1
	s.since = s.clk.Now()
	return s
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// setSlowLocked advertises and uses the slow rate of a session not Up.
func (s *Session) setSlowLocked() {
	s.advTx = max(s.cfg.SlowTx, s.cfg.DesiredMinTx)
	s.advRx = s.cfg.RequiredMinRx
	s.txUsed, s.rxUsed = s.advTx, s.advRx
	s.polling = false
}

// Subscribe calls f on every state change, in order, from the goroutine
// that caused it. f must not block for long. Cancel stops the calls.
func (s *Session) Subscribe(f func(Change)) (cancel func()) {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	s.nextSub++
	id := s.nextSub
	s.subs[id] = f
	return func() {
		s.notifyMu.Lock()
		defer s.notifyMu.Unlock()
		delete(s.subs, id)
	}
}

// flushUnlock releases mu, then sends queued packets and delivers queued
// changes; notifyMu keeps the deliveries in order.
func (s *Session) flushUnlock() {
	out, changes, send := s.outbox, s.changes, s.send
	s.outbox, s.changes = nil, nil
	if len(changes) > 0 {
		s.notifyMu.Lock()
	}
	s.mu.Unlock()
	if send != nil {
		for _, c := range out {
			send(c)
		}
	}
	if len(changes) > 0 {
		for _, ch := range changes {
			for _, f := range s.subs {
				f(ch)
			}
		}
		s.notifyMu.Unlock()
	}
}

func (s *Session) start(send func(*Control)) {
	s.mu.Lock()
	s.send, s.running = send, true
	s.scheduleTxLocked(true)
	s.flushUnlock()
}

func (s *Session) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	s.txGen++
	s.detectTimer.Stop()
}

func (s *Session) packetLocked() *Control {
	return &Control{
		Diag: s.diag, State: s.state, Poll: s.polling, DetectMult: s.mult,
		MyDiscr: s.localDiscr, YourDiscr: s.remoteDiscr,
		DesiredMinTx: s.advTx, RequiredMinRx: s.advRx,
	}
}

// txIntervalLocked is RFC 5880 §6.8.7's interval before jitter.
func (s *Session) txIntervalLocked() time.Duration { return max(s.txUsed, s.remoteMinRx) }

// scheduleTxLocked queues the next periodic transmission on the clock's
// grid, 75–100% of the interval from now (75–90% with Detect Mult 1,
// RFC 5880 §6.8.7). now sends one at once.
func (s *Session) scheduleTxLocked(now bool) {
	if !s.running {
		return
	}
	if now {
		s.outbox = append(s.outbox, s.packetLocked())
		s.out++
	}
	hi := uint32(100)
	if s.mult == 1 {
		hi = 90
	}
	s.txGen++
	s.txAt = gridTime(s.clk.Now().UnixNano(), s.txIntervalLocked(), 75, hi, s.rand())
	scheduleTx(s.clk, s.txAt, s, s.txGen)
}

// txDue is the grid's call for the transmission of generation gen.
func (s *Session) txDue(gen uint64) {
	s.mu.Lock()
	if s.running && gen == s.txGen {
		// RFC 5880 §6.8.7: no periodic packets while the peer asks for none.
		s.scheduleTxLocked(s.remote.RequiredMinRx != 0 || s.remoteDiscr == 0)
	}
	s.flushUnlock()
}

// DetectTime is the current detection time (RFC 5880 §6.8.4).
func (s *Session) detectTimeLocked() time.Duration {
	return time.Duration(s.remote.DetectMult) * max(s.rxUsed, s.remote.DesiredMinTx)
}

// armDetectLocked restarts the detection time from now.
func (s *Session) armDetectLocked() {
	if s.state != Init && s.state != Up {
		s.detectTimer.Stop()
		return
	}
	now := s.clk.Now().UnixNano()
	s.detectAt = now + int64(s.detectTimeLocked())
	if s.detectTimer.Armed() && s.detectArmed <= s.detectAt {
		return // it fires first and re-arms for the rest
	}
	s.armDetectAtLocked(now)
}

func (s *Session) armDetectAtLocked(now int64) {
	s.detectArmed = s.detectAt
	s.detectTimer.Arm(s.clk, time.Duration(s.detectAt-now), func(g uint64) {
		s.mu.Lock()
		if s.detectTimer.Current(g) && (s.state == Init || s.state == Up) {
			if now := s.clk.Now().UnixNano(); now < s.detectAt {
				s.armDetectAtLocked(now) // packets came meanwhile
			} else {
				s.setStateLocked(Down, DiagControlDetectionTimeExpired)
				s.remoteDiscr = 0
			}
		}
		s.flushUnlock()
	})
}

func (s *Session) setStateLocked(st State, d Diag) {
	old := s.state
	if st == old {
		return
	}
	s.state, s.diag, s.since = st, d, s.clk.Now()
	s.log.Info("BFD state", "from", old, "to", st, "diag", d)
	switch {
	case st == Up:
		// Go to the configured rates; a Poll Sequence tells the peer
		// (RFC 5880 §6.8.3).
		s.setParamsLocked(s.cfg.DesiredMinTx, s.cfg.RequiredMinRx)
	case old == Up:
		s.setSlowLocked()
	}
	if st != Init && st != Up {
		s.detectTimer.Stop()
	}
	s.changes = append(s.changes, Change{Old: old, New: st, Diag: d, At: s.since})
	// Tell the peer at once rather than at the next periodic packet.
	s.scheduleTxLocked(true)
}

// setParamsLocked changes the advertised intervals with a Poll Sequence.
// A faster transmit rate or a longer detection time is safe at once; the
// others wait for the Final (RFC 5880 §6.8.3).
func (s *Session) setParamsLocked(tx, rx time.Duration) {
	if tx == s.advTx && rx == s.advRx {
		return
	}
	s.advTx, s.advRx = tx, rx
	if tx < s.txUsed {
		s.txUsed = tx
	}
	if rx > s.rxUsed {
		s.rxUsed = rx
	}
	s.polling = s.state == Up
	if !s.polling {
		s.txUsed, s.rxUsed = tx, rx
	}
}

// SetParams changes the session's intervals and multiplier at run time.
func (s *Session) SetParams(desiredMinTx, requiredMinRx time.Duration, mult uint8) {
	s.mu.Lock()
	s.cfg.DesiredMinTx, s.cfg.RequiredMinRx = desiredMinTx, requiredMinRx
	if mult != 0 {
		s.mult, s.cfg.DetectMult = mult, mult
	}
	if s.state == Up {
		s.setParamsLocked(desiredMinTx, requiredMinRx)
	} else {
		s.setSlowLocked()
	}
	s.scheduleTxLocked(true)
	s.flushUnlock()
}

// SetAdminDown takes the session to AdminDown (diag Administratively
// Down) or, with false, back to Down to come up again.
func (s *Session) SetAdminDown(down bool) {
	s.mu.Lock()
	switch {
	case down && s.state != AdminDown:
		s.setStateLocked(AdminDown, DiagAdministrativelyDown)
		s.remoteDiscr = 0
	case !down && s.state == AdminDown:
		s.setStateLocked(Down, DiagNone)
	}
	s.flushUnlock()
}

// receive runs the reception rules of RFC 5880 §6.8.6 on a valid packet.
func (s *Session) receive(c *Control) {
	s.mu.Lock()
	s.in++
	s.remoteDiscr = c.MyDiscr
	oldMinRx := s.remoteMinRx
	s.remote, s.remoteMinRx = *c, c.RequiredMinRx
	if c.Final && s.polling {
		s.polling = false
		s.txUsed, s.rxUsed = s.advTx, s.advRx
	}
	if c.Poll {
		f := s.packetLocked()
		f.Poll, f.Final = false, true
		s.outbox = append(s.outbox, f)
		s.out++
	}
	if s.state == AdminDown {
		s.flushUnlock()
		return
	}
	switch {
	case c.State == AdminDown:
		if s.state != Down {
			s.setStateLocked(Down, DiagNeighborSignaledDown)
		}
	case s.state == Down && c.State == Down:
		s.setStateLocked(Init, DiagNone)
	case s.state == Down && c.State == Init, s.state == Init && (c.State == Init || c.State == Up):
		s.setStateLocked(Up, DiagNone)
	case s.state == Up && c.State == Down:
		s.setStateLocked(Down, DiagNeighborSignaledDown)
	}
	s.armDetectLocked()
	switch {
	case !s.running || s.remoteMinRx == oldMinRx:
	case s.remoteMinRx > oldMinRx:
		s.scheduleTxLocked(false) // slow down at once when asked to
	case s.txAt > s.clk.Now().UnixNano()+int64(s.txIntervalLocked()):
		// Faster at once too: a peer leaving its slow rate (FRR's bfdd
		// asks for 1 s while not Up) times us out after Detect Mult × the
		// new interval, before a packet queued at the old one leaves.
		s.scheduleTxLocked(false)
	}
	s.flushUnlock()
}

// State returns the current state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Status returns the session's state and timers.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Peer: s.cfg.Peer, Local: s.cfg.Local, State: s.state, RemoteState: s.remote.State,
		Diag: s.diag, RemoteDiag: s.remote.Diag, LocalDiscr: s.localDiscr, RemoteDiscr: s.remoteDiscr,
		DesiredMinTx: s.cfg.DesiredMinTx, RequiredMinRx: s.cfg.RequiredMinRx,
		RemoteMinRx: s.remote.RequiredMinRx, RemoteMinTx: s.remote.DesiredMinTx,
		DetectMult: s.mult, RemoteMult: s.remote.DetectMult, TxInterval: s.txIntervalLocked(),
		PacketsIn: s.in, PacketsOut: s.out, Dropped: s.dropped, Since: s.since, Polling: s.polling,
	}
	if s.remote.DetectMult > 0 {
		st.DetectTime = s.detectTimeLocked()
	}
	return st
}
