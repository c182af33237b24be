package bgp

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/clock"
)

// peer is a neighbour and its FSM. Every field is owned by the speaker's
// loop; other goroutines reach it only through Speaker.post.
type peer struct {
	s   *Speaker
	cfg NeighborConfig
	log interface {
		Info(string, ...any)
		Debug(string, ...any)
	}

	state   State
	conn    *conn // the connection the FSM runs on
	pending *conn // a second connection, kept until collision resolution (RFC 4271 §6.8)
	dialGen uint64
	cancel  context.CancelFunc // the dial in progress

	timers [numTimers]clock.Slot

	peerOpen  openInfo
	families  map[Family]bool
	hold      time.Duration
	keepalive time.Duration
	since     time.Time // entered the current state
	upSince   time.Time

	// adjIn is the Adj-RIB-In as received (before import policy); the
	// accepted flag of each entry is whether import policy let it in.
	adjIn    map[netip.Prefix]*Path
	accepted map[netip.Prefix]bool
	adjOut   map[netip.Prefix]*Path
	outQ     map[netip.Prefix]*Path // pending Adj-RIB-Out changes; nil = withdraw
	localNH  netip.Addr

	stopped  bool // shutting down: never restart
	holdDown bool // max-prefix: stay down until Reset or the restart timer
	flaps    int
	counters Counters
	lastSent *NotificationEvent
	lastRcvd *NotificationEvent
	lastErr  string
	lastDown string // why it last left Established

	bfdCancel func()
	bfdState  bfd.State
}

// Counters are a neighbour's message counts.
type Counters struct {
	MessagesIn, MessagesOut uint64
	UpdatesIn, UpdatesOut   uint64
	Notifications           uint64
	Established             uint64 // transitions into Established
}

func newPeer(s *Speaker, n NeighborConfig) *peer {
	n.Port = orDefault(n.Port, Port)
	if len(n.Families) == 0 {
		n.Families = []Family{IPv4Unicast, IPv6Unicast}
	}
	if n.HoldTime == 0 {
		n.HoldTime = s.cfg.HoldTime
	}
	if n.KeepaliveTime == 0 {
		n.KeepaliveTime = s.cfg.KeepaliveTime
	}
	return &peer{
		s:   s,
		cfg: n,
		log: s.log.With("neighbor", n.Address, "name", n.Name),
	}
}

func (p *peer) ebgp() bool { return p.cfg.ASN != p.s.cfg.ASN }

func (p *peer) setState(st State, reason string) {
	if st == p.state {
		return
	}
	p.log.Debug("FSM transition", "from", p.state, "to", st, "reason", reason)
	if p.state == Established {
		p.lastDown = reason
	}
	if st == Established || p.state == Established {
		p.log.Info("BGP session "+map[bool]string{true: "up", false: "down"}[st == Established], "state", st, "reason", reason)
	}
	p.state = st
	p.since = p.s.clk.Now()
}

// arm (re)starts a timer. Its expiry is an event of the speaker's loop;
// the slot makes one that fired just before being re-armed or stopped a
// no-op when it arrives.
func (p *peer) arm(k timerKind, d time.Duration, f func()) {
	p.timers[k].Arm(p.s.clk, d, func(g uint64) {
		p.s.post(func() {
			if p.timers[k].Current(g) {
				f()
			}
		})
	})
}

func (p *peer) disarm(k timerKind) { p.timers[k].Stop() }

// start leaves Idle after delay (the IdleHoldTimer) with a ManualStart
// or AutomaticStart event (RFC 4271 §8.1.2).
func (p *peer) start(delay time.Duration) {
	if p.stopped || p.holdDown {
		return
	}
	if delay <= 0 {
		p.connect()
		return
	}
	p.arm(idleHoldTimer, delay, p.connect)
}

