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
)

// Report is what a scenario run found.
type Report struct {
	Scenario    string            `json:"scenario"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Source      string            `json:"source"`
	Lab         string            `json:"lab,omitempty"`
	Started     time.Time         `json:"started"`
	Duration    Duration          `json:"duration"`
	Passed      bool              `json:"passed"`
	Error       string            `json:"error,omitempty"`
	Timers      map[string]string `json:"timers"`
	Production  []string          `json:"production,omitempty"`
	Steps       []StepResult      `json:"steps"`
	Events      []Event           `json:"events"`
	Probes      []ProbeResult     `json:"probes"`
	Bulk        []BulkResult      `json:"bulk,omitempty"`
	Captures    []CaptureResult   `json:"captures,omitempty"`
	// KeysFile is where lab run --export-keys wrote the run's keys.
	KeysFile   string            `json:"keysFile,omitempty"`
	Assertions []AssertionResult `json:"assertions"`
}

// StepResult is when a step ran.
type StepResult struct {
	Index int     `json:"index"`
	Text  string  `json:"text"`
	Start float64 `json:"start"` // seconds into the run
	End   float64 `json:"end"`
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

func timersReport(sc *Scenario) map[string]string {
	if sc.Topology == nil {
		return nil
	}
	t := map[string]string{
		"mka_hello": sc.Timers.MKAHello.String() + " (production " + expressroute.MKAHelloTime.String() + ")",
		"mka_life":  sc.Timers.MKALife.String() + " (production " + expressroute.MKALifeTime.String() + ")",
	}
	for _, n := range sc.Topology.Nodes {
		if b := n.BGP; b != nil {
			t["bgp_hold"] = fmt.Sprintf("%v / keepalive %v (production 180s / 60s: without BFD a dead link is noticed after up to 3 minutes)", b.HoldTime, b.Keepalive)
			if b.BFD {
				t["bfd"] = "300ms x 3 (as the Microsoft edge)"
			}
			break
		}
	}
	if sc.Timers.PNThreshold != 0 {
		t["pn_threshold"] = fmt.Sprintf("%d (production 0xC0000000, XPN 0xC000000000000000)", sc.Timers.PNThreshold)
	}
	return t
}

// write puts report.json, summary.txt and report.html in dir.
func (rep *Report) write(dir string) error {
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
	for _, p := range rep.Probes {
		fmt.Fprintf(w, "  probe %-14s %s\n", p.Name, p.Spec)
		for _, f := range p.Flows {
			fmt.Fprintf(w, "    %-26s sent %5d  lost %4d  longest outage %-8s reordered %d  latency p50 %s p99 %s\n",
				f.Name, f.Sent, f.Lost, f.MaxOutage, f.Reordered, f.LatencyP50, f.LatencyP99)
		}
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
	if len(rep.Timers) > 0 {
		fmt.Fprintf(w, "  timers: MKA hello %s, life %s\n", rep.Timers["mka_hello"], rep.Timers["mka_life"])
		if h, ok := rep.Timers["bgp_hold"]; ok {
			bfd := "off"
			if v, ok := rep.Timers["bfd"]; ok {
				bfd = v
			}
			fmt.Fprintf(w, "  timers: BGP hold %s; BFD %s\n", h, bfd)
		}
	}
	for _, p := range rep.Production {
		fmt.Fprintf(w, "  in production: %s\n", p)
	}
}
