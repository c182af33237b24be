package ike

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Config is one IKE peer's policy: who it is, whom it talks to, what it
// offers and accepts.
type Config struct {
	// Local and Remote are the IKE endpoints as this side sees them, for
	// NAT detection (RFC 7296 §2.23).
	Local, Remote netip.AddrPort
	// LocalID and RemoteID are the identities (nil: the addresses, as
	// Azure's gateways use). A peer with another identity fails
	// authentication.
	LocalID, RemoteID *ID
	PSK               []byte `json:"-"`
	// IKE and ESP are the proposals, in order of preference: offered as
	// initiator, accepted as responder. An ESP suite's DH is its PFS group
	// for CREATE_CHILD_SA (IKE_AUTH's Child SA takes its keys from the IKE
	// SA's exchange).
	IKE, ESP []Suite
	// LocalTS and RemoteTS are the traffic selectors of the Child SA (nil:
	// any IPv4 address, a route-based tunnel).
	LocalTS, RemoteTS []TrafficSelector
	// ForceEncap makes the peer see a NAT (a NAT_DETECTION_SOURCE_IP that
	// matches nothing, as strongSwan's encap=yes), so that both sides use
	// port 4500 and ESP in UDP: what a userspace ESP data plane needs.
	ForceEncap bool
	Rand       io.Reader // nil: crypto/rand
	Now        func() time.Time
}

func (c *Config) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Config) localID(t PayloadType) *ID {
	if c.LocalID != nil {
		id := *c.LocalID
		id.PType = t
		return &id
	}
	return IPID(t, c.Local.Addr())
}

func (c *Config) remoteID() *ID {
	if c.RemoteID != nil {
		return c.RemoteID
	}
	return IPID(PayloadIDr, c.Remote.Addr())
}

func (c *Config) ts(local bool) []TrafficSelector {
	if local && c.LocalTS != nil {
		return c.LocalTS
	}
	if !local && c.RemoteTS != nil {
		return c.RemoteTS
	}
	return []TrafficSelector{AnyTS(c.Local.Addr().Is6())}
}

// ChildSA is a negotiated pair of ESP SAs.
type ChildSA struct {
	Suite           Suite
	InSPI, OutSPI   uint32 // ours (the peer sends to it) and the peer's
	InEncr, InInteg []byte `json:"-"` // the keys of the inbound SA
	OutEncr         []byte `json:"-"`
	OutInteg        []byte `json:"-"`
	LocalTS         []TrafficSelector
	RemoteTS        []TrafficSelector
	Created         time.Time
	Rekeys          int // how many rekeys led to this SA
}

// EventKind is what happened to an IKE SA or a Child SA.
type EventKind uint8

const (
	// EvEstablished: the IKE SA is authenticated.
	EvEstablished EventKind = iota + 1
	// EvInstallIn: install the Child SA's inbound SA (the peer may use it
	// from now on).
	EvInstallIn
	// EvInstallOut: send on the Child SA from now on; with Old set, the
	// SA it replaces stops sending.
	EvInstallOut
	// EvRemove: remove both SAs of the Child SA.
	EvRemove
	// EvChildFailed: the peer refused a Child SA (Notify says why); the
	// IKE SA stays.
	EvChildFailed
	// EvIKERekeyed: the IKE SA has new SPIs and keys.
	EvIKERekeyed
	// EvFailed: the IKE SA could not be set up (Notify, Err say why).
	EvFailed
	// EvClosed: the IKE SA is gone (deleted by either side).
	EvClosed
	// EvNATDetected: a NAT (or the peer's forced encapsulation) is
	// between the peers: IKE moves to port 4500 and ESP travels in UDP.
	EvNATDetected
)

var eventNames = map[EventKind]string{EvEstablished: "established", EvInstallIn: "install-in", EvInstallOut: "install-out",
	EvRemove: "remove", EvChildFailed: "child-failed", EvIKERekeyed: "ike-rekeyed", EvFailed: "failed", EvClosed: "closed",
	EvNATDetected: "nat-detected"}

