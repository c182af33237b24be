package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// LabSchema names the JSON layout of a LabReport.
const LabSchema = "secylab.bench.lab/v1"

// labTopology joins two routers with four links, one per path to
// measure: userspace MACsec, the same with the traffic on a circuit's
// peering (802.1Q VLAN 100, tagged inside MACsec), the same userspace
// forwarder without crypto, and a plain kernel veth; and an ESP tunnel
// between them over the MACsec link, between the hosts ha and hb behind
// them.
const labTopology = `name: %[1]s
nodes:
  a:
    kind: router
    ports:
      m: {kind: direct, addresses: [10.99.1.1/30]}
      f: {kind: direct, addresses: [10.99.2.1/30]}
      k: {kind: ethernet, addresses: [10.99.3.1/30]}
      v: {kind: direct}
      lan: {kind: ethernet, addresses: [10.97.1.1/24]}
  b:
    kind: router
    ports:
      m: {kind: direct, addresses: [10.99.1.2/30]}
      f: {kind: direct, addresses: [10.99.2.2/30]}
      k: {kind: ethernet, addresses: [10.99.3.2/30]}
      v: {kind: direct}
      lan: {kind: ethernet, addresses: [10.97.2.1/24]}
  ha:
    kind: host
    ports:
      p: {kind: ethernet, addresses: [10.97.1.10/24]}
    routes:
      - {prefix: 10.97.2.0/24, via: 10.97.1.1}
  hb:
    kind: host
    ports:
      p: {kind: ethernet, addresses: [10.97.2.10/24]}
    routes:
      - {prefix: 10.97.1.0/24, via: 10.97.2.1}
tunnels:
  - name: t1
    ends:
      - {node: a, outer: 10.99.1.1, protects: [10.97.1.0/24]}
      - {node: b, outer: 10.99.1.2, protects: [10.97.2.0/24]}
links:
  - name: la
    endpoints: [ha:p, a:lan]
  - name: lb
    endpoints: [b:lan, hb:p]
  - name: lm
    endpoints: [a:m, b:m]
    macsec: {enabled: true, cipher: %[2]s, sciState: Disabled, secret: generate}
  - name: lf
    endpoints: [a:f, b:f]
    macsec: {enabled: false}
  - name: lk
    endpoints: [a:k, b:k]
  - name: lv
    endpoints: [a:v, b:v]
    macsec: {enabled: true, cipher: %[2]s, sciState: Disabled, secret: generate}
expressRoutePorts:
  - name: bench
    bandwidthInGbps: 100
    encapsulation: Dot1Q
    links: [lv]
    circuits:
      - name: c
        bandwidthInGbps: 10
        peerings:
          - {peeringType: AzurePrivatePeering, vlanId: 100, peerASN: 65001, primaryPeerAddressPrefix: 10.99.4.0/30}
`

// LabPath is one TCP path bench lab measures: from the namespace of node
// From (of the lab, or of the anchors' pair) to Addr.
type LabPath struct {
	Name, From, To, Addr, What string
	// Anchor marks a reference implementation outside secylab; the
	// secylab paths are compared with each anchor that ran.
	Anchor bool
	ns     string // From's namespace, once known
}

// LabPaths are the secylab paths bench lab measures, in order.
var LabPaths = []LabPath{
	{Name: "macsec", From: "a", To: "b", Addr: "10.99.1.2", What: "userspace forwarder with MACsec"},
	{Name: "macsec-vlan", From: "a", To: "b", Addr: "10.99.4.2", What: "the same, on a peering: 802.1Q VLAN 100 inside MACsec"},
	{Name: "forwarder", From: "a", To: "b", Addr: "10.99.2.2", What: "the same forwarder, no crypto"},
	{Name: "veth", From: "a", To: "b", Addr: "10.99.3.2", What: "kernel veth, no forwarder"},
	{Name: "ipsec", From: "ha", To: "hb", Addr: "10.97.2.10", What: "ESP tunnel (AES-GCM-256, ESN) over the MACsec link"},
}

// LabConfig says what bench lab measures.
type LabConfig struct {
	Cipher   string // the MACsec link's suite, by its Azure name
	Duration time.Duration
	Runs     int
	// WireGuardGo and Charon are the anchors' binaries; "" leaves the
	// anchor out.
	WireGuardGo string
	Charon      string
	// Notes say why an anchor was left out; they go into the report.
	Notes []string
	// Progress receives a line per measurement; nil for none.
	Progress io.Writer
}

