package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/secylab/secylab/azure"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &AzureOp{} }) }

// AzureOp changes one link of the lab's expressRoutePorts resource through
// Azure's API, as az network express-route port link update does (GET the
// port, edit the link, PUT it, poll the operation), with Azure's SDK for
// Go as the lab's service principal. ARM's checks apply: a refusal is the
// step's error and changes nothing; an accepted change re-keys or takes
// down the Microsoft edge (AzureLinkOp), never the customer's router.
type AzureOp struct {
	Link       string        `json:"link"` // the lab's link
	AdminState *value.Switch `json:"adminState,omitempty"`
	// CKNSecret and CAKSecret name secrets of the lab's vault (their
	// current versions, as $secret.Id) or are secret identifiers.
	CKNSecret string `json:"cknSecret,omitempty"`
	CAKSecret string `json:"cakSecret,omitempty"`
	// Cipher is passed to Azure as written, so that a scenario can
	// rehearse a refusal.
	Cipher   string        `json:"cipher,omitempty"`
	SCIState *value.Switch `json:"sciState,omitempty"`
}

func (*AzureOp) Kind() string { return "azure" }

func (o *AzureOp) SetShorthand(v string) { o.Link = v }

func (o *AzureOp) Describe() string {
	var what []string
	if o.AdminState != nil {
		what = append(what, "--admin-state "+o.AdminState.String())
	}
	if o.CKNSecret != "" {
		what = append(what, "--macsec-ckn-secret-identifier "+o.CKNSecret)
	}
	if o.CAKSecret != "" {
		what = append(what, "--macsec-cak-secret-identifier "+o.CAKSecret)
	}
	if o.Cipher != "" {
		what = append(what, "--macsec-cipher "+o.Cipher)
	}
	if o.SCIState != nil {
		what = append(what, "--macsec-sci-state "+o.SCIState.String())
	}
	return "Azure: express-route port link update " + o.Link + " " + strings.Join(what, " ")
}

func checkAzure(c *opCheck, field, link string) {
	if c.t.Azure == nil {
		c.errorf(field, "the lab has no Azure control plane: give the topology an azure: block or run lab up --azure")
		return
	}
	if l := c.link(field, link); l != nil && c.t.Azure.AzureLinkOf(link) == "" {
		c.errorf(field, "link %s is not a link of the lab's ExpressRoute port %s", link, c.t.Azure.Port)
	}
}

func (o *AzureOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	checkAzure(c, "link", o.Link)
	if o.AdminState == nil && o.CKNSecret == "" && o.CAKSecret == "" && o.Cipher == "" && o.SCIState == nil {
		c.errorf("link", "nothing to change: give adminState, cknSecret, cakSecret, cipher or sciState")
	}
	return c.err()
}

func (o *AzureOp) Apply(ctx context.Context, l *Lab) (any, error) {
	rt := l.azure
	if rt == nil {
		return nil, errors.New("the lab runs no Azure emulator (lab up --azure)")
	}
	u := azure.LinkUpdate{Cipher: o.Cipher}
	if o.AdminState != nil {
		u.AdminState = o.AdminState.String()
	}
	if o.SCIState != nil {
		u.SCIState = o.SCIState.String()
	}
	var err error
	if u.CKN, err = rt.secretID(ctx, o.CKNSecret); err != nil {
		return nil, err
	}
	if u.CAK, err = rt.secretID(ctx, o.CAKSecret); err != nil {
		return nil, err
	}
	if _, err := rt.client.UpdateLink(ctx, rt.cfg.Port, l.topo.Azure.AzureLinkOf(o.Link), u); err != nil {
		return nil, fmt.Errorf("azure refused the change of %s: %w", o.Link, err)
	}
	return nil, nil
}

// secretID is a secret's identifier: s itself, or the current version of
// the lab vault's secret s.
func (rt *azureRuntime) secretID(ctx context.Context, s string) (string, error) {
	if s == "" || strings.HasPrefix(s, "https://") {
		return s, nil
	}
	return rt.client.SecretID(ctx, rt.cfg.Vault, s)
}
