package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
)

// NetnsDir is where named namespaces are bind-mounted, as by ip netns add.
const NetnsDir = netnsx.Dir

// NamespacePath is the bind mount of node's namespace in lab.
func NamespacePath(lab, node string) string {
	return filepath.Join(NetnsDir, NamespaceName(lab, node))
}

// openNamespace opens the named namespace (O_CLOEXEC, so no child process
// inherits it); the caller closes the handle.
func openNamespace(name string) (netns.NsHandle, error) {
	ns, err := netns.GetFromPath(filepath.Join(NetnsDir, name))
	if err != nil {
		return ns, fmt.Errorf("open namespace %s: %w", name, err)
	}
	return ns, nil
}

// handleAt returns a netlink handle whose sockets live in the named
// namespace, and the namespace handle; close both.
func handleAt(name string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := openNamespace(name)
	if err != nil {
		return nil, ns, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, ns, fmt.Errorf("netlink in namespace %s: %w", name, err)
	}
	return h, ns, nil
}

// namespaceExists reports whether a namespace of that name is mounted (or
// its mount point left over).
func namespaceExists(name string) bool {
	_, err := os.Lstat(filepath.Join(NetnsDir, name))
	return err == nil
}

// createNamespace makes a named namespace like ip netns add: a new network
// namespace bind-mounted on /run/netns/<name>. It runs on a throw-away
// locked thread, so the caller's thread never changes namespace, and on
// error it leaves no mount point behind.
func createNamespace(name string) error { return createNamespaceIn(NetnsDir, name) }

func createNamespaceIn(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	if err := sharedMountPoint(dir); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY|unix.O_CLOEXEC, 0o444)
		if err != nil {
			errc <- err
			return
		}
		f.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			os.Remove(path)
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			os.Remove(path)
			errc <- fmt.Errorf("bind mount: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// sharedMountPoint makes dir a mount point with shared propagation before
// the first namespace is mounted in it, as ip netns add does. Otherwise the
// first ip netns add after ours (the bench's anchors, a user's own) finds
// dir no mount point and bind-mounts it on itself, which hides our mounts
// beneath: they could then be neither unmounted nor removed, and the lab
// was left behind.
func sharedMountPoint(dir string) error {
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s on itself: %w", dir, err)
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	return nil
}

// deleteNamespace unmounts and removes a named namespace; one that is
// already gone, or was never mounted, is not an error. Devices in it go
// when the last process in it exits.
func deleteNamespace(name string) error { return deleteNamespaceIn(NetnsDir, name) }

func deleteNamespaceIn(dir, name string) error {
	path := filepath.Join(dir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete namespace %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// sysctl writes a /proc/sys value of the calling thread's namespace; call
// it inside InNamespace.
func sysctl(key, value string) error {
	path := filepath.Join("/proc/sys", filepath.FromSlash(key))
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
