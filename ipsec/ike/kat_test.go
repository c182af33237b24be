package ike

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// katRun is one IKEv2 exchange between two strongSwan 5.9.8 charons, made
// by testdata/strongswan-kat.sh and turned into JSON by
// testdata/strongswan-kat.py: the messages as received, and the secrets
// charon logged at ike=4 and chd=4.
type katRun struct {
	Name                               string
	IKEProposals                       string `json:"ike_proposals"`
	PSK                                string
	Initiator, Responder               string
	InitReq                            string `json:"ike_sa_init_request"`
	InitResp                           string `json:"ike_sa_init_response"`
	AuthReq                            string `json:"ike_auth_request"`
	AuthResp                           string `json:"ike_auth_response"`
	GIR                                string `json:"gir"`
	SKEYSEED                           string `json:"skeyseed"`
	SKd                                string `json:"sk_d"`
	SKai, SKar, SKei, SKer, SKpi, SKpr string `json:"-"`
	AuthI                              string `json:"auth_i"`
	AuthR                              string `json:"auth_r"`
	ChildEncrI, ChildEncrR             string `json:"-"`
	ChildIntegI, ChildIntegR           string `json:"-"`
	ChildSPIi                          string `json:"child_spi_i"`
	ChildSPIr                          string `json:"child_spi_r"`
	ESP                                []struct{ From, ESP string }
}

func (r *katRun) UnmarshalJSON(b []byte) error {
	type plain katRun
	var extra struct {
		SKai        string `json:"sk_ai"`
		SKar        string `json:"sk_ar"`
		SKei        string `json:"sk_ei"`
		SKer        string `json:"sk_er"`
		SKpi        string `json:"sk_pi"`
		SKpr        string `json:"sk_pr"`
		ChildEncrI  string `json:"child_encr_i"`
		ChildEncrR  string `json:"child_encr_r"`
		ChildIntegI string `json:"child_integ_i"`
		ChildIntegR string `json:"child_integ_r"`
	}
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		return err
	}
	r.SKai, r.SKar, r.SKei, r.SKer, r.SKpi, r.SKpr = extra.SKai, extra.SKar, extra.SKei, extra.SKer, extra.SKpi, extra.SKpr
	r.ChildEncrI, r.ChildEncrR, r.ChildIntegI, r.ChildIntegR = extra.ChildEncrI, extra.ChildEncrR, extra.ChildIntegI, extra.ChildIntegR
	return nil
}