func (k EventKind) String() string { return eventNames[k] }

// Event is what the runtime must act on.
type Event struct {
	Kind   EventKind
	Child  *ChildSA
	Old    *ChildSA // EvInstallOut after a rekey: the SA replaced
	Notify NotifyType
	Err    error
}

func (e Event) String() string {
	s := e.Kind.String()
	if e.Child != nil {
		s += fmt.Sprintf(" in %08x out %08x", e.Child.InSPI, e.Child.OutSPI)
	}
	if e.Notify != 0 {
		s += " " + e.Notify.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// State of an IKE SA.
type State uint8

const (
	StateInit        State = iota + 1 // IKE_SA_INIT in progress
	StateAuth                         // IKE_AUTH in progress
	StateEstablished                  // authenticated
	StateClosed                       // deleted or failed
)

func (s State) String() string {
	return map[State]string{StateInit: "CONNECTING", StateAuth: "CONNECTING", StateEstablished: "ESTABLISHED", StateClosed: "DELETED"}[s]
}

// ikeKeys is one generation of an IKE SA: SPIs, keys, message IDs.
type ikeKeys struct {
	initiator  bool // we are the original initiator of this generation
	spii, spir uint64
	keys       *Keys
	in, out    *Crypter
	nextID     uint32 // the ID of our next request
	peerID     uint32 // the ID of the peer's next request
	lastResp   []byte // our response to the peer's last request
	lastRespID uint32
}

// ErrNotThisSA is a message for another IKE SA.
var ErrNotThisSA = errors.New("ike: message for another IKE SA")

// Session is one IKE SA with its Child SAs, as a pure state machine: it
// takes messages in and gives messages and events out; the caller moves
// the datagrams, runs the timers and installs the SAs.
type Session struct {
	cfg   *Config
	state State
	cur   *ikeKeys
	old   *ikeKeys // the generation being deleted after an IKE SA rekey
	suite Suite

	// IKE_SA_INIT
	dh          DH
	ni, nr      []byte
	initReq     []byte // our or the peer's IKE_SA_INIT request as sent
	initResp    []byte
	cookie      []byte
	NAT         bool // a NAT (or forced encapsulation) was detected
	established time.Time

	children []*ChildSA
	// The request in flight (window size 1, RFC 7296 §2.3) and what it
	// does when its response comes.
	pending    []byte
	pendingID  uint32
	pendingGen *ikeKeys
	onResp     func(m *Message) []Event

	// A Child SA rekeyed by the peer keeps sending on the old SA until
	// the peer deletes it (make-before-break, as strongSwan does).
	deferredOut map[uint32]*ChildSA // old InSPI → new child
	IKERekeys   int
}

// State returns the IKE SA's state.
func (s *Session) State() State { return s.state }

// SPIs returns the current SPIs.
func (s *Session) SPIs() (spii, spir uint64) { return s.cur.spii, s.cur.spir }

// Initiator reports whether this side is the original initiator of the
// current IKE SA.
func (s *Session) Initiator() bool { return s.cur.initiator }

// Suite is the IKE SA's suite.
func (s *Session) Suite() Suite { return s.suite }

// Children returns the installed Child SAs.
func (s *Session) Children() []*ChildSA { return append([]*ChildSA(nil), s.children...) }

// Established is when the IKE SA (or its latest rekey) came up.
func (s *Session) Established() time.Time { return s.established }

// Pending is the request in flight, to retransmit until its response
// comes (nil: none).
func (s *Session) Pending() []byte { return s.pending }

// Keys returns the current IKE keys (for tests and fingerprints).
func (s *Session) Keys() *Keys { return s.cur.keys }

func (s *Session) randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.rand(), b); err != nil {
		panic(fmt.Sprintf("ike: random source failed: %v", err))
	}
	return b
}

