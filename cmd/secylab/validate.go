package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/secylab/secylab/scenario"
	"github.com/secylab/secylab/topology"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology and scenario files without building a lab (no root needed)",
		Long: `Check topology and scenario files as lab up and lab run would, without root,
namespaces or a lab: strict YAML (unknown fields are errors), every field's
value, the references between them (nodes, ports, links, probes, phases,
counters, key files). A file with nodes or links is a topology, any other a
scenario (its topology is checked with it). Every problem of every file is
printed, one a line as FILE:LINE: FIELD: what is wrong and what is allowed.

Exit status: 0 when every file is valid; 2 when any is not.`,
		Example: `  secylab validate my-lab.yaml my-change.yaml
  secylab lab scenarios --yaml rotate-cak > my-change.yaml && secylab validate my-change.yaml
  secylab topology show expressroute-direct > my-lab.yaml && secylab validate my-lab.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			bad := 0
			for _, file := range args {
				what, warnings, err := validateFile(file)
				for _, wn := range warnings {
					fmt.Fprintf(w, "%s: warning: %s\n", file, wn)
				}
				if err != nil {
					bad++
					for _, line := range strings.Split(err.Error(), "\n") {
						if !strings.HasPrefix(line, file) {
							line = file + ": " + line
						}
						fmt.Fprintln(w, line)
					}
					continue
				}
				fmt.Fprintf(w, "%s: ok (%s)\n", file, what)
			}
			if bad > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "secylab: %d of %d files are not valid\n", bad, len(args))
				return exitCode(2)
			}
			return nil
		},
	}
}

// validateFile checks one file, a topology or a scenario, and says what it
// is.
func validateFile(file string) (what string, warnings []string, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	var top map[string]any
	_ = yaml.Unmarshal(data, &top) // the kind only; the parsers report the errors
	_, hasNodes := top["nodes"]
	_, hasLinks := top["links"]
	if hasNodes || hasLinks {
		t, err := topology.Load(file)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("topology %s: %d nodes, %d links", t.Name, len(t.Nodes), len(t.Links)), t.Warnings, nil
	}
	sc, err := scenario.Load(file)
	if err != nil {
		return "", nil, err
	}
	what = fmt.Sprintf("scenario %s: %d steps, %d assertions", sc.Name, len(sc.Steps), len(sc.Assert))
	if sc.Topology != nil {
		what += " on topology " + sc.Topology.Name
		warnings = sc.Topology.Warnings
	}
	return what, warnings, nil
}

func newTopologyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "The built-in topologies, as templates",
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a built-in topology's YAML, a starting point for one's own",
		Long: "Print the YAML of a built-in topology (" + strings.Join(topology.Builtins(), ", ") + `): save it,
change it, check it with secylab validate FILE and start it with secylab lab
up FILE.`,
		Example: `  secylab topology show expressroute-direct > my-lab.yaml
  secylab validate my-lab.yaml && secylab lab up my-lab.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := topology.BuiltinSource(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the built-in topologies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, n := range topology.Builtins() {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	cmd.AddCommand(show, list)
	return cmd
}
