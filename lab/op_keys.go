package lab

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &KeysOp{} }) }

// KeysOp exports the secret keys of a link's MACsec: per end its CAK and
// CKN, and per transmit SA what a decryptor needs (SCI, AN, SSCI, salt,
// SAK, PN range), so that a lab capture can be decrypted (secylab frame
// validate --keys, Wireshark's MACsec PSK). It is the only operation that
// lets key material out of a lab, asked for explicitly (lab keys, lab run
// --export-keys); its answer is a *LinkKeys, never logged.
type KeysOp struct {
	OnLink `json:",inline" yaml:",inline"`
}

func (*KeysOp) Kind() string                       { return "keys" }
func (o *KeysOp) Describe() string                 { return "export the keys of " + o.Link }
func (o *KeysOp) Check(t *topology.Topology) error { return o.checkWire(t) }

// LinkKeys are a link's keys, as KeysOp exports them: hex throughout.
type LinkKeys struct {
	Link string      `json:"link"`
	PSKs []PSKExport `json:"psks"`
	SAs  []SAExport  `json:"sas"`
}

// PSKExport is one end's CAK and CKN (Wireshark's MACsec PSK).
type PSKExport struct {
	Node   string `json:"node"`
	Port   string `json:"port"`
	Cipher string `json:"cipher"`
	CKN    string `json:"ckn"`
	CAK    string `json:"cak"`
}

// SAExport is one transmit SA: the frames an end sends with it.
type SAExport struct {
	Link     string `json:"link"`
	Node     string `json:"node"`
	Port     string `json:"port"`
	Cipher   string `json:"cipher"`
	SCI      string `json:"sci"`
	AN       uint8  `json:"an"`
	KN       uint32 `json:"kn"`
	SSCI     string `json:"ssci,omitempty"` // XPN only
	Salt     string `json:"salt,omitempty"` // XPN only
	SAK      string `json:"sak"`
	LowestPN uint64 `json:"lowestPN"`
	NextPN   uint64 `json:"nextPN"` // the frames so far carry LowestPN to NextPN-1
	InUse    bool   `json:"inUse"`  // the end's encoding SA at export
}

func (o *KeysOp) Apply(_ context.Context, l *Lab) (any, error) {
	ps, err := l.LinkPorts(o.Link)
	if err != nil {
		return nil, err
	}
	lk := &LinkKeys{Link: o.Link, PSKs: []PSKExport{}, SAs: []SAExport{}}
	for _, p := range ps {
		if p == nil {
			continue
		}
		p.mu.Lock()
		kay := p.kay
		p.mu.Unlock()
		if kay == nil {
			continue
		}
		e := kay.ExportKeys()
		cipher := e.Suite.String()
		lk.PSKs = append(lk.PSKs, PSKExport{Node: p.cfg.Node, Port: p.cfg.Name, Cipher: cipher, CKN: e.CKN.String(), CAK: hex.EncodeToString(e.CAK)})
		for _, sa := range e.SAs {
			x := SAExport{Link: o.Link, Node: p.cfg.Node, Port: p.cfg.Name, Cipher: cipher, SCI: e.SCI.String(), AN: sa.AN, KN: sa.KI.KN,
				SAK: hex.EncodeToString(sa.SAK), LowestPN: sa.LowestPN, NextPN: sa.NextPN, InUse: sa.Tx}
			if e.Suite.XPN() {
				x.SSCI, x.Salt = fmt.Sprintf("%08x", uint32(sa.SSCI)), hex.EncodeToString(sa.Salt[:])
			}
			lk.SAs = append(lk.SAs, x)
		}
		e.Zero()
	}
	if len(lk.PSKs) == 0 {
		return nil, fmt.Errorf("link %s: MACsec is off on both ends: no keys", o.Link)
	}
	return lk, nil
}
