package lab

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A lab process removes its own control socket when it ends, and only its
// own: a socket a newer lab put at the same path stays.
func TestServeRemovesOnlyItsOwnSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	serve := func() (context.CancelFunc, <-chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, &Lab{}, path) }()
		// Ready once the socket is bound and made 0600.
		require.Eventually(t, func() bool { fi, err := os.Lstat(path); return err == nil && fi.Mode().Perm() == 0o600 }, 5*time.Second, time.Millisecond)
		return cancel, done
	}

	stop, done := serve()
	stop()
	require.NoError(t, <-done)
	_, err := os.Lstat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "its own socket is removed")

	stop, done = serve()
	// lab down removed the lab, and a new lab of the same name listens at
	// the path now.
	require.NoError(t, os.Remove(path))
	newer, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer newer.Close()
	stop()
	require.NoError(t, <-done)
	_, err = os.Lstat(path)
	require.NoError(t, err, "the newer lab's socket was removed")

	// A path in use is never taken over.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.Error(t, Serve(ctx, &Lab{}, path))
	_, err = os.Lstat(path)
	require.NoError(t, err)
}
