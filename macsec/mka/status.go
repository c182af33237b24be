package mka

import (
	"time"

	"github.com/secylab/secylab/macsec"
)

// Status describes a participant for display. It holds no key material:
// keys appear as fingerprints.
type Status struct {
	SCI            macsec.SCI
	MI             MI
	MN             uint32
	CKN            CKN
	CAKFingerprint string
	Suite          macsec.CipherSuite

	KeyServerElected bool
	KeyServer        bool       // this participant is the key server
	KeyServerSCI     macsec.SCI // valid when KeyServerElected
	KeyServerMI      MI

	Peers  []PeerStatus
	Latest *KeyStatus // nil: no SAK
	Old    *KeyStatus // nil: no old SAK

	// Secured: the SecY transmits with a SAK this participant agreed.
	Secured bool
}

// PeerStatus describes one peer.
type PeerStatus struct {
	SCI      macsec.SCI
	MI       MI
	MN       uint32
	Priority uint8
	Live     bool
	Expires  time.Time
}

// KeyStatus describes an installed SAK.
type KeyStatus struct {
	KI             KI
	AN             uint8
	Rx, Tx         bool
	SAKFingerprint string      // the SAK's fingerprint, as the SecY shows it
	Salt           macsec.Salt // XPN only
	SSCI           macsec.SSCI // this participant's SSCI (XPN only)
	RetireAt       time.Time   // the old key's deletion time, once set
}

// Status returns a snapshot of the participant's state.
func (p *Participant) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		SCI:              p.cfg.SCI,
		MI:               p.mi,
		MN:               p.mn,
		CKN:              p.cfg.PSK.CKN,
		CAKFingerprint:   p.cfg.PSK.CAK.Fingerprint(),
		Suite:            p.cfg.Suite,
		KeyServerElected: p.ks.elected,
		KeyServer:        p.ks.self,
		KeyServerSCI:     p.ks.sci,
		KeyServerMI:      p.ks.mi,
		Secured:          p.latest != nil && p.latest.tx || p.old != nil && p.old.tx,
	}
	for _, pr := range p.peers {
		s.Peers = append(s.Peers, PeerStatus{SCI: pr.sci, MI: pr.mi, MN: pr.mn, Priority: pr.priority, Live: pr.live, Expires: pr.expires})
	}
	s.Latest, s.Old = p.keyStatus(p.latest), p.keyStatus(p.old)
	return s
}

func (p *Participant) keyStatus(k *key) *KeyStatus {
	if k == nil {
		return nil
	}
	ks := &KeyStatus{KI: k.ki, AN: k.an, Rx: k.rx, Tx: k.tx, SAKFingerprint: k.sak.Fingerprint(), RetireAt: k.retireAt}
	if p.cfg.Suite.XPN() {
		ks.Salt, ks.SSCI = k.salt, k.ssci
	}
	return ks
}
