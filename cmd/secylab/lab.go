package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// labOpts are the flags every lab command shares.
type labOpts struct {
	stateDir string
	labName  string
}

func (o *labOpts) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&o.stateDir, "state-dir", topology.StateDir(""), "where labs keep their state (env "+topology.StateDirEnv+")")
	cmd.PersistentFlags().StringVarP(&o.labName, "lab", "l", "", "the lab to act on (default: the only one running)")
}

func (o *labOpts) socket(labName string) string { return lab.SocketPath(o.stateDir, labName) }

// labs lists the labs that have state.
func (o *labOpts) labs() ([]string, error) {
	st, err := topology.List(o.stateDir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(st))
	for i, l := range st {
		names[i] = l.Lab
	}
	return names, nil
}

// target picks the lab a command acts on: --lab, or the only one.
func (o *labOpts) target() (string, error) {
	if o.labName != "" {
		if _, err := lab.Dial(o.stateDir, o.labName); err != nil {
			return "", &usageError{fmt.Errorf("--lab %s: %w", o.labName, err)}
		}
		return o.labName, nil
	}
	labs, err := o.labs()
	if err != nil {
		return "", err
	}
	switch len(labs) {
	case 0:
		return "", errors.New("no lab is running (start one with: secylab lab up)")
	case 1:
		return labs[0], nil
	}
	return "", usagef("several labs are running (%s): choose one with --lab", strings.Join(labs, ", "))
}

func needRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("secylab lab needs root (CAP_NET_ADMIN) to create namespaces, veth and TAP devices; run it with sudo")
	}
	return nil
}

func newLabCmd() *cobra.Command {
	o := &labOpts{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build and run a lab of network namespaces with userspace MACsec links",
		Long: `A lab is a set of Linux network namespaces (sl-<lab>.<node>) joined by veth
pairs. On links of ExpressRoute Direct ports the frames pass through
secylab's userspace MACsec SecY, keyed by MKA with a static CAK, between the
node's TAP (its controlled port, where its IP stack lives) and the veth (the
wire). Without arguments, 'lab up' starts the built-in topology
expressroute-direct. Lab commands need root.`,
		Example: `  secylab lab up && secylab lab status && secylab lab down
  secylab lab run --all --junit results.xml`,
	}
	o.register(cmd)
	cmd.AddCommand(newLabUpCmd(o), newLabDownCmd(o), newLabStatusCmd(o),
		newLabExecCmd(o), newLabCaptureCmd(o), newLabLinkCmd(o), newLabRouteCmd(o), newLabMACsecCmd(o),
		newLabRunCmd(o), newLabScenariosCmd(), newLabBGPCmd(o), newLabKeysCmd(o), newLabConfigCmd(o), newLabExportCmd())
	return cmd
}

// loadTopology reads FILE, or a built-in when the argument is empty or
// names one.
func loadTopology(arg string) (*topology.Topology, error) { return loadHalf(arg, "") }

// loadHalf is loadTopology for the half of a multi-host lab on host
// ("": all of it).
func loadHalf(arg, host string) (*topology.Topology, error) {
	if host != "" {
		return topology.LoadHost(arg, host)
	}
	if arg == "" {
		arg = "expressroute-direct"
	}
	if name, ok := strings.CutPrefix(arg, "builtin:"); ok {
		return topology.Builtin(name)
	}
	if _, err := os.Stat(arg); errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(arg, "/.") {
		return topology.Builtin(arg)
	}
	return topology.Load(arg)
}

// waitRange bounds lab up's --wait.
var waitRange = value.Range{Max: time.Hour}

