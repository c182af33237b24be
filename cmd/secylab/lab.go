package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// labOpts are the flags every lab command shares.
type labOpts struct {
	stateDir string
	labName  string
}

func (o *labOpts) register(cmd *cobra.Command) {
	def := os.Getenv("SECYLAB_STATE_DIR")
	if def == "" {
		def = "/run/secylab"
	}
	cmd.PersistentFlags().StringVar(&o.stateDir, "state-dir", def, "where labs keep their state (env SECYLAB_STATE_DIR)")
	cmd.PersistentFlags().StringVarP(&o.labName, "lab", "l", "", "the lab to act on (default: the only one running)")
}

func (o *labOpts) dir(labName string) string { return filepath.Join(o.stateDir, labName) }
func (o *labOpts) socket(labName string) string {
	return filepath.Join(o.dir(labName), "ctl.sock")
}

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
		if _, err := os.Stat(o.dir(o.labName)); err != nil {
			return "", usagef("--lab %s: no such lab in %s (see secylab lab status)", o.labName, o.stateDir)
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
		Long: `A lab is a set of Linux network namespaces (sl-<lab>-<node>) joined by veth
pairs. On links of ExpressRoute Direct ports the frames pass through
secylab's userspace MACsec SecY, keyed by MKA with a static CAK, between the
node's TAP (its controlled port, where its IP stack lives) and the veth (the
wire). Without arguments, 'lab up' starts the built-in topology
expressroute-direct. Lab commands need root.`,
	}
	o.register(cmd)
	cmd.AddCommand(newLabUpCmd(o), newLabDownCmd(o), newLabStatusCmd(o), newLabServeCmd(o),
		newLabExecCmd(o), newLabCaptureCmd(o), newLabLinkCmd(o), newLabMACsecCmd(o),
		newLabRunCmd(o), newLabScenariosCmd(), newLabBGPCmd(o))
	return cmd
}

// loadTopology reads FILE, or a built-in when the argument is empty or
// names one.
func loadTopology(arg string) (*topology.Topology, error) {
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

func newLabUpCmd(o *labOpts) *cobra.Command {
	var name string
	var wait time.Duration
	var hello, life time.Duration
	var ipsecBackend string
	cmd := &cobra.Command{
		Use:   "up [FILE | BUILTIN]",
		Short: "Create a lab's namespaces and links and start its data plane",
		Long: `Create the namespaces and veth pairs of a topology, start the lab process that
runs its userspace MACsec ports and MKA, and wait until every MACsec link is
secured (or --wait passes). FILE is a topology in YAML; without it the
built-in expressroute-direct topology runs. The lab keeps running in the
background; stop it with 'secylab lab down'.`,
		Example: `  secylab lab up                       # the built-in ExpressRoute Direct lab
  secylab lab up mylab.yaml --name t1  # a topology file under another name`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := ""
			if len(args) == 1 {
				src = args[0]
			}
			topo, err := loadTopology(src)
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
			if err := needRoot(); err != nil {
				return err
			}
			return labUp(cmd.Context(), cmd.OutOrStdout(), o, topo, src, wait, hello, life)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "run the topology under this lab name (several labs can run side by side)")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for MKA to secure every MACsec link (0: do not wait)")
	cmd.Flags().DurationVar(&hello, "mka-hello", expressroute.LabMKAHelloTime, "MKA hello time in the lab (production: "+expressroute.MKAHelloTime.String()+")")
	cmd.Flags().DurationVar(&life, "mka-life", expressroute.LabMKALifeTime, "MKA life time in the lab (production: "+expressroute.MKALifeTime.String()+")")
	cmd.Flags().StringVar(&ipsecBackend, "ipsec-backend", "", "run every IPsec tunnel on this backend: kernel (xfrm; fails when the kernel lacks ESP or GCM), userspace, or auto (probe)")
	return cmd
}

// setIPsecBackend forces the backend of every tunnel ("" keeps the
// topology's).
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

func labUp(ctx context.Context, out io.Writer, o *labOpts, topo *topology.Topology, src string, wait, hello, life time.Duration) (err error) {
	labName := topo.Name
	if _, err := os.Stat(o.dir(labName)); err == nil {
		return fmt.Errorf("lab %q exists: run secylab lab down %s", labName, labName)
	}
	fmt.Fprintf(out, "creating lab %s (%d nodes, %d links) ...\n", labName, len(topo.Nodes), len(topo.Links))
	for _, w := range topo.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	if err := topology.Create(ctx, topo, o.stateDir); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(out, "lab %s failed; removing what was made\n", labName)
			labDestroy(o, labName)
		}
	}()
	if src == "" {
		src = "builtin:expressroute-direct"
	} else if !strings.HasPrefix(src, "builtin:") {
		if _, serr := os.Stat(src); serr == nil {
			src, _ = filepath.Abs(src)
		} else {
			src = "builtin:" + src
		}
	}
	logPath := filepath.Join(o.dir(labName), "lab.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"lab", "serve", "--state-dir", o.stateDir, "--lab", labName,
		"--topology", src, "--mka-hello", hello.String(), "--mka-life", life.String()}
	if len(topo.Tunnels) > 0 {
		args = append(args, "--ipsec-backend", topo.Tunnels[0].Backend)
	}
	proc := exec.Command(self, args...)
	proc.Stdout, proc.Stderr = logf, logf
	proc.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := proc.Start(); err != nil {
		return fmt.Errorf("start the lab process: %w", err)
	}
	if err := topology.RecordProcess(o.stateDir, labName, "lab", proc.Process.Pid); err != nil {
		proc.Process.Kill()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()

	// Ready when the control socket answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := lab.Call(o.socket(labName), lab.Request{Cmd: "status"}); err == nil {
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("the lab process stopped (%v):\n%s", err, lastLines(string(log), 15))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("the lab process did not answer within 20s:\n%s", lastLines(string(log), 15))
		}
	}
	proc.Process.Release()
	fmt.Fprintf(out, "lab %s is up: namespaces %s*, log %s\n", labName, topology.NamespaceName(labName, ""), logPath)
	if wait > 0 {
		return waitSecured(out, o, labName, wait)
	}
	return nil
}

