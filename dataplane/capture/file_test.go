package capture

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCreateFile: a capture file is 0600 whether it existed or not, and a
// symbolic link is refused, not followed (issue 12, item 10).
func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.pcapng")
	require.NoError(t, os.WriteFile(existing, []byte("old content"), 0o644))
	require.NoError(t, os.Chmod(existing, 0o644))
	f, err := CreateFile(existing)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi, err := os.Stat(existing)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Zero(t, fi.Size(), "truncated")

	f, err = CreateFile(filepath.Join(dir, "new.pcapng"))
	require.NoError(t, err)
	fi, err = f.Stat()
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, f.Close())

	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o644))
	link := filepath.Join(dir, "link.pcapng")
	require.NoError(t, os.Symlink(target, link))
	_, err = CreateFile(link)
	require.ErrorContains(t, err, "is a symbolic link")
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "keep", string(b), "the link's target is untouched")
}
