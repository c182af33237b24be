package topology

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNamespaceSurvivesIPNetnsAdd creates a namespace, then does what
// ip netns add does to the directory before its own mount, and deletes
// ours. On a fresh machine, where the directory was no mount point, that
// step bind-mounted the directory on itself over our mount, and the delete
// failed with EBUSY: the bench's anchors (ip netns add) left the lab
// behind.
func TestNamespaceSurvivesIPNetnsAdd(t *testing.T) {
	needRootTest(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
	})
	name := uniqueLab(t, "")
	if err := createNamespaceIn(dir, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamespaceIn(dir, name) })
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(dir, name), &st); err != nil || st.Type != unix.NSFS_MAGIC {
		t.Fatalf("%s is not a namespace mount (statfs type %#x, %v)", name, st.Type, err)
	}

	// iproute2's netns_add: make the directory shared, and if it is no
	// mount point (EINVAL), bind-mount it on itself first.
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); errors.Is(err, unix.EINVAL) {
		t.Errorf("%s is no mount point after createNamespace", dir)
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}

	if err := deleteNamespaceIn(dir, name); err != nil {
		t.Fatalf("delete after ip netns add's step: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s still there after delete: %v", name, err)
	}
}
