package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/scenario"
	"github.com/secylab/secylab/topology"
)

// flagship is what secylab lab run runs without arguments.
const flagship = "rotate-cak"

func newLabRunCmd(o *labOpts) *cobra.Command {
	var all, asJSON, keep bool
	var out, junit, labName string
	var cf captureFlags
	var exportKeys, runbook bool
	var azure scenario.AzureNames
	var topoFile, host string
	var ctl controlFlags
	cmd := &cobra.Command{
		Use:   "run [SCENARIO | FILE]...",
		Short: "Run exercises: a lab, steps, traffic probes, assertions and a report",
		Long: fmt.Sprintf(`Run scenarios, each on a lab of its own: bring the topology up, start traffic
probes (sequence-numbered UDP both ways, giving loss, outage windows,
reordering and latency), carry out the steps (change MACsec on one end,
rotate keys, drain a link, cut it, wait for MKA…), check the assertions and
write a report: report.json, summary.txt, report.html (with an SVG timeline)
and the wire captures, under --out/SCENARIO. --junit writes JUnit XML for CI.
The report draws the topology and tabulates each link's state (cipher,
sciState, CKN/CAK fingerprints, KN/AN, key server, BGP) at start and end,
and plots each link's traffic under the probes, so a drain's move of the
traffic shows. --runbook prints the procedure for production (also in
runbook.txt): the Azure commands (az, PowerShell; --resource-group,
--port-name, --vault name your resources), the router changes, and the
checks between steps with the values the lab saw.

Captures are bounded: each frame is cut at 100 octets (Ethernet, two VLAN
tags, the SecTAG with its SCI and 64 octets of secure data; --full keeps
whole frames) and each link's capture is a ring of 4 files of 20 MB
(--file-size, --files; tcpdump's -C and -W). The report says what each
capture kept and lost; a capture that lost frames the scenario does not
accept (capture.accept) is a failure of the capture, not of the exercise
(exit status 1, saying so). --no-capture writes no capture files (the
cleartext checks still count every frame).

--export-keys writes the run's MACsec keys (every SA seen while it ran, and
each end's CAK/CKN) to keys.json next to the report, mode 0600, with a
warning: with --full captures, secylab frame validate --keys keys.json --in
captures/link1-wire.pcapng decrypts them. Keys are never exported without it.

Each exercise's lab is an ordinary lab (named --name, or sc and 8 random hex
digits): while it runs, lab status, lab macsec, lab bgp and lab capture work
on it. It is removed at the end, and also if lab run is killed; --keep
leaves it running for a look afterwards (remove it with lab down NAME).

--topology FILE runs the scenarios on FILE instead of the topology they
name (their probes, steps and assertions must fit it). With a topology
spanning hosts, --host NAME runs this host's half as the exercise's lab and
drives the other hosts' halves, each brought up there beforehand with
'secylab lab up FILE --host OTHER --control-key KEY', over their remote
control endpoints (TLS on the underlay, authenticated by the same
--control-key on both sides): each step goes to the half that runs its
node or the ends of its link, a probe's far end runs in the far half's lab
process, and the report lists both halves. A far half that does not answer,
or a step naming a node that runs on no host, is an error before anything
is changed. The far half is put back as the topology has it at the end.

Without arguments the flagship exercise runs: %s. See the built-in
scenarios with 'secylab lab scenarios'. The output paths are checked before
the first lab is built. Exit status 0 only when every assertion of every
scenario holds and every report was written; 1 when one fails or a scenario
could not be run or recorded; 2 for bad input. Needs root.`, flagship),
		Example: `  secylab lab run                         # the flagship exercise
  secylab lab run key-mismatch enable-macsec
  secylab lab run --all --junit results.xml
  secylab lab run my-change.yaml --out /tmp/reports
  secylab lab run rotate-cak --name x --keep && secylab lab status --lab x
  secylab lab run rotate-cak --full --file-size 100MB --files 10
  secylab lab run --all --no-capture
  secylab lab run rotate-cak --topology two-hosts.yaml --host cust --control-key ctl.key`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return usagef("give scenarios or --all, not both")
			}
			if cmd.Flags().Changed("name") {
				if err := topology.CheckLabName(labName); err != nil {
					return usagef("--name: %v", err)
				}
			}
			if all {
				args = scenario.Builtins()
			}
			if len(args) == 0 {
				args = []string{flagship}
			}
			if keep && len(args) > 1 {
				return usagef("--keep leaves one exercise's lab running: give one scenario")
			}
			span, whole, err := spanOptions(topoFile, host, &ctl)
			if err != nil {
				return err
			}
			var scs []*scenario.Scenario
			for _, a := range args {
				sc, err := loadScenario(a)
				if err == nil && whole != nil {
					sc, err = scenario.WithTopology(sc, whole)
				}
				if err != nil {
					return &usageError{err}
				}
				scs = append(scs, sc)
			}
			if f := azure.RouterFormat; f != "" {
				if _, err := edgeconfig.Lookup(f); err != nil {
					return usagef("--router-format: %v", err)
				}
			}
			override, err := cf.override(cmd)
			if err != nil {
				return err
			}
			if err := needRoot(); err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join("secylab-reports", time.Now().Format("20060102-150405"))
			}
			if err := checkOutputs(out, junit); err != nil {
				return &usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			live := isTerminal(os.Stderr)
			var reps []*scenario.Report
			var runErrs []error
			for i, sc := range scs {
				fmt.Fprintf(stderr, "[%d/%d] %s: %s\n", i+1, len(scs), sc.Name, sc.Title)
				dir := filepath.Join(out, sc.Name)
				rep, err := scenario.Run(ctx, sc, scenario.Options{StateDir: o.stateDir, OutDir: dir, LabName: labName, Keep: keep, Progress: stderr, Live: live, Capture: override, ExportKeys: exportKeys, Azure: azure, Span: span})
				reps = append(reps, rep)
				if !asJSON {
					rep.WriteText(stdout)
					fmt.Fprintf(stdout, "  report: %s\n\n", filepath.Join(dir, "report.html"))
				}
				if runbook && !asJSON && rep.Runbook != nil {
					if !rep.Passed {
						fmt.Fprintf(stdout, "WARNING: %s did not pass: the runbook below follows a procedure that failed in the lab.\n\n", sc.Name)
					}
					rep.Runbook.WriteText(stdout)
					fmt.Fprintln(stdout)
				}
				if err != nil {
					runErrs = append(runErrs, fmt.Errorf("%s: %w", sc.Name, err))
					fmt.Fprintf(stderr, "secylab: %s: %v\n", sc.Name, err)
					if ctx.Err() != nil {
						break
					}
				}
			}
			if junit != "" {
				if err := writeJUnit(junit, reps); err != nil {
					runErrs = append(runErrs, fmt.Errorf("--junit: %w", err))
				}
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(reps); err != nil {
					return err
				}
			} else if len(reps) > 1 {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SCENARIO\tRESULT\tTIME\tASSERTIONS")
				for _, r := range reps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d hold\n", r.Scenario, verdict(r), time.Duration(r.Duration).Round(time.Second), len(r.Assertions)-r.Failed(), len(r.Assertions))
				}
				tw.Flush()
			}
			var failed []string
			for _, r := range reps {
				if !r.Passed {
					failed = append(failed, r.Scenario)
				}
			}
			if len(failed) > 0 {
				return errors.Join(append(runErrs, fmt.Errorf("%d of %d scenarios failed: %s (reports in %s)", len(failed), len(scs), strings.Join(failed, ", "), out))...)
			}
			var incomplete []string
			for _, r := range reps {
				for _, c := range r.Captures {
					if !c.Complete {
						incomplete = append(incomplete, r.Scenario+" "+c.Link)
					}
				}
			}
			if len(incomplete) > 0 {
				runErrs = append(runErrs, fmt.Errorf("every scenario passed, but %d capture(s) are incomplete: %s (see the reports in %s; a scenario's capture.accept accepts a loss)", len(incomplete), strings.Join(incomplete, ", "), out))
			}
			return errors.Join(runErrs...)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "run every built-in scenario")
	cmd.Flags().StringVarP(&out, "out", "o", "", "report directory (default secylab-reports/TIME)")
	cmd.Flags().StringVar(&junit, "junit", "", "also write JUnit XML to `FILE`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the reports as JSON instead of text")
	cmd.Flags().StringVar(&labName, "name", "", "name the exercise's lab (default: sc and 8 random hex digits)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the exercise's lab running afterwards (remove it with lab down NAME)")
	cf.add(cmd, true)
	cmd.Flags().BoolVar(&runbook, "runbook", false, "also print the production procedure the passing scenario stands for: Azure-side (az, PowerShell) and router-side changes, checks with the lab's values, production timers (always in runbook.txt and the report)")
	cmd.Flags().StringVar(&azure.ResourceGroup, "resource-group", "", "the runbook's Azure resource group (default: a placeholder)")
	cmd.Flags().StringVar(&azure.Port, "port-name", "", "the runbook's ExpressRoute Direct port (default: a placeholder)")
	cmd.Flags().StringVar(&azure.Vault, "vault", "", "the runbook's Key Vault (default: a placeholder)")
	cmd.Flags().StringVar(&azure.Circuit, "circuit", "", "the runbook's ExpressRoute circuit (default: the topology's circuit name)")
	cmd.Flags().StringVar(&azure.RouterFormat, "router-format", "", "put the router's configuration for each MACsec change into the runbook, in `FORMAT` (one of lab config's: "+strings.Join(edgeconfig.Names(), ", ")+"), with production's MKA timers")
	cmd.Flags().StringVar(&topoFile, "topology", "", "run the scenarios on the topology `FILE` instead of the ones they name")
	cmd.Flags().StringVar(&host, "host", "", "with --topology spanning hosts: this host, whose half the run brings up; the other halves are driven over their control endpoints (needs --control-key)")
	ctl.add(cmd, "authenticates this run to the other hosts' halves (lab up --host --control-key)")
	cmd.Flags().BoolVar(&exportKeys, "export-keys", false, "write the MACsec keys of the run (SAKs, CAK/CKN) to keys.json next to its report, 0600, for secylab frame validate --keys (with --full captures)")
	return cmd
}

