package ike

import (
	"bytes"
	"net/netip"
	"testing"
)

var (
	epA = netip.MustParseAddrPort("192.0.2.1:500")
	epB = netip.MustParseAddrPort("192.0.2.2:500")
)

func azureDefaultIKE() []Suite { return AzureDefaultIKE()[:1] }

// peer is one side in memory: its session and a model of its data plane,
// to check that no packet would be lost at a rekey.
type peer struct {
	name string
	s    *Session
	in   map[uint32]bool // installed inbound SPIs
	out  uint32          // the SPI it sends on
	evs  []Event
}

func (p *peer) apply(t *testing.T, other *peer, evs []Event) {
	t.Helper()
	for _, e := range evs {
		p.evs = append(p.evs, e)
		switch e.Kind {
		case EvInstallIn:
			p.in[e.Child.InSPI] = true
		case EvInstallOut:
			// Make before break: at a rekey the peer must already
			// receive on the new SA.
			if e.Old != nil && !other.in[e.Child.OutSPI] {
				t.Fatalf("%s sends on %08x before %s installed it", p.name, e.Child.OutSPI, other.name)
			}
			p.out = e.Child.OutSPI
		case EvRemove:
			delete(p.in, e.Child.InSPI)
		}
	}
	// Whatever we send on, the peer receives.
	if p.out != 0 && other.s != nil && other.s.State() == StateEstablished && len(other.in) > 0 && !other.in[p.out] {
		t.Fatalf("%s sends on %08x, which %s no longer receives", p.name, p.out, other.name)
	}
}

func (p *peer) has(k EventKind) *Event {
	for i := range p.evs {
		if p.evs[i].Kind == k {
			return &p.evs[i]
		}
	}
	return nil
}

// run carries msg from `from` to the other side and every answer back,
// until nothing is left to send.
func run(t *testing.T, from, to *peer, msg []byte) {
	t.Helper()
	for i := 0; msg != nil; i++ {
		if i > 20 {
			t.Fatal("no end to the exchange")
		}
		out, evs, err := to.s.Handle(msg)
		if err != nil {
			t.Fatalf("%s: %v", to.name, err)
		}
		to.apply(t, from, evs)
		msg = out
		from, to = to, from
	}
}

func connect(t *testing.T, ci, cr *Config, threshold int) (a, b *peer, r *Responder) {
	t.Helper()
	s, req, err := NewInitiator(ci)
	if err != nil {
		t.Fatal(err)
	}
	a = &peer{name: "initiator", s: s, in: map[uint32]bool{}}
	b = &peer{name: "responder", in: map[uint32]bool{}}
	r = &Responder{Cfg: cr, CookieThreshold: threshold}
	for range 4 {
		reply, sess, err := r.HandleInit(req, epA)
		if sess != nil {
			b.s = sess
		}
		out, evs, herr := a.s.Handle(reply)
		if herr != nil {
			t.Fatal(herr)
		}
		a.apply(t, b, evs)
		if sess != nil || a.s.State() == StateClosed {
			_ = err
			if b.s != nil && out != nil {
				run(t, a, b, out)
			}
			return a, b, r
		}
		req = out // a retry: with a cookie or another KE group
	}
	t.Fatal("no IKE SA")
	return
}

func configs() (ci, cr *Config) {
	psk := []byte("test-psk")
	esp := []Suite{{Encr: ENCR_AES_GCM_16, KeyBits: 256}, {Encr: ENCR_AES_CBC, KeyBits: 256, Integ: AUTH_HMAC_SHA1_96}}
	ci = &Config{Local: epA, Remote: epB, PSK: psk, IKE: azureDefaultIKE(), ESP: esp}
	cr = &Config{Local: epB, Remote: epA, PSK: psk, IKE: azureDefaultIKE(), ESP: esp}
	return
}

