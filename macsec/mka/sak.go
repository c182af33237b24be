package mka

import (
	"io"
	"slices"
	"time"

	"github.com/secylab/secylab/macsec"
)

// key is a SAK as installed in the SecY.
type key struct {
	ki          KI
	an          uint8
	sak         SAK
	salt        macsec.Salt // XPN only
	ssci        macsec.SSCI // this participant's SSCI for the key (XPN only)
	members     []MI        // the key server's live peers when it distributed the key
	rx, tx      bool        // receive SAs installed / the encoding SA
	retireAt    time.Time   // set once it is the old key and no longer transmitted
	pnExhausted bool
}

// keyServerDuties decides whether the key server must distribute a new
// SAK (802.1X-2020 9.8): none yet, the live membership changed, an operator
// asked, or the PN of the SAK in use neared exhaustion.
func (p *Participant) keyServerDuties(now time.Time) {
	live := p.livePeers()
	reason := ""
	switch k := p.latest; {
	case len(live) == 0:
		return
	case k == nil || k.ki.MI != p.mi:
		reason = "new key server"
	case !sameMembers(k.members, live):
		reason = "membership changed"
	case p.forced:
		reason = "forced"
	case k.tx && (k.pnExhausted || p.highestPN(k) >= p.threshold):
		reason = "PN exhaustion"
	default:
		return
	}
	p.forced = false
	p.distributeSAK(now, live, reason)
}

func sameMembers(mis []MI, live []*peer) bool {
	if len(mis) != len(live) {
		return false
	}
	for _, pr := range live {
		if !slices.Contains(mis, pr.mi) {
			return false
		}
	}
	return true
}

// distributeSAK generates a SAK with the KDF from a fresh nonce, installs
// it for reception and puts it in the next MKPDUs.
func (p *Participant) distributeSAK(now time.Time, live []*peer, reason string) {
	keyLen := p.cfg.Suite.KeyLen()
	nonce := make([]byte, keyLen)
	if _, err := io.ReadFull(p.cfg.Rand, nonce); err != nil {
		p.log.Error("MKA: no random SAK nonce", "err", err)
		return
	}
	mis := []MI{p.mi}
	members := make([]MI, 0, len(live))
	for _, pr := range live {
		mis = append(mis, pr.mi)
		members = append(members, pr.mi)
	}
	kn := p.kn + 1
	sak, err := DeriveSAK(p.cfg.PSK.CAK, nonce, mis, kn, keyLen)
	clear(nonce)
	if err != nil {
		p.log.Error("MKA: SAK derivation failed", "err", err)
		return
	}
	wrapped, err := Wrap(p.kek.Bytes(), sak.Bytes())
	if err != nil {
		sak.Zero()
		p.log.Error("MKA: SAK wrap failed", "err", err)
		return
	}
	an := uint8(0)
	if p.latest != nil {
		an = (p.latest.an + 1) % 4
		p.counters.Rekeys++
		if reason == "PN exhaustion" {
			p.counters.PNRekeys++
		}
	}
	p.kn = kn
	p.counters.SAKsGenerated++
	p.wrapped = wrapped
	p.dist = true
	p.log.Info("MKA distributing SAK", "kn", kn, "an", an, "reason", reason, "sak", sak)
	p.installKey(now, &key{ki: KI{MI: p.mi, KN: kn}, an: an, sak: sak, members: members})
}

// acceptSAK takes the SAK the elected key server distributed.
func (p *Participant) acceptSAK(now time.Time, m *MKPDU) {
	d := &m.DistributedSAK
	if d.KN == 0 {
		return // the key server offers no key (plain text): never accepted
	}
	ki := KI{MI: m.MI, KN: d.KN}
	if p.latest != nil && p.latest.ki == ki || p.old != nil && p.old.ki == ki {
		return
	}
	if d.CipherSuite != p.cfg.Suite {
		p.counters.RxBadCipherSuite++
		p.log.Warn("MKA: SAK for another cipher suite ignored", "suite", d.CipherSuite.String(), "want", p.cfg.Suite.String())
		return
	}
	raw, err := Unwrap(p.kek.Bytes(), d.WrappedSAK)
	if err != nil || len(raw) != p.cfg.Suite.KeyLen() {
		clear(raw)
		p.counters.RxBadSAK++
		return
	}
	sak, _ := NewSAK(raw)
	p.log.Info("MKA SAK received", "kn", ki.KN, "an", d.AN, "sak", sak)
	p.installKey(now, &key{ki: ki, an: d.AN, sak: sak})
}