// waitSecured waits until every MACsec port's MKA has secured its link.
func waitSecured(out io.Writer, o *labOpts, labName string, wait time.Duration) error {
	start := time.Now()
	for {
		resp, err := lab.Call(o.socket(labName), lab.Request{Cmd: "status"})
		if err != nil {
			return err
		}
		var pending []string
		for _, p := range resp.Status.Ports {
			if p.MACsec && (p.MKA == nil || !p.MKA.Secured) {
				pending = append(pending, p.Node+":"+p.Name)
			}
		}
		if len(pending) == 0 {
			fmt.Fprintf(out, "MKA secured every MACsec link in %v\n", time.Since(start).Round(10*time.Millisecond))
			return waitBGP(out, o, labName, start, wait)
		}
		if time.Since(start) > wait {
			fmt.Fprintf(out, "warning: MKA has not secured %s after %v (see secylab lab macsec)\n", strings.Join(pending, ", "), wait)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func newLabServeCmd(o *labOpts) *cobra.Command {
	var src, ipsecBackend string
	var hello, life time.Duration
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run a lab's data plane (started by lab up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			topo, err := loadTopology(src)
			if err != nil {
				return err
			}
			if err := topo.Rename(o.labName); err != nil {
				return err
			}
			if err := setIPsecBackend(topo, ipsecBackend); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			l, err := lab.StartLab(ctx, lab.LabConfig{
				Topology: topo, KeyDir: filepath.Join(o.dir(o.labName), "keys"),
				HelloTime: hello, LifeTime: life, Logger: logger,
				ConfigurePort: func(ctx context.Context, n, p string) error {
					return topology.ConfigureControlledPort(ctx, topo, n, p)
				},
				RecordProcess: func(name string, pid int) error {
					return topology.RecordProcess(o.stateDir, o.labName, name, pid)
				},
			})
			if err != nil {
				return err
			}
			logger.Info("lab running", "lab", o.labName, "pid", os.Getpid())
			serr := lab.Serve(ctx, l, o.socket(o.labName))
			stop()
			return errors.Join(serr, l.Wait())
		},
	}
	cmd.Flags().StringVar(&src, "topology", "", "topology file or builtin:NAME")
	cmd.Flags().DurationVar(&hello, "mka-hello", 0, "MKA hello time")
	cmd.Flags().DurationVar(&life, "mka-life", 0, "MKA life time")
	cmd.Flags().StringVar(&ipsecBackend, "ipsec-backend", "", "IPsec backend of every tunnel")
	return cmd
}

func newLabDownCmd(o *labOpts) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down [NAME | --all]",
		Short: "Stop a lab and remove everything it made",
		Long: `Stop the lab process and remove exactly what the lab made, as its state file
records: namespaces, veth pairs, TAP devices, keys and the state itself. It
works after the lab process was killed and after a half-finished up.`,
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
				if _, err := os.Stat(o.dir(args[0])); err != nil {
					return usagef("no lab %q in %s (see secylab lab status)", args[0], o.stateDir)
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
				if err := labDestroy(o, labName); err != nil {
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

// labDestroy stops the lab process and removes everything the lab made.
func labDestroy(o *labOpts, labName string) error { return topology.Destroy(o.stateDir, labName) }
