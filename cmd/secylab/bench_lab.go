package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/bench"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// benchLabTopology joins two routers with three links, one per path to
// measure: userspace MACsec, the same userspace forwarder without crypto,
// and a plain kernel veth; and an ESP tunnel between them over the MACsec
// link, between the hosts ha and hb behind them.
const benchLabTopology = `name: %s
nodes:
  a:
    kind: router
    ports:
      m: {kind: direct, addresses: [10.99.1.1/30]}
      f: {kind: direct, addresses: [10.99.2.1/30]}
      k: {kind: ethernet, addresses: [10.99.3.1/30]}
      lan: {kind: ethernet, addresses: [10.97.1.1/24]}
  b:
    kind: router
    ports:
      m: {kind: direct, addresses: [10.99.1.2/30]}
      f: {kind: direct, addresses: [10.99.2.2/30]}
      k: {kind: ethernet, addresses: [10.99.3.2/30]}
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
    macsec: {enabled: true, cipher: %s, sciState: Disabled, secret: generate}
  - name: lf
    endpoints: [a:f, b:f]
    macsec: {enabled: false}
  - name: lk
    endpoints: [a:k, b:k]
`

type labPath struct {
	Name, From, To, Addr, What string
}

var benchLabPaths = []labPath{
	{"macsec", "a", "b", "10.99.1.2", "userspace forwarder with MACsec"},
	{"forwarder", "a", "b", "10.99.2.2", "the same forwarder, no crypto"},
	{"veth", "a", "b", "10.99.3.2", "kernel veth, no forwarder"},
	{"ipsec", "ha", "hb", "10.97.2.10", "ESP tunnel (AES-GCM-256, ESN) over the MACsec link"},
}

// LabBenchResult is one path's measurements.
type LabBenchResult struct {
	Path        string    `json:"path"`
	What        string    `json:"what"`
	Gbps        []float64 `json:"gbps"` // one per run
	MedianGbps  float64   `json:"median_gbps"`
	Retransmits []int     `json:"retransmits"`
}

// LabBenchReport is what bench lab prints with --json.
type LabBenchReport struct {
	Cipher   string           `json:"cipher"`
	Duration string           `json:"duration_per_run"`
	Runs     int              `json:"runs"`
	Machine  bench.Machine    `json:"machine"`
	Results  []LabBenchResult `json:"results"`
}

func newBenchLabCmd() *cobra.Command {
	var cipher string
	var duration time.Duration
	var runs int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "TCP throughput through a lab link: MACsec, no crypto, kernel veth, IPsec over MACsec",
		Long: `Build a throwaway two-router lab with three links and measure one iperf3 TCP
stream across each, in turns, --runs times: through secylab's userspace
forwarder with MACsec, through the same forwarder without crypto, and over a
plain kernel veth; and through an IPsec ESP tunnel between two gateways,
riding the MACsec link. Reports the median and every run. Needs root and iperf3
(Debian package iperf3). The lab is removed at the end, also on Ctrl-C.`,
		Example: `  secylab bench lab
  secylab bench lab --cipher GcmAes128 --duration 10s --runs 5 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			suite, err := cipherFlag(cipher)
			if err != nil {
				return err
			}
			if runs < 1 {
				return usagef("--runs %d: at least 1", runs)
			}
			if duration < time.Second {
				return usagef("--duration %v: at least 1s (iperf3 counts whole seconds)", duration)
			}
			if _, err := exec.LookPath("iperf3"); err != nil {
				return errors.New("bench lab needs iperf3 (apt-get install iperf3)")
			}
			if err := needRoot(); err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer cancel()
			progress := io.Discard
			if isTerminal(os.Stderr) {
				progress = cmd.ErrOrStderr()
			}
			rep, err := runLabBench(ctx, progress, suite.AzureName(), duration, runs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printLabBench(out, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&cipher, "cipher", "GcmAesXpn256", "cipher suite of the MACsec link")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "length of each iperf3 run")
	cmd.Flags().IntVar(&runs, "runs", 3, "runs per path (the median is reported)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runLabBench(ctx context.Context, progress io.Writer, cipher string, duration time.Duration, runs int) (rep *LabBenchReport, err error) {
	state, err := os.MkdirTemp("", "secylab-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(state)
	name := fmt.Sprintf("bl%d", os.Getpid()%100000)
	topo, err := topology.Parse("bench-lab.yaml", fmt.Appendf(nil, benchLabTopology, name, cipher))
	if err != nil {
		return nil, err
	}
	if _, err := lab.Up(ctx, lab.Spec{Topology: topo, HelloTime: expressroute.LabMKAHelloTime, LifeTime: expressroute.LabMKALifeTime},
		lab.UpOptions{StateDir: state, Wait: 20 * time.Second}); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, lab.Down(state, name)) }()

	for _, server := range []string{"b", "hb"} {
		srv := exec.CommandContext(ctx, "ip", "netns", "exec", topology.NamespaceName(name, server), "iperf3", "-s")
		if err := srv.Start(); err != nil {
			return nil, err
		}
		defer func() { srv.Process.Kill(); srv.Wait() }()
	}

	rep = &LabBenchReport{Cipher: cipher, Duration: duration.String(), Runs: runs, Machine: bench.ReadMachine()}
	for _, p := range benchLabPaths {
		rep.Results = append(rep.Results, LabBenchResult{Path: p.Name, What: p.What})
	}
	total := runs * len(benchLabPaths)
	for run := 0; run < runs; run++ {
		for i, p := range benchLabPaths { // interleaved, so drift hits every path
			fmt.Fprintf(progress, "\rbench lab: run %d/%d, %-9s ", run*len(benchLabPaths)+i+1, total, p.Name)
			res, err := iperf3(ctx, topology.NamespaceName(name, p.From), p.Addr, duration)
			if err != nil {
				return nil, fmt.Errorf("%s path: %w", p.Name, err)
			}
			r := &rep.Results[i]
			r.Gbps = append(r.Gbps, res.Gbps)
			r.Retransmits = append(r.Retransmits, res.Retransmits)
		}
	}
	fmt.Fprintln(progress)
	for i := range rep.Results {
		r := &rep.Results[i]
		s := slices.Sorted(slices.Values(r.Gbps))
		r.MedianGbps = s[len(s)/2]
	}
	return rep, nil
}

// iperfResult is one iperf3 TCP stream's outcome.
type iperfResult struct {
	Gbps        float64 // received
	Retransmits int     // the sender's
	MSS         int     // the sender's TCP MSS
}

// iperf3 runs one TCP stream from namespace ns to an iperf3 server at addr
// for d.
func iperf3(ctx context.Context, ns, addr string, d time.Duration) (iperfResult, error) {
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
		return iperfResult{}, fmt.Errorf("iperf3 to %s: %w: %s", addr, err, out)
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
		return iperfResult{}, fmt.Errorf("iperf3 output: %w", err)
	}
	if res.End.SumReceived.BitsPerSecond == 0 {
		return iperfResult{}, fmt.Errorf("iperf3 to %s moved no data: %s", addr, out)
	}
	return iperfResult{Gbps: res.End.SumReceived.BitsPerSecond / 1e9, Retransmits: res.End.SumSent.Retransmits, MSS: res.Start.TCPMSS}, nil
}

func printLabBench(w io.Writer, rep *LabBenchReport) {
	m := rep.Machine
	fmt.Fprintf(w, "TCP, one iperf3 stream, %d runs of %s per path, interleaved; %s, %d CPUs, %s\n\n", rep.Runs, rep.Duration, m.CPUModel, m.NumCPU, m.GoVersion)
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
}
