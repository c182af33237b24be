package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A linux router VM is a topology's node of kind linux run where a kernel
// has macsec: the guest's kernel, with wpa_supplicant keying its macsec
// device and BIRD routing over it, on a virtio NIC whose host side is a
// TAP that the lab uses as the node's external end. The guest runs the
// configuration the host gives it, as an engineer would paste it: the
// iproute2, wpa_supplicant and BIRD exports of secylab lab config.

// LinuxRouterConfig describes a linux router VM.
type LinuxRouterConfig struct {
	Cache string // the kernel .deb's directory; "": DefaultVMCache
	QEMU  string // "": qemu-system-x86_64 from PATH
	// TAP is the host interface of the guest's NIC (eth0), which must
	// exist (ip tuntap add NAME mode tap); MAC is the NIC's address.
	TAP, MAC string
	// Files go into the guest's /etc/secylab by name (mode 0600):
	// iproute2.sh (run first), bird.conf, and wpa_supplicant.conf unless
	// KaY replaces wpa_supplicant.
	Files map[string][]byte
	// KaY are shell lines run after iproute2.sh in place of starting
	// wpa_supplicant, e.g. secylab's KaY on the kernel's macsec (secylab
	// mka run --kernel); they return once macsec0 carries the link's
	// address. Secylab is then the static secylab binary to put in the
	// guest as /usr/sbin/secylab.
	KaY     []string
	Secylab string
	// Setup are shell lines run before wpa_supplicant and BIRD start
	// (e.g. the router's loopback address).
	Setup   []string
	Console io.Writer // every console line, when not nil
}

// linuxRouterModules are guestModules plus the virtio NIC's.
var linuxRouterModules = append(slices.Clone(guestModules),
	"kernel/drivers/virtio/virtio_ring.ko",
	"kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko",
	"kernel/drivers/virtio/virtio_pci.ko",
	"kernel/net/core/failover.ko",
	"kernel/drivers/net/net_failover.ko",
	"kernel/drivers/net/virtio_net.ko",
)

// Console markers of the router guest.
const (
	markerRouterReady = "SECYLAB-ROUTER-READY"
	markerRouterOut   = "SECYLAB-ROUTER-OUT "
	markerRouterDone  = "SECYLAB-ROUTER-DONE "
)

// routerInit is the router guest's /init: IPv6 off before the NIC appears
// (no neighbour discovery of its own in clear, as on the lab's wires),
// the NIC, the iproute2 export (the macsec device with the SCI omitted),
// wpa_supplicant adopting it (or another KaY), BIRD; then it runs the lines the host writes
// on the console, one at a time, and marks their output and status.
const routerInit = guestPrologue + `stty -echo 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
while read m; do
	insmod /lib/modules/$(uname -r)/$m || echo "SECYLAB-ROUTER-OUT insmod $m failed"
done < /modules.txt
ip() { /usr/sbin/ip "$@"; }
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 0.2; done
ip link set lo up
%s
. /etc/secylab/iproute2.sh
%s
mkdir -p /run/bird
bird -c /etc/secylab/bird.conf -s /run/bird/bird.ctl
echo "SECYLAB-ROUTER-READY $(uname -r)"
while read -r line; do
	out=$(sh -c 'ip() { /usr/sbin/ip "$@"; }; '"$line" 2>&1)
	rc=$?
	printf '%%s\n' "$out" | sed 's/^/SECYLAB-ROUTER-OUT /'
	echo "SECYLAB-ROUTER-DONE $rc"
done
poweroff -f
`

// LinuxRouter is a running router VM.
type LinuxRouter struct {
	Kernel string
	Boot   time.Duration // qemu start → ready
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	dir    string
	mu     sync.Mutex
	exited chan struct{}
}

