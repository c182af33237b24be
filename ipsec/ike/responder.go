package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Responder answers IKE_SA_INIT requests for one peer policy. Under load
// (CookieThreshold half-open IKE SAs or more) it answers with a COOKIE
// first and keeps no state until the initiator returns it (RFC 7296
// §2.6).
type Responder struct {
	Cfg *Config
	// CookieThreshold is how many half-open IKE SAs make it ask for
	// cookies (0: never).
	CookieThreshold int
	secret          []byte
	sessions        []*Session
}

// HalfOpen counts the IKE SAs that answered IKE_SA_INIT and are not yet
// authenticated, within the last 30 s.
func (r *Responder) HalfOpen() int {
	n := 0
	now := r.Cfg.now()
	live := r.sessions[:0]
	for _, s := range r.sessions {
		if s.state == StateAuth && now.Sub(s.established) < 30*time.Second {
			n++
			live = append(live, s)
		}
	}
	r.sessions = live
	return n
}

func (r *Responder) cookie(ni []byte, from netip.Addr, spii uint64) []byte {
	if r.secret == nil {
		r.secret = make([]byte, 32)
		if _, err := r.Cfg.rand().Read(r.secret); err != nil {
			panic(err)
		}
	}
	m := hmac.New(sha256.New, r.secret)
	m.Write(ni)
	m.Write(from.AsSlice())
	m.Write(binary.BigEndian.AppendUint64(nil, spii))
	return append([]byte{1}, m.Sum(nil)[:16]...) // version 1 of the secret, then the hash
}

// HandleInit answers an IKE_SA_INIT request from the address from. It
// returns the reply, and the new session when the request made one (nil
// when it asked for a cookie or a KE group, or refused).
func (r *Responder) HandleInit(raw []byte, from netip.AddrPort) ([]byte, *Session, error) {
	m, err := Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	if m.Exchange != IKE_SA_INIT || m.IsResponse() || m.SPIr != 0 || m.MessageID != 0 || !m.FromInitiator() {
		return nil, nil, fmt.Errorf("%w: not an IKE_SA_INIT request", ErrMalformed)
	}
	sa, ke, ni := Get[*SA](m), Get[*KE](m), Get[*Nonce](m)
	if sa == nil || ke == nil || ni == nil {
		return nil, nil, fmt.Errorf("%w: IKE_SA_INIT without SA, KE or nonce", ErrMalformed)
	}
	reply := func(ps ...Payload) []byte {
		return (&Message{Header: Header{SPIi: m.SPIi, Exchange: IKE_SA_INIT, Flags: FlagResponse}, Payloads: ps}).Marshal()
	}
	if r.CookieThreshold > 0 && r.HalfOpen() >= r.CookieThreshold {
		want := r.cookie(ni.Data, from.Addr(), m.SPIi)
		if c := m.Notify(COOKIE); c == nil || !hmac.Equal(c.Data, want) {
			return reply(&Notify{NType: COOKIE, Data: want}), nil, nil
		}
	}
	suite, prop, ok := Choose(r.Cfg.IKE, sa, ProtoIKE)
	if !ok {
		return reply(&Notify{NType: NO_PROPOSAL_CHOSEN}), nil, fmt.Errorf("IKE_SA_INIT from %v: no proposal chosen: the peer offers %s; we accept %s",
			from, describe(sa), suiteList(r.Cfg.IKE))
	}
	if ke.Group != suite.DH {
		return reply(&Notify{NType: INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, uint16(suite.DH))}), nil, nil
	}
	s := &Session{cfg: r.Cfg, state: StateAuth, suite: suite, deferredOut: map[uint32]*ChildSA{}}
	s.cur = &ikeKeys{spii: m.SPIi, peerID: 1}
	s.cur.spir = s.newSPI64()
	if s.dh, err = NewDH(suite.DH, r.Cfg.rand()); err != nil {
		return nil, nil, err
	}
	gir, err := s.dh.Shared(ke.Data)
	if err != nil {
		return reply(&Notify{NType: INVALID_SYNTAX}), nil, err
	}
	s.ni, s.nr = clone(ni.Data), s.randBytes(32)
	s.initReq = clone(raw[:m.Length])
	if err := s.setKeys(s.cur, DeriveIKEKeys(suite, s.ni, s.nr, gir, s.cur.spii, s.cur.spir)); err != nil {
		return nil, nil, err
	}
	clear(gir)
	s.NAT = s.checkNAT(m)
	chosen := Proposal{Num: prop.Num, Protocol: ProtoIKE, Transforms: suite.Transforms(ProtoIKE)}
	ps := []Payload{&SA{Proposals: []Proposal{chosen}}, &KE{Group: suite.DH, Data: s.dh.Public()}, &Nonce{Data: s.nr}}
	ps = append(ps, s.natNotifies(s.cur.spii, s.cur.spir)...)
	resp := &Message{Header: Header{SPIi: s.cur.spii, SPIr: s.cur.spir, Exchange: IKE_SA_INIT, Flags: FlagResponse}, Payloads: ps}
	s.initResp = resp.Marshal()
	s.established = r.Cfg.now() // when it became half-open; reset at IKE_AUTH
	r.sessions = append(r.sessions, s)
	return s.initResp, s, nil
}

