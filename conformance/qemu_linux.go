package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/secylab/secylab/ipsec/strongswan"
)

// VMConfig configures a run of the suites inside a throwaway VM.
type VMConfig struct {
	Cache    string // where the kernel .deb is; "": DefaultVMCache
	QEMU     string // "": qemu-system-x86_64 from PATH
	Binary   string // the secylab the guest runs; "": this executable
	Suites   []string
	Transfer int
	Filter   string
	Timeout  time.Duration // the whole VM run; 0: DefaultVMTimeout
	Memory   int           // MiB; 0: 512

	Console  io.Writer    // gets every console line when not nil
	Log      io.Writer    // progress lines when not nil
	OnResult func(Result) // sees each result as it arrives
}

// DefaultVMTimeout bounds a VM run: TCG is slow, but a hung guest must not
// hang CI.
const DefaultVMTimeout = 10 * time.Minute

// VMRun is what a VM run produced.
type VMRun struct {
	Kernel  string // the guest's uname -r
	Results []Result
	Build   time.Duration // initramfs
	Boot    time.Duration // qemu start → the guest's /init has loaded its modules
	Total   time.Duration // qemu start → qemu exit
}

// guestPrologue begins every guest's /init: the PATH and the file systems
// it needs, and quiet kernel messages on the console it talks over.
const guestPrologue = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo 1 > /proc/sys/kernel/printk
`

// initScript is the guest's /init. busybox's shell would run its own ip
// applet for "ip", so iproute2 is always called by its path.
const initScript = guestPrologue + `while read m; do
	insmod /lib/modules/$(uname -r)/$m || echo "SECYLAB-CONFORMANCE-LOG insmod $m failed"
