// Package netnsx runs code inside a named network namespace without ever
// leaving a goroutine or a thread of the runtime in the wrong namespace.
package netnsx

import (
	"fmt"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// Do runs fn on a fresh OS thread that has entered the namespace name
// (/run/netns/name), and waits for it. The thread stays locked and ends
// with its goroutine, so no other goroutine can ever run in the namespace
// by accident (golang/go#20395). It is also switched back before that: the
// runtime cannot end the process's main thread, and /proc/PID/ns/net — what
// tools that look for a namespace's processes read — shows that one. File
// descriptors fn opens (sockets, TAP devices, netlink handles) stay bound
// to the namespace and may be used from any goroutine afterwards. fn must
// not start goroutines that expect to run in the namespace, nor call
// runtime.UnlockOSThread.
func Do(name string, fn func() error) error {
	ns, err := unix.Open(filepath.Join(Dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer unix.Close(ns)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %q: %w", name, err)
			return
		}
		err = fn()
		unix.Setns(orig, unix.CLONE_NEWNET) // best effort; the thread dies anyway
		errc <- err
	}()
	return <-errc
}
