package mka

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/macsec"
)

// Timer defaults of IEEE 802.1X-2020 Table 9-3.
const (
	DefaultHelloTime     = 2 * time.Second
	DefaultLifeTime      = 6 * time.Second
	DefaultSAKRetireTime = 3 * time.Second
)

// NeverKeyServer is the Key Server Priority of a participant that must not
// be elected key server.
const NeverKeyServer = 0xFF

// Config configures a Participant.
type Config struct {
	PSK   PSK                // the CAK and CKN, the same on every member
	Suite macsec.CipherSuite // the cipher suite of the SAKs
	SCI   macsec.SCI         // the SecY's SCI; its MAC is the MKPDU source

	// KeyServerPriority: numerically lowest wins, then lowest SCI;
	// NeverKeyServer (0xFF) never becomes key server.
	KeyServerPriority uint8

	HelloTime     time.Duration // between MKPDUs; 0: 2 s
	LifeTime      time.Duration // a silent peer is dropped after it; 0: 6 s
	SAKRetireTime time.Duration // the old SAK is deleted this long after the switch; 0: 3 s

	// PNThreshold: a key server rekeys once a PN of the SAK in use reaches
	// it. 0: the suite's default (0xC0000000, or 0xC000000000000000).
	PNThreshold uint64

	Rand io.Reader          // MIs, SAK nonces; crypto/rand.Reader in production
	Send func(frame []byte) // transmits an MKPDU; frame is the caller's to keep
	SecY SecY               // the SecY whose SAs this participant installs

	Logger *slog.Logger // events, never keys; nil: discard
}

// Participant is an MKA participant (actor) for one CA: it speaks MKA with
// its peers and installs the distributed SAKs in its SecY. Methods may be
// called from several goroutines; time only moves through the now passed to
// Tick and Receive.
type Participant struct {
	cfg       Config
	log       *slog.Logger
	ick       *cmac
	kek       KEK
	src       [6]byte
	threshold uint64

	pnEvent atomic.Bool // raised by the SecY's transmit path

	mu       sync.Mutex
	mi       MI
	mn       uint32
	sentMN   []sentMN // MNs sent within the life time, oldest first
	started  bool
	stopped  bool
	nextTx   time.Time
	txNow    bool
	peers    []*peer
	rx       MKPDU // decode scratch
	ks       keyServer
	latest   *key
	old      *key
	kn       uint32 // the last KN this participant generated as key server
	dist     bool   // the key server includes the latest SAK in its MKPDUs
	wrapped  []byte
	forced   bool
	counters Counters
}

type sentMN struct {
	mn uint32
	at time.Time
}

// NewParticipant checks cfg, derives the ICK and KEK and picks a random MI.
// Nothing is sent before the first Tick.
func NewParticipant(cfg Config) (*Participant, error) {
	switch {
	case !cfg.Suite.Valid():
		return nil, fmt.Errorf("mka: cipher suite %#016x: want one of GCM-AES-128, GCM-AES-256, GCM-AES-XPN-128, GCM-AES-XPN-256", uint64(cfg.Suite))
	case cfg.PSK.CAK.Len() != 16 && cfg.PSK.CAK.Len() != 32:
		return nil, fmt.Errorf("mka: CAK must be 16 or 32 octets, got %d", cfg.PSK.CAK.Len())
	case len(cfg.PSK.CKN) < MinCKNLen || len(cfg.PSK.CKN) > MaxCKNLen:
		return nil, fmt.Errorf("mka: CKN must be 1 to 32 octets, got %d", len(cfg.PSK.CKN))
	case cfg.Rand == nil:
		return nil, errors.New("mka: Config.Rand is required")
	case cfg.Send == nil:
		return nil, errors.New("mka: Config.Send is required")
	case cfg.SecY == nil:
		return nil, errors.New("mka: Config.SecY is required")
	case len(cfg.SCI.MAC()) != 6:
		return nil, fmt.Errorf("mka: SCI %s has no MAC address", cfg.SCI)
	}
	if cfg.HelloTime <= 0 {
		cfg.HelloTime = DefaultHelloTime
	}
	if cfg.LifeTime <= 0 {
		cfg.LifeTime = DefaultLifeTime
	}
	if cfg.SAKRetireTime <= 0 {
		cfg.SAKRetireTime = DefaultSAKRetireTime
	}
	if cfg.LifeTime <= cfg.HelloTime {
		return nil, fmt.Errorf("mka: life time %v must exceed the hello time %v", cfg.LifeTime, cfg.HelloTime)
	}
	p := &Participant{cfg: cfg, log: cfg.Logger, threshold: cfg.PNThreshold}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.threshold == 0 {
		p.threshold = cfg.Suite.DefaultPNThreshold()
	}
	copy(p.src[:], cfg.SCI.MAC())
	ick, err := DeriveICK(cfg.PSK.CAK, cfg.PSK.CKN)
	if err != nil {
		return nil, fmt.Errorf("mka: %w", err)
	}
	p.ick, err = newCMAC(ick.Bytes())
	ick.Zero()
	if err != nil {
		return nil, fmt.Errorf("mka: %w", err)
	}
	if p.kek, err = DeriveKEK(cfg.PSK.CAK, cfg.PSK.CKN); err != nil {
		return nil, fmt.Errorf("mka: %w", err)
	}
	if _, err := io.ReadFull(cfg.Rand, p.mi[:]); err != nil {
		return nil, fmt.Errorf("mka: reading a random MI: %w", err)
	}
	p.log = p.log.With("sci", cfg.SCI.String(), "ckn", cfg.PSK.CKN.String())
	return p, nil
}