// LabResult is one path's measurements.
type LabResult struct {
	Path        string    `json:"path"`
	What        string    `json:"what"`
	Anchor      bool      `json:"anchor,omitempty"`
	Gbps        []float64 `json:"gbps"` // one per run
	MedianGbps  float64   `json:"median_gbps"`
	Retransmits []int     `json:"retransmits"`
	MSS         int       `json:"tcp_mss"`
}

// LabRatio compares a secylab path with an anchor: Ratios[i] is the
// path's Gbit/s over the anchor's in run i, Median their median.
type LabRatio struct {
	Path   string    `json:"path"`
	Anchor string    `json:"anchor"`
	Ratios []float64 `json:"ratios"`
	Median float64   `json:"median"`
}

// LabReport is what bench lab prints.
type LabReport struct {
	Schema   string  `json:"schema"`
	Cipher   string  `json:"cipher"`
	Duration string  `json:"duration_per_run"`
	Runs     int     `json:"runs"`
	Machine  Machine `json:"machine"`
	// Load is /proc/loadavg's 1-minute average before the first run and
	// after each run. The measurement itself keeps both CPUs busy (about
	// 2 on a 2-CPU machine); well above that, other work shared them.
	Load    []float64   `json:"load_1min"`
	Notes   []string    `json:"notes"`
	Results []LabResult `json:"results"`
	Ratios  []LabRatio  `json:"ratios"`
}

// RunLab builds a throwaway lab (and, with anchors, a pair of namespaces
// for them), measures one iperf3 TCP stream along each path in turns, cfg.Runs
// times, and removes everything again, also when ctx ends.
func RunLab(ctx context.Context, cfg LabConfig) (rep *LabReport, err error) {
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	state, err := os.MkdirTemp("", "secylab-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(state)
	name := fmt.Sprintf("bl%d", os.Getpid()%100000)
	topo, err := topology.Parse("bench-lab.yaml", fmt.Appendf(nil, labTopology, name, cfg.Cipher))
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "bench lab: building the lab")
	if _, err := lab.Up(ctx, lab.Spec{Topology: topo, HelloTime: expressroute.LabMKAHelloTime, LifeTime: expressroute.LabMKALifeTime},
		lab.UpOptions{StateDir: state, Wait: 20 * time.Second}); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, lab.Down(state, name)) }()

	paths := slices.Clone(LabPaths)
	for i := range paths {
		paths[i].ns = topology.NamespaceName(name, paths[i].From)
	}
	servers := []string{topology.NamespaceName(name, "b"), topology.NamespaceName(name, "hb")}
	rep = &LabReport{Schema: LabSchema, Cipher: cfg.Cipher, Duration: cfg.Duration.String(), Runs: cfg.Runs,
		Machine: ReadMachine(), Notes: slices.Clone(cfg.Notes)}
	if rep.Notes == nil {
		rep.Notes = []string{}
	}
	if cfg.WireGuardGo != "" || cfg.Charon != "" {
		an, err := newAnchors(ctx, fmt.Sprintf("%sanchor-%d", topology.NamespacePrefix, os.Getpid()), state)
		if err != nil {
			return nil, fmt.Errorf("anchors: %w", err)
		}
		defer func() { err = errors.Join(err, an.close()) }()
		servers = append(servers, an.b)
		for _, a := range []struct {
			bin   string
			start func(context.Context, string) (LabPath, error)
		}{{cfg.WireGuardGo, an.startWireGuard}, {cfg.Charon, an.startCharon}} {
			if a.bin == "" {
				continue
			}
			fmt.Fprintf(progress, "bench lab: starting %s\n", a.bin)
			p, err := a.start(ctx, a.bin)
			if err != nil {
				return nil, fmt.Errorf("anchor %s: %w", a.bin, err)
			}
			paths = append(paths, p)
		}
	}
	for _, ns := range servers {
		srv := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "iperf3", "-s")
		if err := srv.Start(); err != nil {
			return nil, err
		}
		defer func() { srv.Process.Kill(); srv.Wait() }()
	}

	for _, p := range paths {
		rep.Results = append(rep.Results, LabResult{Path: p.Name, What: p.What, Anchor: p.Anchor})
	}
	rep.Load = append(rep.Load, loadAvg())
	total := cfg.Runs * len(paths)
	for run := 0; run < cfg.Runs; run++ {
		for i, p := range paths { // interleaved, so drift hits every path
			fmt.Fprintf(progress, "bench lab: run %d/%d, %s\n", run*len(paths)+i+1, total, p.Name)
			res, err := IPerf3(ctx, p.ns, p.Addr, cfg.Duration)
			if err != nil {
				return nil, fmt.Errorf("%s path: %w", p.Name, err)
			}
			r := &rep.Results[i]
			r.Gbps = append(r.Gbps, res.Gbps)
			r.Retransmits = append(r.Retransmits, res.Retransmits)
			r.MSS = res.MSS
		}
		rep.Load = append(rep.Load, loadAvg())
	}
	for i := range rep.Results {
		rep.Results[i].MedianGbps = medianOf(rep.Results[i].Gbps)
	}
	rep.Ratios = labRatios(rep.Results)
	return rep, nil
}

