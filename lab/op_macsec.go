package lab

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &MACsecOp{} }) }

// MACsecOp changes MACsec on one end of a link (Node) or both, as a change
// through the Azure API (Microsoft's end) or on the customer's router does:
// turn it on or off, change the cipher or the SCI state, give a new key.
// Fields not given keep what the port has. A new setting means a new SecY
// and MKA participant: until MKA agrees a SAK with the peer, nothing passes
// between the ends. An end with MACsec off sends its frames in clear onto
// the wire (the peer, still on, drops them).
type MACsecOp struct {
	Link string `json:"link"`
	Node string `json:"node,omitempty"` // "": both ends
	// State turns MACsec on or off; nil keeps it (on, if other fields
	// are given).
	State  *value.Switch `json:"state,omitempty"`
	Cipher value.Cipher  `json:"cipher,omitempty"`
	SCI    *value.Switch `json:"sci,omitempty"`
	// Key is a CAK/CKN key file (read by the lab process, never sent
	// over the control socket) or generate:NAME, the lab's key NAME.
	Key value.KeySource `json:"key,omitzero"`
	// NewCAK gives fresh random keys: on one end a new CAK under its
	// current CKN (a CAK mismatch); on both ends one new CAK/CKN pair,
	// the same on both.
	NewCAK bool `json:"newCAK,omitempty"`
}

func (*MACsecOp) Kind() string { return "macsec" }

func (o *MACsecOp) off() bool { return o.State != nil && !bool(*o.State) }

func (o *MACsecOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	l := c.link("link", o.Link)
	c.wire("link", l)
	c.end("node", l, o.Node)
	settings := o.Cipher != 0 || o.SCI != nil || !o.Key.IsZero() || o.NewCAK
	switch {
	case o.off() && settings:
		c.errorf("state", "off excludes cipher, sci, key and newCAK")
	case !settings && o.State == nil:
		c.errorf("state", "nothing to change: give state, cipher, sci, key or newCAK")
	case !o.Key.IsZero() && o.NewCAK:
		c.errorf("newCAK", "excludes key")
	case o.Cipher.Suite().XPN() && t.ExpressRoutePortOf(o.Link) != nil && t.ExpressRoutePortOf(o.Link).BandwidthGbps == expressroute.NoXPNPortGbps:
		c.errorf("cipher", "%s on link %s: %s", o.Cipher.Suite().AzureName(), o.Link, expressroute.NoXPNReason(t.ExpressRoutePortOf(o.Link).Name))
	case o.Key.File != "" && !strings.HasPrefix(o.Key.File, "/"):
		c.errorf("key", "%q: the lab reads key files by absolute path", o.Key.File)
	case o.Key.File != "":
		// The one key rule, before anything changes: for the op's cipher,
		// or, the cipher being the port's at the time, for the longest
		// CAK any cipher takes (Apply reads it again for the port's).
		suite := o.Cipher.Suite()
		if suite == 0 {
			suite = macsec.GCMAESXPN256
		}
		k, err := secret.LoadKey(o.Key.File, suite)
		if err != nil {
			c.errorf("key", "%v", err)
		}
		k.Zero()
	}
	return c.err()
}

func (o *MACsecOp) Describe() string {
	where := o.Link
	if o.Node != "" {
		where += " at " + o.Node
	}
	var what []string
	if o.State != nil {
		what = append(what, o.State.OnOff())
	}
	if o.Cipher != 0 {
		what = append(what, "cipher "+o.Cipher.String())
	}
	if o.SCI != nil {
		what = append(what, "SCI "+o.SCI.String())
	}
	if o.Key.Generate != "" {
		what = append(what, "key "+o.Key.Generate)
	} else if o.Key.File != "" {
		what = append(what, "key file "+o.Key.File)
	}
	if o.NewCAK {
		if o.Node != "" {
			what = append(what, "a new CAK, same CKN")
		} else {
			what = append(what, "a new CAK/CKN, the same on both ends")
		}
	}
	return "MACsec on " + where + ": " + strings.Join(what, ", ")
}

