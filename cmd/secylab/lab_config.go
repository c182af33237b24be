package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/lab/edgeconfig"
)

// secretsWarning is what --show-secrets says on stderr.
const secretsWarning = "warning: --show-secrets: the output holds the link's CKN and CAK; anyone who has them can join the link's MKA. Do not paste it into a ticket or a chat; keep the file 0600 and delete it when done."

func newLabConfigCmd(o *labOpts) *cobra.Command {
	var opts lab.EdgeOptions
	var format, topoFile string
	cmd := &cobra.Command{
		Use:   "config NODE --format FORMAT",
		Short: "Print a customer router's configuration that matches the lab's Microsoft edge (wpa_supplicant, iproute2, FRR, BIRD, Junos, IOS XR, NX-OS, EOS) or Azure VPN gateway (swanctl, libreswan)",
		Long: `Print what the engineer pastes into their change for NODE, a customer router:
the MACsec and MKA settings of each of its links as the Microsoft edge at the
far end runs them now (cipher suite, SCI state, XPN, key server priority,
replay protection and window, MKA timers, the CKN/CAK as a pre-shared key)
and its BGP (AS, router ID, networks, neighbours, hold/keepalive, BFD
` + fmt.Sprintf("%v × %d", expressroute.BFDInterval, expressroute.BFDMultiplier) + ` to AS ` + fmt.Sprint(expressroute.MicrosoftASN) + `). The CKN and CAK are placeholders unless
--show-secrets is given (a warning goes to stderr).

Without --topology it asks the running lab (the values its Microsoft edge
runs now, after any lab macsec change; its MKA timers); with --topology FILE
it reads the topology alone (no root, no lab: the lab's default MKA timers,
secrets only from key files).

For a node that ends IKE-keyed tunnels to the lab's Azure VPN gateway
(kind vpngateway), swanctl and libreswan write the on-premises side: Azure's
proposals (its default policy sets or the connection's ipsecPolicies), IP
address identities as Azure uses, the Child SA's traffic selectors, DPD from
dpdTimeoutSeconds, Azure's lifetimes and who initiates (connectionMode). The
shared key is never printed: --psk-file FILE writes it 0600 and the
configuration includes FILE.

Formats:
` + formatHelp() + fmt.Sprintf(`
The timers are the lab's (MKA hello %v / life %v, BGP hold %v / keepalive %v
by default); production ExpressRoute uses MKA %v / %v and BGP %v / %v.`,
			expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime, expressroute.LabHoldTime, expressroute.LabKeepaliveTime,
			expressroute.MKAHelloTime, expressroute.MKALifeTime, expressroute.HoldTime, expressroute.KeepaliveTime),
		Example: `  secylab lab config ce1 --format wpa_supplicant > ce1.conf
  secylab lab config ce1 --format iproute2
  secylab lab config ce1 --format junos --interface et-0/0/0
  secylab lab config ce1 --format frr --topology my-lab.yaml
  secylab lab config onprem-vpngw --format swanctl --psk-file /etc/swanctl/azure.secrets > /etc/swanctl/conf.d/azure.conf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Node = args[0]
			if format == "" {
				return usagef("give --format: one of %s", strings.Join(edgeconfig.Names(), ", "))
			}
			if _, err := edgeconfig.Lookup(format); err != nil {
				return &usageError{fmt.Errorf("--format: %w", err)}
			}
			f, _ := edgeconfig.Lookup(format)
			if opts.PSKFile != "" {
				if f.Secrets == nil {
					return usagef("--psk-file: --format %s carries no shared key (the IPsec formats do: swanctl, libreswan)", format)
				}
				abs, err := filepath.Abs(opts.PSKFile)
				if err != nil {
					return err
				}
				opts.PSKFile = abs
			}
			n, err := edgeNode(cmd, o, opts, topoFile)
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := edgeconfig.Render(&out, format, n); err != nil {
				var na *edgeconfig.NotApplicableError
				if errors.As(err, &na) {
					return &usageError{err}
				}
				return err
			}
			if opts.PSKFile != "" {
				// The key goes to its 0600 file, which the configuration includes; never to the output.
				err := secret.WriteFile(opts.PSKFile, func(w io.Writer) error { return f.Secrets(w, n) })
				for i := range n.Tunnels {
					n.Tunnels[i].PSK = ""
				}
				if err != nil {
					return fmt.Errorf("--psk-file: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "the shared keys are in %s (0600), which the configuration includes\n", opts.PSKFile)
			}
			if _, err := cmd.OutOrStdout().Write(out.Bytes()); err != nil {
				return err
			}
			if opts.Secrets {
				fmt.Fprintln(cmd.ErrOrStderr(), secretsWarning)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "the output `FORMAT`: "+strings.Join(edgeconfig.Names(), ", "))
	cmd.Flags().StringVar(&opts.Link, "link", "", "export only this `LINK` of the node")
	cmd.Flags().StringVar(&opts.Interface, "interface", "", "the link's interface `NAME` on your router (default: the lab's port name; needs a single link)")
	cmd.Flags().BoolVar(&opts.Secrets, "show-secrets", false, "print the CKN and CAK values instead of placeholders (warns on stderr)")
	cmd.Flags().StringVar(&opts.PSKFile, "psk-file", "", "swanctl, libreswan: write the tunnels' shared keys to this `FILE` (0600), which the configuration includes; without it the key is a placeholder")
	cmd.Flags().StringVar(&topoFile, "topology", "", "describe NODE of this topology `FILE` (or built-in) instead of the running lab")
	return cmd
}

// formatHelp lists the formats for --help.
func formatHelp() string {
	var b strings.Builder
	for _, f := range edgeconfig.Formats() {
		doc := ""
		if f.Documented {
			doc = " (checked against documentation only)"
		}
		fmt.Fprintf(&b, "  %-15s %s%s\n", f.Name, f.Summary, doc)
	}
	return b.String()
}

// edgeNode describes the node: from the running lab, or from a topology.
func edgeNode(cmd *cobra.Command, o *labOpts, opts lab.EdgeOptions, topoFile string) (*edgeconfig.Node, error) {
	if topoFile != "" {
		t, err := loadTopology(topoFile)
		if err != nil {
			return nil, &usageError{err}
		}
		n, err := lab.EdgeConfig(t, opts, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
		if err != nil {
			return nil, usagef("%s: %v", topoFile, err)
		}
		return n, nil
	}
	c, labName, err := o.client()
	if err != nil {
		return nil, err
	}
	n := &edgeconfig.Node{}
	if err := c.DoResult(cmd.Context(), &lab.ConfigOp{EdgeOptions: opts}, n); err != nil {
		return nil, labErr(labName, err)
	}
	return n, nil
}