// MI returns the participant's Member Identifier.
func (p *Participant) MI() MI {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mi
}

// Counters returns a snapshot of the counters.
func (p *Participant) Counters() Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counters
}

// NextTick is when Tick must next be called for the timers to be on time.
func (p *Participant) NextTick() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.nextTx
	for _, pr := range p.peers {
		if pr.expires.Before(next) {
			next = pr.expires
		}
	}
	if p.old != nil && !p.old.retireAt.IsZero() && p.old.retireAt.Before(next) {
		next = p.old.retireAt
	}
	return next
}

// PNThresholdReached is the SecY's OnPNThreshold hook: a transmit SA has
// reached the PN threshold. It only raises a flag, so it never blocks the
// transmit path; the next Tick rekeys (key server) or reports (others).
func (p *Participant) PNThresholdReached(an uint8, pn uint64) { p.pnEvent.Store(true) }

// Tick runs the timers: it sends the periodic MKPDU, expires silent peers,
// retires old SAKs and, as key server, distributes new SAKs when needed.
func (p *Participant) Tick(now time.Time) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.started = true
	p.expirePeers(now)
	p.retireOld(now)
	if p.pnEvent.Swap(false) {
		p.txNow = true // others learn the PN from our report; the key server acts below
		if p.ks.self && p.latest != nil && p.latest.tx {
			p.latest.pnExhausted = true
		}
	}
	p.updateKeyServer(now)
	if !now.Before(p.nextTx) {
		p.txNow = true
	}
	frame := p.flush(now)
	p.mu.Unlock()
	p.send(frame)
}

// Rekey makes the key server distribute a new SAK now, as an operator's
// forced rekey. It fails on a participant that is not the key server.
func (p *Participant) Rekey(now time.Time) error {
	p.mu.Lock()
	if !p.ks.self || !p.ks.elected {
		p.mu.Unlock()
		return errors.New("mka: rekey: this participant is not the key server")
	}
	p.forced = true
	p.updateKeyServer(now)
	frame := p.flush(now)
	p.mu.Unlock()
	p.send(frame)
	return nil
}

// Stop deletes every SA the participant installed, zeroes its keys and
// makes it inert: the secure channel is down.
func (p *Participant) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	p.dropKeys()
	for _, pr := range p.peers {
		if pr.live {
			p.cfg.SecY.DeleteRxSC(pr.sci)
		}
	}
	p.peers = nil
	p.kek.Zero()
	clear(p.ick.k1[:])
	clear(p.ick.k2[:])
	p.ick.block = nil
}

func (p *Participant) send(frame []byte) {
	if frame != nil {
		p.cfg.Send(frame)
	}
}

// flush builds the MKPDU to send now, if one is due.
func (p *Participant) flush(now time.Time) []byte {
	if !p.txNow || !p.started || p.stopped {
		return nil
	}
	p.txNow = false
	p.mn++
	p.sentMN = append(p.sentMN, sentMN{p.mn, now})
	p.pruneSentMN(now) // bounded even while no peer answers
	p.nextTx = now.Add(p.cfg.HelloTime)
	m := p.buildMKPDU()
	frame, err := m.appendFrame(make([]byte, 0, 256), p.src, p.ick)
	if err != nil {
		p.log.Error("MKPDU not sent", "err", err)
		return nil
	}
	p.counters.TxMKPDUs++
	return frame
}