func (p *peer) connect() {
	if p.stopped || p.holdDown || p.state != Idle && p.state != Connect && p.state != Active {
		return
	}
	p.arm(connectRetryTimer, p.s.jitter(p.s.cfg.ConnectRetryTime), p.connect)
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	if p.cfg.Passive || p.s.dial == nil {
		p.setState(Active, "passive")
		return
	}
	p.setState(Connect, "connect")
	p.dialGen++
	g := p.dialGen
	ctx, cancel := context.WithTimeout(p.s.ctx, p.s.cfg.ConnectRetryTime)
	p.cancel = cancel
	local, remote := p.cfg.LocalAddress, netip.AddrPortFrom(p.cfg.Address, p.cfg.Port)
	go func() {
		nc, err := p.s.dial(ctx, local, remote)
		p.s.post(func() {
			if g != p.dialGen {
				if nc != nil {
					nc.Close()
				}
				return
			}
			p.cancel = nil
			cancel()
			if err != nil {
				if p.state == Connect || p.state == Active {
					p.lastErr = "connect: " + err.Error()
				}
				if p.state == Connect {
					p.setState(Active, "connect failed")
				}
				return
			}
			// Also when the peer's connection came first: ours then joins
			// collision resolution (RFC 4271 §6.8) rather than being dropped,
			// which would close the connection the peer chose.
			p.connected(nc, true)
		})
		if err != nil && nc == nil {
			cancel()
		}
	}()
}

// connected takes a new TCP connection, ours or the peer's.
func (p *peer) connected(nc net.Conn, outgoing bool) {
	switch {
	case p.stopped || p.holdDown:
		nc.Close() // RFC 4271 §8.2.2: Idle refuses connections
	case p.state == Idle || p.state == Connect || p.state == Active:
		// Waiting out the IdleHoldTimer after a session ended delays only
		// our own dial: refusing the peer's connection then would end its
		// attempt too, and two sides whose hold times interleave refuse
		// each other for ever. A dial of ours still running goes on: if it
		// connects, that connection is the second one of a collision.
		p.disarm(idleHoldTimer)
		p.disarm(connectRetryTimer)
		p.conn = p.s.newConn(nc, outgoing)
		p.startReader(p.conn)
		p.sendOpen(p.conn)
		p.setState(OpenSent, "connection up")
		p.arm(holdTimer, largeHoldTime*time.Second, func() { p.holdExpired() })
	case (p.state == OpenSent || p.state == OpenConfirm) && p.pending == nil && p.conn.outgoing != outgoing:
		p.pending = p.s.newConn(nc, outgoing)
		p.startReader(p.pending)
		p.sendOpen(p.pending)
	default:
		c := p.s.newConn(nc, outgoing)
		c.closeAfter(notify(CodeCease, CeaseConnectionCollision, nil).message())
	}
}

func (p *peer) offeredHold() uint16 {
	if p.cfg.HoldTimeZero {
		return 0
	}
	return uint16(p.cfg.HoldTime / time.Second)
}

func (p *peer) sendOpen(c *conn) {
	c.send(buildOpen(p.s.cfg.ASN, p.offeredHold(), p.s.cfg.RouterID, p.cfg.Families))
	p.counters.MessagesOut++
}

func (p *peer) startReader(c *conn) {
	go func() {
		for {
			raw, err := readMessage(c.nc)
			if err != nil {
				var n *Notification
				if errors.As(err, &n) {
					p.s.post(func() { p.messageError(c, n) })
				} else {
					p.s.post(func() { p.connClosed(c, err) })
				}
				return
			}
			m, perr := parseMessage(raw)
			p.s.post(func() { p.received(c, raw[18], m, perr) })
			if perr != nil && m == nil {
				return
			}
		}
	}()
}

func (p *peer) connClosed(c *conn, err error) {
	switch c {
	case p.pending:
		p.pending = nil
		c.closeAfter(nil)
	case p.conn:
		reason := "connection closed"
		if werr := c.writeErr(); werr != nil {
			reason = "connection error: " + werr.Error()
		} else if err != nil && !errors.Is(err, io.EOF) {
			reason = "connection error: " + err.Error()
		}
		p.lastErr = reason
		p.down(nil, reason)
	}
}

func (p *peer) messageError(c *conn, n *Notification) {
	if c == p.pending {
		p.pending = nil
		c.closeAfter(n.message())
		return
	}
	if c == p.conn {
		p.down(n, "malformed message: "+n.String())
	}
}