func (o *MACsecOp) Apply(_ context.Context, l *Lab) (any, error) {
	ps, err := l.LinkPorts(o.Link)
	if err != nil {
		return nil, err
	}
	tl := l.topo.Link(o.Link)
	var shared *expressroute.Key // both ends' new pair, made for the first
	var res MACsecResult
	for i, p := range ps {
		if p == nil || (o.Node != "" && p.cfg.Node != o.Node) {
			continue
		}
		if o.off() {
			if err := p.SetMACsec(nil); err != nil {
				return nil, err
			}
			continue
		}
		p.mu.Lock()
		cur := p.mc
		p.mu.Unlock()
		var mc MACsecConfig
		if cur != nil {
			mc = *cur
		} else {
			// MACsec was off: start from the link's configuration.
			base := *tl
			base.MACsec.Enabled = true
			if base.MACsec.Cipher == 0 {
				base.MACsec.Cipher = macsec.GCMAESXPN256
				base.Ends[i].Cipher = base.MACsec.Cipher
			}
			if o.Key.IsZero() && !base.Ends[i].Secret.Generate && base.Ends[i].Secret.Path == "" {
				base.Ends[i].Secret.Generate = true
			}
			m, err := l.macsecConfig(&base, i)
			if err != nil {
				return nil, err
			}
			mc = *m
		}
		from := mc.Suite
		if o.Cipher != 0 {
			mc.Suite = o.Cipher.Suite()
		}
		if o.SCI != nil {
			mc.IncludeSCI = bool(*o.SCI)
		}
		notice, err := o.key(l, &mc, from, &shared)
		if err != nil {
			return nil, fmt.Errorf("link %s, %s: %w", o.Link, p.cfg.Node, err)
		}
		if notice != "" {
			res.Notices = append(res.Notices, fmt.Sprintf("link %s, %s: %s", o.Link, p.cfg.Node, notice))
		}
		if err := p.SetMACsec(&mc); err != nil {
			return nil, err
		}
	}
	if len(res.Notices) == 0 {
		return nil, nil
	}
	return &res, nil
}

// MACsecResult is what a MACsec change says besides doing it: how Azure's
// rule padded a CAK (expressroute.Key.Notice).
type MACsecResult struct {
	Notices []string `json:"notices,omitempty"`
}

// key gives mc the key the change calls for, by Azure's rule: a key file
// or the lab's generated key for the new cipher, fresh random keys, or —
// the key unchanged — the same secrets read for the new cipher (from is the
// old), padded or refused as Azure does. A key refused is bad input. It
// returns the padding notice of a key newly read, if any.
func (o *MACsecOp) key(l *Lab, mc *MACsecConfig, from macsec.CipherSuite, shared **expressroute.Key) (string, error) {
	var k expressroute.Key
	var err error
	switch {
	case o.Key.Generate != "":
		k, err = l.generatedKey(o.Key.Generate, mc.Suite)
	case o.Key.File != "":
		if k, err = secret.LoadKey(o.Key.File, mc.Suite); err != nil {
			err = &InvalidError{err}
		}
	case o.NewCAK && o.Node != "":
		var g mka.PSK
		if g, err = mka.GeneratePSK(rand.Reader, mc.Suite); err == nil {
			k = expressroute.Key{PSK: mka.PSK{CKN: mc.PSK.CKN, CAK: g.CAK}, Suite: mc.Suite, CAKDigits: expressroute.CAKHexDigits(mc.Suite)}
		}
	case o.NewCAK:
		if *shared == nil {
			g, gerr := mka.GeneratePSK(rand.Reader, mc.Suite)
			if gerr != nil {
				return "", gerr
			}
			*shared = &expressroute.Key{PSK: g, Suite: mc.Suite, CAKDigits: expressroute.CAKHexDigits(mc.Suite)}
		}
		k = **shared
	case mc.Suite == from:
		return "", nil // the key stays
	default:
		digits := mc.CAKDigits
		if digits == 0 {
			digits = 2 * mc.PSK.CAK.Len()
		}
		cur := expressroute.Key{PSK: mc.PSK, Suite: from, CAKDigits: digits}
		if k, err = cur.ForSuite(mc.Suite); err != nil {
			err = &InvalidError{fmt.Errorf("%w: give a key for %s with the cipher", err, mc.Suite.AzureName())}
		}
	}
	if err != nil {
		return "", err
	}
	mc.PSK, mc.CAKDigits = k.PSK, k.CAKDigits
	return k.Notice(), nil
}