func (s *Session) newSPI64() uint64 {
	for {
		if v := binary.BigEndian.Uint64(s.randBytes(8)); v != 0 {
			return v
		}
	}
}

func (s *Session) newSPI32() uint32 {
	for {
		if v := binary.BigEndian.Uint32(s.randBytes(4)); v >= 256 {
			return v
		}
	}
}

// NewInitiator starts an IKE SA: it returns the session and its
// IKE_SA_INIT request.
func NewInitiator(cfg *Config) (*Session, []byte, error) {
	if len(cfg.IKE) == 0 || len(cfg.ESP) == 0 || len(cfg.PSK) == 0 {
		return nil, nil, errors.New("ike: a session needs IKE and ESP proposals and a PSK")
	}
	s := &Session{cfg: cfg, state: StateInit, deferredOut: map[uint32]*ChildSA{}}
	s.cur = &ikeKeys{initiator: true, spii: s.newSPI64()}
	s.ni = s.randBytes(32)
	var err error
	if s.dh, err = NewDH(cfg.IKE[0].DH, cfg.rand()); err != nil {
		return nil, nil, err
	}
	return s, s.initRequest(), nil
}

func (s *Session) natNotifies(spii, spir uint64) []Payload {
	src := NATHash(spii, spir, s.cfg.Local)
	if s.cfg.ForceEncap {
		src = s.randBytes(len(src))
	}
	return []Payload{
		&Notify{NType: NAT_DETECTION_SOURCE_IP, Data: src},
		&Notify{NType: NAT_DETECTION_DESTINATION_IP, Data: NATHash(spii, spir, s.cfg.Remote)},
	}
}

// checkNAT compares the peer's NAT detection hashes with what this side
// sees (RFC 7296 §2.23).
func (s *Session) checkNAT(m *Message) bool {
	src, dst := m.Notify(NAT_DETECTION_SOURCE_IP), m.Notify(NAT_DETECTION_DESTINATION_IP)
	if src == nil || dst == nil {
		return s.cfg.ForceEncap
	}
	return s.cfg.ForceEncap || !bytes.Equal(src.Data, NATHash(m.SPIi, m.SPIr, s.cfg.Remote)) ||
		!bytes.Equal(dst.Data, NATHash(m.SPIi, m.SPIr, s.cfg.Local))
}

func proposals(suites []Suite, p ProtocolID, spi []byte, pfs bool) *SA {
	sa := &SA{}
	for i, su := range suites {
		if !pfs && p == ProtoESP {
			su.DH = 0
		}
		sa.Proposals = append(sa.Proposals, Proposal{Num: uint8(i + 1), Protocol: p, SPI: spi, Transforms: su.Transforms(p)})
	}
	return sa
}

func (s *Session) initRequest() []byte {
	var ps []Payload
	if s.cookie != nil {
		ps = append(ps, &Notify{NType: COOKIE, Data: s.cookie})
	}
	ps = append(ps, proposals(s.cfg.IKE, ProtoIKE, nil, true), &KE{Group: s.dh.Group(), Data: s.dh.Public()}, &Nonce{Data: s.ni})
	ps = append(ps, s.natNotifies(s.cur.spii, 0)...)
	m := &Message{Header: Header{SPIi: s.cur.spii, Exchange: IKE_SA_INIT, Flags: FlagInitiator}, Payloads: ps}
	s.initReq = m.Marshal()
	s.pending, s.pendingID, s.pendingGen = s.initReq, 0, s.cur
	s.cur.nextID = 1
	return s.initReq
}