// describe names the proposals of an SA payload as strongSwan logs them.
func describe(sa *SA) string {
	var b bytes.Buffer
	for i, p := range sa.Proposals {
		if i > 0 {
			b.WriteString(", ")
		}
		var names []string
		for _, t := range p.Transforms {
			names = append(names, transformName(t))
		}
		fmt.Fprintf(&b, "%v:%s", p.Protocol, joinSlash(names))
	}
	return b.String()
}

func transformName(t Transform) string {
	switch t.Type {
	case TransformENCR:
		return fmt.Sprintf("%s_%d", name(encrNames, t.ID), t.KeyLength)
	case TransformPRF:
		return name(prfNames, t.ID)
	case TransformINTEG:
		return name(integNames, t.ID)
	case TransformDH:
		return DHGroup(t.ID).String()
	case TransformESN:
		if t.ID == ESNOn {
			return "ESN"
		}
		return "NO_EXT_SEQ"
	}
	return fmt.Sprintf("%v:%d", t.Type, t.ID)
}

func joinSlash(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(x)
	}
	return b.String()
}

func suiteList(ss []Suite) string {
	var names []string
	for _, s := range ss {
		names = append(names, s.String())
	}
	return fmt.Sprint(names)
}

// handleRequest answers a request of the peer on generation gen: the
// payloads of the response (nil: none).
func (s *Session) handleRequest(gen *ikeKeys, m *Message) ([]Payload, []Event) {
	switch m.Exchange {
	case IKE_AUTH:
		if s.state != StateAuth || s.cur.initiator || gen != s.cur {
			return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil
		}
		return s.authRespond(m)
	case CREATE_CHILD_SA:
		if s.state != StateEstablished || gen != s.cur {
			return []Payload{&Notify{NType: NO_ADDITIONAL_SAS}}, nil
		}
		if sa := Get[*SA](m); sa != nil && len(sa.Proposals) > 0 && sa.Proposals[0].Protocol == ProtoIKE {
			return s.rekeyIKERespond(m)
		}
		return s.rekeyChildRespond(m)
	case INFORMATIONAL:
		return s.informational(gen, m)
	}
	return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil
}

func (s *Session) authRespond(m *Message) ([]Payload, []Event) {
	idi, a := m.ID(PayloadIDi), Get[*Auth](m)
	failed := func(err error) ([]Payload, []Event) {
		return []Payload{&Notify{NType: AUTHENTICATION_FAILED}}, s.fail(AUTHENTICATION_FAILED, err)
	}
	if idi == nil || a == nil {
		return failed(errors.New("IKE_AUTH request without IDi or AUTH"))
	}
	want := s.cfg.remoteID()
	if want.IDType != idi.IDType || !bytes.Equal(want.Data, idi.Data) {
		return failed(fmt.Errorf("the peer is %v, not %v", idi, want))
	}
	expect := PSKAuth(s.suite.PRF, s.cfg.PSK, s.initReq, s.nr, s.cur.keys.SKpi, idi)
	if a.Method != AuthSharedKey || !hmacEqual(a.Data, expect) {
		return failed(errors.New("the peer's AUTH does not verify with our pre-shared key: the keys differ"))
	}
	idr := s.cfg.localID(PayloadIDr)
	auth := PSKAuth(s.suite.PRF, s.cfg.PSK, s.initResp, s.ni, s.cur.keys.SKpr, idr)
	s.state, s.established = StateEstablished, s.cfg.now()
	ps := []Payload{idr, &Auth{Method: AuthSharedKey, Data: auth}}
	evs := []Event{{Kind: EvEstablished}}
	cps, child, cevs := s.childRespond(m, s.ni, s.nr, nil, false)
	ps = append(ps, cps...)
	evs = append(evs, cevs...)
	if child != nil {
		s.children = append(s.children, child)
		evs = append(evs, Event{Kind: EvInstallIn, Child: child}, Event{Kind: EvInstallOut, Child: child})
	}
	return ps, evs
}

