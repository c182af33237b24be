package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// Snapshot is the state of every link at one moment of the run, taken from
// the lab's status operation.
type Snapshot struct {
	T     float64     `json:"t"` // seconds into the run
	Links []LinkState `json:"links"`
}

// LinkState is one link at a moment: whether it passes frames, and each
// end's MACsec, MKA and BGP state.
type LinkState struct {
	Link string `json:"link"`
	// MACsec: either end runs MACsec now.
	MACsec bool `json:"macsec"`
	// Up: frames pass (neither end cut or disabled, and, with MACsec,
	// both ends secured).
	Up   bool        `json:"up"`
	Ends [2]EndState `json:"ends"`
	// DrainedBy are the routers that drain the link (AS-path prepend).
	DrainedBy []string `json:"drainedBy,omitempty"`
	// Azure is the link as the lab's Azure shows it (its port's link), if
	// the lab runs the emulator and the link is one of the port's.
	Azure *AzureLinkState `json:"azure,omitempty"`
}

// AzureLinkState is one of the Azure port's links as ARM shows it.
type AzureLinkState struct {
	Name       string `json:"name"` // link1, link2
	AdminState string `json:"adminState"`
	Cipher     string `json:"cipher"`
	SCIState   string `json:"sciState"`
	// CKNSecret and CAKSecret are the secret identifiers
	// (vault/secrets/name/version), not the secrets.
	CKNSecret string `json:"cknSecretIdentifier,omitempty"`
	CAKSecret string `json:"cakSecretIdentifier,omitempty"`
}

// Text is the link as Azure shows it, in a line.
func (a *AzureLinkState) Text() string {
	short := func(id string) string {
		if id == "" {
			return "none"
		}
		s := strings.TrimPrefix(id, "https://")
		if host, rest, ok := strings.Cut(s, "/secrets/"); ok {
			v, _, _ := strings.Cut(host, ".")
			return v + "/" + rest
		}
		return id
	}
	return fmt.Sprintf("%s: adminState %s, macSecConfig cipher %s, sciState %s, CKN %s, CAK %s", a.Name, a.AdminState, a.Cipher, a.SCIState, short(a.CKNSecret), short(a.CAKSecret))
}

func azureLink(st *lab.LabStatus, link string) *AzureLinkState {
	if st.Azure == nil || len(st.Azure.Ports) == 0 {
		return nil
	}
	for _, al := range st.Azure.Links {
		if al.Link != link {
			continue
		}
		for _, lv := range st.Azure.Ports[0].Links {
			if lv.Name == al.AzureLink {
				m := lv.MacSecConfig
				return &AzureLinkState{Name: lv.Name, AdminState: lv.AdminState, Cipher: m.Cipher, SCIState: m.SCIState, CKNSecret: m.CKNSecretIdentifier, CAKSecret: m.CAKSecretIdentifier}
			}
		}
	}
	return nil
}

// EndState is one end of a link. A plain veth end (no port in user space)
// has Port set and nothing else but its BGP session.
type EndState struct {
	Port      string `json:"port"`      // node:port
	Userspace bool   `json:"userspace"` // the lab's data plane runs the port
	Down      bool   `json:"down,omitempty"`
	MACsec    bool   `json:"macsec"`
	Cipher    string `json:"cipher,omitempty"`   // Azure's name (GcmAesXpn256)
	SCIState  string `json:"sciState,omitempty"` // Azure's sciState: Enabled (SCI in the SecTAG) or Disabled
	// CKN and CAK are fingerprints (internal/fingerprint), never the keys.
	CKN       string `json:"cknFingerprint,omitempty"`
	CAK       string `json:"cakFingerprint,omitempty"`
	Secured   bool   `json:"secured"`
	KeyServer bool   `json:"keyServer"`
	// KN and AN are the latest SAK's key number and association number
	// (KN 0: no SAK yet).
	KN uint32 `json:"kn,omitempty"`
	AN uint8  `json:"an"`
	// TxFrames and RxFrames are the port's data frames so far (controlled
	// port → wire, wire → controlled port).
	TxFrames uint64 `json:"txFrames"`
	RxFrames uint64 `json:"rxFrames"`
	// BGP are the node's sessions over the link: one, or one per
	// peering (link1.100, …) on a port carrying circuits.
	BGP []BGPEnd `json:"bgp,omitempty"`
}

// BGPEnd is a BGP session a node runs over a link.
type BGPEnd struct {
	Session    string `json:"session"` // link1, or link1.100 on a peering
	State      string `json:"state"`   // Established, Idle, …; the daemon kind for BIRD/FRR
	Peer       string `json:"peer,omitempty"`
	PeerAS     uint32 `json:"peerAS,omitempty"`
	Received   int    `json:"received"` // prefixes, all families
	Accepted   int    `json:"accepted"`
	Advertised int    `json:"advertised"`
	BFD        string `json:"bfd,omitempty"`
}

// snapshot describes every link of t in st.
func snapshot(t *topology.Topology, st *lab.LabStatus, at float64) *Snapshot {
	s := &Snapshot{T: at}
	for _, l := range t.Links {
		ls := LinkState{Link: l.Name, Up: true}
		for i, e := range l.Ends {
			es := EndState{Port: e.String()}
			for _, p := range st.Ports {
				if p.Node == e.Node && p.Name == e.Port {
					es.fromPort(p)
				}
			}
			es.BGP = bgpEnd(st, e.Node, l.Name)
			ls.MACsec = ls.MACsec || es.MACsec
			ls.Up = ls.Up && !es.Down
			ls.Ends[i] = es
		}
		if ls.MACsec {
			ls.Up = ls.Up && ls.Ends[0].Secured && ls.Ends[1].Secured
		}
		for _, b := range st.BGP {
			if slices.Contains(b.Drained, l.Name) {
				ls.DrainedBy = append(ls.DrainedBy, b.Node)
			}
		}
		ls.Azure = azureLink(st, l.Name)
		s.Links = append(s.Links, ls)
	}
	return s
}