// spanOptions reads --topology and, with --host, this host's half and the
// far halves' control endpoints.
func spanOptions(file, host string, ctl *controlFlags) (*scenario.SpanOptions, *topology.Topology, error) {
	switch {
	case file == "" && host != "":
		return nil, nil, usagef("--host %s: give the --topology FILE whose hosts block lists it", host)
	case file == "" && ctl.keyFile != "":
		return nil, nil, usagef("--control-key: only with --topology and --host, for a lab spanning hosts")
	case file == "":
		return nil, nil, nil
	}
	whole, err := topology.Load(file)
	if err != nil {
		return nil, nil, &usageError{err}
	}
	if host == "" {
		if ctl.keyFile != "" {
			return nil, nil, usagef("--control-key: only with --host, for a lab spanning hosts")
		}
		return nil, whole, nil
	}
	half, err := topology.LoadHost(file, host)
	if err != nil {
		return nil, nil, &usageError{err}
	}
	if ctl.keyFile == "" {
		return nil, nil, usagef("--host %s: give --control-key FILE, the key the other hosts' halves were started with (lab up --host --control-key)", host)
	}
	control, err := ctl.spec(half, host, false)
	if err != nil {
		return nil, nil, err
	}
	if whole.Azure != nil {
		return nil, nil, usagef("--host: a lab spanning hosts runs no Azure emulator")
	}
	key, err := lab.LoadControlKey(control.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	so := &scenario.SpanOptions{Host: host, Half: half, KeyFile: control.KeyFile, Far: map[string]*lab.Client{}}
	for _, h := range whole.Hosts {
		if h.Name != host {
			if so.Far[h.Name], err = lab.DialRemote(ctl.endpoint(h), key); err != nil {
				return nil, nil, err
			}
		}
	}
	return so, whole, nil
}

// checkOutputs checks, before any lab is built, that the report directory
// can be made and written and that the JUnit file can be: not a directory,
// in a directory that exists.
func checkOutputs(out, junit string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	f, err := os.CreateTemp(out, ".secylab-check-*")
	if err != nil {
		return fmt.Errorf("--out %s: cannot write there: %w", out, err)
	}
	f.Close()
	os.Remove(f.Name())
	if junit == "" {
		return nil
	}
	if fi, err := os.Stat(junit); err == nil && fi.IsDir() {
		return fmt.Errorf("--junit %s: is a directory, want a file", junit)
	}
	if fi, err := os.Stat(filepath.Dir(junit)); err != nil {
		return fmt.Errorf("--junit %s: %w", junit, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("--junit %s: %s is not a directory", junit, filepath.Dir(junit))
	}
	_, statErr := os.Stat(junit)
	jf, err := os.OpenFile(junit, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("--junit %s: %w", junit, err)
	}
	jf.Close()
	if statErr != nil {
		os.Remove(junit) // made only to check: it is written at the end
	}
	return nil
}

func verdict(r *scenario.Report) string {
	if r.Passed {
		return "PASS"
	}
	if r.Error != "" {
		return "ERROR"
	}
	return "FAIL"
}

func writeJUnit(file string, reps []*scenario.Report) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	return errors.Join(scenario.WriteJUnit(f, reps), f.Close())
}

// loadScenario reads a scenario file, or a built-in by name.
func loadScenario(arg string) (*scenario.Scenario, error) {
	if _, err := os.Stat(arg); err == nil && (strings.HasSuffix(arg, ".yaml") || strings.Contains(arg, "/")) {
		return scenario.Load(arg)
	}
	return scenario.Builtin(arg)
}

func newLabScenariosCmd() *cobra.Command {
	var asJSON bool
	var yamlOf string
	cmd := &cobra.Command{
		Use:   "scenarios [--yaml NAME]",
		Short: "List the built-in scenarios, or print one as a template",
		Long: `List the built-in scenarios. --yaml NAME prints the scenario's YAML, a
starting point for one's own: save it, change it, check it with secylab
validate FILE and run it with secylab lab run FILE. Its topology is a
built-in too: secylab topology show NAME prints it.`,
		Example: "  secylab lab scenarios\n  secylab lab scenarios | grep -A1 rotate\n  secylab lab scenarios --json | jq -r '.[].name'\n" +
			"  secylab lab scenarios --yaml rotate-cak > my-change.yaml && secylab validate my-change.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if yamlOf != "" {
				data, err := scenario.BuiltinSource(yamlOf)
				if err != nil {
					return usagef("--yaml: %v", err)
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			type entry struct {
				Name        string `json:"name"`
				Title       string `json:"title"`
				Description string `json:"description"`
				Flagship    bool   `json:"flagship,omitempty"`
			}
			var list []entry
			for _, n := range scenario.Builtins() {
				sc, err := scenario.Builtin(n)
				if err != nil {
					return err
				}
				list = append(list, entry{Name: n, Title: sc.Title, Description: sc.Description, Flagship: n == flagship})
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printStateJSON(w, list)
			}
			for _, e := range list {
				mark := ""
				if e.Flagship {
					mark = " (flagship: lab run without arguments)"
				}
				fmt.Fprintf(w, "%s%s\n  %s\n", e.Name, mark, e.Title)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the scenarios (name, title, description) as JSON")
	cmd.Flags().StringVar(&yamlOf, "yaml", "", "print the built-in scenario `NAME` as YAML, a template")
	return cmd
}