// childRespond chooses an ESP proposal and narrows the traffic selectors
// of a Child SA request; it returns the response's payloads for it and
// the new Child SA, or the notify that refuses it. With pfs, the request's
// KE takes part (CREATE_CHILD_SA).
func (s *Session) childRespond(m *Message, ni, nr []byte, ke *KE, pfs bool) ([]Payload, *ChildSA, []Event) {
	sa, tsi, tsr := Get[*SA](m), m.TS(PayloadTSi), m.TS(PayloadTSr)
	if sa == nil || tsi == nil || tsr == nil {
		return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil, nil
	}
	ours := s.cfg.ESP
	if !pfs {
		ours = make([]Suite, len(s.cfg.ESP))
		for i, su := range s.cfg.ESP {
			su.DH = 0
			ours[i] = su
		}
	}
	suite, prop, ok := Choose(ours, sa, ProtoESP)
	if !ok || len(prop.SPI) != 4 {
		err := fmt.Errorf("no Child SA proposal chosen: the peer offers %s; we accept %s", describe(sa), suiteList(ours))
		return []Payload{&Notify{NType: NO_PROPOSAL_CHOSEN}}, nil, []Event{{Kind: EvChildFailed, Notify: NO_PROPOSAL_CHOSEN, Err: err}}
	}
	ltsi, ltsr := Narrow(tsi.Selectors, s.cfg.ts(false)), Narrow(tsr.Selectors, s.cfg.ts(true))
	if len(ltsi) == 0 || len(ltsr) == 0 {
		err := fmt.Errorf("traffic selectors %v ⇄ %v are outside our policy %v ⇄ %v", tsi.Selectors, tsr.Selectors, s.cfg.ts(false), s.cfg.ts(true))
		return []Payload{&Notify{NType: TS_UNACCEPTABLE}}, nil, []Event{{Kind: EvChildFailed, Notify: TS_UNACCEPTABLE, Err: err}}
	}
	var gir []byte
	var kePayloads []Payload
	if suite.DH != 0 {
		if ke == nil || ke.Group != suite.DH {
			return []Payload{&Notify{NType: INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, uint16(suite.DH))}}, nil, nil
		}
		dh, err := NewDH(suite.DH, s.cfg.rand())
		if err != nil {
			return []Payload{&Notify{NType: NO_PROPOSAL_CHOSEN}}, nil, nil
		}
		if gir, err = dh.Shared(ke.Data); err != nil {
			return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil, nil
		}
		kePayloads = []Payload{&KE{Group: suite.DH, Data: dh.Public()}}
	}
	child := &ChildSA{Suite: suite, InSPI: s.newSPI32(), OutSPI: binary.BigEndian.Uint32(prop.SPI), LocalTS: ltsr, RemoteTS: ltsi}
	s.keyChild(child, false, gir, ni, nr)
	clear(gir)
	chosen := Proposal{Num: prop.Num, Protocol: ProtoESP, SPI: binary.BigEndian.AppendUint32(nil, child.InSPI), Transforms: suite.Transforms(ProtoESP)}
	ps := []Payload{&SA{Proposals: []Proposal{chosen}}}
	if nr != nil && m.Exchange == CREATE_CHILD_SA {
		ps = append(ps, &Nonce{Data: nr})
		ps = append(ps, kePayloads...)
	}
	ps = append(ps, &TS{PType: PayloadTSi, Selectors: ltsi}, &TS{PType: PayloadTSr, Selectors: ltsr})
	return ps, child, nil
}

func (s *Session) childByIn(spi uint32) *ChildSA {
	for _, c := range s.children {
		if c.InSPI == spi {
			return c
		}
	}
	return nil
}

func (s *Session) childByOut(spi uint32) *ChildSA {
	for _, c := range s.children {
		if c.OutSPI == spi {
			return c
		}
	}
	return nil
}