// installKey makes k the latest key: receive SAs for every live peer first
// (make-before-break), and a transmit SA that is not yet the encoding SA.
func (p *Participant) installKey(now time.Time, k *key) {
	if p.cfg.Suite.XPN() {
		k.salt = XPNSalt(k.ki.MI, k.ki.KN)
	}
	members := p.members()
	k.ssci = SSCIFor(p.cfg.SCI, members)
	if p.latest != nil {
		if !p.latest.tx {
			p.deleteKey(p.latest) // never transmitted with: superseded
		} else {
			if p.old != nil {
				p.deleteKey(p.old)
				p.counters.SAKsRetired++
			}
			p.old = p.latest
		}
	}
	p.latest = k
	for _, pr := range p.peers {
		if pr.live {
			p.installRx(pr, k, members)
		}
	}
	if err := p.cfg.SecY.InstallTxSA(k.an, p.saKey(k, k.ssci), 1); err != nil {
		p.secyError("install TX SA", err)
	}
	k.rx = true
	p.counters.SAKsInstalled++
	p.txNow = true
	p.checkTransmit(now)
}

func (p *Participant) saKey(k *key, ssci macsec.SSCI) macsec.Key {
	mk := macsec.Key{SAK: k.sak.Bytes()}
	if p.cfg.Suite.XPN() {
		mk.SSCI, mk.Salt = ssci, k.salt
	}
	return mk
}

func (p *Participant) installRx(pr *peer, k *key, members []macsec.SCI) {
	if err := p.cfg.SecY.InstallRxSA(pr.sci, k.an, p.saKey(k, SSCIFor(pr.sci, members)), 1); err != nil {
		p.secyError("install RX SA", err)
	}
}

// checkTransmit switches the encoding SA to the latest key once every live
// peer reports it receives with it (802.1X-2020 12.3 CP: allReceiving), so
// no frame is sent that a member cannot yet read.
func (p *Participant) checkTransmit(now time.Time) {
	k := p.latest
	if k == nil || k.tx || !k.rx {
		return
	}
	live := p.livePeers()
	if len(live) == 0 {
		return
	}
	for _, pr := range live {
		if !pr.hasSAKUse || pr.sakUse.Latest != k.ki || !pr.sakUse.LatestRx {
			return
		}
	}
	if err := p.cfg.SecY.SetEncodingSA(k.an); err != nil {
		p.secyError("set encoding SA", err)
		return
	}
	k.tx = true
	p.dist = false
	p.counters.TxKeySwitches++
	if p.old != nil {
		p.old.tx = false
		p.old.retireAt = now.Add(p.cfg.SAKRetireTime)
	}
	p.txNow = true
	p.log.Info("MKA transmitting with the new SAK", "kn", k.ki.KN, "an", k.an)
}

// retireOld deletes the old key's SAs once the retire time has passed.
func (p *Participant) retireOld(now time.Time) {
	if p.old == nil || p.old.retireAt.IsZero() || now.Before(p.old.retireAt) {
		return
	}
	p.deleteKey(p.old)
	p.old = nil
	p.counters.SAKsRetired++
	p.txNow = true
}

// deleteKey removes k's SAs from the SecY and zeroes the SAK.
func (p *Participant) deleteKey(k *key) {
	p.cfg.SecY.DeleteTxSA(k.an)
	for _, pr := range p.peers {
		if pr.live {
			p.cfg.SecY.DeleteRxSA(pr.sci, k.an)
		}
	}
	k.sak.Zero()
}

func (p *Participant) dropKeys() {
	for _, k := range []*key{p.old, p.latest} {
		if k != nil {
			p.deleteKey(k)
		}
	}
	p.old, p.latest, p.dist = nil, nil, false
	clear(p.wrapped)
	p.wrapped = nil
}

// lowestPN is the Lowest Acceptable PN this participant reports for k: the
// highest next PN among its receive SAs for k.
func (p *Participant) lowestPN(k *key) uint64 {
	var pn uint64
	for _, pr := range p.peers {
		if pr.live {
			if n, ok := p.cfg.SecY.RxSANextPN(pr.sci, k.an); ok && n > pn {
				pn = n
			}
		}
	}
	return pn
}

// highestPN is the highest PN known to be in use with k: our transmit SA,
// our receive SAs and what the peers report.
func (p *Participant) highestPN(k *key) uint64 {
	pn := p.lowestPN(k)
	if n, ok := p.cfg.SecY.TxSANextPN(k.an); ok && n > pn {
		pn = n
	}
	for _, pr := range p.peers {
		if !pr.live || !pr.hasSAKUse {
			continue
		}
		u := &pr.sakUse
		var n uint64
		switch k.ki {
		case u.Latest:
			n = uint64(pr.xpn.LatestLPNHigh)<<32 | uint64(u.LatestLPN)
		case u.Old:
			n = uint64(pr.xpn.OldLPNHigh)<<32 | uint64(u.OldLPN)
		}
		if n > pn {
			pn = n
		}
	}
	return pn
}
