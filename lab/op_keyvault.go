package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &KeyVaultOp{} }) }

// KeyVaultOp stores a CKN and a CAK as new versions of two secrets of the
// lab's Key Vault, through Key Vault's API (Azure's SDK for Go, as the
// lab's service principal): the first half of a rotation. The key is a
// key file or the lab's generated key NAME (generate:NAME), which a
// customer router's macsec step can take too. Its answer is the new
// versions' identifiers.
type KeyVaultOp struct {
	CKN    string          `json:"ckn"` // the CKN secret's name
	CAK    string          `json:"cak"` // the CAK secret's name
	Key    value.KeySource `json:"key"`
	Cipher value.Cipher    `json:"cipher,omitempty"` // what the key is for; default GcmAesXpn256
}

func (*KeyVaultOp) Kind() string { return "keyVault" }

func (o *KeyVaultOp) Describe() string {
	return "Key Vault: new versions of " + o.CKN + " and " + o.CAK + " (the CKN and CAK of " + o.Key.String() + ")"
}

func (o *KeyVaultOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	if t.Azure == nil {
		c.errorf("ckn", "the lab has no Azure control plane: give the topology an azure: block or run lab up --azure")
	}
	for _, f := range []struct{ field, v string }{{"ckn", o.CKN}, {"cak", o.CAK}} {
		if f.v == "" {
			c.errorf(f.field, "missing: the secret's name")
		} else if strings.Trim(f.v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" || len(f.v) > 127 {
			c.errorf(f.field, "%q is not a Key Vault secret name: 1 to 127 letters, digits and '-'", f.v)
		}
	}
	switch {
	case o.Key.IsZero():
		c.errorf("key", "missing: generate:NAME or a key file")
	case o.Key.File != "" && !strings.HasPrefix(o.Key.File, "/"):
		c.errorf("key", "%q: the lab reads key files by absolute path", o.Key.File)
	}
	return c.err()
}

// KeyVaultResult is the new secret versions.
type KeyVaultResult struct {
	CKN string `json:"cknSecretIdentifier"`
	CAK string `json:"cakSecretIdentifier"`
}

func (o *KeyVaultOp) Apply(ctx context.Context, l *Lab) (any, error) {
	rt := l.azure
	if rt == nil {
		return nil, errors.New("the lab runs no Azure emulator (lab up --azure)")
	}
	suite := o.Cipher.Suite()
	if suite == 0 {
		suite = macsec.GCMAESXPN256
	}
	var k expressroute.Key
	var err error
	if o.Key.Generate != "" {
		k, err = l.generatedKey(o.Key.Generate, suite)
	} else if k, err = secret.LoadKey(o.Key.File, suite); err != nil {
		err = &InvalidError{err}
	}
	if err != nil {
		return nil, err
	}
	defer k.Zero()
	var res KeyVaultResult
	if res.CKN, err = rt.client.SetSecret(ctx, rt.cfg.Vault, o.CKN, k.CKN.String()); err != nil {
		return nil, err
	}
	cak := hex.EncodeToString(k.CAK.Bytes()[:k.CAKDigits/2])
	res.CAK, err = rt.client.SetSecret(ctx, rt.cfg.Vault, o.CAK, cak)
	if err != nil {
		return nil, err
	}
	return &res, nil
}