func newLabUpCmd(o *labOpts) *cobra.Command {
	var name string
	var wait time.Duration
	var hello, life time.Duration
	var ipsecBackend string
	var withAzure bool
	var host string
	var ctl controlFlags
	cmd := &cobra.Command{
		Use:   "up [FILE | BUILTIN]",
		Short: "Create a lab's namespaces and links and start its data plane",
		Long: `Create the namespaces and veth pairs of a topology, start the lab process that
runs its userspace MACsec ports, MKA, BGP and IPsec gateways, and wait until
every MACsec link is secured and every BGP session Established (or --wait
passes: then it warns and leaves the lab up). FILE is a topology in YAML;
without it the built-in expressroute-direct topology runs. Each IPsec tunnel
runs on its own backend (the topology's backend:), unless --ipsec-backend
forces one on all. The lab keeps running in the background; stop it with
'secylab lab down'. It ends with a table of the nodes, their namespaces,
ports and addresses.`,
		Example: `  secylab lab up                       # the built-in ExpressRoute Direct lab
  secylab lab up mylab.yaml --name t1  # a topology file under another name
  secylab lab up two-hosts.yaml --host ms  # this host's half of a multi-host lab
  secylab lab up two-hosts.yaml --host ms --control-key /etc/secylab/ctl.key  # driven by lab run on the other host
  secylab lab up --ipsec-backend userspace --wait 1m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := ""
			if len(args) == 1 {
				src = args[0]
			}
			if cmd.Flags().Changed("name") && name == "" {
				return usagef("--name \"\": a lab needs a name (%v)", topology.CheckLabName(""))
			}
			if life <= hello {
				return usagef("--mka-life %v: must exceed the hello time %v", life, hello)
			}
			if host != "" && src == "" {
				return usagef("--host %s: name the topology file whose hosts block lists it", host)
			}
			topo, err := loadHalf(src, host)
			if err != nil {
				return &usageError{err}
			}
			if name != "" {
				if err := topo.Rename(name); err != nil {
					return &usageError{err}
				}
			}
			if err := setIPsecBackend(topo, ipsecBackend); err != nil {
				return err
			}
			control, err := ctl.spec(topo, host, true)
			if err != nil {
				return err
			}
			if withAzure && topo.Azure == nil {
				if topo.Azure, err = topology.DefaultAzure(topo); err != nil {
					return &usageError{fmt.Errorf("--azure: %w", err)}
				}
			}
			if err := needRoot(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "creating lab %s (%d nodes, %d links) ...\n", topo.Name, len(topo.Nodes), len(topo.Links))
			for _, w := range topo.Warnings {
				fmt.Fprintf(out, "warning: %s\n", w)
			}
			if control != nil {
				fmt.Fprintf(out, "remote control endpoint on %s (TLS, control key %s): secylab lab run SCENARIO --topology %s --host OTHER --control-key FILE on the other host drives this half\n", control.Listen, ctl.fingerprint, src)
			}
			c, err := lab.Up(cmd.Context(), lab.Spec{Topology: topo, HelloTime: hello, LifeTime: life, Control: control},
				lab.UpOptions{StateDir: o.stateDir, Wait: wait, Log: out})
			if err != nil {
				return err
			}
			st, err := c.Status()
			if err != nil {
				return err
			}
			printLabTable(out, topo, st)
			if topo.Azure != nil && st.Azure != nil {
				fmt.Fprintf(out, "Azure emulator: port %s in resource group %s, vault %s; proxy %s, CA %s\n  eval \"$(secylab azure env --lab %s)\" aims az and the SDKs at it\n",
					topo.Azure.Port, topo.Azure.ResourceGroup, topo.Azure.Vault, st.Azure.Proxy, st.Azure.CACert, topo.Name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&withAzure, "azure", false, "run an emulation of Azure's control plane (ARM expressRoutePorts, Key Vault, a token endpoint) that drives the Microsoft edge; a topology's azure: block does too (secylab azure --help)")
	cmd.Flags().StringVar(&name, "name", "", "run the topology under this lab name (several labs can run side by side)")
	cmd.Flags().StringVar(&host, "host", "", "run the half of a multi-host topology that its hosts block gives this host: its nodes, and its links to the other hosts over VXLAN (README: labs over two hosts)")
	ctl.add(cmd, "with --host: also answer lab run on the other hosts over TCP on this host's underlay address (TLS, both sides authenticated by this key; generate:NAME keys are derived from it)")
	wait, hello, life = 30*time.Second, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime
	cmd.Flags().Var(value.DurationFlag{P: &wait, Range: waitRange}, "wait", "how long to wait for MKA to secure every MACsec link and BGP to come up, "+waitRange.String()+" (0: do not wait)")
	cmd.Flags().Var(value.DurationFlag{P: &hello, Range: lab.HelloRange}, "mka-hello", "MKA hello time in the lab, "+lab.HelloRange.String()+" (production: "+expressroute.MKAHelloTime.String()+")")
	cmd.Flags().Var(value.DurationFlag{P: &life, Range: lab.LifeRange}, "mka-life", "MKA life time in the lab, "+lab.LifeRange.String()+", more than the hello time (production: "+expressroute.MKALifeTime.String()+")")
	cmd.Flags().StringVar(&ipsecBackend, "ipsec-backend", "", "run every IPsec tunnel on this backend: kernel (xfrm; fails when the kernel lacks ESP or GCM), userspace, or auto (probe); default: each tunnel's own")
	return cmd
}

// setIPsecBackend forces the backend of every tunnel ("" keeps each
// tunnel's own).
func setIPsecBackend(topo *topology.Topology, backend string) error {
	switch backend {
	case "":
		return nil
	case "auto", "kernel", "userspace":
	default:
		return usagef("--ipsec-backend %q: want kernel, userspace or auto", backend)
	}
	for _, tu := range topo.Tunnels {
		tu.Backend = backend
	}
	return nil
}

// printLabTable shows the lab's nodes, namespaces, ports and addresses, as
// containerlab's deploy does.
func printLabTable(w io.Writer, topo *topology.Topology, st *lab.LabStatus) {
	running := map[string]lab.PortStatus{}
	for _, p := range st.Ports {
		running[p.Node+":"+p.Name] = p
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tNAMESPACE\tPORT\tLINK\tMACSEC\tADDRESSES")
	for _, n := range topo.Nodes {
		ns := topology.NamespaceName(topo.Name, n.Name)
		if n.External() {
			ns = "(external)"
		}
		for i, p := range n.Ports {
			node, kind, nsName := n.Name, string(n.Kind), ns
			if i > 0 {
				node, kind, nsName = "", "", ""
			}
			ms := "-"
			if rp, ok := running[n.Name+":"+p.Name]; ok {
				ms = macsecState(rp)
			}
			var addrs []string
			for _, a := range p.Addresses {
				addrs = append(addrs, a.String())
			}
			for _, v := range p.VLANs {
				for _, a := range v.Addresses {
					addrs = append(addrs, v.Name+" "+a.String())
				}
			}
			port := p.Name
			if p.Interface != "" {
				port += " (host " + p.Interface + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", node, kind, nsName, port, p.Link, ms, strings.Join(addrs, " "))
		}
	}
	tw.Flush()
	for _, t := range st.Tunnels {
		fmt.Fprintf(w, "tunnel %s at %s: %s ESP (%s)\n", t.Tunnel, t.Node, t.Backend, t.Reason)
	}
}

func newLabDownCmd(o *labOpts) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down [NAME | --all]",
		Short: "Stop a lab and remove everything it made",
		Long: `Stop the lab process and remove exactly what the lab made, as its state file
records: processes, namespaces (their veth pairs and TAP devices go with
them), keys and the state itself. It works after the lab process was killed,
after a half-finished up and on the lab of a killed lab run; secylab lab
status says what it will remove. Nothing a lab did not record is touched.`,
		Example: `  secylab lab down          # the only lab
  secylab lab down t1
  secylab lab down --all`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			var labs []string
			switch {
			case all && len(args) > 0:
				return usagef("give a lab name or --all, not both")
			case all:
				var err error
				if labs, err = o.labs(); err != nil {
					return err
				}
			case len(args) == 1:
				if _, err := lab.Dial(o.stateDir, args[0]); err != nil {
					return &usageError{err}
				}
				labs = args
			default:
				labName, err := o.target()
				if err != nil {
					return err
				}
				labs = []string{labName}
			}
			var errs []error
			for _, labName := range labs {
				if err := lab.Down(o.stateDir, labName); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s removed\n", labName)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every lab in the state directory")
	return cmd
}