func (s *Session) removeChild(c *ChildSA) {
	for i, x := range s.children {
		if x == c {
			s.children = append(s.children[:i], s.children[i+1:]...)
			return
		}
	}
}

// rekeyChildRespond answers a CREATE_CHILD_SA that rekeys a Child SA
// (N(REKEY_SA) names the SA by the peer's inbound SPI, our outbound) or
// makes a new one.
func (s *Session) rekeyChildRespond(m *Message) ([]Payload, []Event) {
	ni := Get[*Nonce](m)
	if ni == nil {
		return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil
	}
	var old *ChildSA
	if n := m.Notify(REKEY_SA); n != nil {
		if len(n.SPI) != 4 {
			return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil
		}
		if old = s.childByOut(binary.BigEndian.Uint32(n.SPI)); old == nil {
			return []Payload{&Notify{NType: CHILD_SA_NOT_FOUND, Protocol: ProtoESP, SPI: n.SPI}}, nil
		}
	}
	nr := s.randBytes(32)
	ps, child, evs := s.childRespond(m, ni.Data, nr, Get[*KE](m), true)
	if child == nil {
		return ps, evs
	}
	s.children = append(s.children, child)
	evs = append(evs, Event{Kind: EvInstallIn, Child: child})
	if old != nil {
		child.Rekeys = old.Rekeys + 1
		// Keep sending on the old SA until the peer deletes it: the peer
		// installs the new inbound SA only when it reads this response.
		s.deferredOut[old.InSPI] = child
	} else {
		evs = append(evs, Event{Kind: EvInstallOut, Child: child})
	}
	return ps, evs
}

// informational answers Delete and liveness checks.
func (s *Session) informational(gen *ikeKeys, m *Message) ([]Payload, []Event) {
	var ps []Payload
	var evs []Event
	var ours [][]byte
	for _, p := range m.Payloads {
		d, ok := p.(*Delete)
		if !ok {
			continue
		}
		switch d.Protocol {
		case ProtoIKE:
			if gen == s.old {
				s.old = nil // the rekeyed IKE SA's old generation
				return []Payload{}, nil
			}
			s.state = StateClosed
			s.pending = nil
			for _, c := range s.children {
				evs = append(evs, Event{Kind: EvRemove, Child: c})
			}
			s.children = nil
			return []Payload{}, append(evs, Event{Kind: EvClosed, Err: errors.New("the peer deleted the IKE SA")})
		case ProtoESP:
			for _, spi := range d.SPIs {
				if len(spi) != 4 {
					continue
				}
				c := s.childByOut(binary.BigEndian.Uint32(spi))
				if c == nil {
					continue
				}
				if next := s.deferredOut[c.InSPI]; next != nil {
					delete(s.deferredOut, c.InSPI)
					evs = append(evs, Event{Kind: EvInstallOut, Child: next, Old: c})
				}
				s.removeChild(c)
				evs = append(evs, Event{Kind: EvRemove, Child: c})
				ours = append(ours, binary.BigEndian.AppendUint32(nil, c.InSPI))
			}
		}
	}
	if len(ours) > 0 {
		ps = append(ps, &Delete{Protocol: ProtoESP, SPIs: ours})
	}
	if ps == nil {
		ps = []Payload{} // an empty response: liveness (RFC 7296 §1.4)
	}
	return ps, evs
}

