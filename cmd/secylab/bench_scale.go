package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/bench"
)

func newBenchScaleCmd() *cobra.Command {
	var (
		ports    []int
		idle     time.Duration
		wait     time.Duration
		asJSON   bool
		topoOnly int
	)
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "How lab up time, memory and idle CPU of the lab process grow with the number of ports",
		Long: `Generate an ExpressRoute Direct lab of N Direct ports (N/2 port pairs: per
pair a customer edge ce<i> and a Microsoft edge msee<i> joined by two MACsec
links, GcmAesXpn256 with the SCI omitted, each with an eBGP session and BFD
at 300 ms × 3) for each size in turn, and measure: the time lab up takes
until every link is secured and every session Established, the lab
process's resident memory and its CPU while idle (over --idle). Then the
growth from the smallest size: cost per added port and each figure's ratio
to the ratio of sizes (1.00: linear). Each lab is removed before the next;
a killed run's lab removes itself (its lab process watches this one).

The generated topology is an ordinary topology file, validated as a user's:
--topology N prints the one of N ports (secylab lab up FILE runs it).
Needs root.`,
		Example: `  secylab bench scale
  secylab bench scale --ports 64 --idle 30s --json
  secylab bench scale --topology 8 > direct8.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("topology") {
				data, err := bench.ScaleTopology("scale", topoOnly)
				if err != nil {
					return usagef("--topology: %w", err)
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if len(ports) == 0 {
				return usagef("--ports: name at least one size")
			}
			for _, n := range ports {
				if _, err := bench.ScaleTopology("scale", n); err != nil {
					return usagef("--ports: %w", err)
				}
			}
			if idle < time.Second {
				return usagef("--idle %v: at least 1s", idle)
			}
			if wait < time.Second {
				return usagef("--wait %v: at least 1s", wait)
			}
			if err := needRoot(); err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer cancel()
			var progress io.Writer = cmd.ErrOrStderr()
			rep, err := bench.RunScale(ctx, bench.ScaleConfig{
				Ports: ports, Idle: idle, Wait: wait, Name: fmt.Sprintf("sc%d-", os.Getpid()%1000), Progress: progress,
			})
			if rep != nil && len(rep.Points) > 0 {
				out := cmd.OutOrStdout()
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(rep); jerr != nil {
						return jerr
					}
				} else if terr := rep.WriteTable(out); terr != nil {
					return terr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&ports, "ports", bench.DefaultScalePorts, fmt.Sprintf("sizes to measure, in Direct ports (even, 2..%d)", bench.MaxScalePorts))
	f.DurationVar(&idle, "idle", 10*time.Second, "how long the idle CPU is measured at each size, once everything is up")
	f.DurationVar(&wait, "wait", 60*time.Second, "how long each size may take to be secured and Established")
	f.BoolVar(&asJSON, "json", false, "write the report as JSON")
	f.IntVar(&topoOnly, "topology", 0, "print the generated topology of this many ports and exit")
	return cmd
}
