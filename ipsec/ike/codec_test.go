package ike

import (
	"bytes"
	"errors"
	"math/big"
	"net/netip"
	"testing"
)

// Every payload the package knows survives an encode and a parse.
func TestCodecRoundTrip(t *testing.T) {
	m := &Message{
		Header: Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Exchange: CREATE_CHILD_SA, Flags: FlagInitiator, MessageID: 7},
		Payloads: []Payload{
			&Notify{Protocol: ProtoESP, SPI: []byte{0, 0, 1, 0}, NType: REKEY_SA},
			&SA{Proposals: []Proposal{
				{Num: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: Suite{Encr: ENCR_AES_GCM_16, KeyBits: 256}.Transforms(ProtoESP)},
				{Num: 2, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: Suite{Encr: ENCR_AES_CBC, KeyBits: 128, Integ: AUTH_HMAC_SHA1_96, DH: MODP2048}.Transforms(ProtoESP)},
			}},
			&Nonce{Data: bytes.Repeat([]byte{0xab}, 32)},
			&KE{Group: ECP256, Data: bytes.Repeat([]byte{7}, 64)},
			IPID(PayloadIDi, netip.MustParseAddr("192.0.2.1")),
			IPID(PayloadIDr, netip.MustParseAddr("2001:db8::1")),
			&Auth{Method: AuthSharedKey, Data: []byte("mac")},
			&TS{PType: PayloadTSi, Selectors: []TrafficSelector{{StartPort: 0, EndPort: 65535, Start: netip.MustParseAddr("0.0.0.0"), End: netip.MustParseAddr("255.255.255.255")}}},
			&TS{PType: PayloadTSr, Selectors: []TrafficSelector{{Protocol: 6, StartPort: 80, EndPort: 80, Start: netip.MustParseAddr("::"), End: netip.MustParseAddr("::ffff")}}},
			&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
			&Delete{Protocol: ProtoIKE},
			&VendorID{Data: []byte("secylab")},
			&Unknown{PType: PayloadCP, Data: []byte{1, 0, 0, 0}},
		},
	}
	b := m.Marshal()
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Fatalf("round trip differs")
	}
	if got.Length != uint32(len(b)) || got.NextPayload != PayloadNotify || got.Version != Version {
		t.Errorf("header %+v", got.Header)
	}
	if s := got.String(); s != "CREATE_CHILD_SA request 7 [ N(REKEY_SA) SA No KE IDi IDr AUTH TSi TSr D D V CP ]" {
		t.Errorf("String() = %q", s)
	}
	if ts := got.TS(PayloadTSr); ts.Selectors[0].End != netip.MustParseAddr("::ffff") || ts.Selectors[0].Protocol != 6 {
		t.Errorf("TSr %+v", ts)
	}
	if s, err := SuiteOf(Get[*SA](got).Proposals[1]); err != nil || s.String() != "AES_CBC-128/HMAC_SHA1_96/MODP_2048" {
		t.Errorf("SuiteOf = %v, %v", s, err)
	}
}

