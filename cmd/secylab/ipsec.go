package main

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/gateway"
	"github.com/secylab/secylab/ipsec/xfrm"
	"github.com/secylab/secylab/lab"
)

func newIPsecCmd() *cobra.Command {
	o := &labOpts{}
	cmd := &cobra.Command{
		Use:   "ipsec",
		Short: "IPsec ESP tunnels of a running lab: SAs, policies, manual keys, the backend probe",
		Long: `The lab's IPsec gateways keep an SAD and SPD like the kernel's xfrm; these
commands show and change them in the spirit of ip xfrm. On kernels with ESP
and GCM the gateways use xfrm (programmed through netlink); elsewhere they
run secylab's userspace ESP (AES-GCM-16, ESN, anti-replay, ESP in UDP 4500).
'secylab ipsec probe' says which this machine runs, and why.`,
	}
	o.register(cmd)
	var nodeName string
	var asJSON bool
	tunnels := func(cmd *cobra.Command) ([]lab.TunnelStatus, error) {
		c, labName, err := o.client()
		if err != nil {
			return nil, err
		}
		st, err := c.StatusOf(cmd.Context(), "")
		if err != nil {
			return nil, labErr(labName, err)
		}
		if len(st.Tunnels) == 0 {
			return nil, fmt.Errorf("lab %s has no IPsec tunnel (try: secylab lab up expressroute-ipsec)", labName)
		}
		var ts []lab.TunnelStatus
		for _, t := range st.Tunnels {
			if nodeName == "" || t.Node == nodeName {
				ts = append(ts, t)
			}
		}
		return ts, nil
	}
	state := &cobra.Command{Use: "state", Short: "IPsec SAs (ip xfrm state)"}
	stateList := &cobra.Command{
		Use:   "list",
		Short: "List the SAs of the lab's gateways with their counters (ip -s xfrm state)",
		Example: `  secylab ipsec state list
  secylab ipsec state list --node azure-vpngw --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := tunnels(cmd)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printStateJSON(w, ts)
			}
			for _, t := range ts {
				fmt.Fprintf(w, "# tunnel %s, gateway %s, backend %s (%s)\n", t.Tunnel, t.Node, t.Backend, t.Reason)
				ipsec.WriteStates(w, t.States)
				if t.DataPath != nil {
					gateway.WriteDataPath(w, *t.DataPath)
				}
			}
			return nil
		},
	}
	stateList.Flags().StringVar(&nodeName, "node", "", "only this gateway")
	stateList.Flags().BoolVar(&asJSON, "json", false, "print the tunnels' SAs as JSON")
	add := &lab.SAAddOp{}
	var src, dst string
	stateAdd := &cobra.Command{
		Use:   "add --node GW --spi SPI --src A --dst B --dir in|out --key-file FILE",
		Short: "Add a manually keyed AES-GCM-16 SA (tunnel mode, ESP in UDP 4500)",
		Long: `Add a manually keyed SA to a gateway, as 'ip xfrm state add' does. The key
file holds KEYMAT in hex: the AES key followed by the 4-octet salt (RFC 4106),
20 or 36 octets; it must be mode 0600 and is read by the lab process, so the
key never appears on a command line or in a process list.`,
		Example: `  secylab ipsec state add --node onprem-vpngw --spi 0x2001 --src 172.16.1.1 --dst 172.16.2.1 --dir out --key-file k.hex`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			add.Node = nodeName
			var err error
			if add.Src, err = parseAddr("--src", src); err != nil {
				return err
			}
			if add.Dst, err = parseAddr("--dst", dst); err != nil {
				return err
			}
			if add.Dir, err = value.Enum(add.Dir, "in", "out"); err != nil {
				return usagef("--dir %v", err)
			}
			if add.KeyFile == "" {
				return usagef("--key-file is required")
			}
			if add.KeyFile, err = filepath.Abs(add.KeyFile); err != nil {
				return err
			}
			return o.do(cmd, add, "SA added")
		},
	}
	f := stateAdd.Flags()
	f.StringVar(&nodeName, "node", "", "the gateway (required)")
	f.Var(&add.SPI, "spi", "SPI, 256 to 4294967295, decimal or 0x hex (required)")
	f.StringVar(&src, "src", "", "outer source address (required)")
	f.StringVar(&dst, "dst", "", "outer destination address (required)")
	f.StringVar(&add.Dir, "dir", "", "in or out (required)")
	f.StringVar(&add.KeyFile, "key-file", "", "KEYMAT (key || salt) in hex, mode 0600 (required)")
	f.BoolVar(&add.ESN, "esn", false, "extended sequence numbers (RFC 4304)")
	f.IntVar(&add.ReplayWindow, "replay-window", 64, "anti-replay window of an inbound SA (0 off, 32 to 4096)")
	for _, req := range []string{"node", "spi", "src", "dst", "dir", "key-file"} {
		stateAdd.MarkFlagRequired(req)
	}
	del := &lab.SADeleteOp{}
	stateDel := &cobra.Command{
		Use:     "delete --node GW --spi SPI --dst B",
		Short:   "Delete an SA (ip xfrm state delete)",
		Example: `  secylab ipsec state delete --node onprem-vpngw --spi 0x2001 --dst 172.16.2.1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			del.Node = nodeName
			var err error
			if del.Dst, err = parseAddr("--dst", dst); err != nil {
				return err
			}
			return o.do(cmd, del, "SA deleted")
		},
	}
	f = stateDel.Flags()
	f.StringVar(&nodeName, "node", "", "the gateway (required)")
	f.Var(&del.SPI, "spi", "SPI, 256 to 4294967295, decimal or 0x hex (required)")
	f.StringVar(&dst, "dst", "", "outer destination address (required)")
	for _, req := range []string{"node", "spi", "dst"} {
		stateDel.MarkFlagRequired(req)
	}
	state.AddCommand(stateList, stateAdd, stateDel)

	policy := &cobra.Command{Use: "policy", Short: "IPsec policies (ip xfrm policy)"}
	policyList := &cobra.Command{
		Use:   "list",
		Short: "List the policies of the lab's gateways",
		Example: `  secylab ipsec policy list
  secylab ipsec policy list --node onprem-vpngw --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := tunnels(cmd)
			if err != nil {
				return err
			}
			if asJSON {
				return printStateJSON(cmd.OutOrStdout(), ts)
			}
			for _, t := range ts {
				fmt.Fprintf(cmd.OutOrStdout(), "# tunnel %s, gateway %s\n", t.Tunnel, t.Node)
				ipsec.WritePolicies(cmd.OutOrStdout(), t.Policies)
			}
			return nil
		},
	}
	policyList.Flags().StringVar(&nodeName, "node", "", "only this gateway")
	policyList.Flags().BoolVar(&asJSON, "json", false, "print the tunnels' policies as JSON")
	policy.AddCommand(policyList)

	var rekeyIKE bool
	rekey := &cobra.Command{
		Use:   "rekey TUNNEL [--node GW] [--ike]",
		Short: "Rekey a tunnel: a CREATE_CHILD_SA (IKE tunnels) or fresh manual keys",
		Long: `An IKE-keyed tunnel (one with a sharedKey) is rekeyed by its gateway on --node
(default: the Azure gateway's end) with CREATE_CHILD_SA: a new Child SA with
new SPIs is installed before the old one is deleted (make-before-break), or
with --ike a new IKE SA. It prints the SPIs before and after.

A manually keyed TUNNEL gets fresh ESP keys under the same SPIs: on both
gateways at once (the same keys, a coordinated change: no packet lost), or
with --node on one only, which keeps the old keys on the other: a mismatch,
and every packet between them is dropped. The scenario step is
"ipsecRekey: {tunnel, node, ike}".`,
		Example: `  secylab ipsec rekey s2s0                      # IKE: a Child SA rekey
  secylab ipsec rekey s2s0 --ike --node onprem-vpngw
  secylab ipsec rekey s2s
  secylab ipsec rekey s2s --node azure-vpngw   # manual keys: a key mismatch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			var res *lab.IPsecRekeyResult
			if err := c.DoResult(cmd.Context(), &lab.IPsecRekeyOp{Tunnel: args[0], Node: nodeName, IKE: rekeyIKE}, &res); err != nil {
				return labErr(labName, err)
			}
			if res != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s of %s rekeyed by %s in %.3fs: %s -> %s\n", res.What, res.Tunnel, res.Node, res.Seconds, res.Before, res.After)
				return nil
			}
			where := "both gateways"
			if nodeName != "" {
				where = nodeName + " only: the other keeps the old keys"
			}
			fmt.Fprintln(cmd.OutOrStdout(), "new keys on "+where)
			return nil
		},
	}
	rekey.Flags().StringVar(&nodeName, "node", "", "the gateway that rekeys (IKE: default the Azure end); manual keys: only this gateway (default: both, with the same keys)")
	rekey.Flags().BoolVar(&rekeyIKE, "ike", false, "rekey the IKE SA instead of the Child SA (IKE-keyed tunnels)")

	probe := &cobra.Command{
		Use:     "probe",
		Short:   "Say whether this kernel can run ESP with AES-GCM (xfrm) or secylab uses userspace ESP",
		Example: `  sudo secylab ipsec probe`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			r := xfrm.Probe()
			fmt.Fprintf(cmd.OutOrStdout(), "backend %s: %s\n", r.Backend(), r.Reason)
			return nil
		},
	}
	cmd.AddCommand(state, policy, rekey, probe, newIPsecSAsCmd(o))
	return cmd
}

func parseAddr(flag, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, usagef("%s %q: want an IP address", flag, s)
	}
	return a, nil
}