// down ends the session: it sends n if not nil, closes the connections,
// withdraws the neighbour's routes and goes to Idle, from which it
// restarts after the IdleHoldTimer unless stopped or held down.
func (p *peer) down(n *Notification, reason string) {
	if n != nil && p.conn != nil {
		p.lastSent = &NotificationEvent{Notification: *n, At: p.s.clk.Now()}
		p.counters.Notifications++
		p.counters.MessagesOut++
		p.conn.closeAfter(n.message())
	} else if p.conn != nil {
		p.conn.closeAfter(nil)
	}
	if p.pending != nil {
		p.pending.closeAfter(nil)
	}
	if n != nil {
		p.lastErr = reason
	}
	wasUp := p.state == Established
	p.conn, p.pending = nil, nil
	p.dialGen++
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	for k := range numTimers {
		p.disarm(k)
	}
	for prefix := range p.adjIn {
		if p.s.rib.remove(prefix, p.cfg.Address) {
			p.s.changed[prefix] = true
		}
	}
	p.adjIn, p.accepted, p.adjOut, p.outQ = nil, nil, nil, nil
	if wasUp {
		p.flaps++
	}
	p.setState(Idle, reason)
	if !p.stopped {
		p.start(p.s.jitter(p.s.cfg.IdleHoldTime))
	}
}

func (p *peer) holdExpired() {
	p.down(notify(CodeHoldTimer, 0, nil), "hold timer expired")
}

func (p *peer) resetHold() {
	if p.hold > 0 && p.state >= OpenConfirm {
		p.arm(holdTimer, p.hold, p.holdExpired)
	}
}

func (p *peer) sendKeepalive() {
	if p.conn == nil {
		return
	}
	p.conn.send(bgp.NewBGPKeepAliveMessage())
	p.counters.MessagesOut++
	if p.keepalive > 0 {
		p.arm(keepaliveTimer, p.keepalive, p.sendKeepalive)
	}
}

// fsmError is the NOTIFICATION for a message that the state does not
// expect (RFC 6608).
func (p *peer) fsmError() *Notification {
	sub := map[State]uint8{OpenSent: 1, OpenConfirm: 2, Established: 3}[p.state]
	return notify(CodeFSM, sub, nil)
}

func (p *peer) received(c *conn, typ uint8, m *bgp.BGPMessage, perr error) {
	if c != p.conn && c != p.pending {
		return // a connection we already dropped
	}
	p.counters.MessagesIn++
	if perr != nil {
		var me *bgp.MessageError
		if typ == msgUpdate && m != nil && errors.As(perr, &me) && me.ErrorHandling < bgp.ERROR_HANDLING_AFISAFI_DISABLE && c == p.conn && p.state == Established {
			// RFC 7606: attribute-discard and treat-as-withdraw keep the session.
			p.update(m.Body.(*bgp.BGPUpdate), me.ErrorHandling == bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW)
			return
		}
		p.messageError(c, asNotification(perr, typ))
		return
	}
	switch body := m.Body.(type) {
	case *bgp.BGPNotification:
		n := Notification{Code: body.ErrorCode, Subcode: body.ErrorSubcode, Data: body.Data}
		p.lastRcvd = &NotificationEvent{Notification: n, At: p.s.clk.Now()}
		if c == p.pending {
			p.pending = nil
			c.closeAfter(nil)
			return
		}
		p.down(nil, "NOTIFICATION received: "+n.String())
		p.lastErr = "received " + n.String()
	case *bgp.BGPOpen:
		p.open(c, body)
	case *bgp.BGPKeepAlive:
		if c != p.conn {
			return
		}
		switch p.state {
		case OpenConfirm:
			p.established()
		case Established:
			p.resetHold()
		default:
			p.down(p.fsmError(), "unexpected KEEPALIVE")
		}
	case *bgp.BGPUpdate:
		if c != p.conn {
			return
		}
		if p.state != Established {
			p.down(p.fsmError(), "unexpected UPDATE")
			return
		}
		p.update(body, false)
	case *bgp.BGPRouteRefresh:
		if c != p.conn || p.state != Established {
			return
		}
		if f, ok := familyFrom(body.AFI, body.SAFI); ok && p.families[f] {
			p.refresh(f)
		}
	}
}

// open handles an OPEN on connection c (RFC 4271 §6.2, §6.8).
func (p *peer) open(c *conn, o *bgp.BGPOpen) {
	if c == p.conn && p.state != OpenSent {
		p.down(p.fsmError(), "unexpected OPEN")
		return
	}
	info, n := parseOpen(o)
	if n == nil && info.asn != p.cfg.ASN {
		n = badPeerAS(o)
	}
	if n == nil && !p.ebgp() && info.id == p.s.cfg.RouterID {
		n = notify(CodeOpenMessage, 3, nil)
	}
	if n != nil {
		p.messageError(c, n)
		return
	}
	c.open = &info
	if other := p.otherConn(c); other != nil {
		// Collision: keep the connection opened by the side with the
		// higher BGP Identifier (RFC 4271 §6.8).
		keepOurs := p.s.cfg.RouterID.Compare(info.id) > 0
		if c.outgoing != keepOurs {
			if c == p.pending {
				p.pending = nil
			} else {
				p.conn, p.pending = p.pending, nil
				p.setState(OpenSent, "collision resolved")
			}
			c.closeAfter(notify(CodeCease, CeaseConnectionCollision, nil).message())
			if p.state == OpenSent && p.conn.open != nil {
				p.openConfirm(*p.conn.open)
			}
			return
		}
		other.closeAfter(notify(CodeCease, CeaseConnectionCollision, nil).message())
		p.conn, p.pending = c, nil
		p.setState(OpenSent, "collision resolved")
	}
	p.openConfirm(info)
}