// Handle takes a message for this IKE SA and returns what to send (a
// response, or the next request) and the events.
func (s *Session) Handle(raw []byte) ([]byte, []Event, error) {
	h, err := ParseHeader(raw)
	if err != nil {
		return nil, nil, err
	}
	gen := s.cur
	if s.old != nil && h.SPIi == s.old.spii && h.SPIr == s.old.spir {
		gen = s.old
	} else if h.SPIi != s.cur.spii || (h.SPIr != s.cur.spir && !(s.state == StateInit && h.Exchange == IKE_SA_INIT)) {
		return nil, nil, ErrNotThisSA
	}
	if s.state == StateClosed {
		return nil, nil, nil // late messages of a closed SA: nothing to do
	}
	if h.Exchange == IKE_SA_INIT {
		if !h.IsResponse() || !s.cur.initiator || s.state != StateInit {
			return nil, nil, nil // a retransmitted request: the responder answered it already
		}
		return s.handleInitResponse(raw)
	}
	if h.FromInitiator() == gen.initiator {
		return nil, nil, fmt.Errorf("%w: the I flag is ours", ErrMalformed)
	}
	if h.IsResponse() {
		if s.pending == nil || gen != s.pendingGen || h.MessageID != s.pendingID {
			return nil, nil, nil // late or duplicate
		}
	} else {
		if h.MessageID+1 == gen.peerID && gen.lastResp != nil && h.MessageID == gen.lastRespID {
			return gen.lastResp, nil, nil // retransmitted request: the same answer
		}
		if h.MessageID != gen.peerID {
			return nil, nil, nil // out of the window: drop (RFC 7296 §2.3)
		}
	}
	m, err := Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	if gen.in == nil {
		return nil, nil, errors.New("ike: no keys yet")
	}
	if err := gen.in.Open(m, raw); err != nil {
		return nil, nil, err // dropped without an answer (RFC 7296 §2.21.2)
	}
	if h.IsResponse() {
		s.pending = nil
		f := s.onResp
		s.onResp = nil
		if f == nil {
			return nil, nil, nil
		}
		evs := f(m)
		return s.pending, evs, nil // a follow-up request f made, if any
	}
	resp, evs := s.handleRequest(gen, m)
	if resp == nil {
		return nil, evs, nil
	}
	out, err := gen.out.Seal(Header{SPIi: gen.spii, SPIr: gen.spir, Exchange: m.Exchange, Flags: s.flags(gen, true), MessageID: m.MessageID}, resp)
	if err != nil {
		return nil, evs, err
	}
	gen.peerID++
	gen.lastResp, gen.lastRespID = out, m.MessageID
	return out, evs, nil
}

func (s *Session) flags(gen *ikeKeys, response bool) Flags {
	var f Flags
	if gen.initiator {
		f |= FlagInitiator
	}
	if response {
		f |= FlagResponse
	}
	return f
}

// request seals a request on the current generation and makes it the one
// in flight; done runs when its response comes.
func (s *Session) request(gen *ikeKeys, x ExchangeType, ps []Payload, done func(*Message) []Event) ([]byte, error) {
	if s.pending != nil {
		return nil, ErrBusy
	}
	out, err := gen.out.Seal(Header{SPIi: gen.spii, SPIr: gen.spir, Exchange: x, Flags: s.flags(gen, false), MessageID: gen.nextID}, ps)
	if err != nil {
		return nil, err
	}
	s.pending, s.pendingID, s.pendingGen, s.onResp = out, gen.nextID, gen, done
	gen.nextID++
	return out, nil
}

// ErrBusy is a request asked for while another is in flight.
var ErrBusy = errors.New("ike: a request is in flight; retry when it is answered")

func (s *Session) fail(n NotifyType, err error) []Event {
	s.state = StateClosed
	s.pending = nil
	return []Event{{Kind: EvFailed, Notify: n, Err: err}}
}

