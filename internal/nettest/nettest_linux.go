// Package nettest builds throwaway network namespaces for root tests and
// removes them when the test ends, also when it fails.
package nettest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// NeedRoot skips the test, saying why, when not run as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces, veth and TAP devices")
	}
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var seq atomic.Int32

// UniqueID is short, unique among tests of this machine running now.
func UniqueID() string {
	return fmt.Sprintf("%d%d", os.Getpid()%100000, seq.Add(1))
}

// Namespace creates a namespace named sl-<prefix>-<id> with loopback up.
func Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := "sl-" + prefix + "-" + UniqueID()
	Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// Wire joins two namespaces with a veth pair whose ends are both named
// name, with the given MTU and IPv6 off so that the kernel sends nothing
// on it by itself.
func Wire(t testing.TB, a, b, name string, mtu int) {
	t.Helper()
	tmp := "slt" + UniqueID()
	Run(t, "ip", "link", "add", tmp+"a", "mtu", fmt.Sprint(mtu), "type", "veth", "peer", "name", tmp+"b", "mtu", fmt.Sprint(mtu))
	for ns, end := range map[string]string{a: tmp + "a", b: tmp + "b"} {
		Run(t, "ip", "link", "set", end, "netns", ns)
		Run(t, "ip", "-n", ns, "link", "set", end, "name", name)
		Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf."+name+".disable_ipv6=1")
		Run(t, "ip", "-n", ns, "link", "set", name, "up")
	}
}

// Ping pings addr from ns count times, 50 ms apart.
func Ping(ns, addr string, count int) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", fmt.Sprint(count), "-i", "0.05", "-W", "1", addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w\n%s", addr, ns, err, out)
	}
	return nil
}