// StartLinuxRouter builds the guest and boots it, and returns once
// wpa_supplicant and BIRD run in it.
func StartLinuxRouter(ctx context.Context, cfg LinuxRouterConfig) (*LinuxRouter, error) {
	qemu, deb, err := vmTools(VMConfig{Cache: cfg.Cache, QEMU: cfg.QEMU})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "secylab-router-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*LinuxRouter, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	k, err := extractKernel(deb, dir, linuxRouterModules)
	if err != nil {
		return fail(err)
	}
	f, err := routerInitramfs(k, cfg)
	if err != nil {
		return fail(err)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	out, err := os.OpenFile(initrd, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // it holds the CAK
	if err != nil {
		return fail(err)
	}
	_, err = f.WriteTo(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	r := &LinuxRouter{dir: dir, lines: make(chan string, 1024), exited: make(chan struct{})}
	// TCG as in RunVM; the NIC is virtio-net on the TAP, without an option
	// ROM (no network boot).
	r.cmd = exec.Command(qemu,
		"-nodefaults", "-no-user-config", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "384",
		"-display", "none", "-serial", "stdio", "-no-reboot",
		"-netdev", "tap,id=n0,ifname="+cfg.TAP+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+cfg.MAC,
		"-kernel", k.vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init")
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		return fail(err)
	}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	var stderr strings.Builder
	r.cmd.Stderr = &stderr
	start := time.Now()
	if err := r.cmd.Start(); err != nil {
		return fail(unavailable("starting %s: %v", qemu, err))
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if cfg.Console != nil {
				fmt.Fprintln(cfg.Console, line)
			}
			if i := strings.Index(line, "SECYLAB-ROUTER-"); i >= 0 {
				r.lines <- line[i:]
			}
		}
		r.cmd.Wait()
		close(r.lines)
		close(r.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				r.Close()
				return nil, fmt.Errorf("the router VM ended before it was ready (qemu: %s)", strings.TrimSpace(stderr.String()))
			}
			if v, ok := strings.CutPrefix(line, markerRouterReady); ok {
				r.Kernel, r.Boot = strings.TrimSpace(v), time.Since(start)
				// The macsec device exists only if the NIC came up and
				// the iproute2 export ran.
				if out, rc, err := r.Run(ctx, "ip -d link show macsec0"); err != nil || rc != 0 {
					r.Close()
					return nil, fmt.Errorf("the router VM has no macsec0 (%v): %s", err, out)
				}
				return r, nil
			}
		case <-ctx.Done():
			r.Close()
			return nil, fmt.Errorf("the router VM was not ready: %w", ctx.Err())
		}
	}
}

// wpaKaY starts wpa_supplicant on the macsec device iproute2.sh made.
var wpaKaY = []string{
	"ip link set macsec0 up",
	"wpa_supplicant -B -D macsec_linux -i eth0 -c /etc/secylab/wpa_supplicant.conf -f /tmp/wpa.log",
}

// routerInitramfs assembles the router guest: busybox, iproute2,
// wpa_supplicant (or secylab), BIRD and birdc, the modules, the
// configuration.
func routerInitramfs(k *guestKernel, cfg LinuxRouterConfig) (*Initramfs, error) {
	f, err := baseInitramfs("etc/secylab")
	if err != nil {
		return nil, err
	}
	progs := map[string]string{}
	kay, need := cfg.KaY, []string{"bird", "birdc"}
	if kay == nil {
		kay, need = wpaKaY, append(need, "wpa_supplicant")
	} else if cfg.Secylab != "" {
		progs["usr/sbin/secylab"] = cfg.Secylab
	}
	for _, p := range need {
		path, err := exec.LookPath(p)
		if err != nil {
			return nil, unavailable("%s is not installed (a linux router runs it; apt-get install wpasupplicant bird2)", p)
		}
		progs["usr/sbin/"+p] = path
	}
	for name, src := range progs {
		if err := addProgram(f, name, src); err != nil {
			return nil, err
		}
	}
	required := []string{"iproute2.sh", "bird.conf"}
	if cfg.KaY == nil {
		required = append(required, "wpa_supplicant.conf")
	}
	for _, name := range required {
		if _, ok := cfg.Files[name]; !ok {
			return nil, fmt.Errorf("router VM: no %s", name)
		}
	}
	for name, b := range cfg.Files {
		f.File("etc/secylab/"+name, 0o600, b)
	}
	var list strings.Builder
	for _, m := range linuxRouterModules {
		f.File("lib/modules/"+k.release+"/"+m, 0o644, k.modules[m])
		list.WriteString(m + "\n")
	}
	f.File("modules.txt", 0o644, []byte(list.String()))
	f.File("init", 0o755, fmt.Appendf(nil, routerInit, strings.Join(cfg.Setup, "\n"), strings.Join(kay, "\n")))
	return f, nil
}

// Run runs a shell command line in the guest and returns its output and
// exit status.
func (r *LinuxRouter) Run(ctx context.Context, line string) (string, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(line, "\n") {
		return "", 0, errors.New("router VM: one line at a time")
	}
	if _, err := io.WriteString(r.stdin, line+"\n"); err != nil {
		return "", 0, fmt.Errorf("router VM: %w", err)
	}
	var out strings.Builder
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				return out.String(), 0, errors.New("router VM: the guest ended")
			}
			if v, ok := strings.CutPrefix(l, markerRouterOut); ok {
				out.WriteString(v + "\n")
			} else if v, ok := strings.CutPrefix(l, markerRouterDone); ok {
				rc, _ := strconv.Atoi(strings.TrimSpace(v))
				return out.String(), rc, nil
			} else if l == strings.TrimSuffix(markerRouterOut, " ") {
				out.WriteString("\n")
			}
		case <-ctx.Done():
			return out.String(), 0, fmt.Errorf("router VM: %q: %w", line, ctx.Err())
		}
	}
}

// Close powers the guest off (or kills qemu) and removes its files.
func (r *LinuxRouter) Close() error {
	if r.cmd.Process != nil {
		io.WriteString(r.stdin, "poweroff -f\n")
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			r.cmd.Process.Kill()
			<-r.exited
		}
	}
	return os.RemoveAll(r.dir)
}
