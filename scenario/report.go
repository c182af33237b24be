package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab"
)

// Report is what a scenario run found.
type Report struct {
	Scenario    string          `json:"scenario"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Source      string          `json:"source"`
	Lab         string          `json:"lab,omitempty"`
	Started     time.Time       `json:"started"`
	Duration    Duration        `json:"duration"`
	Passed      bool            `json:"passed"`
	Error       string          `json:"error,omitempty"`
	Timers      *ReportTimers   `json:"timers,omitempty"`
	Production  []string        `json:"production,omitempty"`
	Steps       []StepResult    `json:"steps"`
	Events      []Event         `json:"events"`
	Probes      []ProbeResult   `json:"probes"`
	Bulk        []BulkResult    `json:"bulk,omitempty"`
	Captures    []CaptureResult `json:"captures,omitempty"`
	// KeysFile is where lab run --export-keys wrote the run's keys.
	KeysFile   string            `json:"keysFile,omitempty"`
	Assertions []AssertionResult `json:"assertions"`
	// YAML is the scenario file as run.
	YAML string `json:"yaml,omitempty"`
	// Graph is the topology, for the drawing; Start and End the state of
	// its links when the probes started and when they stopped.
	Graph *Graph    `json:"graph,omitempty"`
	Start *Snapshot `json:"start,omitempty"`
	End   *Snapshot `json:"end,omitempty"`
	// Traffic is the data frames per interval on each link run in user
	// space (link1, link2), from the ports' counters.
	Traffic []LinkTraffic `json:"traffic,omitempty"`
	// Phases are the scenario's note steps and what the probes saw in
	// each; Spans the times a link was drained, cut or disabled.
	Phases  []Phase  `json:"phases,omitempty"`
	Spans   []Span   `json:"spans,omitempty"`
	Runbook *Runbook `json:"runbook,omitempty"`
	// Markers are the events the timeline numbers, as its legend lists
	// them (from Events).
	Markers []Marker `json:"markers,omitempty"`
	// Hosts, for a lab spanning hosts, are its halves: this host's (the
	// run's own lab) first, then each far half the run drove.
	Hosts []*lab.Half `json:"hosts,omitempty"`
}

// StepResult is when a step ran.
type StepResult struct {
	Index int     `json:"index"`
	Text  string  `json:"text"`
	Start float64 `json:"start"` // seconds into the run
	End   float64 `json:"end"`
	// Output is an exec step's output (stdout and stderr, its last 8 kB).
	Output string `json:"output,omitempty"`
}

// Event is something that happened, at T seconds into the run.
type Event struct {
	T    float64 `json:"t"`
	Kind string  `json:"kind"` // lab, step, mka, probe, check, valid
	Text string  `json:"text"`
}

// AssertionResult is one checked expectation.
type AssertionResult struct {
	Step   int    `json:"step"` // -1: over the whole run
	Text   string `json:"text"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// CaptureResult is a link's wire capture: what crossed it, and what of
// that its files kept.
type CaptureResult struct {
	Link string `json:"link"`
	// File is the newest file of the capture (FileList has them all).
	File       string         `json:"file"`
	Frames     int            `json:"frames"` // every frame that crossed the wire
	EtherTypes map[string]int `json:"ether_types"`
	// ESPInUDP counts IPv4 UDP 4500 frames; ClearPayload the frames that
	// are neither MACsec, MKA, ARP nor ESP: traffic in clear.
	ESPInUDP     int `json:"esp_in_udp"`
	ClearPayload int `json:"clear_payload"`
	// The bounds: the snap length, and a ring of Files of FileSize octets
	// (0: one file, no cap).
	SnapLen  int   `json:"snapLen,omitempty"`
	FileSize int64 `json:"fileSize,omitempty"`
	Files    int   `json:"files,omitempty"`
	// Written frames went to a file, Cut of them shortened to SnapLen;
	// Kept are in the files still there (Written less Rotated, in
	// RotatedFiles files the ring deleted), frames from KeptFrom seconds
	// into the run. NotWritten frames were counted above (in the lab, on
	// the forwarding path) but left out because the capture's queue fell
	// behind.
	Written      uint64        `json:"written"`
	Cut          int           `json:"cut,omitempty"`
	NotWritten   uint64        `json:"not_written"`
	Rotated      uint64        `json:"rotated,omitempty"`
	RotatedFiles int           `json:"rotatedFiles,omitempty"`
	Kept         uint64        `json:"kept"`
	KeptOctets   int64         `json:"keptOctets"`
	KeptFrom     float64       `json:"keptFrom,omitempty"`
	FileList     []CaptureFile `json:"fileList,omitempty"`
	// Complete: no frame lost, or only losses the scenario accepts.
	Complete bool   `json:"complete"`
	Detail   string `json:"detail"`
	Error    string `json:"error,omitempty"`
}

// CaptureFile is one file of a capture, its frames from From to To
// seconds into the run.
type CaptureFile struct {
	Name   string  `json:"name"`
	Frames uint64  `json:"frames"`
	Octets int64   `json:"octets"`
	From   float64 `json:"from"`
	To     float64 `json:"to"`
}

// CapturesComplete reports whether every capture kept what it must.
func (rep *Report) CapturesComplete() bool {
	for _, c := range rep.Captures {
		if !c.Complete {
			return false
		}
	}
	return true
}

// ReportTimers are the lab's protocol timers beside production's.
type ReportTimers struct {
	MKAHello           Duration `json:"mkaHello"`
	MKALife            Duration `json:"mkaLife"`
	MKAHelloProduction Duration `json:"mkaHelloProduction"`
	MKALifeProduction  Duration `json:"mkaLifeProduction"`
	// BGP: the hold time and keepalive the lab's routers offer, zero
	// without BGP.
	BGPHold             Duration `json:"bgpHold,omitempty"`
	BGPKeepalive        Duration `json:"bgpKeepalive,omitempty"`
	BGPHoldProduction   Duration `json:"bgpHoldProduction,omitempty"`
	BGPKeepaliveProduct Duration `json:"bgpKeepaliveProduction,omitempty"`
	BFD                 bool     `json:"bfd,omitempty"` // 300 ms × 3, as the Microsoft edge
	PNThreshold         uint64   `json:"pnThreshold,omitempty"`
}

func timersReport(sc *Scenario) *ReportTimers {
	if sc.Topology == nil {
		return nil
	}
	t := &ReportTimers{MKAHello: Duration(sc.Timers.MKAHello), MKALife: Duration(sc.Timers.MKALife),
		MKAHelloProduction: Duration(expressroute.MKAHelloTime), MKALifeProduction: Duration(expressroute.MKALifeTime),
		PNThreshold: sc.Timers.PNThreshold}
	for _, n := range sc.Topology.Nodes {
		if b := n.BGP; b != nil {
			t.BGPHold, t.BGPKeepalive = Duration(b.HoldTime), Duration(b.Keepalive)
			t.BGPHoldProduction, t.BGPKeepaliveProduct = Duration(expressroute.HoldTime), Duration(expressroute.KeepaliveTime)
			t.BFD = b.BFD
			break
		}
	}
	return t
}

// secs writes a duration as people do: 9 s, 300 ms, 1.5 s, 3 min.
func secs(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d >= time.Second:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", d.Seconds()), "0"), ".") + " s"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// Lines are the timers in words, one sentence a protocol.
func (t *ReportTimers) Lines() []string {
	if t == nil {
		return nil
	}
	d := func(v Duration) string { return secs(time.Duration(v)) }
	lines := []string{fmt.Sprintf("MKA hello %s, lifetime %s (production %s, %s)", d(t.MKAHello), d(t.MKALife), d(t.MKAHelloProduction), d(t.MKALifeProduction))}
	if t.BGPHold != 0 {
		lines = append(lines, fmt.Sprintf("BGP hold %s, keepalive %s (production %s, %s: without BFD a dead link is noticed after up to %s)",
			d(t.BGPHold), d(t.BGPKeepalive), d(t.BGPHoldProduction), d(t.BGPKeepaliveProduct), d(t.BGPHoldProduction)))
		if t.BFD {
			lines = append(lines, fmt.Sprintf("BFD %s × %d, as the Microsoft edge runs it", secs(expressroute.BFDInterval), expressroute.BFDMultiplier))
		} else {
			lines = append(lines, "BFD off")
		}
	}
	if t.PNThreshold != 0 {
		lines = append(lines, fmt.Sprintf("PN threshold %d (production 0xC0000000, XPN 0xC000000000000000)", t.PNThreshold))
	}
	return lines
}

// write puts report.json, summary.txt and report.html in dir.
func (rep *Report) write(dir string) error {
	rep.Markers = rep.markers()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return err
	}
	var sb strings.Builder
	rep.WriteText(&sb)
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	if rep.Runbook != nil {
		var rb strings.Builder
		rep.Runbook.WriteText(&rb)
		if err := os.WriteFile(filepath.Join(dir, "runbook.txt"), []byte(rb.String()), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "report.html"))
	if err != nil {
		return err
	}
	defer f.Close()
	return rep.WriteHTML(f)
}

// Failed counts the failed assertions.
func (rep *Report) Failed() int {
	n := 0
	for _, a := range rep.Assertions {
		if !a.Passed {
			n++
		}
	}
	return n
}

// etherTypesText is a capture's EtherTypes, most frequent first: 0x88e5
// 2265178, 0x888e 21.
func etherTypesText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// WriteText writes the summary people read first.
func (rep *Report) WriteText(w io.Writer) {
	verdict := "PASS"
	if !rep.Passed {
		verdict = "FAIL"
	}
	if !rep.CapturesComplete() {
		verdict += " (capture incomplete)"
	}
	fmt.Fprintf(w, "%s  %s — %s (%s)\n", verdict, rep.Scenario, rep.Title, time.Duration(rep.Duration).Round(100*time.Millisecond))
	if rep.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", rep.Error)
	}
	for _, h := range rep.Hosts {
		where := "this host, its own lab"
		if h.Endpoint != "" {
			where = fmt.Sprintf("at %s, clock offset %v ± %v", h.Endpoint, h.ClockOffset.Round(time.Microsecond), (h.RTT / 2).Round(time.Microsecond))
		}
		fmt.Fprintf(w, "  host %-10s lab %s (pid %d), %s: %s\n", h.Host, h.Lab, h.PID, where, strings.Join(h.Nodes, ", "))
	}
	for _, p := range rep.Probes {
		fmt.Fprintf(w, "  probe %-14s %s\n", p.Name, p.Spec)
		for _, f := range p.Flows {
			fmt.Fprintf(w, "    %-26s sent %5d  lost %4d  longest outage %-8s reordered %d  latency p50 %s p99 %s\n",
				f.Name, f.Sent, f.Lost, f.MaxOutage, f.Reordered, f.LatencyP50, f.LatencyP99)
		}
	}
	for _, ph := range rep.Phases {
		fmt.Fprintf(w, "  phase %-14s %5.1f–%5.1f s:", ph.Name, ph.From, ph.To)
		for _, p := range ph.Probes {
			fmt.Fprintf(w, " %s lost %d of %d, outage %s;", p.Probe, p.Lost, p.Sent, p.MaxOutage)
		}
		if ph.Traffic != "" {
			fmt.Fprintf(w, " traffic %s", ph.Traffic)
		}
		fmt.Fprintln(w)
	}
	for _, sp := range rep.Spans {
		fmt.Fprintf(w, "  %-20s %5.1f–%5.1f s\n", sp.Label(), sp.From, sp.To)
	}
	// The timeline's numbered markers, so a text-only reader (a CI log)
	// has what the HTML legend lists.
	for _, m := range rep.Markers {
		fmt.Fprintf(w, "  event %2d %6.2f s  %-5s %s\n", m.N, m.T, m.Kind, m.Text)
	}
	for _, b := range rep.Bulk {
		fmt.Fprintf(w, "  bulk  %-14s %s: %.0f Mbit/s average, longest stall %s\n", b.Name, b.Spec, b.Mbps, b.MaxStall)
	}
	for _, c := range rep.Captures {
		mark := "✓"
		if !c.Complete {
			mark = "✗ INCOMPLETE"
		}
		to := " → " + c.File
		if c.File == "" {
			to = ""
		}
		fmt.Fprintf(w, "  capture %s %s: %d frames %s%s\n", mark, c.Link, c.Frames, etherTypesText(c.EtherTypes), to)
		fmt.Fprintf(w, "    %s\n", c.Detail)
	}
	if rep.KeysFile != "" {
		fmt.Fprintf(w, "  keys (secret, 0600): %s\n", rep.KeysFile)
	}
	for _, a := range rep.Assertions {
		mark := "✓"
		if !a.Passed {
			mark = "✗"
		}
		where := "end"
		if a.Step > 0 {
			where = fmt.Sprintf("step %d", a.Step)
		}
		fmt.Fprintf(w, "  %s %-7s %s — %s\n", mark, where, a.Text, a.Detail)
	}
	var sb strings.Builder
	rep.Start.writeText(&sb, "start")
	rep.End.writeText(&sb, "end")
	io.WriteString(w, sb.String())
	for _, l := range rep.Timers.Lines() {
		fmt.Fprintf(w, "  timers: %s\n", l)
	}
	for _, p := range rep.Production {
		fmt.Fprintf(w, "  in production: %s\n", p)
	}
}
