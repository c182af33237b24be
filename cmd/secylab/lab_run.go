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

	"github.com/secylab/secylab/scenario"
)

// flagship is what secylab lab run runs without arguments.
const flagship = "rotate-cak"

func newLabRunCmd(o *labOpts) *cobra.Command {
	var all, asJSON bool
	var out, junit string
	cmd := &cobra.Command{
		Use:   "run [SCENARIO | FILE]...",
		Short: "Run exercises: a lab, steps, traffic probes, assertions and a report",
		Long: fmt.Sprintf(`Run scenarios, each on a lab of its own: bring the topology up, start traffic
probes (sequence-numbered UDP both ways, giving loss, outage windows,
reordering and latency), carry out the steps (change MACsec on one end,
rotate keys, drain a link, cut it, wait for MKA…), check the assertions and
write a report: report.json, summary.txt, report.html (with an SVG timeline)
and the wire captures, under --out. --junit writes JUnit XML for CI.

Without arguments the flagship exercise runs: %s. See the built-in
scenarios with 'secylab lab scenarios'. Exit status 0 only when every
assertion of every scenario holds; 1 when one fails. Needs root.`, flagship),
		Example: `  secylab lab run                         # the flagship exercise
  secylab lab run key-mismatch enable-macsec
  secylab lab run --all --junit results.xml
  secylab lab run my-change.yaml --out /tmp/reports`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return usagef("give scenarios or --all, not both")
			}
			if all {
				args = scenario.Builtins()
			}
			if len(args) == 0 {
				args = []string{flagship}
			}
			var scs []*scenario.Scenario
			for _, a := range args {
				sc, err := loadScenario(a)
				if err != nil {
					return &usageError{err}
				}
				scs = append(scs, sc)
			}
			if err := needRoot(); err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join("secylab-reports", time.Now().Format("20060102-150405"))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			live := isTerminal(os.Stderr)
			var reps []*scenario.Report
			for i, sc := range scs {
				fmt.Fprintf(stderr, "[%d/%d] %s: %s\n", i+1, len(scs), sc.Name, sc.Title)
				rep, err := scenario.Run(ctx, sc, scenario.Options{StateDir: o.stateDir, OutDir: filepath.Join(out, sc.Name), Progress: stderr, Live: live})
				if rep != nil {
					reps = append(reps, rep)
					if !asJSON {
						rep.WriteText(stdout)
						fmt.Fprintf(stdout, "  report: %s\n\n", filepath.Join(out, sc.Name, "report.html"))
					}
				}
				if err != nil && ctx.Err() != nil {
					return err
				}
			}
			if junit != "" {
				if err := writeJUnit(junit, reps); err != nil {
					return err
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
				return fmt.Errorf("%d of %d scenarios failed: %s (reports in %s)", len(failed), len(reps), strings.Join(failed, ", "), out)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "run every built-in scenario")
	cmd.Flags().StringVar(&out, "out", "", "report directory (default secylab-reports/TIME)")
	cmd.Flags().StringVar(&junit, "junit", "", "also write JUnit XML to `FILE`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the reports as JSON instead of text")
	return cmd
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
	cmd := &cobra.Command{
		Use:     "scenarios",
		Short:   "List the built-in scenarios",
		Example: "  secylab lab scenarios\n  secylab lab scenarios | grep -A1 rotate\n  secylab lab scenarios --json | jq -r '.[].name'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	return cmd
}