func (p *peer) otherConn(c *conn) *conn {
	if c == p.conn {
		return p.pending
	}
	return p.conn
}

// openConfirm negotiates from the peer's OPEN and moves to OpenConfirm.
func (p *peer) openConfirm(info openInfo) {
	p.peerOpen = info
	p.families = map[Family]bool{}
	for _, f := range p.cfg.Families {
		if info.families[f] {
			p.families[f] = true
		}
	}
	hold := min(time.Duration(info.hold)*time.Second, time.Duration(p.offeredHold())*time.Second)
	p.hold = hold
	p.keepalive = hold / 3
	if k := p.cfg.KeepaliveTime; k > 0 && k < p.keepalive {
		p.keepalive = k
	}
	p.setState(OpenConfirm, "OPEN received")
	p.disarm(holdTimer)
	p.sendKeepalive()
	if p.hold > 0 {
		p.arm(holdTimer, p.hold, p.holdExpired)
	}
}

func (p *peer) established() {
	p.setState(Established, "KEEPALIVE received")
	p.upSince = p.s.clk.Now()
	p.counters.Established++
	p.lastErr = ""
	p.resetHold()
	p.adjIn = map[netip.Prefix]*Path{}
	p.accepted = map[netip.Prefix]bool{}
	p.adjOut = map[netip.Prefix]*Path{}
	p.outQ = map[netip.Prefix]*Path{}
	p.localNH = addrOf(p.conn.nc.LocalAddr())
	if p.cfg.LocalAddress.IsValid() {
		p.localNH = p.cfg.LocalAddress
	}
	for prefix := range p.s.rib.dests {
		p.export(prefix)
	}
}

// maxPrefixData is the Cease data of RFC 4486 §4: AFI, SAFI, upper bound.
func maxPrefixData(f Family, limit int) []byte {
	afi, safi := f.afiSafi()
	d := make([]byte, 7)
	binary.BigEndian.PutUint16(d, afi)
	d[2] = safi
	binary.BigEndian.PutUint32(d[3:], uint32(limit))
	return d
}

func (p *peer) update(u *bgp.BGPUpdate, withdrawAll bool) {
	p.counters.UpdatesIn++
	p.resetHold()
	// An UPDATE that failed to parse with treat-as-withdraw (RFC 7606) keeps
	// half-decoded attributes, which gobgp's validator indexes: a NEXT_HOP
	// with wrong flags has no address and made it panic. Its routes are
	// withdrawn whatever the validator would say, so it is not asked.
	if !withdrawAll {
		var n *Notification
		if withdrawAll, n = p.validateUpdate(u); n != nil {
			p.down(n, "malformed UPDATE: "+n.String())
			return
		}
	}
	r, n := decodeUpdate(u, p.peerOpen.as4)
	if n != nil {
		p.down(n, "malformed UPDATE: "+n.String())
		return
	}
	if withdrawAll {
		r.withdraw = append(r.withdraw, r.reach...)
		r.reach = nil
	}
	if r.attrs != nil && (p.ebgp() && r.attrs.ASPath.Contains(p.s.cfg.ASN) || !r.attrs.NextHop.IsValid()) {
		// AS loop (RFC 4271 §9.1.2) or no usable next hop: not feasible.
		r.withdraw = append(r.withdraw, r.reach...)
		r.reach = nil
	}
	// Maximum prefixes: count what the table would hold after this UPDATE.
	if r.attrs != nil {
		count := map[Family]int{}
		for prefix := range p.adjIn {
			count[FamilyOf(prefix)]++
		}
		for _, prefix := range r.reach {
			if p.adjIn[prefix] == nil {
				count[FamilyOf(prefix)]++
			}
		}
		for _, f := range Families {
			if limit := p.cfg.MaxPrefix.limit(f); limit > 0 && count[f] > limit {
				p.holdDown = true
				nt := notify(CodeCease, CeaseMaxPrefixes, maxPrefixData(f, limit))
				p.down(nt, "maximum prefixes reached")
				p.lastErr = "maximum prefixes " + f.String() + " exceeded"
				if d := p.cfg.MaxPrefix.Restart; d > 0 {
					p.arm(idleHoldTimer, d, func() { p.holdDown = false; p.start(0) })
				}
				return
			}
		}
	}
	for _, prefix := range r.withdraw {
		if !p.families[FamilyOf(prefix)] {
			continue
		}
		delete(p.adjIn, prefix)
		delete(p.accepted, prefix)
		if p.s.rib.remove(prefix, p.cfg.Address) {
			p.s.changed[prefix] = true
		}
	}
	for _, prefix := range r.reach {
		if !p.families[FamilyOf(prefix)] {
			continue
		}
		path := r.attrs.clone()
		path.Prefix = prefix
		path.Peer, path.PeerASN, path.PeerID, path.EBGP = p.cfg.Address, p.cfg.ASN, p.peerOpen.id, p.ebgp()
		if path.EBGP {
			path.LocalPref = 100 // LOCAL_PREF is not for eBGP (RFC 4271 §5.1.5)
		}
		p.s.seq++
		path.Received = p.s.seq
		p.adjIn[prefix] = path
		p.importPath(path)
	}
}

