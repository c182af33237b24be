package mka

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// The lab: participants with real SecYs on an in-memory wire, in
// simulated time. The wire delays every frame by wireDelay and keeps order.

const (
	wireDelay = time.Millisecond
	step      = time.Millisecond
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recordingSecY passes calls to a real SecY and remembers the keys
// installed, to check the salt and SSCIs each side used.
type recordingSecY struct {
	*macsec.SecY
	mu  sync.Mutex
	tx  map[uint8]macsec.Key
	rx  map[uint8]macsec.Key
	log []string
}

func (r *recordingSecY) InstallTxSA(an uint8, k macsec.Key, nextPN uint64) error {
	r.mu.Lock()
	r.tx[an] = macsec.Key{SSCI: k.SSCI, Salt: k.Salt, SAK: append([]byte(nil), k.SAK...)}
	r.log = append(r.log, fmt.Sprintf("install tx %d", an))
	r.mu.Unlock()
	return r.SecY.InstallTxSA(an, k, nextPN)
}

func (r *recordingSecY) InstallRxSA(sci macsec.SCI, an uint8, k macsec.Key, nextPN uint64) error {
	r.mu.Lock()
	r.rx[an] = macsec.Key{SSCI: k.SSCI, Salt: k.Salt, SAK: append([]byte(nil), k.SAK...)}
	r.log = append(r.log, fmt.Sprintf("install rx %d", an))
	r.mu.Unlock()
	return r.SecY.InstallRxSA(sci, an, k, nextPN)
}

func (r *recordingSecY) SetEncodingSA(an uint8) error {
	r.mu.Lock()
	r.log = append(r.log, fmt.Sprintf("encoding %d", an))
	r.mu.Unlock()
	return r.SecY.SetEncodingSA(an)
}

type node struct {
	name string
	mac  net.HardwareAddr
	sci  macsec.SCI
	secy *recordingSecY
	p    *Participant
	peer *node

	sent, delivered, dropped int // data frames: protected and sent, delivered, refused by Protect
	seqTx, seqRx             uint32
	outOfOrder               int
	gaps                     gapMeter
	now                      *time.Time
}

type frame struct {
	at   time.Time
	to   *node
	data bool
	b    []byte
}

type lab struct {
	mu   sync.Mutex // Send may be called from several goroutines
	t    testing.TB
	now  time.Time
	wire []frame
	a, b *node
	// mka frames on the wire, in order, for pcap and inspection
	mkpdus [][]byte
}

type nodeOpts struct {
	psk         PSK
	priority    uint8
	pnThreshold uint64
	hello, life time.Duration
}

func newNode(l *lab, name string, mac byte, suite macsec.CipherSuite, o nodeOpts, seed uint64) *node {
	n := &node{name: name, mac: net.HardwareAddr{0x02, 0, 0, 0, 0, mac}, now: &l.now}
	n.sci = macsec.NewSCI(n.mac, 1)
	y, err := macsec.New(macsec.Config{
		Suite: suite, SCI: n.sci, ValidateFrames: macsec.Strict, ReplayProtect: true,
		PNThreshold:   o.pnThreshold,
		OnPNThreshold: func(an uint8, pn uint64) { n.p.PNThresholdReached(an, pn) },
	})
	require.NoError(l.t, err)
	n.secy = &recordingSecY{SecY: y, tx: map[uint8]macsec.Key{}, rx: map[uint8]macsec.Key{}}
	n.p = l.newParticipant(n, suite, o, seed)
	return n
}

func (l *lab) newParticipant(n *node, suite macsec.CipherSuite, o nodeOpts, seed uint64) *Participant {
	p, err := NewParticipant(Config{
		PSK: o.psk, Suite: suite, SCI: n.sci, KeyServerPriority: o.priority,
		HelloTime: o.hello, LifeTime: o.life, PNThreshold: o.pnThreshold,
		Rand: newTestRand(seed), SecY: n.secy,
		Send: func(f []byte) { l.put(n.peer, false, f) },
	})
	require.NoError(l.t, err)
	return p
}

// testPSK makes a PSK from hex; a short CAK is zero-padded to the suite's
// key length.
func testPSK(t testing.TB, ckn, cak string, suite macsec.CipherSuite) PSK {
	n, err := hex.DecodeString(ckn)
	require.NoError(t, err)
	raw, err := hex.DecodeString(cak)
	require.NoError(t, err)
	key := make([]byte, suite.KeyLen())
	copy(key, raw)
	k, err := NewCAK(key)
	require.NoError(t, err)
	return PSK{CKN: CKN(n), CAK: k}
}

// newLab joins two participants; a has priority pa, b pb.
func newLab(t testing.TB, suite macsec.CipherSuite, oa, ob nodeOpts) *lab {
	l := &lab{t: t, now: t0}
	l.a = newNode(l, "a", 0x0A, suite, oa, 1)
	l.b = newNode(l, "b", 0x0B, suite, ob, 2)
	l.a.peer, l.b.peer = l.b, l.a
	return l
}

func (l *lab) put(to *node, data bool, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !data {
		l.mkpdus = append(l.mkpdus, b)
	}
	l.wire = append(l.wire, frame{at: l.now.Add(wireDelay), to: to, data: data, b: b})
}

// advance runs simulated time forward by d in 1 ms steps, calling every
// second the traffic function (if any) each `every`.
func (l *lab) advance(d time.Duration, every time.Duration, traffic func()) {
	end := l.now.Add(d)
	next := l.now
	for l.now.Before(end) {
		l.now = l.now.Add(step)
		l.deliver()
		l.a.p.Tick(l.now)
		l.b.p.Tick(l.now)
		if traffic != nil && !l.now.Before(next) {
			traffic()
			next = l.now.Add(every)
		}
	}
}

func (l *lab) deliver() {
	for len(l.wire) > 0 && !l.wire[0].at.After(l.now) {
		f := l.wire[0]
		l.wire = l.wire[1:]
		if f.data {
			f.to.receiveData(f.b)
		} else {
			f.to.p.Receive(l.now, f.b)
		}
	}
}

// sendData protects one numbered frame and puts it on the wire; a frame
// the SecY refuses (no SA: no cleartext fallback) is counted as dropped.
func (l *lab) sendData(from *node) {
	buf := make([]byte, macsec.Headroom+100+macsec.ICVLen)
	f := buf[macsec.Headroom : macsec.Headroom+100]
	copy(f, from.peer.mac)
	copy(f[6:], from.mac)
	binary.BigEndian.PutUint16(f[12:], 0x88B5) // local experimental EtherType
	binary.BigEndian.PutUint32(f[14:], from.seqTx+1)
	out, err := from.secy.Protect(buf, macsec.Headroom, 100)
	if err != nil {
		from.dropped++
		return
	}
	from.seqTx++
	from.sent++
	l.put(from.peer, true, append([]byte(nil), out...))
}

// sendClear puts an unprotected frame on the wire, as an attacker or a
// misconfigured peer would.
func (l *lab) sendClear(from *node) {
	f := make([]byte, 100)
	copy(f, from.peer.mac)
	copy(f[6:], from.mac)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	l.put(from.peer, true, f)
}

func (n *node) receiveData(b []byte) {
	buf := make([]byte, macsec.Headroom+len(b))
	copy(buf[macsec.Headroom:], b)
	out, res := n.secy.Validate(buf, macsec.Headroom, len(b))
	if !res.Delivered() {
		return
	}
	n.delivered++
	n.gaps.saw(*n.now)
	seq := binary.BigEndian.Uint32(out[14:])
	if seq <= n.seqRx {
		n.outOfOrder++ // reordered or duplicated
	}
	n.seqRx = seq
}

func (l *lab) both(f func(n *node)) { f(l.a); f(l.b) }

func (l *lab) traffic() { l.sendData(l.a); l.sendData(l.b) }

// up reports whether both SecYs transmit with an agreed SAK.
func (l *lab) up() bool { return l.a.p.Status().Secured && l.b.p.Status().Secured }

// deliveries records when data frames arrive, to measure outages.
type gapMeter struct {
	last   time.Time
	maxGap time.Duration
	gapEnd time.Time
}

func (g *gapMeter) saw(now time.Time) {
	if !g.last.IsZero() && now.Sub(g.last) > g.maxGap {
		g.maxGap, g.gapEnd = now.Sub(g.last), now
	}
	g.last = now
}
