package mka

import (
	"time"

	"github.com/secylab/secylab/macsec"
)

// peer is another participant of the CA, known from its MKPDUs.
type peer struct {
	mi        MI
	mn        uint32 // latest MN received
	sci       macsec.SCI
	priority  uint8
	ksCapable bool // its Key Server flag
	live      bool // it listed our MI with a recent MN
	expires   time.Time
	hasSAKUse bool
	sakUse    SAKUse
	xpn       XPN
}

// keyServer is the outcome of the election.
type keyServer struct {
	elected bool
	self    bool
	mi      MI
	sci     macsec.SCI
}

func (p *Participant) findPeer(mi MI) *peer {
	for _, pr := range p.peers {
		if pr.mi == mi {
			return pr
		}
	}
	return nil
}

func (p *Participant) livePeers() []*peer {
	var live []*peer
	for _, pr := range p.peers {
		if pr.live {
			live = append(live, pr)
		}
	}
	return live
}

// members returns the SCIs of this participant and its live peers: the
// members that share a SAK and get SSCIs.
func (p *Participant) members() []macsec.SCI {
	scis := []macsec.SCI{p.cfg.SCI}
	for _, pr := range p.peers {
		if pr.live {
			scis = append(scis, pr.sci)
		}
	}
	return scis
}

// handlePeer takes an authenticated MKPDU from another member.
func (p *Participant) handlePeer(now time.Time, m *MKPDU) {
	pr := p.findPeer(m.MI)
	if pr != nil && m.MN <= pr.mn {
		p.counters.RxStaleMN++
		return
	}
	p.counters.RxMKPDUs++
	if pr == nil {
		p.dropRestarted(now, m.SCI)
		pr = &peer{mi: m.MI, sci: m.SCI}
		p.peers = append(p.peers, pr)
		p.txNow = true // let it see us in our Potential Peer List at once
		p.log.Info("MKA peer seen", "peer_sci", m.SCI.String(), "peer_mi", m.MI.String())
	}
	pr.mn = m.MN
	pr.priority = m.KeyServerPriority
	pr.ksCapable = m.KeyServer
	pr.expires = now.Add(p.cfg.LifeTime)
	pr.hasSAKUse = m.HasSAKUse
	pr.sakUse = m.SAKUse
	pr.xpn = m.XPN
	if !pr.live && pr.sci == m.SCI && p.listsUs(now, m) {
		p.makeLive(pr)
	}
	p.updateKeyServer(now)
	if m.HasDistributedSAK && pr.live && p.ks.elected && !p.ks.self && p.ks.mi == pr.mi {
		p.acceptSAK(now, m)
	}
	p.checkTransmit(now)
}

// listsUs reports whether m lists our MI with an MN we sent within the
// life time: proof that the peer hears us now (802.1X-2020 9.4.3).
func (p *Participant) listsUs(now time.Time, m *MKPDU) bool {
	p.pruneSentMN(now)
	if len(p.sentMN) == 0 {
		return false
	}
	oldest := p.sentMN[0].mn
	for _, list := range [][]Peer{m.LivePeers, m.PotentialPeers} {
		for _, e := range list {
			if e.MI == p.mi && e.MN >= oldest && e.MN <= p.mn {
				return true
			}
		}
	}
	return false
}

// pruneSentMN forgets MNs sent before the life time, keeping the latest.
func (p *Participant) pruneSentMN(now time.Time) {
	cut := now.Add(-p.cfg.LifeTime)
	i := 0
	for i < len(p.sentMN)-1 && p.sentMN[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		p.sentMN = append(p.sentMN[:0], p.sentMN[i:]...)
	}
}

func (p *Participant) makeLive(pr *peer) {
	pr.live = true
	p.txNow = true
	p.log.Info("MKA peer live", "peer_sci", pr.sci.String(), "peer_mi", pr.mi.String())
	if err := p.cfg.SecY.AddRxSC(pr.sci); err != nil {
		p.secyError("add RX SC", err)
	}
	members := p.members()
	for _, k := range []*key{p.old, p.latest} {
		if k != nil {
			p.installRx(pr, k, members)
		}
	}
}

