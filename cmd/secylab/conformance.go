package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/conformance"
)

type conformanceOpts struct {
	suites    []string
	vm        string
	junit     string
	asJSON    bool
	transfer  int
	filter    string
	insideVM  bool
	vmCache   string
	vmBinary  string
	vmTimeout time.Duration
	verbose   bool
}

func newConformanceCmd() *cobra.Command {
	var o conformanceOpts
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Interoperate with the Linux kernel's MACsec and ESP and with wpa_supplicant's MKA",
		Long: `Run secylab against implementations it did not write, with live traffic both
ways: the Linux kernel's macsec driver (all four cipher suites, SCI sent and
omitted, XPN across 2^32, replay window, AN switch, wrong key), wpa_supplicant's
MKA (either side key server, rekey, CAK mismatch), and the kernel's xfrm ESP.

With --vm auto (the default) it first tries, in a scratch namespace, whether
this kernel can create a MACsec link and an rfc4106 ESP state. If it can, the
cases run here in network namespaces (root needed). If not, they run in a
throwaway VM: Debian's cloud kernel under QEMU (TCG), booted from an initramfs
built now with busybox, iproute2, wpa_supplicant and this binary. The VM needs
the packages that .ci/setup-vm installs, and no root.

The exit status is 0 only when every case passed.`,
		Example: `  secylab conformance
  secylab conformance --suite macsec --vm always --junit conformance.xml
  secylab conformance --suite mka --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConformance(cmd, o)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&o.suites, "suite", nil, "suites to run: macsec, mka, ipsec (comma-separated; default all)")
	fl.StringVar(&o.vm, "vm", "auto", "where to run: auto (here if the kernel can, else a VM), always (a VM), never (here)")
	fl.StringVar(&o.junit, "junit", "", "also write the results as JUnit XML to this file")
	fl.BoolVar(&o.asJSON, "json", false, "print the results as JSON instead of a table")
	fl.IntVar(&o.transfer, "transfer", conformance.DefaultTransfer, "octets each TCP transfer moves each way")
	fl.StringVar(&o.filter, "run", "", "run only the cases whose suite/name contains this text")
	fl.StringVar(&o.vmCache, "vm-cache", conformance.DefaultVMCache, "directory with the kernel .deb that .ci/setup-vm downloads")
	fl.StringVar(&o.vmBinary, "vm-binary", "", "secylab executable to run inside the VM (default: this one)")
	fl.DurationVar(&o.vmTimeout, "vm-timeout", conformance.DefaultVMTimeout, "give up on the VM after this long")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "show progress and, for a VM run, its console on stderr")
	fl.BoolVar(&o.insideVM, "inside-vm", false, "run as the guest's payload: results as console lines")
	fl.MarkHidden("inside-vm")
	return cmd
}

func runConformance(cmd *cobra.Command, o conformanceOpts) error {
	suites, err := conformance.ParseSuites(o.suites)
	if err != nil {
		return usagef("--suite: %w", err)
	}
	if o.vm != "auto" && o.vm != "always" && o.vm != "never" {
		return usagef("--vm %q: want auto, always or never", o.vm)
	}
	if o.transfer <= 0 {
		return usagef("--transfer %d: must be positive", o.transfer)
	}
	ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer cancel()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var progress io.Writer
	if o.verbose {
		progress = stderr
	}
	opts := conformance.Options{Suites: suites, Transfer: o.transfer, Filter: o.filter, Log: progress}

	if o.insideVM {
		// The host reads these lines from the serial console.
		opts.Log = stderr
		opts.OnResult = func(r conformance.Result) { fmt.Fprintln(stdout, conformance.ResultLine(r)) }
		if !conformance.AllPassed(conformance.Run(ctx, opts)) {
			return exitCode(1)
		}
		return nil
	}

	rep, err := chooseAndRun(ctx, o, opts, stderr)
	if err != nil {
		return err
	}
	rep.Passed = conformance.AllPassed(rep.Results)
	if o.junit != "" {
		if err := writeJUnitFile(o.junit, rep); err != nil {
			return err
		}
	}
	if o.asJSON {
		err = conformance.WriteJSON(stdout, rep)
	} else {
		fmt.Fprintf(stdout, "secylab conformance on %s (%s)\n", rep.Where, rep.Why)
		err = conformance.WriteTable(stdout, rep.Results)
	}
	if err != nil {
		return err
	}
	if !rep.Passed {
		return exitCode(1)
	}
	return nil
}

// chooseAndRun runs the suites here or in a VM, as --vm and the probe say.
func chooseAndRun(ctx context.Context, o conformanceOpts, opts conformance.Options, stderr io.Writer) (conformance.Report, error) {
	var why string
	if o.vm != "always" {
		local, reason, err := kernelCan(ctx, opts.Suites)
		switch {
		case local:
			return conformance.Report{Where: "host " + conformance.KernelRelease(), Why: reason,
				Results: conformance.Run(ctx, opts)}, nil
		case o.vm == "never" && err != nil:
			return conformance.Report{}, fmt.Errorf("cannot run here (--vm never): %w", err)
		case o.vm == "never":
			return conformance.Report{}, fmt.Errorf("cannot run here (--vm never): %s; try --vm auto", reason)
		}
		why = reason
		if err != nil {
			why = err.Error()
		}
	} else {
		why = "--vm always"
	}
	vc := conformance.VMConfig{
		Cache: o.vmCache, Binary: o.vmBinary, Suites: opts.Suites, Transfer: o.transfer, Filter: o.filter,
		Timeout: o.vmTimeout, Log: opts.Log,
	}
	if o.verbose {
		vc.Console = stderr
	}
	if err := conformance.CheckVM(vc); err != nil {
		if errors.Is(err, conformance.ErrVMUnavailable) {
			return conformance.Report{}, fmt.Errorf("neither path can run: here: %s; in a VM: %w", why, err)
		}
		return conformance.Report{}, err
	}
	fmt.Fprintf(stderr, "running in a VM: %s\n", why)
	run, err := conformance.RunVM(ctx, vc)
	rep := conformance.Report{Where: "vm " + run.Kernel, Why: fmt.Sprintf("%s; VM boot %.1fs, run %.1fs", why, run.Boot.Seconds(), run.Total.Seconds()), Results: run.Results}
	if err != nil {
		return rep, fmt.Errorf("VM run: %w", err)
	}
	return rep, nil
}

// kernelCan probes the running kernel for the suites' needs.
func kernelCan(ctx context.Context, suites []string) (bool, string, error) {
	p, err := conformance.RunProbe(ctx)
	if err != nil {
		return false, "", err
	}
	var missing []string
	for _, s := range suites {
		if ok, why := p.Supports(s); !ok {
			missing = append(missing, s+": "+why)
		}
	}
	if len(missing) > 0 {
		return false, strings.Join(missing, "; "), nil
	}
	return true, "this kernel has MACsec and ESP", nil
}

func writeJUnitFile(name string, rep conformance.Report) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	err = conformance.WriteJUnit(f, rep.Where, rep.Results)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--junit %s: %w", name, err)
	}
	return nil
}