func TestParseRejects(t *testing.T) {
	good := (&Message{Header: Header{SPIi: 1, Exchange: IKE_SA_INIT}, Payloads: []Payload{&Nonce{Data: make([]byte, 16)}}}).Marshal()
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"short":           {good[:20], ErrMalformed},
		"IKEv1":           {mod(func(b []byte) []byte { b[17] = 0x10; return b }), ErrVersion},
		"length too long": {mod(func(b []byte) []byte { b[27]++; return b }), ErrMalformed},
		"payload length":  {mod(func(b []byte) []byte { b[31] = 3; return b }), ErrMalformed},
		"short nonce":     {mod(func(b []byte) []byte { b[31] -= 1; b[27]--; return b[:len(b)-1] }), ErrMalformed},
		"critical unknown": {mod(func(b []byte) []byte {
			b[16] = 200
			b[29] = 0x80
			return b
		}), ErrUnsupportedCritical},
		"trailing payload": {mod(func(b []byte) []byte { b[28] = byte(PayloadNonce); return b }), ErrMalformed},
	} {
		if _, err := Parse(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A non-critical unknown payload is kept.
	b := mod(func(b []byte) []byte { b[16] = 200; return b })
	if m, err := Parse(b); err != nil || m.Payloads[0].Type() != 200 {
		t.Errorf("non-critical unknown: %v", err)
	}
}

// Each group agrees with itself, rejects public values it must (RFC 6989),
// and group 24's constants are what RFC 5114 says: g has order q.
func TestDH(t *testing.T) {
	g := modpGroups[MODP2048S256]
	if new(big.Int).Exp(g.g, g.q, g.p).Cmp(big.NewInt(1)) != 0 || !g.p.ProbablyPrime(20) || !g.q.ProbablyPrime(20) {
		t.Fatal("group 24 constants are wrong")
	}
	for _, id := range []DHGroup{MODP1024, MODP2048} {
		if !modpGroups[id].p.ProbablyPrime(20) {
			t.Fatalf("%v prime is not prime", id)
		}
	}
	for _, id := range []DHGroup{MODP1024, MODP2048, MODP2048S256, ECP256, ECP384} {
		a, err := NewDH(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewDH(id, nil)
		s1, err1 := a.Shared(b.Public())
		s2, err2 := b.Shared(a.Public())
		if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) || len(s1) == 0 {
			t.Fatalf("%v: %v %v", id, err1, err2)
		}
		pub := a.Public()
		for name, bad := range map[string][]byte{
			"short": pub[:len(pub)-1],
			"one":   append(make([]byte, len(pub)-1), 1),
			"p-1":   nil,
		} {
			if name == "p-1" {
				mg, ok := modpGroups[id]
				if !ok {
					continue
				}
				bad = new(big.Int).Sub(mg.p, big.NewInt(1)).FillBytes(make([]byte, len(pub)))
			}
			if _, err := b.Shared(bad); !errors.Is(err, ErrBadKE) {
				t.Errorf("%v: %s public value accepted: %v", id, name, err)
			}
		}
	}
	// A value of the full group but not of group 24's subgroup.
	b, _ := NewDH(MODP2048S256, nil)
	if _, err := b.Shared(big.NewInt(2).FillBytes(make([]byte, 256))); !errors.Is(err, ErrBadKE) {
		t.Errorf("group 24 took 2: %v", err)
	}
	if _, err := NewDH(5, nil); err == nil {
		t.Error("group 5 accepted")
	}
}

// prf+ is T1 | T2 | ... with the counter octet (RFC 7296 §2.13): its first
// block is prf(K, S | 0x01), the next prf(K, T1 | S | 0x02).
func TestPRFPlus(t *testing.T) {
	k, s := []byte("key"), []byte("seed")
	out := PRFPlus(PRF_HMAC_SHA2_256, k, s, 40)
	t1 := PRF(PRF_HMAC_SHA2_256, k, s, []byte{1})
	t2 := PRF(PRF_HMAC_SHA2_256, k, t1, s, []byte{2})
	if !bytes.Equal(out, append(t1, t2...)[:40]) {
		t.Fatal("prf+ is not T1 | T2")
	}
}

func TestChoose(t *testing.T) {
	azure := []Suite{
		{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA1, Integ: AUTH_HMAC_SHA1_96, DH: MODP1024},
		{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA2_256, Integ: AUTH_HMAC_SHA2_256_128, DH: MODP1024},
	}
	peer := &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoIKE, Transforms: azure[1].Transforms(ProtoIKE)}}}
	if s, p, ok := Choose(azure, peer, ProtoIKE); !ok || s != azure[1] || p.Num != 1 {
		t.Errorf("Choose = %v %v", s, ok)
	}
	modern := &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoIKE, Transforms: Suite{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA2_256, Integ: AUTH_HMAC_SHA2_256_128, DH: MODP2048}.Transforms(ProtoIKE)}}}
	if _, _, ok := Choose(azure, modern, ProtoIKE); ok {
		t.Error("a MODP_2048-only peer matched a MODP_1024 policy")
	}
	// ESP without PFS: a proposal without a DH transform matches a suite without DH.
	esp := Suite{Encr: ENCR_AES_GCM_16, KeyBits: 256}
	offer := &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: esp.Transforms(ProtoESP)}}}
	if _, p, ok := Choose([]Suite{esp}, offer, ProtoESP); !ok || !bytes.Equal(p.SPI, []byte{1, 2, 3, 4}) {
		t.Error("ESP GCM not chosen")
	}
}