func TestSessionLifecycle(t *testing.T) {
	ci, cr := configs()
	a, b, _ := connect(t, ci, cr, 0)
	if a.s.State() != StateEstablished || b.s.State() != StateEstablished {
		t.Fatalf("states %v %v; events %v %v", a.s.State(), b.s.State(), a.evs, b.evs)
	}
	ca, cb := a.s.Children()[0], b.s.Children()[0]
	if ca.InSPI != cb.OutSPI || ca.OutSPI != cb.InSPI || !bytes.Equal(ca.OutEncr, cb.InEncr) || !bytes.Equal(ca.InEncr, cb.OutEncr) || ca.Suite.Encr != ENCR_AES_GCM_16 {
		t.Fatalf("child SAs disagree: %+v %+v", ca, cb)
	}
	// Child SA rekeys from each side, then IKE SA rekeys from each side,
	// then a Child rekey on the new IKE SA: every time the data planes
	// never send on an SA the other side lacks (checked in apply).
	for i, side := range []string{"a", "b", "a", "b"} {
		from, to := a, b
		if side == "b" {
			from, to = b, a
		}
		old := from.s.Children()[0]
		req, err := from.s.RekeyChild(old.InSPI)
		if err != nil {
			t.Fatal(err)
		}
		run(t, from, to, req)
		if len(a.s.Children()) != 1 || len(b.s.Children()) != 1 || a.s.Children()[0].Rekeys != i+1 || a.in[old.InSPI] {
			t.Fatalf("after rekey %d: %d/%d children, rekeys %d", i, len(a.s.Children()), len(b.s.Children()), a.s.Children()[0].Rekeys)
		}
	}
	for _, side := range []string{"a", "b"} {
		from, to := a, b
		if side == "b" {
			from, to = b, a
		}
		spii, _ := a.s.SPIs()
		req, err := from.s.RekeyIKE()
		if err != nil {
			t.Fatal(err)
		}
		run(t, from, to, req)
		if n, _ := a.s.SPIs(); n == spii || a.s.old != nil || b.s.old != nil {
			t.Fatalf("IKE rekey: SPIs %x → %x, old kept %v %v", spii, n, a.s.old != nil, b.s.old != nil)
		}
		if !bytes.Equal(a.s.Keys().SKd, b.s.Keys().SKd) || a.s.Initiator() == b.s.Initiator() || a.s.Initiator() != (side == "a") {
			t.Fatal("IKE SA rekey: the sides disagree")
		}
		req, err = b.s.RekeyChild(b.s.Children()[0].InSPI)
		if err != nil {
			t.Fatal(err)
		}
		run(t, b, a, req)
	}
	// DPD.
	answered := false
	req, err := a.s.DPD(func() { answered = true })
	if err != nil {
		t.Fatal(err)
	}
	run(t, a, b, req)
	if !answered {
		t.Fatal("DPD not answered")
	}
	// A retransmitted request gets the same answer, and changes nothing.
	req, _ = b.s.DPD(nil)
	r1, _, _ := a.s.Handle(req)
	r2, evs, _ := a.s.Handle(req)
	if !bytes.Equal(r1, r2) || evs != nil {
		t.Fatal("retransmission answered differently")
	}
	b.s.Handle(r1)
	// Delete.
	req, evs = a.s.Delete()
	a.apply(t, b, evs)
	run(t, a, b, req)
	if b.s.State() != StateClosed || b.has(EvClosed) == nil || len(b.in) != 0 || len(a.in) != 0 {
		t.Fatalf("after delete: %v %v %v", b.s.State(), b.in, a.in)
	}
}

