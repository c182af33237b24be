package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

func newLabBGPCmd(o *labOpts) *cobra.Command {
	var rib, asJSON bool
	cmd := &cobra.Command{
		Use:   "bgp [NODE]",
		Short: "Show the routers' BGP sessions, timers, BFD and prefixes (show bgp summary)",
		Long: `Show every BGP router of the lab in the spirit of 'show bgp summary': each
neighbour's state and uptime, the negotiated hold and keepalive times, the
BFD session (state, interval × multiplier), prefixes received, accepted
(after import policy) and advertised, and the last NOTIFICATION. With NODE
(or --rib) the Loc-RIB follows, '>' marking the best path. A bird or frr
node shows its daemon's own view.`,
		Example: `  secylab lab bgp
  secylab lab bgp msee1
  secylab lab bgp --json | jq '.[].status.neighbors[].state'
  secylab lab bgp drain link1     # move traffic to link2 before maintenance
  secylab lab bgp undrain link1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			node := ""
			if len(args) == 1 {
				node = args[0]
				rib = true
			}
			routers, err := c.BGP(cmd.Context(), node)
			if err != nil {
				return labErr(labName, err)
			}
			if asJSON {
				return printStateJSON(cmd.OutOrStdout(), routers)
			}
			if len(routers) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s runs no BGP\n", labName)
				return nil
			}
			for i, r := range routers {
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				printBGP(cmd.OutOrStdout(), r, rib)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&rib, "rib", false, "show the Loc-RIB of every router too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the routers (with their Loc-RIBs) as JSON")
	cmd.AddCommand(newLabBGPDrainCmd(o), newLabBGPUndrainCmd(o), newLabBGPResetCmd(o))
	return cmd
}

func printBGP(w io.Writer, r lab.BGPStatus, rib bool) {
	fmt.Fprintf(w, "== %s (%s) ==\n", r.Node, r.Kind)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	if r.Daemon != "" {
		fmt.Fprintln(w, strings.TrimRight(r.Daemon, "\n"))
	}
	if r.Status == nil {
		return
	}
	bgp.WriteSummary(w, *r.Status)
	for _, p := range r.Refused {
		fmt.Fprintf(w, "refused on %s (Microsoft peering's route filter): %s, %s\n", p.Session, p.Prefix, p.Reason)
	}
	if len(r.Drained) > 0 {
		fmt.Fprintf(w, "drained: %s (AS-path prepend ×%d out, local preference %d in)\n", strings.Join(r.Drained, ", "), expressroute.DrainPrepend, expressroute.DrainLocalPref)
	}
	if rib && len(r.RIB) > 0 {
		fmt.Fprintln(w)
		bgp.WriteLocRIB(w, r.RIB)
	}
}

func newLabBGPDrainCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "drain LINK",
		Short: "Drain a link: the customer router prepends its AS and lowers local preference on it",
		Long: `Drain LINK as ExpressRoute users do before maintenance on it (a key
rotation): the customer router facing LINK announces its prefixes there with
a longer AS path (prepended ×` + fmt.Sprint(expressroute.DrainPrepend) + `) and gives what it learns there local
preference ` + fmt.Sprint(expressroute.DrainLocalPref) + `, so traffic moves to the other link in both directions,
without loss while both are up. On a Direct port with circuits it drains
every peering on LINK (sessions LINK.100, LINK.200, ...: maintenance takes the
whole port), and returns once the traffic of all of them has moved. Undo it
with secylab lab bgp undrain. The scenario step is "drain: LINK".`,
		Example: `  secylab lab bgp drain link1
  secylab lab macsec set link1 --new-cak   # maintenance on link1, no traffic on it
  secylab lab bgp undrain link1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, &lab.DrainOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+" drained")
		},
	}
}

func newLabBGPUndrainCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "undrain LINK",
		Short: "Undo a drain: the customer router's configured policies on the link again",
		Long: `Undo secylab lab bgp drain LINK: the customer router facing LINK announces
and accepts routes there with its configured policies again, and traffic
returns to LINK as soon as the UPDATEs have crossed. The scenario step is
"undrain: LINK".`,
		Example: `  secylab lab bgp undrain link1
  secylab lab bgp   # the "(drained)" mark is gone`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, &lab.UndrainOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+" undrained")
		},
	}
}

func newLabBGPResetCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "reset NODE LINK|SESSION",
		Short: "Reset a BGP session (Cease / Administrative Reset), also one held down by the prefix limit",
		Long: `Reset NODE's BGP sessions over LINK (each peering's, on a Direct port with
circuits), or the one session LINK names (link1.200: Microsoft peering on
VLAN 200 only): a NOTIFICATION Cease / Administrative Reset, then the sessions
come back up. A session held down after its peer exceeded the maximum
prefixes stays down until reset.`,
		Example: `  secylab lab bgp reset msee1 link1
  secylab lab bgp reset msee1 link1.200   # one peering's session`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, &lab.BGPResetOp{Node: args[0], Link: args[1]}, args[0]+": session on "+args[1]+" reset")
		},
	}
}

// printBGPSessions writes lab status's BGP lines: one per session.
func printBGPSessions(w io.Writer, routers []lab.BGPStatus) {
	if len(routers) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BGP\tNEIGHBOR\tLINK\tAS\tSTATE\tUP/DOWN\tBFD\tPFX RCVD/ADV")
	for _, r := range routers {
		if r.Status == nil {
			fmt.Fprintf(tw, "%s\t(%s: see secylab lab bgp %s)\t\t\t\t\t\t\n", r.Node, r.Kind, r.Node)
			continue
		}
		for _, n := range r.Status.Neighbors {
			b := "-"
			if n.BFD != nil {
				b = n.BFD.State.String()
			}
			state := n.State.String()
			if n.HeldDown {
				state += " (max-prefix)"
			}
			if slices.Contains(r.Drained, topology.SessionLink(n.Name)) {
				state += " (drained)"
			}
			rcvd, adv := 0, 0
			for _, c := range n.Received {
				rcvd += c
			}
			for _, c := range n.Advertised {
				adv += c
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%s\t%v\t%s\t%d/%d\n", r.Node, n.Address, n.Name, n.ASN, state, n.Uptime.Truncate(time.Second), b, rcvd, adv)
		}
	}
	tw.Flush()
}
