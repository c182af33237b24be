package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
)

func newIPsecSAsCmd(o *labOpts) *cobra.Command {
	var tunnel, node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list-sas [--tunnel T] [--node GW]",
		Aliases: []string{"sas"},
		Short:   "List the IKE SAs and Child SAs of the IKE-keyed gateways (swanctl --list-sas)",
		Long: `List every IKE-keyed gateway's IKE SA and its Child SAs as swanctl --list-sas
does: state, the negotiated proposals, SPIs, how long each SA has been up and
how long until this gateway rekeys it (its lifetime: Azure's 28,800 s for the
IKE SA, the connection's saLifeTimeSeconds or 27,000 s for a Child SA), rekey
counts, traffic counters, and the keys as fingerprints only (SK_d for the IKE
SA, each direction's ESP key for a Child SA): a fingerprint that changes is a
new key. A gateway whose IKE SA failed shows why (the peer's notify, a dead
peer).`,
		Example: `  secylab ipsec list-sas
  secylab ipsec list-sas --tunnel s2s0 --node azure-vpngw
  secylab ipsec list-sas --json | jq '.[].children[].inSPI'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			sas, err := c.IPsecSAs(cmd.Context(), tunnel, node)
			if err != nil {
				return labErr(labName, err)
			}
			if asJSON {
				return printStateJSON(cmd.OutOrStdout(), sas)
			}
			if len(sas) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s has no IKE-keyed gateway (a tunnel with a sharedKey)\n", labName)
				return nil
			}
			for _, s := range sas {
				printIKESA(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tunnel, "tunnel", "", "only this tunnel")
	cmd.Flags().StringVar(&node, "node", "", "only this gateway")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the SAs as JSON")
	return cmd
}

func secs(n int64) string {
	if n < 0 {
		return "never"
	}
	return fmt.Sprintf("%ds", n)
}

// printIKESA writes one gateway's SAs in swanctl --list-sas's layout.
func printIKESA(w io.Writer, s lab.IKETunnelSAs) {
	role := "responder"
	if s.Initiator {
		role = "initiator"
	}
	fmt.Fprintf(w, "%s: %s (gateway %s, peer %s), IKEv2, %s\n", s.Tunnel, s.State, s.Node, s.Peer, role)
	fmt.Fprintf(w, "  local  %s\n  remote %s\n", s.Local, s.Remote)
	if s.State == "ESTABLISHED" {
		fmt.Fprintf(w, "  SPIs %s_i %s_r, NAT-T %v\n", s.SPIi, s.SPIr, s.NAT)
		fmt.Fprintf(w, "  %s\n", s.Proposal)
		fmt.Fprintf(w, "  established %ds ago, rekeying in %s, rekeys %d, SK_d %s\n", s.EstablishedSeconds, secs(s.RekeyInSeconds), s.Rekeys, s.KeyFingerprint)
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "  last failure: %s\n", s.LastError)
	}
	for _, c := range s.Children {
		fmt.Fprintf(w, "  %s: INSTALLED, TUNNEL, ESP in UDP, %s\n", s.Tunnel, c.Proposal)
		fmt.Fprintf(w, "    installed %ds ago, rekeying in %s, rekeys %d\n", c.InstalledSecond, secs(c.RekeyInSeconds), c.Rekeys)
		fmt.Fprintf(w, "    in  %s, %d bytes, %d packets, key %s\n", c.InSPI, c.BytesIn, c.PacketsIn, c.InKey)
		fmt.Fprintf(w, "    out %s, %d bytes, %d packets, key %s\n", c.OutSPI, c.BytesOut, c.PacketsOut, c.OutKey)
		if c.LifetimeKilobytes > 0 {
			fmt.Fprintf(w, "    data: %d of %d KB used (in or out, inner packets), rekeying at %d KB\n",
				max(c.BytesIn, c.BytesOut)/1024, c.LifetimeKilobytes, c.RekeyAtBytes/1024)
		}
		fmt.Fprintf(w, "    local  %s\n    remote %s\n", strings.Join(c.LocalTS, " "), strings.Join(c.RemoteTS, " "))
	}
}
