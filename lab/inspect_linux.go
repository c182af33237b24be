package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/topology"
)

// Info is a lab as lab status shows it: running, or what is wrong with it
// and what lab down would remove.
type Info struct {
	Name string `json:"name"`
	// State is "running", "starting" (being made) or "broken".
	State   string     `json:"state"`
	PID     int        `json:"pid,omitempty"`
	Started *time.Time `json:"started,omitempty"`
	// Owner is the command the lab belongs to and goes with (lab run
	// without --keep), e.g. "lab run (pid 4242)".
	Owner string `json:"owner,omitempty"`
	// Problems say what is wrong, one sentence each.
	Problems []string `json:"problems,omitempty"`
	// Down lists what secylab lab down NAME removes.
	Down     []string     `json:"down"`
	Ports    []PortInfo   `json:"ports,omitempty"`
	Sessions []BGPSession `json:"bgp,omitempty"`
	Tunnels  []TunnelInfo `json:"tunnels,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
	// Azure is the lab's Azure emulator, if it runs one.
	Azure *AzureStatus `json:"azure,omitempty"`
	// Status is the lab process's own answer (nil unless running).
	Status *LabStatus `json:"-"`
}

// PortInfo is one port in lab status.
type PortInfo struct {
	Node       string `json:"node"`
	Port       string `json:"port"`
	Link       string `json:"link"`
	MACsec     string `json:"macsec"` // the cipher suite, or "off"
	MKA        string `json:"mka"`    // secured, negotiating, no peer, "-"
	KeyServer  string `json:"keyServer"`
	TxFrames   uint64 `json:"txFrames"`
	RxFrames   uint64 `json:"rxFrames"`
	RxDropped  uint64 `json:"rxDropped"`
	Impairment string `json:"impairment"`
	// External is the host interface the port sends and receives on
	// when the far end of its link is an external device.
	External string `json:"external,omitempty"`
	// Device is the external node there, with its kind.
	Device string `json:"device,omitempty"`
	// VXLAN is set on a port whose link goes to another host's half of
	// the lab: the VNI and the far host; FarHalf says whether that half
	// answers (its MKA peer is live, its BGP session's state).
	VXLAN   string `json:"vxlan,omitempty"`
	FarHalf string `json:"farHalf,omitempty"`
}

// BGPSession is one BGP session in lab status.
type BGPSession struct {
	Node     string `json:"node"`
	Link     string `json:"link"`
	Neighbor string `json:"neighbor"`
	State    string `json:"state"`
	BFD      string `json:"bfd,omitempty"`
	Drained  bool   `json:"drained,omitempty"`
	HeldDown bool   `json:"heldDown,omitempty"`
}

// TunnelInfo is one IPsec gateway in lab status.
type TunnelInfo struct {
	Tunnel  string `json:"tunnel"`
	Node    string `json:"node"`
	Backend string `json:"backend"`
	Why     string `json:"why"` // why this backend
	SAs     int    `json:"sas"`
	Packets uint64 `json:"packets"`
}

// List describes the labs with state under stateDir (one, if only is
// set), asking each running lab for its status.
func List(stateDir, only string) ([]Info, error) {
	labs, err := topology.List(stateDir)
	if err != nil {
		return nil, err
	}
	var infos []Info
	for _, ls := range labs {
		if only != "" && ls.Lab != only {
			continue
		}
		infos = append(infos, inspect(stateDir, ls))
	}
	return infos, nil
}

func inspect(stateDir string, ls topology.LabStatus) Info {
	in := Info{Name: ls.Lab, State: "broken", Down: downList(stateDir, ls)}
	if o := ls.Owner; o != nil {
		in.Owner = fmt.Sprintf("%s (pid %d)", o.Name, o.PID)
	}
	var labProc *topology.Process
	for i, p := range ls.Processes {
		if p.Name == "lab" {
			labProc = &ls.Processes[i]
		}
	}
	switch {
	case !ls.Complete && labProc == nil:
		in.State = "starting"
		in.Problems = append(in.Problems, "its namespaces and links are not all made: being made now, or left by a lab up or lab run that was killed")
	case labProc == nil:
		in.Problems = append(in.Problems, "it has no lab process: the lab up or lab run that made it was killed before starting one")
	case slices.Contains(ls.Zombies, *labProc):
		in.Problems = append(in.Problems, fmt.Sprintf("its lab process (pid %d) has ended (a zombie its parent has not reaped)", labProc.PID))
	case slices.Contains(ls.Stopped, *labProc):
		in.Problems = append(in.Problems, fmt.Sprintf("its lab process (pid %d) has ended", labProc.PID))
	}
	for _, p := range ls.Stopped {
		if p.Name != "lab" {
			in.Problems = append(in.Problems, fmt.Sprintf("its %s (pid %d) has ended", p.Name, p.PID))
		}
	}
	if len(ls.Missing) > 0 {
		in.Problems = append(in.Problems, "namespaces missing: "+strings.Join(ls.Missing, ", "))
	}
	if ls.OwnerGone {
		in.Problems = append(in.Problems, fmt.Sprintf("the %s that owned it (pid %d) has ended: it was killed", ls.Owner.Name, ls.Owner.PID))
	}
	if labProc == nil || slices.Contains(ls.Stopped, *labProc) {
		return in
	}
	c := &Client{Lab: ls.Lab, Socket: SocketPath(stateDir, ls.Lab)}
	st, err := c.Status()
	if _, serr := os.Lstat(c.Socket); err != nil && errors.Is(serr, fs.ErrNotExist) && len(in.Problems) == 0 {
		in.State = "starting"
		in.Problems = append(in.Problems, fmt.Sprintf("its lab process (pid %d) is opening its ports: no control socket yet", labProc.PID))
		return in
	}
	if err != nil {
		in.Problems = append(in.Problems, fmt.Sprintf("its lab process (pid %d) runs but does not answer on %s: %v", labProc.PID, c.Socket, err))
		return in
	}
	if len(in.Problems) == 0 {
		in.State = "running"
	}
	in.Status = st
	in.PID, in.Warnings, in.Azure = st.PID, st.Warnings, st.Azure
	started := st.Started
	in.Started = &started
	for _, p := range st.Ports {
		in.Ports = append(in.Ports, portInfo(p))
	}
	for _, r := range st.BGP {
		if r.Status == nil {
			in.Sessions = append(in.Sessions, BGPSession{Node: r.Node, State: r.Kind + " (see secylab lab bgp " + r.Node + ")"})
			continue
		}
		for _, n := range r.Status.Neighbors {
			s := BGPSession{Node: r.Node, Link: n.Name, Neighbor: n.Address.String(), State: n.State.String(),
				Drained: slices.Contains(r.Drained, topology.SessionLink(n.Name)), HeldDown: n.HeldDown}
			if n.BFD != nil {
				s.BFD = n.BFD.State.String()
			}
			in.Sessions = append(in.Sessions, s)
		}
	}
	farHalves(&in, ls.VXLANs)
	for _, t := range st.Tunnels {
		ti := TunnelInfo{Tunnel: t.Tunnel, Node: t.Node, Backend: t.Backend, Why: t.Reason, SAs: len(t.States)}
		for _, s := range t.States {
			ti.Packets += s.Stats.Packets
		}
		in.Tunnels = append(in.Tunnels, ti)
	}
	return in
}

func portInfo(p PortStatus) PortInfo {
	pi := PortInfo{Node: p.Node, Port: p.Name, Link: p.Link, MACsec: "off", MKA: "-", KeyServer: "-",
		TxFrames: p.Dataplane.TxFrames, RxFrames: p.Dataplane.RxFrames, RxDropped: p.Dataplane.RxDropped,
		Impairment: p.Impairment.String()}
	if p.HostWire {
		pi.External, pi.Device = p.Wire, p.Device
	}
	if p.MACsec {
		pi.MACsec = p.Suite.AzureName()
	}
	if m := p.MKA; m != nil {
		switch {
		case m.Secured:
			pi.MKA = "secured"
		case len(m.Peers) == 0:
			pi.MKA = "no peer"
		default:
			pi.MKA = "negotiating"
		}
		switch {
		case !m.KeyServerElected:
		case m.KeyServer:
			pi.KeyServer = "self"
		default:
			pi.KeyServer = m.KeyServerSCI.String()
		}
	}
	return pi
}

// downList says what lab down would remove, from the lab's state.
func downList(stateDir string, ls topology.LabStatus) []string {
	var d []string
	for _, p := range ls.Processes {
		if p.Running() {
			d = append(d, fmt.Sprintf("process %s (pid %d)", p.Name, p.PID))
		}
	}
	for _, ns := range ls.Namespaces {
		if !slices.Contains(ls.Missing, ns.Name) {
			d = append(d, "namespace "+ns.Name+" (its veths and TAPs go with it)")
		}
	}
	for _, se := range ls.Externals {
		d = append(d, fmt.Sprintf("nothing of host interface %s (link %s): it stays, with what the lab changed on it restored", se.Interface, se.Link))
	}
	dir := topology.LabDir(stateDir, ls.Lab)
	if keys, _ := filepath.Glob(filepath.Join(dir, "keys", "*")); len(keys) > 0 {
		d = append(d, fmt.Sprintf("%d generated key file(s) in %s", len(keys), filepath.Join(dir, "keys")))
	}
	if _, err := os.Stat(dir); err == nil {
		d = append(d, "the state directory "+dir)
	}
	return d
}

// farHalves fills in the VXLAN links' ports: the far host, and whether the
// half of the lab there answers.
func farHalves(in *Info, vxs []topology.StateVXLAN) {
	for i := range in.Ports {
		p := &in.Ports[i]
		j := slices.IndexFunc(vxs, func(v topology.StateVXLAN) bool { return v.Link == p.Link })
		if j < 0 {
			continue
		}
		p.VXLAN = fmt.Sprintf("VNI %d on %s to host %s", vxs[j].VNI, vxs[j].Device, vxs[j].Remote)
		var says []string
		switch p.MKA {
		case "secured", "negotiating":
			says = append(says, "MKA peer live ("+p.MKA+")")
		case "no peer":
			says = append(says, "no MKA peer")
		}
		for _, s := range in.Sessions {
			if s.Node == p.Node && s.Link == p.Link {
				b := "BGP " + s.State
				if s.BFD != "" {
					b += ", BFD " + s.BFD
				}
				says = append(says, b)
			}
		}
		answers := len(says) > 0
		for _, s := range says {
			answers = answers && (strings.HasPrefix(s, "MKA peer live") || strings.HasPrefix(s, "BGP Established"))
		}
		verdict := "silent"
		if answers {
			verdict = "answers"
		}
		p.FarHalf = verdict + ": " + strings.Join(says, "; ")
	}
}
