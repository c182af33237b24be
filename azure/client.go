package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Client drives an emulator with Azure's SDK for Go, as the lab's service
// principal: what a scenario's azure: and keyVault: steps call, the way an
// engineer's automation would.
type Client struct {
	c     Cloud
	opts  policy.ClientOptions
	cred  azcore.TokenCredential
	ports *armnetwork.ExpressRoutePortsClient
}

// NewClient is a client for the emulator c describes (Proxy and the CA
// certificate caPEM).
func NewClient(c Cloud, caPEM []byte) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("azure: no CA certificate")
	}
	proxy, err := url.Parse(c.Proxy)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	cfg := cloud.Configuration{ActiveDirectoryAuthorityHost: c.ActiveDirectory + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Audience: c.ActiveDirectoryResourceID, Endpoint: c.ResourceManager}}}
	cl := &Client{c: c, opts: policy.ClientOptions{Cloud: cfg, Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}}
	cl.cred, err = azidentity.NewClientSecretCredential(c.Tenant, c.ClientID, c.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: cl.opts, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, err
	}
	cl.ports, err = armnetwork.NewExpressRoutePortsClient(c.Subscription, cl.cred, &arm.ClientOptions{ClientOptions: cl.opts})
	return cl, err
}

func (cl *Client) vault(name string) (*azsecrets.Client, error) {
	return azsecrets.NewClient("https://"+name+cl.c.KeyVaultDNSSuffix, cl.cred, &azsecrets.ClientOptions{ClientOptions: cl.opts})
}

// SetSecret stores a new version of a secret and returns its identifier.
func (cl *Client) SetSecret(ctx context.Context, vault, name, value string) (string, error) {
	v, err := cl.vault(vault)
	if err != nil {
		return "", err
	}
	r, err := v.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: &value}, nil)
	if err != nil {
		return "", err
	}
	return string(*r.ID), nil
}

// SecretID is the identifier of a secret's current version ($secret.Id).
func (cl *Client) SecretID(ctx context.Context, vault, name string) (string, error) {
	v, err := cl.vault(vault)
	if err != nil {
		return "", err
	}
	r, err := v.GetSecret(ctx, name, "", nil)
	if err != nil {
		return "", err
	}
	return string(*r.ID), nil
}

// LinkUpdate is a change of one link; "" keeps a field.
type LinkUpdate struct {
	AdminState string
	CKN, CAK   string // secret identifiers
	Cipher     string
	SCIState   string
}

// UpdateLink changes one link of a port as az network express-route port
// link update does: GET the port, edit the link, PUT the whole port, poll
// its Azure-AsyncOperation until it ends. It returns the port's etag
// after.
func (cl *Client) UpdateLink(ctx context.Context, port, link string, u LinkUpdate) (string, error) {
	got, err := cl.ports.Get(ctx, cl.c.ResourceGroup, port, nil)
	if err != nil {
		return "", err
	}
	p := got.ExpressRoutePort
	var l *armnetwork.ExpressRouteLink
	for _, x := range p.Properties.Links {
		if x.Name != nil && *x.Name == link {
			l = x
		}
	}
	if l == nil {
		return "", fmt.Errorf("port %s has no link %s", port, link)
	}
	if l.Properties == nil {
		l.Properties = &armnetwork.ExpressRouteLinkPropertiesFormat{}
	}
	lp := l.Properties
	if u.AdminState != "" {
		lp.AdminState = ptr(armnetwork.ExpressRouteLinkAdminState(u.AdminState))
	}
	if lp.MacSecConfig == nil {
		lp.MacSecConfig = &armnetwork.ExpressRouteLinkMacSecConfig{}
	}
	m := lp.MacSecConfig
	if u.CKN != "" {
		m.CknSecretIdentifier = &u.CKN
	}
	if u.CAK != "" {
		m.CakSecretIdentifier = &u.CAK
	}
	if u.Cipher != "" {
		m.Cipher = ptr(armnetwork.ExpressRouteLinkMacSecCipher(u.Cipher))
	}
	if u.SCIState != "" {
		m.SciState = ptr(armnetwork.ExpressRouteLinkMacSecSciState(u.SCIState))
	}
	ctx = policy.WithHTTPHeader(ctx, http.Header{"If-Match": {*p.Etag}})
	poller, err := cl.ports.BeginCreateOrUpdate(ctx, cl.c.ResourceGroup, port, p, nil)
	if err != nil {
		return "", err
	}
	r, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: time.Second})
	if err != nil {
		return "", err
	}
	return *r.Etag, nil
}
