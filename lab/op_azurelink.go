package lab

import (
	"context"
	"errors"
	"fmt"

	"github.com/secylab/secylab/azure"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &AzureLinkOp{} }) }

// AzureLinkOp is what the Azure emulator does to the Microsoft edge when
// ARM accepts a change of a port's link: the edge's end of the link runs
// the macSecConfig (the CKN and CAK read from the named secret versions
// through the port's identity, the cipher, the SCI state) and the
// adminState. The customer's end is untouched. A change that leaves the
// edge's key, cipher and SCI state as they are keeps its MKA session.
type AzureLinkOp struct {
	Link       string       `json:"link"`
	Node       string       `json:"node"` // the Microsoft edge
	AdminState value.Switch `json:"adminState"`
	// MACsec nil: MACsec off (no secrets named).
	MACsec    *AzureMACsec `json:"macsec,omitempty"`
	Operation string       `json:"operation,omitempty"` // the ARM asynchronous operation
}

// AzureMACsec is a link's macSecConfig as the edge reads it.
type AzureMACsec struct {
	Cipher    string `json:"cipher"`
	SCIState  string `json:"sciState"`
	CKNSecret string `json:"cknSecretIdentifier"`
	CAKSecret string `json:"cakSecretIdentifier"`
	Identity  string `json:"identity"` // the port identity's object id
}

func (*AzureLinkOp) Kind() string { return "azureLink" }

func (o *AzureLinkOp) Describe() string {
	s := fmt.Sprintf("Azure: the Microsoft edge %s of %s runs adminState %s", o.Node, o.Link, o.AdminState)
	if o.MACsec != nil {
		s += ", MACsec " + o.MACsec.Cipher + " sciState " + o.MACsec.SCIState + " with the CKN " + o.MACsec.CKNSecret + " and the CAK " + o.MACsec.CAKSecret
	} else {
		s += ", MACsec off"
	}
	return s
}

func (o *AzureLinkOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	l := c.link("link", o.Link)
	c.wire("link", l)
	c.node("node", o.Node)
	c.end("node", l, o.Node)
	if o.MACsec != nil {
		if _, err := value.ParseCipher(o.MACsec.Cipher); err != nil {
			c.errorf("macsec.cipher", "%v", err)
		}
		if _, err := value.ParseSwitch(o.MACsec.SCIState); err != nil {
			c.errorf("macsec.sciState", "%v", err)
		}
	}
	return c.err()
}

func (o *AzureLinkOp) Apply(_ context.Context, l *Lab) (any, error) {
	if l.azure == nil {
		return nil, errors.New("the lab runs no Azure emulator (lab up --azure)")
	}
	var p *Port
	for _, e := range l.topo.Link(o.Link).Ends {
		if e.Node == o.Node {
			p = l.Port(e.Node, e.Port)
		}
	}
	if p == nil {
		return nil, fmt.Errorf("link %s has no data plane at %s", o.Link, o.Node)
	}
	p.mu.Lock()
	cur := p.mc
	p.mu.Unlock()
	var next *MACsecConfig
	if m := o.MACsec; m != nil {
		cipher, _ := value.ParseCipher(m.Cipher)
		sci, _ := value.ParseSwitch(m.SCIState)
		k, err := l.azure.emu.ReadKey(azure.LinkMACsec{Cipher: cipher.Suite(), IncludeSCI: bool(sci), CKNSecretID: m.CKNSecret, CAKSecretID: m.CAKSecret, Identity: m.Identity})
		if err != nil {
			return nil, err
		}
		tl := l.topo.Link(o.Link)
		mc := MACsecConfig{ReplayProtect: tl.MACsec.ReplayProtect, ReplayWindow: tl.MACsec.ReplayWindow, KeyServerPriority: tl.MACsec.KeyServerPriority,
			HelloTime: l.cfg.HelloTime, LifeTime: l.cfg.LifeTime, PNThreshold: l.cfg.PNThreshold}
		if cur != nil {
			mc = *cur
		}
		mc.Suite, mc.IncludeSCI, mc.PSK, mc.CAKDigits = cipher.Suite(), bool(sci), k.PSK, k.CAKDigits
		next = &mc
	}
	if !sameMACsec(cur, next) {
		if err := p.SetMACsec(next); err != nil {
			return nil, err
		}
	}
	l.linkMu.Lock()
	down := l.adminDown[o.Link]
	l.linkMu.Unlock()
	if down == bool(o.AdminState) {
		if err := l.SetAdminState(o.Link, bool(o.AdminState)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// sameMACsec reports whether two settings run the same SecY and MKA
// participant (nil: MACsec off).
func sameMACsec(a, b *MACsecConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Suite == b.Suite && a.IncludeSCI == b.IncludeSCI && a.CAKDigits == b.CAKDigits &&
		a.PSK.CKN.Equal(b.PSK.CKN) && a.PSK.CAK.Equal(b.PSK.CAK)
}
