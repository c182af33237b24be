package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/secylab/secylab/internal/netnsx"
)

// testbed is one case's throwaway namespaces, removed when the case ends.
//
// It is not a lab, and deliberately not started through the lab runtime
// (lab.Up): a case pits secylab against the kernel, so its namespaces hold
// kernel devices (a macsec link, xfrm states, wpa_supplicant) configured by
// iproute2 exactly as a user of the kernel would, around at most one
// userspace SecY run in this process; there is no topology, no lab process
// and no control socket to serve, and in the VM the guest is a busybox
// initramfs with this binary as its payload and nothing to clean up after.
// Its namespaces are named sl-cf<id><suffix>, without the dot of a lab's
// sl-<lab>.<node>, so they never collide with a lab's, and lab down never
// touches them.
type testbed struct {
	ctx context.Context
	ip  string // iproute2's ip
	id  string
	ns  []string
	fin []func()
}

var labSeq atomic.Int32

func newLab(ctx context.Context, ip string) *testbed {
	return &testbed{ctx: ctx, ip: ip, id: fmt.Sprintf("%d%d", os.Getpid()%100000, labSeq.Add(1))}
}

// onClose registers fn to run when the lab closes, before the namespaces go.
func (l *testbed) onClose(fn func()) { l.fin = append(l.fin, fn) }

// close runs the deferred functions in reverse and deletes the namespaces
// (which takes their links, the kernel SecYs and xfrm states with them).
func (l *testbed) close() {
	for i := len(l.fin) - 1; i >= 0; i-- {
		l.fin[i]()
	}
	for _, ns := range l.ns {
		exec.Command(l.ip, "netns", "del", ns).Run()
	}
}

// run runs ip with args and returns its output; the error carries the
// command and what it printed.
func (l *testbed) run(args ...string) (string, error) {
	out, err := exec.CommandContext(l.ctx, l.ip, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// in runs ip -n ns args.
func (l *testbed) in(ns string, args ...string) (string, error) {
	return l.run(append([]string{"-n", ns}, args...)...)
}

// all runs several ip -n ns commands, stopping at the first error.
func (l *testbed) all(ns string, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := l.in(ns, c...); err != nil {
			return err
		}
	}
	return nil
}

// namespace creates sl-cf<id><suffix> with loopback up and IPv6 off, so
// that no router solicitation or DAD frame consumes packet numbers or
// crosses a SecY unasked.
func (l *testbed) namespace(suffix string) (string, error) {
	ns := "sl-cf" + l.id + suffix
	if _, err := l.run("netns", "add", ns); err != nil {
		return "", err
	}
	l.ns = append(l.ns, ns)
	err := netnsx.Do(ns, func() error {
		for _, f := range []string{"all", "default"} {
			p := filepath.Join("/proc/sys/net/ipv6/conf", f, "disable_ipv6")
			if err := os.WriteFile(p, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("namespace %s: IPv6 off: %w", ns, err)
	}
	_, err = l.in(ns, "link", "set", "lo", "up")
	return ns, err
}

// veth joins a and b with a veth pair whose ends are both called name,
// with fixed MAC addresses, up.
func (l *testbed) veth(a, b, name, macA, macB string) error {
	tmp := "slcf" + l.id
	if _, err := l.run("link", "add", tmp+"a", "type", "veth", "peer", "name", tmp+"b"); err != nil {
		return err
	}
	for _, end := range []struct{ ns, dev, mac string }{{a, tmp + "a", macA}, {b, tmp + "b", macB}} {
		if _, err := l.run("link", "set", end.dev, "netns", end.ns); err != nil {
			return err
		}
		err := l.all(end.ns,
			[]string{"link", "set", end.dev, "name", name},
			[]string{"link", "set", name, "address", end.mac},
			[]string{"link", "set", name, "up"})
		if err != nil {
			return err
		}
	}
	return nil
}

// findIP returns iproute2's ip. Busybox's ip applet cannot configure
// MACsec, xfrm or namespaces, so a busybox ip does not count.
func findIP() (string, error) {
	cands := []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}
	if p, err := exec.LookPath("ip"); err == nil {
		cands = append(cands, p)
	}
	for _, c := range cands {
		real, err := filepath.EvalSymlinks(c)
		if err != nil || filepath.Base(real) == "busybox" {
			continue
		}
		return c, nil
	}
	return "", errors.New("iproute2's ip not found (install iproute2)")
}
