package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

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
	status := func() (*lab.LabStatus, error) {
		labName, err := o.target()
		if err != nil {
			return nil, err
		}
		resp, err := lab.Call(o.socket(labName), lab.Request{Cmd: "status"})
		if err != nil {
			return nil, fmt.Errorf("lab %s: %w", labName, err)
		}
		if len(resp.Status.Tunnels) == 0 {
			return nil, fmt.Errorf("lab %s has no IPsec tunnel (try: secylab lab up expressroute-ipsec)", labName)
		}
		return resp.Status, nil
	}
	state := &cobra.Command{Use: "state", Short: "IPsec SAs (ip xfrm state)"}
	stateList := &cobra.Command{
		Use:   "list",
		Short: "List the SAs of the lab's gateways with their counters (ip -s xfrm state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := status()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, t := range st.Tunnels {
				if nodeName != "" && t.Node != nodeName {
					continue
				}
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
	var add lab.SAChange
	var spi string
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
			if nodeName == "" {
				return usagef("--node is required: the gateway to change")
			}
			v, err := strconv.ParseUint(spi, 0, 32)
			if err != nil || v < 256 {
				return usagef("--spi %q: a 32-bit SPI of 256 or more (RFC 4303 2.1), decimal or 0x hex", spi)
			}
			add.SPI = uint32(v)
			if add.KeyFile == "" {
				return usagef("--key-file is required")
			}
			if add.KeyFile, err = filepath.Abs(add.KeyFile); err != nil {
				return err
			}
			return callLab(cmd, o, lab.Request{Cmd: "ipsec-sa", Node: nodeName, SA: &add}, "SA added")
		},
	}
	stateAdd.Flags().StringVar(&nodeName, "node", "", "the gateway")
	stateAdd.Flags().StringVar(&spi, "spi", "", "SPI")
	stateAdd.Flags().StringVar(&add.Src, "src", "", "outer source address")
	stateAdd.Flags().StringVar(&add.Dst, "dst", "", "outer destination address")
	stateAdd.Flags().StringVar(&add.Dir, "dir", "", "in or out")
	stateAdd.Flags().StringVar(&add.KeyFile, "key-file", "", "KEYMAT (key || salt) in hex, mode 0600")
	stateAdd.Flags().BoolVar(&add.ESN, "esn", false, "extended sequence numbers (RFC 4304)")
	stateAdd.Flags().IntVar(&add.ReplayWindow, "replay-window", 64, "anti-replay window of an inbound SA (0 off, 32..4096)")
	var del lab.SAChange
	stateDel := &cobra.Command{
		Use:   "delete --node GW --spi SPI --dst B",
		Short: "Delete an SA (ip xfrm state delete)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := strconv.ParseUint(spi, 0, 32)
			if err != nil {
				return usagef("--spi %q: a 32-bit SPI, decimal or 0x hex", spi)
			}
			if nodeName == "" {
				return usagef("--node is required: the gateway to change")
			}
			del.SPI, del.Delete = uint32(v), true
			return callLab(cmd, o, lab.Request{Cmd: "ipsec-sa", Node: nodeName, SA: &del}, "SA deleted")
		},
	}
	stateDel.Flags().StringVar(&nodeName, "node", "", "the gateway")
	stateDel.Flags().StringVar(&spi, "spi", "", "SPI")
	stateDel.Flags().StringVar(&del.Dst, "dst", "", "outer destination address")
	state.AddCommand(stateList, stateAdd, stateDel)

	policy := &cobra.Command{Use: "policy", Short: "IPsec policies (ip xfrm policy)"}
	policyList := &cobra.Command{
		Use:   "list",
		Short: "List the policies of the lab's gateways",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := status()
			if err != nil {
				return err
			}
			for _, t := range st.Tunnels {
				if nodeName != "" && t.Node != nodeName {
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "# tunnel %s, gateway %s\n", t.Tunnel, t.Node)
				ipsec.WritePolicies(cmd.OutOrStdout(), t.Policies)
			}
			return nil
		},
	}
	policyList.Flags().StringVar(&nodeName, "node", "", "only this gateway")
	policy.AddCommand(policyList)

	rekey := &cobra.Command{
		Use:   "rekey TUNNEL [--node GW]",
		Short: "Give a tunnel fresh keys: both gateways, or one only (a mismatch)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			where := "both gateways"
			if nodeName != "" {
				where = nodeName + " only: the other keeps the old keys"
			}
			return callLab(cmd, o, lab.Request{Cmd: "ipsec-rekey", Link: args[0], Node: nodeName}, "new keys on "+where)
		},
	}
	rekey.Flags().StringVar(&nodeName, "node", "", "only this gateway (default: both, with the same keys)")

	probe := &cobra.Command{
		Use:   "probe",
		Short: "Say whether this kernel can run ESP with AES-GCM (xfrm) or secylab uses userspace ESP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			r := xfrm.Probe()
			fmt.Fprintf(cmd.OutOrStdout(), "backend %s: %s\n", r.Backend(), r.Reason)
			return nil
		},
	}
	cmd.AddCommand(state, policy, rekey, probe)
	return cmd
}

// callLab sends a request to the lab and says done.
func callLab(cmd *cobra.Command, o *labOpts, req lab.Request, done string) error {
	labName, err := o.target()
	if err != nil {
		return err
	}
	if _, err := lab.Call(o.socket(labName), req); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), done)
	return nil
}