func loadKAT(t testing.TB) []katRun {
	b, err := os.ReadFile("testdata/strongswan-kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var runs []katRun
	if err := json.Unmarshal(b, &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 {
		t.Fatal("no vectors")
	}
	return runs
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, raw []byte) *Message {
	t.Helper()
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

// TestStrongSwanKAT re-derives, from the IKE_SA_INIT messages charon
// exchanged and the g^ir it logged, every key charon logged: SKEYSEED,
// SK_d/ai/ar/ei/er/pi/pr and the Child SA's KEYMAT; opens charon's
// IKE_AUTH messages with them; checks both AUTH payloads against the PSK;
// and re-encodes charon's clear messages byte for byte.
func TestStrongSwanKAT(t *testing.T) {
	for _, v := range loadKAT(t) {
		t.Run(v.Name, func(t *testing.T) {
			reqRaw, respRaw := unhex(t, v.InitReq), unhex(t, v.InitResp)
			req, resp := mustParse(t, reqRaw), mustParse(t, respRaw)
			for _, c := range []struct {
				m   *Message
				raw []byte
			}{{req, reqRaw}, {resp, respRaw}} {
				if got := c.m.Marshal(); !bytes.Equal(got, c.raw) {
					t.Errorf("%v re-encoded differs:\n got %x\nwant %x", c.m, got, c.raw)
				}
			}
			if req.Exchange != IKE_SA_INIT || req.IsResponse() || !req.FromInitiator() || !resp.IsResponse() {
				t.Fatalf("not an IKE_SA_INIT pair: %v / %v", req, resp)
			}
			sa := Get[*SA](resp)
			if sa == nil || len(sa.Proposals) != 1 {
				t.Fatalf("response SA: %+v", sa)
			}
			suite, err := SuiteOf(sa.Proposals[0])
			if err != nil {
				t.Fatal(err)
			}
			// The responder chose what we would choose from the request.
			if got, _, ok := Choose([]Suite{suite}, Get[*SA](req), ProtoIKE); !ok || got != suite {
				t.Errorf("Choose(%v) from the request = %v, %v", suite, got, ok)
			}
			if ke := Get[*KE](req); ke == nil || ke.Group != suite.DH {
				t.Errorf("request KE %+v, suite %v", ke, suite)
			}
			ni, nr := Get[*Nonce](req).Data, Get[*Nonce](resp).Data
			keys := DeriveIKEKeys(suite, ni, nr, unhex(t, v.GIR), req.SPIi, resp.SPIr)
			for name, c := range map[string]struct {
				got  []byte
				want string
			}{
				"SKEYSEED": {keys.SKEYSEED, v.SKEYSEED}, "SK_d": {keys.SKd, v.SKd}, "SK_ai": {keys.SKai, v.SKai},
				"SK_ar": {keys.SKar, v.SKar}, "SK_ei": {keys.SKei, v.SKei}, "SK_er": {keys.SKer, v.SKer},
				"SK_pi": {keys.SKpi, v.SKpi}, "SK_pr": {keys.SKpr, v.SKpr},
			} {
				if hex.EncodeToString(c.got) != c.want {
					t.Errorf("%s (%v) = %x, charon logged %s", name, suite, c.got, c.want)
				}
			}

			// IKE_AUTH: open both messages with the derived keys.
			ci, err := NewCrypter(suite, keys.SKei, keys.SKai)
			if err != nil {
				t.Fatal(err)
			}
			cr, err := NewCrypter(suite, keys.SKer, keys.SKar)
			if err != nil {
				t.Fatal(err)
			}
			areqRaw, arespRaw := unhex(t, v.AuthReq), unhex(t, v.AuthResp)
			areq, aresp := mustParse(t, areqRaw), mustParse(t, arespRaw)
			if err := ci.Open(areq, areqRaw); err != nil {
				t.Fatalf("open IKE_AUTH request: %v", err)
			}
			if err := cr.Open(aresp, arespRaw); err != nil {
				t.Fatalf("open IKE_AUTH response: %v", err)
			}
			if err := ci.Open(mustParse(t, arespRaw), arespRaw); err == nil {
				t.Error("the response opened with the initiator's keys")
			}
			idi, idr := areq.ID(PayloadIDi), aresp.ID(PayloadIDr)
			if idi == nil || idr == nil || idi.String() != v.Initiator || idr.String() != v.Responder {
				t.Fatalf("identities %v %v", idi, idr)
			}
			if want := IPID(PayloadIDi, netip.MustParseAddr(v.Initiator)); !bytes.Equal(want.Body(), idi.Body()) {
				t.Errorf("IPID %x, charon %x", want.Body(), idi.Body())
			}
			psk := []byte(v.PSK)
			authI := PSKAuth(suite.PRF, psk, reqRaw, nr, keys.SKpi, idi)
			authR := PSKAuth(suite.PRF, psk, respRaw, ni, keys.SKpr, idr)
			if a := Get[*Auth](areq); a == nil || a.Method != AuthSharedKey || !bytes.Equal(a.Data, authI) || hex.EncodeToString(authI) != v.AuthI {
				t.Errorf("initiator AUTH %x, computed %x, charon logged %s", a.Data, authI, v.AuthI)
			}
			if a := Get[*Auth](aresp); a == nil || !bytes.Equal(a.Data, authR) || hex.EncodeToString(authR) != v.AuthR {
				t.Errorf("responder AUTH %x, computed %x, charon logged %s", a.Data, authR, v.AuthR)
			}

			// The Child SA of IKE_AUTH: its SPIs and KEYMAT.
			csa := Get[*SA](aresp)
			child, err := SuiteOf(csa.Proposals[0])
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(Get[*SA](areq).Proposals[0].SPI) != v.ChildSPIi || hex.EncodeToString(csa.Proposals[0].SPI) != v.ChildSPIr {
				t.Errorf("child SPIs %x %x, swanctl %s %s", Get[*SA](areq).Proposals[0].SPI, csa.Proposals[0].SPI, v.ChildSPIi, v.ChildSPIr)
			}
			ck := DeriveChildKeys(suite.PRF, keys.SKd, child, nil, ni, nr)
			for name, c := range map[string]struct {
				got  []byte
				want string
			}{"encr i": {ck.EncrI, v.ChildEncrI}, "encr r": {ck.EncrR, v.ChildEncrR}, "integ i": {ck.IntegI, v.ChildIntegI}, "integ r": {ck.IntegR, v.ChildIntegR}} {
				if hex.EncodeToString(c.got) != c.want {
					t.Errorf("child %s (%v) = %x, charon logged %s", name, child, c.got, c.want)
				}
			}
			for _, ts := range []*TS{areq.TS(PayloadTSi), areq.TS(PayloadTSr), aresp.TS(PayloadTSi), aresp.TS(PayloadTSr)} {
				if ts == nil || len(ts.Selectors) != 1 || ts.Selectors[0].Start != ts.Selectors[0].End {
					t.Errorf("traffic selectors %+v", ts)
				}
			}

			// Our own Seal, opened by our Open, gives back charon's payloads.
			sealed, err := ci.Seal(areq.Header, areq.Payloads)
			if err != nil {
				t.Fatal(err)
			}
			back := mustParse(t, sealed)
			if err := ci.Open(back, sealed); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal((&Message{Header: back.Header, Payloads: back.Payloads}).Marshal(), (&Message{Header: areq.Header, Payloads: areq.Payloads}).Marshal()) {
				t.Error("Seal/Open changed the payloads")
			}
			sealed[len(sealed)-1] ^= 1
			if err := ci.Open(mustParse(t, sealed), sealed); err != ErrIntegrity {
				t.Errorf("a flipped ICV bit: %v", err)
			}
		})
	}
}
