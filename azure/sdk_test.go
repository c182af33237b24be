package azure

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secylab/secylab/expressroute"
)

// edge records what ARM hands the Microsoft edge, reading the key through
// the emulator as the lab does.
type edge struct {
	e       *Emulator
	mu      sync.Mutex
	changes []LinkChange
	keys    []expressroute.Key
	refuse  string // a link whose changes the edge refuses
}

func (f *edge) Apply(_ context.Context, ch LinkChange) error {
	f.mu.Lock()
	refused := ch.Link == f.refuse
	f.mu.Unlock()
	if refused {
		return fmt.Errorf("%s refused", ch.Link)
	}
	var k expressroute.Key
	if ch.MACsec != nil {
		var err error
		if k, err = f.e.ReadKey(*ch.MACsec); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, ch)
	f.keys = append(f.keys, k)
	return nil
}

func (f *edge) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.changes) }

// change is the i-th change the edge took and its key.
func (f *edge) change(i int) (LinkChange, expressroute.Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes[i], f.keys[i]
}

type fixture struct {
	e      *Emulator
	edge   *edge
	proxy  string
	cloud  Cloud
	hc     *http.Client
	cfg    cloud.Configuration
	cred   azcore.TokenCredential
	ports  *armnetwork.ExpressRoutePortsClient
	links  *armnetwork.ExpressRouteLinksClient
	vault  *azsecrets.Client
	ctx    context.Context
	cancel context.CancelFunc
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{edge: &edge{}}
	var err error
	f.e, err = New(Config{Name: "t", Vaults: []VaultConfig{{Name: "er-kv", Readers: []string{"er-identity"}}},
		Identities: []string{"er-identity", "no-access"},
		Ports:      []PortConfig{{Name: "er-port", BandwidthInGbps: 100, Edge: f.edge}}, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.edge.e = f.e
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ctx, f.cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	done := make(chan error, 1)
	go func() { done <- f.e.Serve(f.ctx, ln) }()
	t.Cleanup(func() {
		f.cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f.proxy = "http://" + ln.Addr().String()
	proxy, _ := url.Parse(f.proxy)
	f.hc = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: f.e.CA().Pool()}}}
	f.cloud = f.e.Cloud()
	f.cfg = cloud.Configuration{ActiveDirectoryAuthorityHost: f.cloud.ActiveDirectory + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Audience: f.cloud.ActiveDirectoryResourceID, Endpoint: f.cloud.ResourceManager}}}
	f.cred, err = azidentity.NewClientSecretCredential(f.cloud.Tenant, f.cloud.ClientID, f.cloud.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: f.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	f.ports = f.portsClient(t, "")
	f.links, err = armnetwork.NewExpressRouteLinksClient(f.cloud.Subscription, f.cred, &arm.ClientOptions{ClientOptions: f.clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	f.vault, err = azsecrets.NewClient("https://er-kv"+f.cloud.KeyVaultDNSSuffix, f.cred, &azsecrets.ClientOptions{ClientOptions: f.clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) clientOptions() policy.ClientOptions {
	return policy.ClientOptions{Cloud: f.cfg, Transport: f.hc, Retry: policy.RetryOptions{MaxRetries: -1}}
}

func (f *fixture) portsClient(t *testing.T, apiVersion string) *armnetwork.ExpressRoutePortsClient {
	o := f.clientOptions()
	o.APIVersion = apiVersion
	c, err := armnetwork.NewExpressRoutePortsClient(f.cloud.Subscription, f.cred, &arm.ClientOptions{ClientOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) setSecret(t *testing.T, name, value string) string {
	t.Helper()
	r, err := f.vault.SetSecret(f.ctx, name, azsecrets.SetSecretParameters{Value: &value}, nil)
	if err != nil {
		t.Fatalf("SetSecret %s: %v", name, err)
	}
	return string(*r.ID)
}

func (f *fixture) identity(name string) string {
	return "/subscriptions/" + f.cloud.Subscription + "/resourcegroups/" + f.cloud.ResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

func (f *fixture) put(t *testing.T, c *armnetwork.ExpressRoutePortsClient, ctx context.Context, name string, p armnetwork.ExpressRoutePort) (armnetwork.ExpressRoutePort, error) {
	t.Helper()
	poller, err := c.BeginCreateOrUpdate(ctx, f.cloud.ResourceGroup, name, p, nil)
	if err != nil {
		return armnetwork.ExpressRoutePort{}, err
	}
	r, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: 100 * time.Millisecond})
	return r.ExpressRoutePort, err
}

func wantCode(t *testing.T, what string, err error, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: %v, want a ResponseError %s", what, err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("%s: code %s, want %s (%v)", what, re.ErrorCode, code, err)
	}
	return re
}

const (
	testCKN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testCAK = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func newPort(identity string, bw int32, link1 *armnetwork.ExpressRouteLinkMacSecConfig) armnetwork.ExpressRoutePort {
	p := armnetwork.ExpressRoutePort{
		Location: ptr("westus2"),
		Properties: &armnetwork.ExpressRoutePortPropertiesFormat{
			PeeringLocation: ptr("Equinix-Seattle-SE2"), BandwidthInGbps: &bw, Encapsulation: ptr(armnetwork.ExpressRoutePortsEncapsulationDot1Q),
			Links: []*armnetwork.ExpressRouteLink{{Name: ptr("link1"), Properties: &armnetwork.ExpressRouteLinkPropertiesFormat{
				AdminState: ptr(armnetwork.ExpressRouteLinkAdminStateEnabled), MacSecConfig: link1}}},
		},
	}
	if identity != "" {
		p.Identity = &armnetwork.ManagedServiceIdentity{Type: ptr(armnetwork.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armnetwork.Components1Jq1T4ISchemasManagedserviceidentityPropertiesUserassignedidentitiesAdditionalproperties{identity: {}}}
	}
	return p
}

func macsecConfig(ckn, cak string, cipher armnetwork.ExpressRouteLinkMacSecCipher) *armnetwork.ExpressRouteLinkMacSecConfig {
	return &armnetwork.ExpressRouteLinkMacSecConfig{CknSecretIdentifier: &ckn, CakSecretIdentifier: &cak, Cipher: &cipher,
		SciState: ptr(armnetwork.ExpressRouteLinkMacSecSciStateDisabled)}
}

// TestFailedPutPutsTheEdgeBack: a PUT that changes both links, of which
// the edge refuses link2's, fails, and link1, taken already, is put back
// at the edge as it was, so that the edge runs what the port's links say.
func TestFailedPutPutsTheEdgeBack(t *testing.T) {
	f := newFixture(t)
	ckn := f.setSecret(t, "link1-ckn", testCKN)
	cak := f.setSecret(t, "link1-cak", testCAK)
	if _, err := f.put(t, f.ports, f.ctx, "er-port", newPort(f.identity("er-identity"), 100, macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256))); err != nil {
		t.Fatalf("create the port: %v", err)
	}
	ckn2 := f.setSecret(t, "link1-ckn", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	cak2 := f.setSecret(t, "link1-cak", "0f0e0d0c0b0a09080706050403020100")
	port, err := f.ports.Get(f.ctx, f.cloud.ResourceGroup, "er-port", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(port.Properties.Links) != 2 {
		t.Fatalf("%d links", len(port.Properties.Links))
	}
	for _, l := range port.Properties.Links {
		l.Properties.AdminState = ptr(armnetwork.ExpressRouteLinkAdminStateEnabled)
		l.Properties.MacSecConfig = macsecConfig(ckn2, cak2, armnetwork.ExpressRouteLinkMacSecCipherGCMAES128)
	}
	f.edge.mu.Lock()
	f.edge.refuse = "link2"
	f.edge.mu.Unlock()
	_, err = f.put(t, f.ports, f.ctx, "er-port", port.ExpressRoutePort)
	wantCode(t, "the edge refusing link2", err, "ExpressRouteLinkUpdateFailed")
	if n := f.edge.count(); n != 3 {
		t.Fatalf("the edge took %d changes, want 3: link1 made, changed, put back", n)
	}
	if ch, k := f.edge.change(1); ch.Link != "link1" || ch.MACsec.Cipher.AzureName() != "GcmAes128" || k.CAKDigits != 32 {
		t.Fatalf("change 1: %+v", ch)
	}
	first, _ := f.edge.change(0)
	back, k := f.edge.change(2)
	if back.Link != "link1" || !back.AdminEnabled || back.MACsec == nil || *back.MACsec != *first.MACsec || !strings.EqualFold(k.CKN.String(), testCKN) || k.CAKDigits != 64 {
		t.Fatalf("link1 put back as %+v (key CKN %s), want %+v", back, k.CKN, first)
	}
	after, err := f.ports.Get(f.ctx, f.cloud.ResourceGroup, "er-port", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := *after.Properties.ProvisioningState; s != armnetwork.ProvisioningStateFailed {
		t.Fatalf("provisioningState %s", s)
	}
	if m := after.Properties.Links[0].Properties.MacSecConfig; *m.CknSecretIdentifier != ckn || *m.Cipher != armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256 {
		t.Fatalf("link1 reads back %+v", m)
	}
}

// TestSDK drives the emulator with Azure's SDK for Go: a port made with an
// identity, secrets set, link1's macSecConfig updated and polled to
// Succeeded, read back; then each refusal, which changes nothing.
func TestSDK(t *testing.T) {
	f := newFixture(t)
	ckn := f.setSecret(t, "link1-ckn", testCKN)
	cak := f.setSecret(t, "link1-cak", testCAK)
	if !strings.HasPrefix(ckn, "https://er-kv.vault.secylab.test/secrets/link1-ckn/") {
		t.Fatalf("secret id %s", ckn)
	}
	got, err := f.put(t, f.ports, f.ctx, "er-port", newPort(f.identity("er-identity"), 100, macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256)))
	if err != nil {
		t.Fatalf("create the port: %v", err)
	}
	if s := *got.Properties.ProvisioningState; s != armnetwork.ProvisioningStateSucceeded {
		t.Fatalf("provisioningState %s", s)
	}
	if f.edge.count() != 1 {
		t.Fatalf("edge changes %d, want 1", f.edge.count())
	}
	ch, k := f.edge.change(0)
	if ch.Link != "link1" || !ch.AdminEnabled || ch.MACsec == nil || ch.MACsec.Cipher.AzureName() != "GcmAesXpn256" || !strings.EqualFold(k.CKN.String(), testCKN) || k.CAKDigits != 64 {
		t.Fatalf("edge got %+v, key CKN %s (%d CAK digits)", ch, k.CKN, k.CAKDigits)
	}
	l, err := f.links.Get(f.ctx, f.cloud.ResourceGroup, "er-port", "link1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := l.Properties.MacSecConfig; *m.CknSecretIdentifier != ckn || *m.CakSecretIdentifier != cak || *m.Cipher != armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256 {
		t.Fatalf("link1 reads back %+v", m)
	}

	// A rotation: new secret versions, then the link updated to them
	// (GET, edit, PUT the whole port, as az does).
	ckn2 := f.setSecret(t, "link1-ckn", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	cak2 := f.setSecret(t, "link1-cak", "0f0e0d0c0b0a09080706050403020100")
	port, err := f.ports.Get(f.ctx, f.cloud.ResourceGroup, "er-port", nil)
	if err != nil {
		t.Fatal(err)
	}
	port.Properties.Links[0].Properties.MacSecConfig = macsecConfig(ckn2, cak2, armnetwork.ExpressRouteLinkMacSecCipherGCMAES128)
	if _, err := f.put(t, f.ports, f.ctx, "er-port", port.ExpressRoutePort); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if n := f.edge.count(); n != 2 {
		t.Fatalf("after the rotation the edge has %d changes", n)
	}
	if ch, k := f.edge.change(1); !strings.EqualFold(k.CKN.String(), "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff") || ch.MACsec.Cipher.AzureName() != "GcmAes128" {
		t.Fatalf("after the rotation the edge runs %+v", ch)
	}

	// Refusals: each a ResponseError with Azure's code, nothing changed.
	before, _ := f.ports.Get(f.ctx, f.cloud.ResourceGroup, "er-port", nil)
	edited := func(edit func(*armnetwork.ExpressRoutePort)) armnetwork.ExpressRoutePort {
		p, err := f.ports.Get(f.ctx, f.cloud.ResourceGroup, "er-port", nil)
		if err != nil {
			t.Fatal(err)
		}
		edit(&p.ExpressRoutePort)
		return p.ExpressRoutePort
	}
	setLink1 := func(m *armnetwork.ExpressRouteLinkMacSecConfig) armnetwork.ExpressRoutePort {
		return edited(func(p *armnetwork.ExpressRoutePort) { p.Properties.Links[0].Properties.MacSecConfig = m })
	}
	noAccess := edited(func(p *armnetwork.ExpressRoutePort) {
		p.Identity.UserAssignedIdentities = map[string]*armnetwork.Components1Jq1T4ISchemasManagedserviceidentityPropertiesUserassignedidentitiesAdditionalproperties{f.identity("no-access"): {}}
		p.Properties.Links[0].Properties.MacSecConfig = macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256)
	})
	noIdentity := edited(func(p *armnetwork.ExpressRoutePort) {
		p.Identity = &armnetwork.ManagedServiceIdentity{Type: ptr(armnetwork.ResourceIdentityTypeNone)}
		p.Properties.Links[0].Properties.MacSecConfig = macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256)
	})
	ckn64 := f.setSecret(t, "long-ckn", testCKN+"00")
	for _, tc := range []struct {
		what, code string
		client     *armnetwork.ExpressRoutePortsClient
		ctx        context.Context
		port       armnetwork.ExpressRoutePort
	}{
		{"an unknown cipher", CodeMacSecCipher, f.ports, f.ctx, setLink1(macsecConfig(ckn, cak, "GcmAes512"))},
		{"a missing secret version", CodeMacSecSecret, f.ports, f.ctx, setLink1(macsecConfig(ckn, strings.TrimSuffix(cak, cak[len(cak)-32:])+"00000000000000000000000000000000", armnetwork.ExpressRouteLinkMacSecCipherGCMAES256))},
		{"a secret the identity cannot read", CodeMacSecSecret, f.ports, f.ctx, noAccess},
		{"no identity", CodeMacSecIdentity, f.ports, f.ctx, noIdentity},
		{"a CKN of 66 digits", CodeMacSecKey, f.ports, f.ctx, setLink1(macsecConfig(ckn64, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAES256))},
		{"a 64-digit CAK for GcmAes128", CodeMacSecKey, f.ports, f.ctx, setLink1(macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAES128))},
		{"an unknown api-version", CodeNoRegisteredProvider, f.portsClient(t, "2099-01-01"), f.ctx, setLink1(macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAES256))},
		{"a wrong etag", CodePreconditionFailed, f.ports, policy.WithHTTPHeader(f.ctx, http.Header{"If-Match": {`W/"00000000-0000-0000-0000-000000000000"`}}), setLink1(macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAES256))},
		{"a third link", CodeLinksChanged, f.ports, f.ctx, edited(func(p *armnetwork.ExpressRoutePort) {
			p.Properties.Links = append(p.Properties.Links, &armnetwork.ExpressRouteLink{Name: ptr("link3")})
		})},
		{"an adminState of Off", CodeInvalidRequestContent, f.ports, f.ctx, edited(func(p *armnetwork.ExpressRoutePort) {
			p.Properties.Links[0].Properties.AdminState = ptr(armnetwork.ExpressRouteLinkAdminState("Off"))
		})},
	} {
		_, err := f.put(t, tc.client, tc.ctx, "er-port", tc.port)
		wantCode(t, tc.what, err, tc.code)
		after, err := f.ports.Get(f.ctx, f.cloud.ResourceGroup, "er-port", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *after.Etag != *before.Etag || f.edge.count() != 2 {
			t.Fatalf("%s changed the port (etag %s → %s) or the edge (%d changes)", tc.what, *before.Etag, *after.Etag, f.edge.count())
		}
	}

	// The right etag is taken.
	ctx := policy.WithHTTPHeader(f.ctx, http.Header{"If-Match": {*before.Etag}})
	if _, err := f.put(t, f.ports, ctx, "er-port", edited(func(p *armnetwork.ExpressRoutePort) {
		p.Properties.Links[0].Properties.AdminState = ptr(armnetwork.ExpressRouteLinkAdminStateDisabled)
	})); err != nil {
		t.Fatalf("PUT with the right If-Match: %v", err)
	}
	if f.edge.count() != 3 {
		t.Fatalf("adminState Disabled: %d edge changes", f.edge.count())
	}
	if ch, _ := f.edge.change(2); ch.AdminEnabled {
		t.Fatalf("adminState Disabled: edge %+v", ch)
	}

	// XPN on a 10 Gbps port (not the lab's).
	_, err = f.put(t, f.ports, f.ctx, "small-port", newPort(f.identity("er-identity"), 10, macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAesXpn256)))
	wantCode(t, "XPN on 10 Gbps", err, CodeMacSecXPN)
	if _, err := f.put(t, f.ports, f.ctx, "small-port", newPort(f.identity("er-identity"), 10, macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAES256))); err != nil {
		t.Fatalf("GcmAes256 on 10 Gbps: %v", err)
	}
	pager := f.ports.NewListByResourceGroupPager(f.cloud.ResourceGroup, nil)
	var names []string
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range page.Value {
			names = append(names, *p.Name)
		}
	}
	if strings.Join(names, ",") != "er-port,small-port" || pages != 2 {
		t.Fatalf("ports %v in %d pages (page size 1: the pager follows nextLink)", names, pages)
	}
	if _, err := f.ports.UpdateTags(f.ctx, f.cloud.ResourceGroup, "small-port", armnetwork.TagsObject{Tags: map[string]*string{"env": ptr("lab")}}, nil); err != nil {
		t.Fatal(err)
	}
	var delResp *http.Response
	del, err := f.ports.BeginDelete(policy.WithCaptureResponse(f.ctx, &delResp), f.cloud.ResourceGroup, "small-port", nil)
	if err != nil {
		t.Fatal(err)
	}
	if delResp.StatusCode != http.StatusAccepted || delResp.Header.Get("Azure-AsyncOperation") == "" || delResp.Header.Get("Location") == "" {
		t.Fatalf("DELETE: %s, Azure-AsyncOperation %q, Location %q (want 202 and both)", delResp.Status, delResp.Header.Get("Azure-AsyncOperation"), delResp.Header.Get("Location"))
	}
	if _, err := del.PollUntilDone(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.ports.Get(f.ctx, f.cloud.ResourceGroup, "small-port", nil)
	wantCode(t, "a deleted port", err, CodeResourceNotFound)
}

// TestSDKMalformedBody sends what no SDK would: a body that is not JSON.
func TestSDKMalformedBody(t *testing.T) {
	f := newFixture(t)
	tok, err := f.cred.GetToken(f.ctx, policy.TokenRequestOptions{Scopes: []string{f.cloud.ActiveDirectoryResourceID + ".default"}})
	if err != nil {
		t.Fatal(err)
	}
	u := f.cloud.ResourceManager + "subscriptions/" + f.cloud.Subscription + "/resourceGroups/" + f.cloud.ResourceGroup + "/providers/Microsoft.Network/expressRoutePorts/er-port"
	for _, tc := range []struct{ query, body, code string }{
		{"?api-version=2023-09-01", `{"location": "westus2", "properties": {`, CodeInvalidRequestFormat},
		{"?api-version=2023-09-01", `{"location": "westus2", "properties": {"bandwidthInGbps": "100"}}`, CodeInvalidRequestContent},
		{"", `{}`, CodeMissingAPIVersion},
	} {
		req, _ := http.NewRequest(http.MethodPut, u+tc.query, bytes.NewBufferString(tc.body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, tc.body, runtime.NewResponseError(resp), tc.code)
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodGet, u+"?api-version=2023-09-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token+"x")
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a forged token", runtime.NewResponseError(resp), CodeInvalidAuthToken)
	resp.Body.Close()
	if f.edge.count() != 0 {
		t.Fatal("the edge changed")
	}
}

// TestSDKKeyVault: versions, soft-delete and recover, name rules.
func TestSDKKeyVault(t *testing.T) {
	f := newFixture(t)
	v1 := f.setSecret(t, "ckn", testCKN)
	v2 := f.setSecret(t, "ckn", "aa")
	if v1 == v2 {
		t.Fatal("a second set made no new version")
	}
	pager := f.vault.NewListSecretPropertiesVersionsPager("ckn", nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("%d versions, want 2", n)
	}
	id := azsecrets.ID(v1)
	got, err := f.vault.GetSecret(f.ctx, id.Name(), id.Version(), nil)
	if err != nil || *got.Value != testCKN {
		t.Fatalf("get version 1: %v", err)
	}
	if _, err := f.vault.DeleteSecret(f.ctx, "ckn", nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.vault.GetSecret(f.ctx, "ckn", "", nil)
	wantCode(t, "a deleted secret", err, CodeKVNotFound)
	_, err = f.vault.SetSecret(f.ctx, "ckn", azsecrets.SetSecretParameters{Value: ptr("bb")}, nil)
	re := wantCode(t, "setting a deleted secret", err, CodeKVConflict)
	if !strings.Contains(re.Error(), "ObjectIsDeletedButRecoverable") {
		t.Fatalf("no innererror: %v", re)
	}
	if _, err := f.vault.RecoverDeletedSecret(f.ctx, "ckn", nil); err != nil {
		t.Fatal(err)
	}
	got, err = f.vault.GetSecret(f.ctx, "ckn", "", nil)
	if err != nil || *got.Value != "aa" {
		t.Fatalf("recovered: %v", err)
	}
	_, err = f.vault.SetSecret(f.ctx, "bad_name", azsecrets.SetSecretParameters{Value: ptr("x")}, nil)
	wantCode(t, "a bad name", err, CodeKVBadParameter)
}

// TestLegacyCipherSpelling: up to 2020-11-01 macSecConfig's cipher was
// gcm-aes-128 | gcm-aes-256 and had no sciState; the service answered with
// the later spelling. Later versions refuse the old spelling.
func TestLegacyCipherSpelling(t *testing.T) {
	f := newFixture(t)
	ckn := f.setSecret(t, "ckn", testCKN)
	cak := f.setSecret(t, "cak", testCAK)
	if _, err := f.put(t, f.ports, f.ctx, "er-port", newPort(f.identity("er-identity"), 100, macsecConfig(ckn, cak, armnetwork.ExpressRouteLinkMacSecCipherGCMAES128))); err == nil {
		t.Fatal("a 64-digit CAK taken for GcmAes128")
	}
	if _, err := f.put(t, f.ports, f.ctx, "er-port", newPort(f.identity("er-identity"), 100, nil)); err != nil {
		t.Fatal(err)
	}
	tok, err := f.cred.GetToken(f.ctx, policy.TokenRequestOptions{Scopes: []string{f.cloud.ActiveDirectoryResourceID + ".default"}})
	if err != nil {
		t.Fatal(err)
	}
	u := f.cloud.ResourceManager + "subscriptions/" + f.cloud.Subscription + "/resourceGroups/" + f.cloud.ResourceGroup + "/providers/Microsoft.Network/expressRoutePorts/er-port"
	do := func(method, version, body string) (*http.Response, string) {
		req, _ := http.NewRequest(method, u+"?api-version="+version, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := f.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		return resp, b.String()
	}
	body := `{"location": "westus2", "identity": {"type": "UserAssigned", "userAssignedIdentities": {"` + f.identity("er-identity") + `": {}}},
	  "properties": {"links": [{"name": "link1", "properties": {"macSecConfig": {"cknSecretIdentifier": "` + ckn + `", "cakSecretIdentifier": "` + cak + `", "cipher": "gcm-aes-256"}}}]}}`
	if resp, _ := do(http.MethodPut, "2022-01-01", body); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("gcm-aes-256 at 2022-01-01: %s", resp.Status)
	}
	resp, out := do(http.MethodPut, "2020-11-01", body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"cipher":"GcmAes256"`) || strings.Contains(out, "sciState") {
		t.Fatalf("gcm-aes-256 at 2020-11-01: %s %s", resp.Status, out)
	}
	time.Sleep(200 * time.Millisecond) // the asynchronous operation
	if _, out := do(http.MethodGet, "2023-09-01", ""); !strings.Contains(out, `"sciState":"Disabled"`) || !strings.Contains(out, `"billingType":"MeteredData"`) {
		t.Fatalf("at 2023-09-01: %s", out)
	}
	if n := f.edge.count(); n != 2 {
		t.Fatalf("%d edge changes", n)
	}
	if ch, _ := f.edge.change(1); ch.MACsec == nil || ch.MACsec.Cipher.AzureName() != "GcmAes256" {
		t.Fatalf("edge: %+v", ch)
	}
}
