package mka

import "github.com/secylab/secylab/macsec"

// Export is what a decryptor needs for the frames this participant's SecY
// sends: the CAK and CKN (Wireshark's MACsec PSK form) and a copy of every
// SAK it transmits or may still transmit with. It is the only way key
// material leaves a participant, for a lab's explicit key export; the
// caller must Zero it when done and never log it.
type Export struct {
	SCI   macsec.SCI
	Suite macsec.CipherSuite
	CKN   CKN
	CAK   []byte
	SAs   []ExportedSA
}

// ExportedSA is one transmit SA: frames from SCI with AN carry PNs from
// LowestPN to NextPN-1 (so far), encrypted with SAK (for the XPN suites
// with SSCI and Salt in the IV).
type ExportedSA struct {
	AN       uint8
	KI       KI
	SAK      []byte
	SSCI     macsec.SSCI // XPN only
	Salt     macsec.Salt // XPN only
	LowestPN uint64
	NextPN   uint64
	Tx       bool // the encoding SA now
}

// ExportKeys returns copies of the participant's keys (see Export).
func (p *Participant) ExportKeys() Export {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := Export{SCI: p.cfg.SCI, Suite: p.cfg.Suite, CKN: append(CKN(nil), p.cfg.PSK.CKN...),
		CAK: append([]byte(nil), p.cfg.PSK.CAK.Bytes()...)}
	for _, k := range []*key{p.old, p.latest} {
		if k == nil || k.sak.IsZero() {
			continue
		}
		sa := ExportedSA{AN: k.an, KI: k.ki, SAK: append([]byte(nil), k.sak.Bytes()...), LowestPN: 1, NextPN: 1, Tx: k.tx}
		if n, ok := p.cfg.SecY.TxSANextPN(k.an); ok {
			sa.NextPN = n
		}
		if p.cfg.Suite.XPN() {
			sa.SSCI, sa.Salt = k.ssci, k.salt
		}
		e.SAs = append(e.SAs, sa)
	}
	return e
}

// Zero clears the exported keys.
func (e *Export) Zero() {
	clear(e.CAK)
	for i := range e.SAs {
		clear(e.SAs[i].SAK)
	}
}
