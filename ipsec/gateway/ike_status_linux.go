package gateway

import (
	"fmt"
	"time"

	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/ike"
)

// IKESAStatus is an IKE SA as swanctl --list-sas shows one: no key, only
// fingerprints.
type IKESAStatus struct {
	State     string `json:"state"` // ESTABLISHED, CONNECTING, DELETED, or NONE
	Initiator bool   `json:"initiator"`
	Local     string `json:"local"`
	Remote    string `json:"remote"`
	SPIi      string `json:"spiI,omitempty"`
	SPIr      string `json:"spiR,omitempty"`
	Proposal  string `json:"proposal,omitempty"`
	NAT       bool   `json:"natT"`
	// EstablishedSeconds is the IKE SA's age; RekeyInSeconds when this
	// side rekeys it (-1: no lifetime).
	EstablishedSeconds int64 `json:"establishedSeconds"`
	RekeyInSeconds     int64 `json:"rekeyInSeconds"`
	Rekeys             int   `json:"rekeys"`
	// KeyFingerprint is SK_d's fingerprint: it changes at every IKE SA
	// rekey.
	KeyFingerprint string          `json:"keyFingerprint,omitempty"`
	Children       []ChildSAStatus `json:"children"`
	// LastError is the last failure (a notify the peer sent, a dead peer).
	LastError string `json:"lastError,omitempty"`
}

// ChildSAStatus is one Child SA: its SPIs, proposal, lifetime and
// counters, the keys as fingerprints.
type ChildSAStatus struct {
	Proposal        string   `json:"proposal"`
	InSPI           string   `json:"inSPI"`
	OutSPI          string   `json:"outSPI"`
	LocalTS         []string `json:"localTS"`
	RemoteTS        []string `json:"remoteTS"`
	InstalledSecond int64    `json:"installedSeconds"`
	RekeyInSeconds  int64    `json:"rekeyInSeconds"`
	Rekeys          int      `json:"rekeys"`
	InKey           string   `json:"inKey"`
	OutKey          string   `json:"outKey"`
	BytesIn         uint64   `json:"bytesIn"`
	BytesOut        uint64   `json:"bytesOut"`
	PacketsIn       uint64   `json:"packetsIn"`
	PacketsOut      uint64   `json:"packetsOut"`
	// LifetimeKilobytes is the Child SA's lifetime in kilobytes (0: none)
	// and RekeyAtBytes the count (of inner IP packet octets, outbound or
	// inbound, whichever first) at which this side rekeys it.
	LifetimeKilobytes int64  `json:"lifetimeKilobytes"`
	RekeyAtBytes      uint64 `json:"rekeyAtBytes,omitempty"`
}

// SAs reports the IKE SA and its Child SAs.
func (g *IKEGateway) SAs() IKESAStatus {
	states, _ := g.us.States()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	st := IKESAStatus{State: "NONE", Local: g.cfg.IKE.Local.String(), Remote: g.cfg.IKE.Remote.String(), RekeyInSeconds: -1}
	for i := len(g.events) - 1; i >= 0; i-- {
		if e := g.events[i]; e.Kind == ike.EvFailed || e.Kind == ike.EvChildFailed || (e.Kind == ike.EvClosed && e.Err != nil) {
			st.LastError = e.String()
			break
		}
	}
	s := g.sess
	if s == nil {
		return st
	}
	st.State, st.Initiator, st.NAT, st.Rekeys = s.State().String(), s.Initiator(), s.NAT, s.IKERekeys
	if s.State() != ike.StateEstablished {
		return st
	}
	a, b := s.SPIs()
	st.SPIi, st.SPIr = fmt.Sprintf("%016x", a), fmt.Sprintf("%016x", b)
	st.Proposal = s.Suite().String()
	st.EstablishedSeconds = int64(now.Sub(s.Established()) / time.Second)
	st.RekeyInSeconds = g.rekeyIn(g.ikeLife, s.Established(), now)
	if k := s.Keys(); k != nil {
		st.KeyFingerprint = fingerprint.Of(fingerprint.IKESKd, k.SKd)
	}
	byDir := map[[2]uint32]ipsec.State{}
	for _, x := range states {
		byDir[[2]uint32{uint32(x.Config.Dir), x.Config.SPI}] = x
	}
	for _, c := range s.Children() {
		cs := ChildSAStatus{Proposal: c.Suite.String(), InSPI: fmt.Sprintf("%08x", c.InSPI), OutSPI: fmt.Sprintf("%08x", c.OutSPI),
			InstalledSecond: int64(now.Sub(c.Created) / time.Second), RekeyInSeconds: g.rekeyIn(g.childLife, c.Created, now), Rekeys: c.Rekeys,
			InKey: ipsec.Fingerprint(c.InEncr), OutKey: ipsec.Fingerprint(c.OutEncr), LifetimeKilobytes: g.childKB}
		if g.childKB > 0 {
			cs.RekeyAtBytes = g.softBytes(g.childKB)
		}
		for _, ts := range c.LocalTS {
			cs.LocalTS = append(cs.LocalTS, ts.String())
		}
		for _, ts := range c.RemoteTS {
			cs.RemoteTS = append(cs.RemoteTS, ts.String())
		}
		if x, ok := byDir[[2]uint32{uint32(ipsec.DirIn), c.InSPI}]; ok {
			cs.BytesIn, cs.PacketsIn = x.Stats.Bytes, x.Stats.Packets
		}
		if x, ok := byDir[[2]uint32{uint32(ipsec.DirOut), c.OutSPI}]; ok {
			cs.BytesOut, cs.PacketsOut = x.Stats.Bytes, x.Stats.Packets
		}
		st.Children = append(st.Children, cs)
	}
	return st
}

// rekeyIn is how many seconds are left until this side rekeys what was
// made at since (-1: no lifetime).
func (g *IKEGateway) rekeyIn(life time.Duration, since, now time.Time) int64 {
	if life <= 0 {
		return -1
	}
	if g.sess.Initiator() {
		life = life * 9 / 10
	}
	return max(0, int64(since.Add(life).Sub(now)/time.Second))
}