// validateUpdate runs gobgp's checks of a parsed UPDATE (RFC 7606): whether
// its routes are to be withdrawn, or the NOTIFICATION that ends the session.
func (p *peer) validateUpdate(u *bgp.BGPUpdate) (withdrawAll bool, n *Notification) {
	rfs := map[bgp.RouteFamily]bgp.BGPAddPathMode{}
	for f := range p.families {
		rfs[f.routeFamily()] = bgp.BGP_ADD_PATH_NONE
	}
	_, err := bgp.ValidateUpdateMsg(u, rfs, p.ebgp(), false, false)
	if err == nil {
		return false, nil
	}
	var me *bgp.MessageError
	switch {
	case !errors.As(err, &me) || me.TypeCode == 0:
		return true, nil // a family we did not negotiate
	case me.ErrorHandling >= bgp.ERROR_HANDLING_AFISAFI_DISABLE:
		// RFC 7606 allows disabling the family; we reset instead.
		return false, asNotification(err, msgUpdate)
	}
	return me.ErrorHandling == bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW, nil
}

// importPath runs import policy on a received path and updates the Loc-RIB.
func (p *peer) importPath(path *Path) {
	in := p.cfg.Import.apply(path, p.s.cfg.ASN)
	changed := false
	if in == nil {
		delete(p.accepted, path.Prefix)
		changed = p.s.rib.remove(path.Prefix, p.cfg.Address)
	} else {
		p.accepted[path.Prefix] = true
		changed = p.s.rib.put(in)
	}
	if changed {
		p.s.changed[path.Prefix] = true
	}
}

// refresh re-advertises the Adj-RIB-Out of family f (RFC 2918 §4).
func (p *peer) refresh(f Family) {
	for prefix, path := range p.adjOut {
		if FamilyOf(prefix) == f {
			p.outQ[prefix] = path
		}
	}
}

func (p *peer) subscribeBFD() {
	if p.cfg.BFD == nil {
		return
	}
	p.bfdCancel = p.cfg.BFD.Subscribe(func(ch bfd.Change) {
		p.s.post(func() { p.bfdChanged(ch) })
	})
}

func (p *peer) unsubscribeBFD() {
	if p.bfdCancel != nil {
		p.bfdCancel()
		p.bfdCancel = nil
	}
}

// bfdChanged drops the session when BFD declares the neighbour down
// (RFC 5882 §4.1; Cease subcode BFD Down, RFC 9384).
func (p *peer) bfdChanged(ch bfd.Change) {
	p.bfdState = ch.New
	if ch.Old == bfd.Up && ch.New == bfd.Down && p.state >= OpenSent {
		p.down(notify(CodeCease, CeaseBFDDown, nil), "BFD down")
	}
}

func bgpRouteRefresh(afi uint16, safi uint8) *bgp.BGPMessage {
	return bgp.NewBGPRouteRefreshMessage(afi, 0, safi)
}
