package scenario

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// The monitor's BGP and BFD events say why a session went down, and a
// flap between two looks at the status (BFD is Up again within
// milliseconds once packets flow) is an event too, found by the flap
// count and the BFD session's last change.
func TestSessionEventsCarryReasons(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	look := func(st bgp.State, flaps int, down, lastErr string, b bfd.State, diag bfd.Diag, since time.Duration) *lab.LabStatus {
		n := bgp.NeighborStatus{Name: "link1.100", State: st, Flaps: flaps, DownReason: down, LastError: lastErr,
			BFD: &bfd.Status{State: b, Diag: diag, Since: t0.Add(since)}}
		return &lab.LabStatus{BGP: []lab.BGPStatus{{Node: "ce1", Status: &bgp.Status{Neighbors: []bgp.NeighborStatus{n}}}}}
	}
	w := sessionWatch{}
	var got []string
	rep := &Report{}
	for _, ls := range []*lab.LabStatus{
		look(bgp.Established, 0, "", "", bfd.Up, bfd.DiagNone, 0),
		look(bgp.Established, 0, "", "", bfd.Up, bfd.DiagNone, 0), // no change
		look(bgp.Idle, 1, "BFD down", "BFD down", bfd.Down, bfd.DiagControlDetectionTimeExpired, time.Second),
		look(bgp.Connect, 1, "BFD down", "", bfd.Init, bfd.DiagNone, 2*time.Second),
		look(bgp.Established, 1, "BFD down", "", bfd.Up, bfd.DiagNone, 3*time.Second),
		// down and up again between two looks: BGP's hold timer, BFD's Since
		look(bgp.Established, 2, "hold timer expired", "", bfd.Up, bfd.DiagNone, 4*time.Second),
		// a daemon's session: only its last error
		look(bgp.Active, 2, "", "Error: Hold timer expired", bfd.Up, bfd.DiagNone, 4*time.Second),
	} {
		for _, e := range w.changes(ls) {
			got = append(got, e.kind+" "+e.text)
			rep.Events = append(rep.Events, Event{Kind: e.kind, Text: e.text})
		}
	}
	require.Equal(t, []string{
		"bgp ce1 over link1.100: Established → Idle (BFD down)",
		"bfd ce1 over link1.100: Up → Down (Control Detection Time Expired)",
		"bgp ce1 over link1.100: Idle → Connect",
		"bfd ce1 over link1.100: Down → Init",
		"bgp ce1 over link1.100: Connect → Established",
		"bfd ce1 over link1.100: Init → Up",
		"bgp ce1 over link1.100: Established → … → Established between two looks (down 1 time(s)) (hold timer expired)",
		"bfd ce1 over link1.100: Up → … → Up between two looks (changed at 07:00:04.000)",
		"bgp ce1 over link1.100: Established → Active (Error: Hold timer expired)",
	}, got)
	var bfdMarks []string
	for _, m := range rep.markers() {
		if m.Kind == "bfd" {
			bfdMarks = append(bfdMarks, m.Text)
		}
	}
	require.Equal(t, []string{rep.Events[1].Text, rep.Events[5].Text, rep.Events[7].Text}, bfdMarks, "the timeline marks BFD's going Up or Down, not Init")
}

// slowLab answers its status late once, as a lab process held off the CPU
// does.
type slowLab struct {
	lab.Controller
	calls int
}

func (l *slowLab) Status() (*lab.LabStatus, error) {
	if l.calls++; l.calls == 2 {
		time.Sleep(slowStatus + 50*time.Millisecond)
	}
	return &lab.LabStatus{}, nil
}

// A status answered late is an event naming the machine's load: the lab
// process did not run, and its BFD sessions can go down with nothing lost.
func TestMonitorReportsLateStatus(t *testing.T) {
	r := &run{sc: &Scenario{Topology: &topology.Topology{}}, lab: &slowLab{}, start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), slowStatus+400*time.Millisecond)
	defer cancel()
	r.monitor(ctx)
	var late []string
	for _, e := range r.events {
		if e.Kind == "lab" {
			late = append(late, e.Text)
		}
	}
	require.Len(t, late, 1, "one late answer of %d", r.lab.(*slowLab).calls)
	m := regexp.MustCompile(`^the lab answered its status after (\d+)ms \(load average [0-9.]+(, CPU pressure [0-9.]+ % over 10 s)?\): `).FindStringSubmatch(late[0])
	require.NotNil(t, m, late[0])
	took, _ := strconv.Atoi(m[1])
	require.GreaterOrEqual(t, took, 550, late[0])
}