func TestSessionFailures(t *testing.T) {
	t.Run("psk mismatch", func(t *testing.T) {
		ci, cr := configs()
		cr.PSK = []byte("other")
		a, b, _ := connect(t, ci, cr, 0)
		if e := a.has(EvFailed); e == nil || e.Notify != AUTHENTICATION_FAILED {
			t.Fatalf("initiator events %v", a.evs)
		}
		if e := b.has(EvFailed); e == nil || e.Notify != AUTHENTICATION_FAILED || b.has(EvInstallIn) != nil || a.has(EvInstallIn) != nil {
			t.Fatalf("responder events %v", b.evs)
		}
	})
	t.Run("proposal mismatch", func(t *testing.T) {
		ci, cr := configs()
		ci.IKE = []Suite{{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA2_256, Integ: AUTH_HMAC_SHA2_256_128, DH: MODP2048}}
		a, b, _ := connect(t, ci, cr, 0)
		if e := a.has(EvFailed); e == nil || e.Notify != NO_PROPOSAL_CHOSEN || b.s != nil {
			t.Fatalf("events %v", a.evs)
		}
	})
	t.Run("esp mismatch", func(t *testing.T) {
		ci, cr := configs()
		ci.ESP = []Suite{{Encr: ENCR_AES_CBC, KeyBits: 128, Integ: AUTH_HMAC_SHA2_256_128}}
		a, b, _ := connect(t, ci, cr, 0)
		if a.s.State() != StateEstablished || a.has(EvChildFailed) == nil || a.has(EvChildFailed).Notify != NO_PROPOSAL_CHOSEN || b.has(EvInstallIn) != nil {
			t.Fatalf("events %v / %v", a.evs, b.evs)
		}
	})
	t.Run("invalid KE then retry", func(t *testing.T) {
		ci, cr := configs()
		ci.IKE = []Suite{{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA2_256, Integ: AUTH_HMAC_SHA2_256_128, DH: ECP256}, azureDefaultIKE()[0]}
		a, b, _ := connect(t, ci, cr, 0)
		if a.s.State() != StateEstablished || b.s.Suite().DH != MODP1024 {
			t.Fatalf("%v %v", a.s.State(), a.evs)
		}
	})
	t.Run("cookies under load", func(t *testing.T) {
		ci, cr := configs()
		r := &Responder{Cfg: cr, CookieThreshold: 1}
		// One half-open SA: the next initiator is asked for a cookie.
		_, req, _ := NewInitiator(ci)
		if _, s, _ := r.HandleInit(req, epA); s == nil || r.HalfOpen() != 1 {
			t.Fatal("first SA")
		}
		s2, req2, _ := NewInitiator(ci)
		reply, s, _ := r.HandleInit(req2, epA)
		m, _ := Parse(reply)
		if s != nil || m.Notify(COOKIE) == nil {
			t.Fatalf("no cookie asked: %v", m)
		}
		retry, _, _ := s2.Handle(reply)
		if rm, _ := Parse(retry); rm.Payloads[0].(*Notify).NType != COOKIE {
			t.Fatal("the retry does not start with the cookie")
		}
		if _, s, _ := r.HandleInit(retry, epA); s == nil {
			t.Fatal("the cookie was not accepted")
		}
		// A cookie from another address is refused.
		if _, s, _ := r.HandleInit(retry, epB); s != nil {
			t.Fatal("cookie accepted from another address")
		}
	})
	t.Run("narrowing", func(t *testing.T) {
		ci, cr := configs()
		ci.LocalTS = []TrafficSelector{PrefixTS(netip.MustParsePrefix("10.1.0.0/16"))}
		ci.RemoteTS = []TrafficSelector{PrefixTS(netip.MustParsePrefix("10.2.0.0/16"))}
		cr.LocalTS = []TrafficSelector{PrefixTS(netip.MustParsePrefix("10.2.1.0/24"))}
		cr.RemoteTS = []TrafficSelector{PrefixTS(netip.MustParsePrefix("10.0.0.0/8"))}
		a, _, _ := connect(t, ci, cr, 0)
		c := a.s.Children()[0]
		if c.LocalTS[0].String() != "10.1.0.0/16" || c.RemoteTS[0].String() != "10.2.1.0/24" {
			t.Fatalf("narrowed to %v ⇄ %v", c.LocalTS, c.RemoteTS)
		}
		ci.RemoteTS = []TrafficSelector{PrefixTS(netip.MustParsePrefix("192.168.0.0/16"))}
		a, _, _ = connect(t, ci, cr, 0)
		if e := a.has(EvChildFailed); e == nil || e.Notify != TS_UNACCEPTABLE {
			t.Fatalf("events %v", a.evs)
		}
	})
}

func TestPrefixes(t *testing.T) {
	ts := TrafficSelector{Start: netip.MustParseAddr("10.0.0.0"), End: netip.MustParseAddr("10.0.2.255")}
	if ps := ts.Prefixes(); len(ps) != 2 || ps[0].String() != "10.0.0.0/23" || ps[1].String() != "10.0.2.0/24" {
		t.Fatal(ps)
	}
	if ps := AnyTS(false).Prefixes(); len(ps) != 1 || ps[0].String() != "0.0.0.0/0" {
		t.Fatal(ps)
	}
}