func (es *EndState) fromPort(p lab.PortStatus) {
	es.Userspace = true
	es.Down = p.Impairment.Down // a cut, or adminState Disabled
	es.TxFrames, es.RxFrames = p.Dataplane.TxFrames, p.Dataplane.RxFrames
	if !p.MACsec {
		return
	}
	es.MACsec, es.Cipher = true, p.Suite.AzureName()
	es.SCIState = "Disabled"
	if p.IncludeSCI {
		es.SCIState = "Enabled"
	}
	if m := p.MKA; m != nil {
		es.CKN = fingerprint.Of(fingerprint.CKN, m.CKN)
		es.CAK = m.CAKFingerprint
		es.Secured, es.KeyServer = m.Secured, m.KeyServer
		if m.Latest != nil {
			es.KN, es.AN = m.Latest.KI.KN, m.Latest.AN
		}
	}
}

// bgpEnd is node's sessions over link.
func bgpEnd(st *lab.LabStatus, node, link string) []BGPEnd {
	var out []BGPEnd
	for _, b := range st.BGP {
		if b.Node != node {
			continue
		}
		if b.Status == nil {
			continue // the router's status failed: its Error says why
		}
		for _, n := range b.Status.Neighbors {
			if n.Name != link && !strings.HasPrefix(n.Name, link+".") {
				continue
			}
			be := BGPEnd{Session: n.Name, State: n.State.String(), Peer: n.Address.String(), PeerAS: n.ASN}
			for _, v := range n.Received {
				be.Received += v
			}
			for _, v := range n.Accepted {
				be.Accepted += v
			}
			for _, v := range n.Advertised {
				be.Advertised += v
			}
			if n.BFD != nil {
				be.BFD = n.BFD.State.String()
			}
			out = append(out, be)
		}
	}
	return out
}

// Link returns the state of link, or nil.
func (s *Snapshot) Link(name string) *LinkState {
	if s == nil {
		return nil
	}
	for i := range s.Links {
		if s.Links[i].Link == name {
			return &s.Links[i]
		}
	}
	return nil
}

// Interesting reports whether the link belongs in the per-link table: it
// runs MACsec, a port of it is in user space, or BGP runs over it.
func (ls *LinkState) Interesting() bool {
	for _, e := range ls.Ends {
		if e.Userspace || len(e.BGP) > 0 {
			return true
		}
	}
	return false
}

// StateWord says in a word or two how the link is.
func (ls *LinkState) StateWord() string {
	switch {
	case ls.Ends[0].Down || ls.Ends[1].Down:
		return "down (cut or disabled)"
	case ls.MACsec && !ls.Up:
		return "MACsec not secured"
	case ls.MACsec:
		return "secured"
	}
	return "up"
}

// KeyText is an end's latest key: "KN 2, AN 1", or "no SAK".
func (e EndState) KeyText() string {
	if !e.MACsec {
		return "—"
	}
	if e.KN == 0 {
		return "no SAK"
	}
	return fmt.Sprintf("KN %d, AN %d", e.KN, e.AN)
}

// BGPText is an end's sessions in words: "Established with AS 12076,
// prefixes 1 received / 1 advertised, BFD Up".
func (e EndState) BGPText() string {
	if len(e.BGP) == 0 {
		return "—"
	}
	var parts []string
	for _, b := range e.BGP {
		if b.Peer == "" {
			parts = append(parts, b.State)
			continue
		}
		s := fmt.Sprintf("%s with AS %d, prefixes %d received / %d advertised", b.State, b.PeerAS, b.Received, b.Advertised)
		if b.Session != "" && strings.Contains(b.Session, ".") {
			s = b.Session + ": " + s
		}
		if b.BFD != "" {
			s += ", BFD " + b.BFD
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// MACsecText is an end's MACsec settings in words.
func (e EndState) MACsecText() string {
	if !e.Userspace {
		return "plain veth"
	}
	if !e.MACsec {
		return "MACsec off"
	}
	state := "not secured"
	if e.Secured {
		state = "secured"
	}
	ks := ""
	if e.KeyServer {
		ks = ", key server"
	}
	return fmt.Sprintf("MACsec %s, sciState %s, %s%s", e.Cipher, e.SCIState, state, ks)
}

// writeText writes the snapshot's interesting links, one line an end.
func (s *Snapshot) writeText(sb *strings.Builder, title string) {
	if s == nil {
		return
	}
	fmt.Fprintf(sb, "  links at %s (%.1f s):\n", title, s.T)
	for _, ls := range s.Links {
		if !ls.Interesting() {
			continue
		}
		drained := ""
		if len(ls.DrainedBy) > 0 {
			drained = ", drained by " + strings.Join(ls.DrainedBy, ", ")
		}
		fmt.Fprintf(sb, "    %-9s %s%s\n", ls.Link, ls.StateWord(), drained)
		for _, e := range ls.Ends {
			ckn := ""
			if e.CKN != "" {
				ckn = ", CKN " + e.CKN + ", CAK " + e.CAK
			}
			fmt.Fprintf(sb, "      %-16s %s%s; %s; BGP %s\n", e.Port, e.MACsecText(), ckn, e.KeyText(), e.BGPText())
		}
		if ls.Azure != nil {
			fmt.Fprintf(sb, "      %-16s %s\n", "Azure", ls.Azure.Text())
		}
	}
}