func (s *Session) handleInitResponse(raw []byte) ([]byte, []Event, error) {
	m, err := Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	if n := m.Notify(COOKIE); n != nil && s.cookie == nil {
		s.cookie = clone(n.Data)
		return s.initRequest(), nil, nil
	}
	if n := m.Notify(INVALID_KE_PAYLOAD); n != nil && len(n.Data) == 2 {
		g := DHGroup(binary.BigEndian.Uint16(n.Data))
		for _, su := range s.cfg.IKE {
			if su.DH == g && g != s.dh.Group() {
				if s.dh, err = NewDH(g, s.cfg.rand()); err != nil {
					return nil, nil, err
				}
				return s.initRequest(), nil, nil
			}
		}
		return nil, s.fail(INVALID_KE_PAYLOAD, fmt.Errorf("the peer wants DH group %v, which we do not offer", g)), nil
	}
	for _, n := range m.Notifies() {
		if n.NType.IsError() {
			return nil, s.fail(n.NType, fmt.Errorf("the peer answered IKE_SA_INIT with %v", n.NType)), nil
		}
	}
	sa, ke, nr := Get[*SA](m), Get[*KE](m), Get[*Nonce](m)
	if sa == nil || ke == nil || nr == nil || len(sa.Proposals) != 1 || m.SPIr == 0 {
		return nil, s.fail(INVALID_SYNTAX, errors.New("IKE_SA_INIT response without SA, KE or nonce")), nil
	}
	suite, err := SuiteOf(sa.Proposals[0])
	if err == nil && !offered(s.cfg.IKE, suite) {
		err = fmt.Errorf("the peer chose %v, which we did not offer", suite)
	}
	if err != nil {
		return nil, s.fail(NO_PROPOSAL_CHOSEN, err), nil
	}
	if ke.Group != s.dh.Group() || suite.DH != ke.Group {
		return nil, s.fail(INVALID_KE_PAYLOAD, fmt.Errorf("the response's KE is group %v", ke.Group)), nil
	}
	gir, err := s.dh.Shared(ke.Data)
	if err != nil {
		return nil, s.fail(INVALID_KE_PAYLOAD, err), nil
	}
	s.suite, s.nr, s.initResp = suite, clone(nr.Data), clone(raw[:m.Length])
	s.cur.spir = m.SPIr
	if err := s.setKeys(s.cur, DeriveIKEKeys(suite, s.ni, s.nr, gir, s.cur.spii, s.cur.spir)); err != nil {
		return nil, nil, err
	}
	clear(gir)
	var evs []Event
	if s.checkNAT(m) {
		s.NAT = true
		evs = append(evs, Event{Kind: EvNATDetected})
	}
	s.pending = nil
	s.state = StateAuth
	out, err := s.authRequest()
	return out, evs, err
}

func offered(ours []Suite, s Suite) bool {
	for _, o := range ours {
		if o == s {
			return true
		}
	}
	return false
}

func (s *Session) setKeys(gen *ikeKeys, k *Keys) error {
	ci, err := NewCrypter(k.Suite, k.SKei, k.SKai)
	if err != nil {
		return err
	}
	cr, err := NewCrypter(k.Suite, k.SKer, k.SKar)
	if err != nil {
		return err
	}
	gen.keys = k
	if gen.initiator {
		gen.out, gen.in = ci, cr
	} else {
		gen.out, gen.in = cr, ci
	}
	return nil
}

func (s *Session) authRequest() ([]byte, error) {
	idi := s.cfg.localID(PayloadIDi)
	auth := PSKAuth(s.suite.PRF, s.cfg.PSK, s.initReq, s.nr, s.cur.keys.SKpi, idi)
	child := &ChildSA{InSPI: s.newSPI32()}
	spi := binary.BigEndian.AppendUint32(nil, child.InSPI)
	ps := []Payload{idi, &Auth{Method: AuthSharedKey, Data: auth}, &Notify{NType: INITIAL_CONTACT},
		proposals(s.cfg.ESP, ProtoESP, spi, false),
		&TS{PType: PayloadTSi, Selectors: s.cfg.ts(true)}, &TS{PType: PayloadTSr, Selectors: s.cfg.ts(false)}}
	return s.request(s.cur, IKE_AUTH, ps, func(m *Message) []Event { return s.authResponse(m, child) })
}

