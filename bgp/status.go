package bgp

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secylab/secylab/bgp/bfd"
)

// Status is a speaker's state for display, in the spirit of
// `show bgp summary`.
type Status struct {
	ASN       uint32
	RouterID  netip.Addr
	Neighbors []NeighborStatus
	LocRIB    int // prefixes in the Loc-RIB
	FIBRoutes int // routes installed in the FIB
	FIBErrors int
}

// NeighborStatus is one neighbour's row.
type NeighborStatus struct {
	Name     string
	Address  netip.Addr
	ASN      uint32
	RouterID netip.Addr // from its OPEN
	State    State
	// Uptime is how long the session has been Established, or how long
	// it has been in its current state otherwise.
	Uptime time.Duration
	// HoldTime and KeepaliveTime as negotiated.
	HoldTime, KeepaliveTime time.Duration
	Families                []Family
	// Per family: received (Adj-RIB-In before policy), accepted (after
	// import policy) and advertised (Adj-RIB-Out).
	Received, Accepted, Advertised map[Family]int
	// Refused are the received prefixes the import policy refused,
	// sorted (at most maxRefused of them).
	Refused                []netip.Prefix `json:",omitempty"`
	Counters               Counters
	Flaps                  int
	LastSent, LastReceived *NotificationEvent
	LastError              string
	// DownReason is why the session last left Established ("BFD down",
	// "hold timer expired", "NOTIFICATION received: …", "connection
	// error: …"); it stays when the session is up again, so a flap
	// between two looks at the status still says why.
	DownReason string `json:",omitempty"`
	// HeldDown: stopped after exceeding its maximum prefixes.
	HeldDown bool
	BFD      *bfd.Status // nil when the neighbour has no BFD session
}

// maxRefused bounds NeighborStatus.Refused: enough to say what a filter
// refuses, not a copy of a full table.
const maxRefused = 32

// Status returns the speaker's state; ErrNotRunning before Run.
func (s *Speaker) Status() (Status, error) {
	var st Status
	err := s.do(func() {
		now := s.clk.Now()
		st = Status{ASN: s.cfg.ASN, RouterID: s.cfg.RouterID, LocRIB: len(s.rib.dests), FIBRoutes: len(s.installed), FIBErrors: s.fibErrors}
		for _, p := range s.peers {
			n := NeighborStatus{
				Name: p.cfg.Name, Address: p.cfg.Address, ASN: p.cfg.ASN, State: p.state,
				Uptime: now.Sub(p.since), Counters: p.counters, Flaps: p.flaps,
				LastSent: p.lastSent, LastReceived: p.lastRcvd, LastError: p.lastErr, DownReason: p.lastDown, HeldDown: p.holdDown,
				Received: map[Family]int{}, Accepted: map[Family]int{}, Advertised: map[Family]int{},
			}
			if p.state == Established {
				n.Uptime = now.Sub(p.upSince)
				n.RouterID, n.HoldTime, n.KeepaliveTime = p.peerOpen.id, p.hold, p.keepalive
				for _, f := range Families {
					if p.families[f] {
						n.Families = append(n.Families, f)
					}
				}
			}
			for prefix := range p.adjIn {
				n.Received[FamilyOf(prefix)]++
				if !p.accepted[prefix] {
					n.Refused = append(n.Refused, prefix)
				}
			}
			slices.SortFunc(n.Refused, comparePrefix)
			if len(n.Refused) > maxRefused {
				n.Refused = n.Refused[:maxRefused]
			}
			for prefix := range p.accepted {
				n.Accepted[FamilyOf(prefix)]++
			}
			for prefix := range p.adjOut {
				n.Advertised[FamilyOf(prefix)]++
			}
			if p.cfg.BFD != nil {
				b := p.cfg.BFD.Status()
				n.BFD = &b
			}
			st.Neighbors = append(st.Neighbors, n)
		}
	})
	return st, err
}

// RIBEntry is one Loc-RIB prefix: its paths, best first; the first
// Selected of them are installed (more than one under ECMP).
type RIBEntry struct {
	Prefix   netip.Prefix
	Paths    []Path
	Selected int
}

// LocRIB returns a copy of the Loc-RIB sorted by prefix.
func (s *Speaker) LocRIB() ([]RIBEntry, error) {
	var out []RIBEntry
	err := s.do(func() {
		for prefix, d := range s.rib.dests {
			e := RIBEntry{Prefix: prefix, Selected: len(d.best)}
			paths := slices.Clone(d.paths)
			slices.SortStableFunc(paths, comparePaths)
			for _, p := range paths {
				e.Paths = append(e.Paths, *p.clone())
			}
			out = append(out, e)
		}
	})
	slices.SortFunc(out, func(a, b RIBEntry) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out, err
}

// WriteSummary writes st as a `show bgp summary` style table.
func WriteSummary(w io.Writer, st Status) error {
	fmt.Fprintf(w, "BGP router identifier %v, local AS number %d\n", st.RouterID, st.ASN)
	fmt.Fprintf(w, "Loc-RIB %d prefixes, FIB %d routes\n\n", st.LocRIB, st.FIBRoutes)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Neighbor\tName\tAS\tState\tUp/Down\tHold/KA\tBFD\tRcvd/Acc/Adv v4\tv6\tLast NOTIFICATION")
	for _, n := range st.Neighbors {
		timers := "-"
		if n.State == Established {
			timers = fmt.Sprintf("%v/%v", n.HoldTime, n.KeepaliveTime)
		}
		b := "-"
		if n.BFD != nil {
			b = fmt.Sprintf("%v %v×%d", n.BFD.State, n.BFD.TxInterval, n.BFD.DetectMult)
		}
		counts := func(f Family) string {
			return fmt.Sprintf("%d/%d/%d", n.Received[f], n.Accepted[f], n.Advertised[f])
		}
		last := "-"
		switch {
		case n.LastSent != nil && (n.LastReceived == nil || n.LastSent.At.After(n.LastReceived.At)):
			last = "sent " + n.LastSent.String()
		case n.LastReceived != nil:
			last = "received " + n.LastReceived.String()
		}
		state := n.State.String()
		if n.HeldDown {
			state += " (max-prefix)"
		}
		fmt.Fprintf(tw, "%v\t%s\t%d\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", n.Address, n.Name, n.ASN, state,
			n.Uptime.Truncate(time.Second), timers, b, counts(IPv4Unicast), counts(IPv6Unicast), last)
	}
	return tw.Flush()
}

// WriteLocRIB writes the Loc-RIB, one path per line, ">" marking the
// best and "=" the other ECMP members.
func WriteLocRIB(w io.Writer, rib []RIBEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tPrefix\tNext hop\tLocPrf\tMED\tFrom\tPath")
	for _, e := range rib {
		for i, p := range e.Paths {
			mark := " "
			switch {
			case i == 0:
				mark = ">"
			case i < e.Selected:
				mark = "="
			}
			nh, from := p.NextHop.String(), p.Peer.String()
			if p.Local() {
				nh, from = "0.0.0.0", "local"
			}
			med := "-"
			if p.HasMED {
				med = fmt.Sprint(p.MED)
			}
			path := strings.TrimSpace(p.ASPath.String() + " " + p.Origin.String())
			for i, c := range p.Communities {
				if i == 0 {
					path += " community"
				}
				path += fmt.Sprintf(" %d:%d", c>>16, c&0xffff)
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%s\t%s\t%s\n", mark, e.Prefix, nh, p.LocalPref, med, from, path)
		}
	}
	return tw.Flush()
}
