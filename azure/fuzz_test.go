package azure

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPortPUT: whatever a PUT of a port carries, the emulator answers 200,
// 201 or a refusal in ARM's envelope with a code, and never panics.
func FuzzPortPUT(f *testing.F) {
	e, err := New(Config{Name: "fz", Vaults: []VaultConfig{{Name: "fz-kv", Readers: []string{"id"}}}, Identities: []string{"id"}})
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := e.tokens.issue(e.sp.Principal, e.armAudience())
	f.Add(`{"location":"westus2","properties":{"peeringLocation":"x","bandwidthInGbps":10,"encapsulation":"Dot1Q","links":[{"name":"link1","properties":{"adminState":"Enabled","macSecConfig":{"cipher":"GcmAesXpn256","cknSecretIdentifier":"https://fz-kv.vault.secylab.test/secrets/a/b","cakSecretIdentifier":"x"}}}]}}`)
	f.Add(`{"identity":{"type":"UserAssigned","userAssignedIdentities":{"/x":{}}}}`)
	f.Add(`{"properties":{"links":[null]}}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPut, "https://management.secylab.test/subscriptions/"+e.subscription+"/resourceGroups/secylab/providers/Microsoft.Network/expressRoutePorts/p?api-version=2023-09-01", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		e.Handler().ServeHTTP(w, req)
		switch {
		case w.Code == http.StatusOK || w.Code == http.StatusCreated:
		case w.Code >= 400 && w.Code < 500:
			var env struct{ Error *Error }
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error == nil || env.Error.Code == "" {
				t.Fatalf("%d without ARM's envelope: %s", w.Code, w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

// FuzzBearer: a forged or mangled token is refused, never taken.
func FuzzBearer(f *testing.F) {
	e, err := New(Config{Name: "fz"})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := e.tokens.issue(e.sp.Principal, e.armAudience())
	f.Add(good + "x")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		req := httptest.NewRequest(http.MethodGet, "https://management.secylab.test/subscriptions?api-version=2022-12-01", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		_, aerr := e.tokens.check(req, e.armAudience())
		if tok != good && aerr == nil {
			t.Fatalf("token %q taken: only the one issued is good", tok)
		}
	})
}