// labRatios compares every secylab path with every anchor, run by run.
func labRatios(results []LabResult) []LabRatio {
	ratios := []LabRatio{}
	for _, an := range results {
		if !an.Anchor {
			continue
		}
		for _, p := range results {
			if p.Anchor {
				continue
			}
			r := LabRatio{Path: p.Path, Anchor: an.Path}
			for i := range min(len(p.Gbps), len(an.Gbps)) {
				r.Ratios = append(r.Ratios, p.Gbps[i]/an.Gbps[i])
			}
			r.Median = medianOf(r.Ratios)
			ratios = append(ratios, r)
		}
	}
	return ratios
}

// medianOf is the median of v, which it leaves as it is; 0 for none.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return median(slices.Clone(v))
}

// IPerfResult is one iperf3 TCP stream's outcome.
type IPerfResult struct {
	Gbps        float64 // received
	Retransmits int     // the sender's
	MSS         int     // the sender's TCP MSS
}

// IPerf3 runs one TCP stream from namespace ns to an iperf3 server at addr
// for d.
func IPerf3(ctx context.Context, ns, addr string, d time.Duration) (IPerfResult, error) {
	var out []byte
	var err error
	for try := 0; try < 30; try++ { // the server may still be starting
		out, err = exec.CommandContext(ctx, "ip", "netns", "exec", ns, "iperf3", "-c", addr, "-t", fmt.Sprint(int(d.Seconds())), "-J").Output()
		// iperf3 -J may exit 0 with "unable to connect" in its JSON.
		if (err == nil && !bytes.Contains(out, []byte("unable to connect"))) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return IPerfResult{}, fmt.Errorf("iperf3 to %s: %w: %s", addr, err, out)
	}
	var res struct {
		Start struct {
			TCPMSS int `json:"tcp_mss_default"`
		} `json:"start"`
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return IPerfResult{}, fmt.Errorf("iperf3 output: %w", err)
	}
	if res.End.SumReceived.BitsPerSecond == 0 {
		return IPerfResult{}, fmt.Errorf("iperf3 to %s moved no data: %s", addr, out)
	}
	return IPerfResult{Gbps: res.End.SumReceived.BitsPerSecond / 1e9, Retransmits: res.End.SumSent.Retransmits, MSS: res.Start.TCPMSS}, nil
}

// WriteLabTable prints a LabReport for people: every path's runs, then
// each secylab path's ratio to each anchor.
func WriteLabTable(w io.Writer, rep *LabReport) {
	m := rep.Machine
	fmt.Fprintf(w, "TCP, one iperf3 stream, %d runs of %s per path, interleaved; %s, %d CPUs, %s\n", rep.Runs, rep.Duration, m.CPUModel, m.NumCPU, m.GoVersion)
	var load []string
	for _, l := range rep.Load {
		load = append(load, fmt.Sprintf("%.2f", l))
	}
	fmt.Fprintf(w, "load average (1 min) before the runs and after each: %s\n\n", strings.Join(load, " "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tWHAT\tMEDIAN Gbit/s\tRUNS Gbit/s\tRETRANSMITS")
	for _, r := range rep.Results {
		what := r.What
		if r.Path == "macsec" || r.Path == "ipsec" {
			what += " (" + rep.Cipher + ")"
		}
		var runs, retr []string
		for i, g := range r.Gbps {
			runs = append(runs, fmt.Sprintf("%.2f", g))
			retr = append(retr, fmt.Sprint(r.Retransmits[i]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\n", r.Path, what, r.MedianGbps, strings.Join(runs, " "), strings.Join(retr, " "))
	}
	tw.Flush()
	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tAGAINST\tMEDIAN RATIO\tRUNS")
		for _, r := range rep.Ratios {
			var runs []string
			for _, x := range r.Ratios {
				runs = append(runs, fmt.Sprintf("%.2f", x))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\n", r.Path, r.Anchor, r.Median, strings.Join(runs, " "))
		}
		tw.Flush()
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