func (p *Participant) buildMKPDU() *MKPDU {
	m := &MKPDU{
		Version:           MKAVersion,
		KeyServerPriority: p.cfg.KeyServerPriority,
		KeyServer:         p.cfg.KeyServerPriority != NeverKeyServer,
		MACsecDesired:     true,
		MACsecCapability:  CapabilityConfidentiality,
		SCI:               p.cfg.SCI,
		MI:                p.mi,
		MN:                p.mn,
		AlgorithmAgility:  AlgorithmAgility,
		CKN:               p.cfg.PSK.CKN,
		HasAnnouncement:   true,
		CipherSuites:      []AnnouncedSuite{{Capability: CapabilityConfidentiality, Suite: p.cfg.Suite}},
	}
	for _, pr := range p.peers {
		if pr.live {
			m.LivePeers = append(m.LivePeers, Peer{MI: pr.mi, MN: pr.mn})
		} else {
			m.PotentialPeers = append(m.PotentialPeers, Peer{MI: pr.mi, MN: pr.mn})
		}
	}
	if p.latest != nil {
		m.HasSAKUse = true
		u := &m.SAKUse
		u.Latest, u.LatestAN, u.LatestRx, u.LatestTx = p.latest.ki, p.latest.an, p.latest.rx, p.latest.tx
		lpn := p.lowestPN(p.latest)
		u.LatestLPN = uint32(lpn)
		m.XPN.LatestLPNHigh = uint32(lpn >> 32)
		if p.old != nil {
			u.Old, u.OldAN, u.OldRx, u.OldTx = p.old.ki, p.old.an, p.old.rx, p.old.tx
			lpn := p.lowestPN(p.old)
			u.OldLPN = uint32(lpn)
			m.XPN.OldLPNHigh = uint32(lpn >> 32)
		}
		m.HasXPN = p.cfg.Suite.XPN()
	}
	if p.dist && p.ks.self && p.latest != nil && p.latest.ki.MI == p.mi {
		m.HasDistributedSAK = true
		m.DistributedSAK = DistributedSAK{AN: p.latest.an, KN: p.latest.ki.KN, CipherSuite: p.cfg.Suite, WrappedSAK: p.wrapped}
		if p.cfg.Suite.XPN() {
			m.KeyServerSSCI = uint8(p.latest.ssci)
		}
	}
	return m
}

// Receive processes a received frame: an MKPDU for this CA updates the
// peers, the key server and the SAKs; anything else is counted and dropped.
// It never panics on bad input.
func (p *Participant) Receive(now time.Time, frame []byte) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.receive(now, frame)
	out := p.flush(now)
	p.mu.Unlock()
	p.send(out)
}

func (p *Participant) receive(now time.Time, frame []byte) {
	m := &p.rx
	covered, icv, err := DecodeFrame(frame, m)
	switch {
	case errors.Is(err, ErrNotMKPDU):
		p.counters.RxNotMKPDU++
		return
	case err != nil:
		p.counters.RxMalformed++
		p.log.Debug("MKPDU dropped", "err", err)
		return
	case !m.CKN.Equal(p.cfg.PSK.CKN):
		p.counters.RxUnknownCKN++
		return
	case m.AlgorithmAgility != AlgorithmAgility:
		p.counters.RxBadAgility++
		return
	case !p.ick.check(covered, icv):
		p.counters.RxBadICV++
		return
	case m.MI == p.mi:
		// Our own MKPDU looped back, or another member drew our MI: then
		// we take a new one (802.1X-2020 9.4.2).
		p.counters.RxOwnMI++
		if m.SCI != p.cfg.SCI {
			p.newMI(now)
		}
		return
	}
	p.handlePeer(now, m)
}

// newMI restarts this participant's identity after an MI collision.
func (p *Participant) newMI(now time.Time) {
	if _, err := io.ReadFull(p.cfg.Rand, p.mi[:]); err != nil {
		p.log.Error("no random MI", "err", err)
		return
	}
	p.mn = 0
	p.sentMN = p.sentMN[:0]
	p.txNow = true
}
