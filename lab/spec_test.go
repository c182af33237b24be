package lab

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/topology"
)

// The lab process gets exactly the topology the command resolved: every
// built-in survives the spec file unchanged, tunnels' own backends too.
// (Compared as JSON: the file as read, which only the command's exports
// use, stays in the command.)
func TestSpecRoundTrip(t *testing.T) {
	for _, name := range topology.Builtins() {
		topo, err := topology.Builtin(name)
		require.NoError(t, err)
		require.NoError(t, topo.Rename("x"))
		for i, tu := range topo.Tunnels {
			tu.Backend = []string{"userspace", "auto", "kernel"}[i%3]
		}
		dir := t.TempDir()
		want := Spec{Topology: topo, HelloTime: time.Second, LifeTime: 3 * time.Second, PNThreshold: 7}
		require.NoError(t, writeSpec(dir, want))
		got, err := ReadSpec(dir)
		require.NoError(t, err)
		wantJSON, err := json.Marshal(want)
		require.NoError(t, err)
		gotJSON, err := json.Marshal(*got)
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), string(gotJSON), name)
		require.Equal(t, want.Topology.Nodes, got.Topology.Nodes, name)
	}
}
