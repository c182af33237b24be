package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/azure"
	"github.com/secylab/secylab/lab"
)

func newAzureCmd() *cobra.Command {
	o := &labOpts{}
	cmd := &cobra.Command{
		Use:   "azure",
		Short: "Aim Azure's clients (azure-cli, the SDKs, your scripts) at a lab's Azure emulator",
		Long: `A lab started with --azure (or with an azure: block in its topology) runs an
emulation of Azure's control plane: ARM's Microsoft.Network/expressRoutePorts
(the lab's port, its links, its user-assigned identity), a Key Vault with the
links' CKN and CAK secrets, and a token endpoint for a service principal the
lab generates. A PUT of the port that changes a link's macSecConfig re-keys the
lab's Microsoft edge with the named secret versions; adminState Disabled takes
the link down there. The emulator is an HTTPS proxy on a loopback address with
a CA of its own; 'secylab azure env' prints what a shell needs.`,
	}
	o.register(cmd)
	cmd.AddCommand(newAzureEnvCmd(o))
	return cmd
}

func newAzureEnvCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print the environment and the az commands that aim a shell at the lab's Azure emulator",
		Long: `Print, as shell lines to eval, the environment that aims azure-cli, Azure's
SDKs and Terraform at the lab's emulator: HTTPS_PROXY (every Azure host of the
lab's cloud is reached through it; any other host is refused), the CA bundle
(REQUESTS_CA_BUNDLE, SSL_CERT_FILE), an azure-cli config directory of the lab's
own, and the service principal (its secret read from a 0600 file, never
printed). Then, as comments, the az commands that register the cloud and log
in, and the lab's subscription, resource group, port and vault.`,
		Example: `  eval "$(secylab azure env)"
  az cloud register ...   # as printed
  az network express-route port link show -g secylab --port-name er-direct -n link1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := o.target()
			if err != nil {
				return err
			}
			c, err := lab.ReadAzureCloud(o.stateDir, name)
			if err != nil {
				return err
			}
			env, err := lab.AzureEnv(o.stateDir, name)
			if err != nil {
				return err
			}
			printAzureEnv(cmd.OutOrStdout(), o.stateDir, name, c, env)
			return nil
		},
	}
}

func printAzureEnv(out io.Writer, stateDir, name string, c azure.Cloud, env map[string]string) {
	secretFile := filepath.Join(lab.AzureDir(stateDir, name), lab.AzureSecretFile)
	delete(env, "AZURE_CLIENT_SECRET") // read from its file, never printed
	fmt.Fprintf(out, "# lab %s: Azure emulator (cloud %s, through the proxy %s)\n", name, c.Name, c.Proxy)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "export %s=%s\n", k, shellQuote(env[k]))
	}
	fmt.Fprintf(out, "export AZURE_CLIENT_SECRET=\"$(cat %s)\"\n", shellQuote(secretFile))
	c.ClientSecret = "$(cat " + shellQuote(secretFile) + ")"
	fmt.Fprintln(out, "# then, once per shell's AZURE_CONFIG_DIR:")
	for _, args := range azure.Login(c) {
		fmt.Fprintf(out, "#   az %s\n", azArgs(args))
	}
	fmt.Fprintf(out, "# subscription %s, resource group %s, port %s, vault %s\n", c.Subscription, c.ResourceGroup, c.Port, c.Vault)
	fmt.Fprintln(out, "# a new secret version (Debian's az 2.45 cannot run 'az keyvault secret set': it lacks the legacy Key Vault SDK):")
	fmt.Fprintf(out, "#   az %s\n", azArgs(azure.SecretSet(c, c.Vault, "NAME", "HEX")))
}

// azArgs quotes az's arguments for a shell, leaving $(cat FILE) to it.
func azArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "$(cat ") {
			q[i] = `"` + a + `"`
		} else {
			q[i] = shellQuote(a)
		}
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printAzure shows, for a lab with an Azure emulator, each of the port's
// links as Azure shows it beside what each end of the lab's link runs.
func printAzure(out io.Writer, in lab.Info) {
	a := in.Azure
	if a == nil || len(a.Ports) == 0 {
		return
	}
	for _, p := range a.Ports {
		fmt.Fprintf(out, "Azure port %s: %d Gbps, %s, identity %s (proxy %s, CA %s)\n", p.Name, p.BandwidthInGbps, p.ProvisioningState, lastSegment(p.Identity), a.Proxy, a.CACert)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AZURE LINK\tLINK\tADMINSTATE\tCIPHER\tSCISTATE\tCKN SECRET\tCAK SECRET\tMICROSOFT EDGE\tCUSTOMER")
	for _, al := range a.Links {
		var lv azure.LinkView
		for _, l := range a.Ports[0].Links {
			if l.Name == al.AzureLink {
				lv = l
			}
		}
		var edge, cust string
		for _, p := range in.Ports {
			if p.Link != al.Link {
				continue
			}
			s := fmt.Sprintf("%s:%s %s %s", p.Node, p.Port, p.MACsec, p.MKA)
			if p.Node == al.Edge {
				edge = s
			} else {
				cust = s
			}
		}
		m := lv.MacSecConfig
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", al.AzureLink, al.Link, lv.AdminState, m.Cipher, m.SCIState,
			orDash(shortSecret(m.CKNSecretIdentifier)), orDash(shortSecret(m.CAKSecretIdentifier)), edge, cust)
	}
	tw.Flush()
}

// shortSecret shows a secret identifier as vault/name/version.
func shortSecret(id string) string {
	s := strings.TrimPrefix(id, "https://")
	if host, rest, ok := strings.Cut(s, "/secrets/"); ok {
		v, _, _ := strings.Cut(host, ".")
		return v + "/" + rest
	}
	return id
}

func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
