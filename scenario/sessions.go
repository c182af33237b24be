package scenario

import (
	"cmp"
	"fmt"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/lab"
)

// sessionWatch turns the BGP and BFD sessions of successive lab statuses
// into events, each with the reason the session gave. The monitor looks
// every 100 ms, and a BFD session is Up again within milliseconds once
// packets flow: a flap between two looks shows through the session's
// flap count (BGP) or its last change's time (BFD), not its state.
type sessionWatch map[string]sessionSeen

type sessionSeen struct {
	state string
	flaps int       // BGP: times it left Established
	since time.Time // BFD: its last change of state
}

type sessionEvent struct{ kind, text string }

func (w sessionWatch) changes(ls *lab.LabStatus) []sessionEvent {
	var evs []sessionEvent
	for _, st := range ls.BGP {
		if st.Status == nil {
			continue
		}
		for _, n := range st.Status.Neighbors {
			key := "bgp " + st.Node + "→" + n.Name
			now := sessionSeen{state: n.State.String(), flaps: n.Flaps}
			if prev, ok := w[key]; ok {
				if text := bgpChange(prev, now, n); text != "" {
					evs = append(evs, sessionEvent{"bgp", fmt.Sprintf("%s over %s: %s", st.Node, n.Name, text)})
				}
			}
			w[key] = now
			if n.BFD == nil {
				continue
			}
			key = "bfd " + st.Node + "→" + n.Name
			now = sessionSeen{state: n.BFD.State.String(), since: n.BFD.Since}
			if prev, ok := w[key]; ok {
				text := ""
				switch {
				case prev.state != now.state:
					text = prev.state + " → " + now.state
					if n.BFD.State != bfd.Up && n.BFD.Diag != bfd.DiagNone {
						text += " (" + n.BFD.Diag.String() + ")"
					}
				case !prev.since.IsZero() && !now.since.Equal(prev.since):
					text = fmt.Sprintf("%s → … → %s between two looks (changed at %s)", prev.state, now.state, now.since.Format("15:04:05.000"))
				}
				if text != "" {
					evs = append(evs, sessionEvent{"bfd", fmt.Sprintf("%s over %s: %s", st.Node, n.Name, text)})
				}
			}
			w[key] = now
		}
	}
	return evs
}

// bgpChange describes a BGP session's change between two looks, with
// the reason it last went down when it did; "" when none.
func bgpChange(prev, now sessionSeen, n bgp.NeighborStatus) string {
	reason := cmp.Or(n.DownReason, n.LastError) // a daemon's status has only its last error
	with := func(s string) string {
		if reason != "" {
			return s + " (" + reason + ")"
		}
		return s
	}
	switch {
	case prev.state != now.state && prev.state == bgp.Established.String():
		return with(prev.state + " → " + now.state)
	case prev.state != now.state:
		return prev.state + " → " + now.state
	case now.flaps > prev.flaps:
		return with(fmt.Sprintf("%s → … → %s between two looks (down %d time(s))", prev.state, now.state, now.flaps-prev.flaps))
	}
	return ""
}
