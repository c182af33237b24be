package lab

import (
	"context"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/topology"
)

// TestMain lets this test binary be the lab process of the labs its tests
// bring up: Up starts the binary itself again.
func TestMain(m *testing.M) {
	ProcessMain()
	os.Exit(m.Run())
}

func TestUpDialDown(t *testing.T) {
	nettest.NeedRoot(t)
	topo, err := topology.Builtin("expressroute-direct")
	require.NoError(t, err)
	name := "u" + nettest.UniqueID()
	if len(name) > topology.MaxLabName {
		name = name[:topology.MaxLabName]
	}
	require.NoError(t, topo.Rename(name))
	state := t.TempDir()
	t.Cleanup(func() { _ = Down(state, name) })

	c, err := Up(context.Background(), Spec{Topology: topo, HelloTime: time.Second, LifeTime: 3 * time.Second},
		UpOptions{StateDir: state, Wait: 20 * time.Second})
	require.NoError(t, err)
	st, err := c.Status()
	require.NoError(t, err)
	require.Len(t, st.Ports, 4)
	require.Empty(t, st.Unsecured())

	d, err := Dial(state, name)
	require.NoError(t, err)
	st2, err := d.Status()
	require.NoError(t, err)
	require.Equal(t, st.PID, st2.PID)
	require.NotEqual(t, os.Getpid(), st.PID, "the lab runs in a process of its own")

	require.NoError(t, Down(state, name))
	_, err = Dial(state, name)
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(topology.NamespacePath(name, "ce1"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}