// dropRestarted forgets the peers with sci: a new MI from a known SCI is
// that member restarted (a new participant after a key change or a reboot;
// hostap: "duplicated SCI"). Keeping the old entry until it expired would
// take the receive SC, which the SCI shares with the new peer, away with it.
func (p *Participant) dropRestarted(now time.Time, sci macsec.SCI) {
	kept := p.peers[:0]
	lost := false
	for _, pr := range p.peers {
		if pr.sci != sci {
			kept = append(kept, pr)
			continue
		}
		p.counters.PeersRestarted++
		p.log.Info("MKA peer restarted: a new MI from its SCI", "peer_sci", sci.String(), "old_mi", pr.mi.String())
		if pr.live {
			lost = true
			p.cfg.SecY.DeleteRxSC(pr.sci)
		}
	}
	clear(p.peers[len(kept):])
	p.peers = kept
	p.channelCheck(lost)
	p.updateKeyServer(now)
}

// channelCheck takes the secure channel down when the last live peer went.
func (p *Participant) channelCheck(lost bool) {
	if lost && len(p.livePeers()) == 0 && (p.latest != nil || p.old != nil) {
		p.counters.ChannelDowns++
		p.log.Warn("MKA: no live peer left; secure channel down")
		p.dropKeys()
	}
}

// expirePeers drops peers silent for the life time. With no live peer left
// the secure channel is down: every SA goes, nothing falls back to clear.
func (p *Participant) expirePeers(now time.Time) {
	kept := p.peers[:0]
	lost := false
	for _, pr := range p.peers {
		if now.Before(pr.expires) {
			kept = append(kept, pr)
			continue
		}
		p.counters.PeersExpired++
		p.log.Info("MKA peer expired", "peer_sci", pr.sci.String(), "peer_mi", pr.mi.String(), "live", pr.live)
		if pr.live {
			lost = true
			p.cfg.SecY.DeleteRxSC(pr.sci)
		}
	}
	clear(p.peers[len(kept):])
	p.peers = kept
	p.channelCheck(lost)
}

// elect chooses the key server among this participant and its live peers
// (802.1X-2020 9.5.1): numerically lowest priority, then lowest SCI;
// priority 0xFF never. Without a live peer there is no key server.
func (p *Participant) elect() keyServer {
	live := p.livePeers()
	if len(live) == 0 {
		return keyServer{}
	}
	var best keyServer
	bestPrio := uint8(NeverKeyServer)
	consider := func(ks keyServer, prio uint8) {
		if prio == NeverKeyServer {
			return
		}
		if !best.elected || prio < bestPrio || prio == bestPrio && ks.sci < best.sci {
			best, bestPrio = ks, prio
		}
	}
	consider(keyServer{elected: true, self: true, mi: p.mi, sci: p.cfg.SCI}, p.cfg.KeyServerPriority)
	for _, pr := range live {
		if pr.ksCapable {
			consider(keyServer{elected: true, mi: pr.mi, sci: pr.sci}, pr.priority)
		}
	}
	return best
}

// updateKeyServer re-runs the election and, as key server, distributes a
// SAK when one is due.
func (p *Participant) updateKeyServer(now time.Time) {
	ks := p.elect()
	if ks != p.ks {
		p.ks = ks
		p.txNow = true
		if ks.elected {
			p.log.Info("MKA key server elected", "key_server_sci", ks.sci.String(), "self", ks.self)
		}
	}
	if ks.self {
		p.keyServerDuties(now)
	} else {
		p.dist = false
	}
}

func (p *Participant) secyError(op string, err error) {
	p.counters.SecYErrors++
	p.log.Error("MKA: SecY "+op+" failed", "err", err)
}