// RekeyChild starts a make-before-break rekey of the Child SA whose
// inbound SPI is inSPI, with a new DH exchange if its suite has a PFS
// group. When the response comes: EvInstallIn and EvInstallOut (with Old)
// for the new SA, then, once the peer has answered the Delete that
// follows, EvRemove for the old one.
func (s *Session) RekeyChild(inSPI uint32) ([]byte, error) {
	old := s.childByIn(inSPI)
	if old == nil || s.state != StateEstablished {
		return nil, fmt.Errorf("ike: no Child SA with inbound SPI %08x", inSPI)
	}
	ni := s.randBytes(32)
	child := &ChildSA{InSPI: s.newSPI32(), Rekeys: old.Rekeys + 1}
	spi := binary.BigEndian.AppendUint32(nil, child.InSPI)
	suites := []Suite{old.Suite}
	var dh DH
	ps := []Payload{&Notify{Protocol: ProtoESP, SPI: binary.BigEndian.AppendUint32(nil, old.InSPI), NType: REKEY_SA}}
	pfs := s.pfsGroup()
	if pfs != 0 {
		suites[0].DH = pfs
	}
	ps = append(ps, proposals(suites, ProtoESP, spi, true), &Nonce{Data: ni})
	if pfs != 0 {
		var err error
		if dh, err = NewDH(pfs, s.cfg.rand()); err != nil {
			return nil, err
		}
		ps = append(ps, &KE{Group: pfs, Data: dh.Public()})
	}
	ps = append(ps, &TS{PType: PayloadTSi, Selectors: old.LocalTS}, &TS{PType: PayloadTSr, Selectors: old.RemoteTS})
	return s.request(s.cur, CREATE_CHILD_SA, ps, func(m *Message) []Event {
		nr, ke := Get[*Nonce](m), Get[*KE](m)
		var gir []byte
		if dh != nil && ke != nil {
			var err error
			if gir, err = dh.Shared(ke.Data); err != nil {
				return []Event{{Kind: EvChildFailed, Notify: INVALID_KE_PAYLOAD, Err: err}}
			}
		}
		if nr == nil {
			if evs := s.childFromResponse(m, child, nil, nil, nil); evs != nil {
				return evs
			}
			return []Event{{Kind: EvChildFailed, Notify: INVALID_SYNTAX, Err: errors.New("rekey response without nonce")}}
		}
		if evs := s.childFromResponse(m, child, gir, ni, nr.Data); evs != nil {
			return evs
		}
		s.children = append(s.children, child)
		evs := []Event{{Kind: EvInstallIn, Child: child}, {Kind: EvInstallOut, Child: child, Old: old}}
		// Now delete the old SA; its inbound side goes when the peer answers.
		del := []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{binary.BigEndian.AppendUint32(nil, old.InSPI)}}}
		if _, err := s.request(s.cur, INFORMATIONAL, del, func(*Message) []Event {
			s.removeChild(old)
			return []Event{{Kind: EvRemove, Child: old}}
		}); err != nil {
			evs = append(evs, Event{Kind: EvChildFailed, Err: err})
		}
		return evs
	})
}

// pfsGroup is the PFS group of the first ESP suite, 0 for none.
func (s *Session) pfsGroup() DHGroup { return s.cfg.ESP[0].DH }

// RekeyIKE starts a rekey of the IKE SA (RFC 7296 §1.3.2): a new
// generation of SPIs and keys, which the Child SAs move to; the old one
// is deleted when the exchange completes.
func (s *Session) RekeyIKE() ([]byte, error) {
	if s.state != StateEstablished {
		return nil, errors.New("ike: the IKE SA is not established")
	}
	ni := s.randBytes(32)
	newSPI := s.newSPI64()
	dh, err := NewDH(s.suite.DH, s.cfg.rand())
	if err != nil {
		return nil, err
	}
	ps := []Payload{proposals([]Suite{s.suite}, ProtoIKE, binary.BigEndian.AppendUint64(nil, newSPI), true), &Nonce{Data: ni}, &KE{Group: dh.Group(), Data: dh.Public()}}
	return s.request(s.cur, CREATE_CHILD_SA, ps, func(m *Message) []Event {
		sa, nr, ke := Get[*SA](m), Get[*Nonce](m), Get[*KE](m)
		if sa == nil || nr == nil || ke == nil || len(sa.Proposals) != 1 || len(sa.Proposals[0].SPI) != 8 {
			for _, n := range m.Notifies() {
				return []Event{{Kind: EvChildFailed, Notify: n.NType, Err: fmt.Errorf("the peer refused the IKE SA rekey: %v", n.NType)}}
			}
			return []Event{{Kind: EvChildFailed, Notify: INVALID_SYNTAX, Err: errors.New("IKE rekey response without SA, nonce or KE")}}
		}
		gir, err := dh.Shared(ke.Data)
		if err != nil {
			return []Event{{Kind: EvChildFailed, Notify: INVALID_KE_PAYLOAD, Err: err}}
		}
		gen := &ikeKeys{initiator: true, spii: newSPI, spir: binary.BigEndian.Uint64(sa.Proposals[0].SPI)}
		s.switchGeneration(gen, gir, ni, nr.Data)
		// Delete the old IKE SA on itself.
		if _, err := s.request(s.old, INFORMATIONAL, []Payload{&Delete{Protocol: ProtoIKE}}, func(*Message) []Event {
			s.old = nil
			return nil
		}); err != nil {
			return []Event{{Kind: EvIKERekeyed}, {Kind: EvChildFailed, Err: err}}
		}
		return []Event{{Kind: EvIKERekeyed}}
	})
}

