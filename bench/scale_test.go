package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// TestMain lets this test binary be the lab process of the labs
// TestScaleSmall brings up.
func TestMain(m *testing.M) {
	lab.ProcessMain()
	os.Exit(m.Run())
}

// The generated topology is a user's file: validated by topology.Parse,
// with a MACsec link, an eBGP session and BFD per port.
func TestScaleTopology(t *testing.T) {
	for _, ports := range []int{2, 4, 64, MaxScalePorts} {
		data, err := ScaleTopology("sc", ports)
		require.NoError(t, err)
		topo, err := topology.Parse("scale.yaml", data)
		require.NoError(t, err, "%d ports", ports)
		require.Len(t, topo.Nodes, ports)
		require.Len(t, topo.Links, ports)
		sessions := 0
		for _, l := range topo.Links {
			require.True(t, l.MACsec.Enabled, l.Name)
		}
		for _, n := range topo.Nodes {
			require.NotNil(t, n.BGP, n.Name)
			for _, nb := range n.BGP.Neighbors {
				require.True(t, nb.BFD, "%s→%s", n.Name, nb.Name)
				sessions++
			}
		}
		require.Equal(t, 2*ports, sessions, "both ends of one session per port")
	}
	for _, bad := range []int{0, 1, 3, MaxScalePorts + 2} {
		_, err := ScaleTopology("sc", bad)
		require.ErrorContains(t, err, fmt.Sprintf("%d ports: a generated lab has an even number", bad))
	}
}

func TestScaleTable(t *testing.T) {
	rep := &ScaleReport{Idle: 10, Points: []ScalePoint{
		{Ports: 4, Namespaces: 4, LabPorts: 8, Up: 1, RSSMiB: 20, IdleCPU: 1},
		{Ports: 16, Namespaces: 16, LabPorts: 32, Up: 4, RSSMiB: 80, IdleCPU: 8},
	}}
	var b bytes.Buffer
	require.NoError(t, rep.WriteTable(&b))
	out := b.String()
	// 16 ports is 4× 4 ports: up time grew 4× (linear: 1.00), CPU 8×
	// (2.00); per added port 250 ms, 5 MiB, 0.583 %.
	require.Regexp(t, `16\s+4\s+250\.0\s+1\.00\s+5\.00\s+1\.00\s+0\.583\s+2\.00`, out)
}

// TestScaleSmall brings a generated lab of 4 ports up, secured and
// Established, measures it and removes it: what bench scale does at each
// size (its 64-port run is a benchmark, not part of the tests).
func TestScaleSmall(t *testing.T) {
	nettest.NeedRoot(t)
	state := t.TempDir()
	name := "s" + nettest.UniqueID()
	name = name[:min(len(name), topology.MaxLabName-2)]
	t.Cleanup(func() { _ = lab.Down(state, name+"4") })
	var progress bytes.Buffer
	rep, err := RunScale(context.Background(), ScaleConfig{
		Ports: []int{4}, Idle: time.Second, Wait: 20 * time.Second, Name: name, StateDir: state, Progress: &progress,
	})
	require.NoError(t, err, progress.String())
	require.Len(t, rep.Points, 1)
	p := rep.Points[0]
	require.Equal(t, 4, p.Ports)
	require.Equal(t, 8, p.LabPorts)
	require.Positive(t, p.Secured)
	require.GreaterOrEqual(t, p.Up, p.Secured)
	require.Less(t, p.Up, 20.0)
	require.Positive(t, p.RSSMiB)
	require.Positive(t, p.Threads)
	require.GreaterOrEqual(t, p.IdleCPU, 0.0)
	require.Empty(t, p.Left)
	require.Contains(t, progress.String(), "secured at")
	_, err = os.Stat(topology.NamespacePath(name+"4", "ce1"))
	require.ErrorIs(t, err, os.ErrNotExist, "lab down removed the namespaces")
	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b))
	require.Contains(t, b.String(), "PORTS")
}
