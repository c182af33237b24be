package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

func newLabStatusCmd(o *labOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the labs, the state of their ports, or what is wrong with them",
		Long: `List the labs in the state directory. A running lab shows its ports (MACsec,
MKA, key server, counters, impairments), BGP sessions and IPsec tunnels, also
while a lab run uses it. A lab that is not running says what is wrong (its
lab process has ended or is a zombie, namespaces are missing, the lab run that
owned it was killed) and what 'secylab lab down NAME' will remove. Exit
status 1 when a lab is broken.`,
		Example: `  secylab lab status
  secylab lab status --lab t1 --json | jq '.[0].ports'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos, err := lab.List(o.stateDir, o.labName)
			if err != nil {
				return err
			}
			if o.labName != "" && len(infos) == 0 {
				return usagef("--lab %s: no such lab in %s", o.labName, o.stateDir)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if infos == nil {
					infos = []lab.Info{}
				}
				if err := printStateJSON(out, infos); err != nil {
					return err
				}
			} else {
				printStatus(out, infos)
			}
			var broken []string
			for _, in := range infos {
				if in.State == "broken" {
					broken = append(broken, in.Name)
				}
			}
			if len(broken) > 0 {
				return fmt.Errorf("broken: %s (see above; remove with secylab lab down NAME)", strings.Join(broken, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (camelCase keys)")
	return cmd
}

func printStatus(out io.Writer, infos []lab.Info) {
	if len(infos) == 0 {
		fmt.Fprintln(out, "no labs (start one with: secylab lab up)")
		return
	}
	for _, in := range infos {
		owner := ""
		if in.Owner != "" {
			owner = ", owned by " + in.Owner
		}
		if in.State != "running" {
			fmt.Fprintf(out, "lab %s: %s%s\n", in.Name, in.State, owner)
			for _, p := range in.Problems {
				fmt.Fprintf(out, "  - %s\n", p)
			}
			fmt.Fprintf(out, "  secylab lab down %s will remove:\n", in.Name)
			for _, d := range in.Down {
				fmt.Fprintf(out, "    %s\n", d)
			}
			continue
		}
		fmt.Fprintf(out, "lab %s: running, pid %d, up %v%s\n", in.Name, in.PID, time.Since(*in.Started).Round(time.Second), owner)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PORT\tMACSEC\tMKA\tKEY SERVER\tTX\tRX\tRX DROPPED\tIMPAIRMENT")
		for _, p := range in.Ports {
			fmt.Fprintf(tw, "%s:%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", p.Node, p.Port, p.MACsec, p.MKA, p.KeyServer,
				p.TxFrames, p.RxFrames, p.RxDropped, p.Impairment)
		}
		tw.Flush()
		for _, p := range in.Ports {
			if p.VXLAN != "" {
				fmt.Fprintf(out, "%s:%s: link %s over VXLAN (%s); the far half %s\n", p.Node, p.Port, p.Link, p.VXLAN, p.FarHalf)
				continue
			}
			if p.External != "" {
				fmt.Fprintf(out, "%s:%s: link %s runs on host interface %s to %s, outside the lab%s\n", p.Node, p.Port, p.Link, p.External, p.Device, placement(p.Device))
			}
		}
		printBGPSessions(out, in.Status.BGP)
		for _, t := range in.Tunnels {
			fmt.Fprintf(out, "tunnel %s at %s: %s ESP, %d SAs, %d packets\n", t.Tunnel, t.Node, t.Backend, t.SAs, t.Packets)
		}
		printAzure(out, in)
	}
}

func macsecState(p lab.PortStatus) string {
	if !p.MACsec {
		return "off"
	}
	return p.Suite.AzureName()
}

func newLabExecCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NODE [-- COMMAND [ARG...]]",
		Short: "Run a command, or an interactive shell, in a node's network namespace",
		Long: `Run COMMAND in the network namespace of NODE, with this terminal; its exit
status is exec's. Without a command, open an interactive shell there ($SHELL,
else /bin/sh); leave it with exit. On a bird or frr node the daemon's own CLI
(birdc, vtysh) finds the daemon at its default path.`,
		Example: `  secylab lab exec ce1 -- ping -c 3 192.168.100.130
  secylab lab exec onprem-host -- ip route
  secylab lab exec ce1 -- vtysh -c 'show bgp summary'   # an frr node
  secylab lab exec msee1                  # a shell in msee1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			labName, err := o.target()
			if err != nil {
				return err
			}
			if err := topology.CheckName(args[0], topology.MaxNodeName); err != nil {
				return usagef("node %v", err)
			}
			ns := topology.NamespaceName(labName, args[0])
			if external(o, labName, args[0]) {
				return usagef("node %s of lab %s is external: the lab does not run it (reach it on its own console)", args[0], labName)
			}
			if _, err := os.Stat(topology.NamespacePath(labName, args[0])); err != nil {
				return usagef("lab %s has no node %q", labName, args[0])
			}
			command := args[1:]
			if len(command) == 0 {
				sh := os.Getenv("SHELL")
				if sh == "" {
					sh = "/bin/sh"
				}
				command = []string{sh}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s in %s (lab %s, node %s); exit to leave\n", sh, ns, labName, args[0])
			}
			command = daemonCLI(o, labName, args[0], command)
			c := exec.Command("ip", append([]string{"netns", "exec", ns}, command...)...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return exitCode(ee.ExitCode())
			}
			return err
		},
	}
}

// placement says why a linux node runs outside the lab, and what keys its
// kernel's macsec.
func placement(device string) string {
	kay, ok := strings.CutPrefix(device[strings.LastIndex(device, "(")+1:], "kind "+string(topology.KindLinux)+", KaY ")
	if !ok {
		return ""
	}
	what := "wpa_supplicant"
	if strings.TrimSuffix(kay, ")") == string(topology.LinuxKernelKaY) {
		what = "secylab's KaY (secylab mka run --kernel)"
	}
	return " (kernel macsec keyed by " + what + ", run where a kernel has macsec, such as the conformance VM: the lab does not run it in its namespaces)"
}

// external reports whether node is a device the lab does not run.
func external(o *labOpts, labName, node string) bool {
	spec, err := lab.ReadSpec(topology.LabDir(o.stateDir, labName))
	if err != nil {
		return false
	}
	n := spec.Topology.Node(node)
	return n != nil && n.External()
}

// daemonCLI lets vtysh and birdc on a frr or bird node, swanctl on a
// strongswan node, reach its daemon (lab.LabStatus.ExecArgv); other
// commands and nodes run as they are.
func daemonCLI(o *labOpts, labName, node string, command []string) []string {
	c := &lab.Client{Lab: labName, Socket: o.socket(labName)}
	st, err := c.Status()
	if err != nil {
		return command
	}
	return st.ExecArgv(node, command)
}