done < /modules.txt
/usr/sbin/ip link set lo up
echo "SECYLAB-CONFORMANCE-BEGIN $(uname -r)"
/bin/secylab conformance --vm never --inside-vm %s
echo "SECYLAB-CONFORMANCE-END exit=$?"
poweroff -f
`

// buildInitramfs assembles the guest: busybox, iproute2, wpa_supplicant
// (when the mka suite runs), the kernel modules and secylab.
func buildInitramfs(k *guestKernel, binary string, cfg VMConfig) (*Initramfs, error) {
	f, err := baseInitramfs()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat("/etc/protocols"); err == nil {
		f.Copy("etc/protocols", "/etc/protocols")
	}
	for _, s := range cfg.Suites {
		if s == SuiteIPsec {
			// strongSwan's charon for the IKEv2 cases (which skip without it).
			files, err := strongswan.Files()
			for _, file := range files {
				if err == nil {
					err = addProgram(f, strings.TrimPrefix(file, "/"), file)
				}
			}
			if err == nil && len(files) > 0 {
				err = addLibgcc(f)
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, exec.ErrNotFound) {
				return nil, fmt.Errorf("strongSwan into the guest: %w", err)
			}
			// libreswan, likewise, from where .ci/setup-vm unpacked it.
			if err := addLibreswan(f); err != nil {
				return nil, err
			}
		}
		if s != SuiteMKA {
			continue
		}
		wpa, err := exec.LookPath("wpa_supplicant")
		if err != nil {
			return nil, unavailable("wpa_supplicant is not installed (the mka suite needs it)")
		}
		if err := addProgram(f, "usr/sbin/wpa_supplicant", wpa); err != nil {
			return nil, err
		}
	}
	if err := addProgram(f, "bin/secylab", binary); err != nil {
		return nil, err
	}
	var list bytes.Buffer
	for _, m := range guestModules {
		f.File("lib/modules/"+k.release+"/"+m, 0o644, k.modules[m])
		list.WriteString(m + "\n")
	}
	f.File("modules.txt", 0o644, list.Bytes())
	f.File("init", 0o755, fmt.Appendf(nil, initScript, strings.Join(guestArgs(cfg), " ")))
	return f, nil
}

// baseInitramfs is every guest's userland: the mount points, the console,
// busybox and iproute2.
func baseInitramfs(dirs ...string) (*Initramfs, error) {
	f := &Initramfs{}
	for _, d := range append([]string{"proc", "sys", "dev", "run", "tmp", "etc", "root"}, dirs...) {
		f.Dir(d)
	}
	f.Symlink("var/run", "../run")
	f.CharDev("dev/console", 5, 1)
	f.CharDev("dev/null", 1, 3)
	if err := addBusybox(f, "/bin/busybox"); err != nil {
		return nil, err
	}
	ip, err := findIP()
	if err != nil {
		return nil, unavailable("%v", err)
	}
	if err := addProgram(f, "usr/sbin/ip", ip); err != nil {
		return nil, err
	}
	return f, nil
}

// guestArgs are the flags the guest's secylab conformance gets.
func guestArgs(cfg VMConfig) []string {
	args := []string{"--suite", strings.Join(cfg.Suites, ",")}
	if cfg.Transfer > 0 {
		args = append(args, "--transfer", fmt.Sprint(cfg.Transfer))
	}
	if cfg.Filter != "" {
		args = append(args, "--run", shellQuote(cfg.Filter))
	}
	return args
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// CheckVM says whether the VM path can run here, and if not what is missing.
func CheckVM(cfg VMConfig) error {
	_, _, err := vmTools(cfg)
	return err
}

func vmTools(cfg VMConfig) (qemu, deb string, err error) {
	qemu = cfg.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	if qemu, err = exec.LookPath(qemu); err != nil {
		return "", "", unavailable("%s is not installed", "qemu-system-x86_64")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return "", "", unavailable("/bin/busybox is not installed")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return "", "", unavailable("dpkg-deb is not installed (the kernel comes as a Debian package)")
	}
	cache := cfg.Cache
	if cache == "" {
		cache = DefaultVMCache
	}
	deb, err = kernelPackage(cache)
	return qemu, deb, err
}

// RunVM boots the guest and runs the suites in it. An error means the run
// did not complete (nothing to boot, a timeout, a guest that died); the
// results of the cases that did run are returned with it.
func RunVM(ctx context.Context, cfg VMConfig) (VMRun, error) {
	var run VMRun
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultVMTimeout
	}
	if cfg.Memory <= 0 {
		cfg.Memory = 512
	}
	qemu, deb, err := vmTools(cfg)
	if err != nil {
		return run, err
	}
	binary := cfg.Binary
	if binary == "" {
		if binary, err = os.Executable(); err != nil {
			return run, fmt.Errorf("finding this executable to put into the VM: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "secylab-vm-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	k, err := extractKernel(deb, dir, guestModules)
	if err != nil {
		return run, err
	}
	f, err := buildInitramfs(k, binary, cfg)
	if err != nil {
		return run, err
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	out, err := os.Create(initrd)
	if err != nil {
		return run, err
	}
	size, err := f.WriteTo(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return run, fmt.Errorf("writing the initramfs: %w", err)
	}
	run.Build = time.Since(start)
	logf(cfg.Log, "VM: kernel %s from %s, initramfs %.1f MB in %.1fs", k.release, filepath.Base(deb), float64(size)/1e6, run.Build.Seconds())

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// TCG: KVM here may be PVM, which cannot boot a stock kernel; -cpu max
	// gives the guest AES-NI and PCLMUL. No NIC: nothing leaves the VM.
	cmd := exec.CommandContext(ctx, qemu,
		"-nodefaults", "-no-user-config", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", fmt.Sprint(cfg.Memory),
		"-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", k.vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init")
	cmd.Stdin = nil
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return run, err
	}
	qstart := time.Now()
	if err := cmd.Start(); err != nil {
		return run, unavailable("starting %s: %v", qemu, err)
	}
	var tail []string // the last console lines, for a run that did not end
	con, perr := parseConsole(stdout, func(line string) {
		if cfg.Console != nil {
			fmt.Fprintln(cfg.Console, line)
		}
		if strings.Contains(line, markerBegin) {
			run.Boot = time.Since(qstart)
		}
		if strings.Contains(line, markerResult) && cfg.OnResult != nil {
			// parseConsole keeps the full list; this is for progress.
			if rs, err := parseConsole(strings.NewReader(line), nil); err == nil && len(rs.Results) == 1 {
				cfg.OnResult(rs.Results[0])
			}
		}
		tail = append(tail, line)
		if len(tail) > 40 {
			tail = tail[1:]
		}
	})
	werr := cmd.Wait() // judged by the end marker, never by qemu's status
	run.Total = time.Since(qstart)
	run.Kernel, run.Results = con.Kernel, con.Results
	switch {
	case perr != nil:
		return run, perr
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return run, fmt.Errorf("VM run timed out after %v; last console lines:\n%s", cfg.Timeout, strings.Join(tail, "\n"))
	case ctx.Err() != nil:
		return run, ctx.Err()
	case !con.Begun:
		return run, fmt.Errorf("the guest never started the suite (qemu: %v %s); last console lines:\n%s",
			werr, strings.TrimSpace(stderr.String()), strings.Join(tail, "\n"))
	case !con.Ended:
		return run, fmt.Errorf("the guest stopped before the end of the suite; last console lines:\n%s", strings.Join(tail, "\n"))
	case con.Exit > 1:
		return run, fmt.Errorf("secylab in the guest failed (exit %d); last console lines:\n%s", con.Exit, strings.Join(tail, "\n"))
	}
	for i := range run.Results {
		run.Results[i].Where = "vm " + run.Kernel
	}
	return run, nil
}

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
}