func (s *Session) authResponse(m *Message, child *ChildSA) []Event {
	if n := m.Notify(AUTHENTICATION_FAILED); n != nil {
		return s.fail(AUTHENTICATION_FAILED, errors.New("the peer refused our authentication (AUTHENTICATION_FAILED): check the pre-shared key and the identities"))
	}
	idr, a := m.ID(PayloadIDr), Get[*Auth](m)
	if idr == nil || a == nil {
		for _, n := range m.Notifies() {
			if n.NType.IsError() {
				return s.fail(n.NType, fmt.Errorf("the peer answered IKE_AUTH with %v", n.NType))
			}
		}
		return s.fail(INVALID_SYNTAX, errors.New("IKE_AUTH response without IDr or AUTH"))
	}
	if want := s.cfg.remoteID(); want.IDType != idr.IDType || !bytes.Equal(want.Data, idr.Data) {
		return s.fail(AUTHENTICATION_FAILED, fmt.Errorf("the peer is %v, not %v", idr, want))
	}
	expect := PSKAuth(s.suite.PRF, s.cfg.PSK, s.initResp, s.ni, s.cur.keys.SKpr, idr)
	if a.Method != AuthSharedKey || !hmacEqual(a.Data, expect) {
		return s.fail(AUTHENTICATION_FAILED, errors.New("the peer's AUTH does not verify with our pre-shared key"))
	}
	s.state, s.established = StateEstablished, s.cfg.now()
	evs := []Event{{Kind: EvEstablished}}
	if cevs := s.childFromResponse(m, child, nil, s.ni, s.nr); cevs != nil {
		return append(evs, cevs...)
	}
	s.children = append(s.children, child)
	return append(evs, Event{Kind: EvInstallIn, Child: child}, Event{Kind: EvInstallOut, Child: child})
}

// childFromResponse completes a Child SA we asked for in m's request.
func (s *Session) childFromResponse(m *Message, child *ChildSA, gir, ni, nr []byte) []Event {
	for _, n := range m.Notifies() {
		if n.NType.IsError() {
			return []Event{{Kind: EvChildFailed, Notify: n.NType, Err: fmt.Errorf("the peer refused the Child SA: %v", n.NType)}}
		}
	}
	sa, tsi, tsr := Get[*SA](m), m.TS(PayloadTSi), m.TS(PayloadTSr)
	if sa == nil || tsi == nil || tsr == nil || len(sa.Proposals) != 1 || len(sa.Proposals[0].SPI) != 4 {
		return []Event{{Kind: EvChildFailed, Notify: INVALID_SYNTAX, Err: errors.New("the Child SA response lacks SA or TS")}}
	}
	suite, err := SuiteOf(sa.Proposals[0])
	if err != nil {
		return []Event{{Kind: EvChildFailed, Notify: NO_PROPOSAL_CHOSEN, Err: err}}
	}
	child.Suite = suite
	child.OutSPI = binary.BigEndian.Uint32(sa.Proposals[0].SPI)
	child.LocalTS, child.RemoteTS = tsi.Selectors, tsr.Selectors
	s.keyChild(child, true, gir, ni, nr)
	return nil
}

// keyChild derives a Child SA's keys; we initiated its exchange or not.
func (s *Session) keyChild(c *ChildSA, weInitiated bool, gir, ni, nr []byte) {
	k := DeriveChildKeys(s.suite.PRF, s.cur.keys.SKd, c.Suite, gir, ni, nr)
	if weInitiated {
		c.OutEncr, c.OutInteg, c.InEncr, c.InInteg = k.EncrI, k.IntegI, k.EncrR, k.IntegR
	} else {
		c.OutEncr, c.OutInteg, c.InEncr, c.InInteg = k.EncrR, k.IntegR, k.EncrI, k.IntegI
	}
	c.Created = s.cfg.now()
}

func hmacEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range a {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
