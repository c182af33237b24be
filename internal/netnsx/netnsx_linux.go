// Package netnsx runs code inside a named network namespace without leaving
// any goroutine behind in it.
package netnsx

import (
	"fmt"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// Do runs fn on a locked OS thread switched into the namespace name
// (/run/netns/name), then switches back. File descriptors fn opens
// (sockets, TAP devices, netlink handles) stay bound to that namespace
// and may be used from any goroutine afterwards. fn must not start
// goroutines that expect to run in the namespace: they would not.
func Do(name string, fn func() error) error {
	target, err := unix.Open(filepath.Join(Dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer unix.Close(target)

	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %q: %w", name, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime destroys it when this
		// goroutine ends, rather than reuse a thread in the wrong namespace.
		return fmt.Errorf("return from network namespace %q: %w", name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