// switchGeneration makes gen the current IKE SA, keyed from the old one's
// SK_d (RFC 7296 §2.18).
func (s *Session) switchGeneration(gen *ikeKeys, gir, ni, nr []byte) {
	old := s.cur
	k := DeriveRekeyedIKEKeys(s.suite, s.suite.PRF, old.keys.SKd, gir, ni, nr, gen.spii, gen.spir)
	clear(gir)
	if err := s.setKeys(gen, k); err != nil {
		panic(err) // the suite keyed the old generation
	}
	s.old, s.cur = old, gen
	s.established = s.cfg.now()
	s.IKERekeys++
}

func (s *Session) rekeyIKERespond(m *Message) ([]Payload, []Event) {
	sa, ni, ke := Get[*SA](m), Get[*Nonce](m), Get[*KE](m)
	if ni == nil || ke == nil {
		return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil
	}
	suite, prop, ok := Choose([]Suite{s.suite}, sa, ProtoIKE)
	if !ok {
		suite, prop, ok = Choose(s.cfg.IKE, sa, ProtoIKE)
	}
	if !ok || len(prop.SPI) != 8 {
		return []Payload{&Notify{NType: NO_PROPOSAL_CHOSEN}}, nil
	}
	if ke.Group != suite.DH {
		return []Payload{&Notify{NType: INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, uint16(suite.DH))}}, nil
	}
	dh, err := NewDH(suite.DH, s.cfg.rand())
	if err != nil {
		return []Payload{&Notify{NType: NO_PROPOSAL_CHOSEN}}, nil
	}
	gir, err := dh.Shared(ke.Data)
	if err != nil {
		return []Payload{&Notify{NType: INVALID_SYNTAX}}, nil
	}
	nr := s.randBytes(32)
	gen := &ikeKeys{initiator: false, spii: binary.BigEndian.Uint64(prop.SPI), spir: s.newSPI64()}
	oldSuite := s.suite
	s.suite = suite
	// The new SA's keys come from the old SA's SK_d and PRF.
	k := DeriveRekeyedIKEKeys(suite, oldSuite.PRF, s.cur.keys.SKd, gir, ni.Data, nr, gen.spii, gen.spir)
	clear(gir)
	if err := s.setKeys(gen, k); err != nil {
		return []Payload{&Notify{NType: NO_PROPOSAL_CHOSEN}}, nil
	}
	s.old, s.cur = s.cur, gen
	s.established = s.cfg.now()
	s.IKERekeys++
	chosen := Proposal{Num: prop.Num, Protocol: ProtoIKE, SPI: binary.BigEndian.AppendUint64(nil, gen.spir), Transforms: suite.Transforms(ProtoIKE)}
	return []Payload{&SA{Proposals: []Proposal{chosen}}, &Nonce{Data: nr}, &KE{Group: suite.DH, Data: dh.Public()}}, []Event{{Kind: EvIKERekeyed}}
}

// DPD sends an empty INFORMATIONAL request: a liveness check (RFC 7296
// §2.4). done is called when the peer answers.
func (s *Session) DPD(done func()) ([]byte, error) {
	if s.state != StateEstablished {
		return nil, errors.New("ike: the IKE SA is not established")
	}
	return s.request(s.cur, INFORMATIONAL, []Payload{}, func(*Message) []Event {
		if done != nil {
			done()
		}
		return nil
	})
}

// Delete deletes the IKE SA and its Child SAs: the request to send; the
// SA is closed at once (the peer's answer is not needed).
func (s *Session) Delete() ([]byte, []Event) {
	var evs []Event
	for _, c := range s.children {
		evs = append(evs, Event{Kind: EvRemove, Child: c})
	}
	s.children = nil
	s.pending = nil
	out, err := s.request(s.cur, INFORMATIONAL, []Payload{&Delete{Protocol: ProtoIKE}}, nil)
	s.state = StateClosed
	if err != nil {
		return nil, evs
	}
	return out, append(evs, Event{Kind: EvClosed})
}
