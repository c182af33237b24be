package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/topology"
)

func runBenchScale(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"bench", "scale"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestBenchScaleBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ports", "3"}, "--ports: 3 ports: a generated lab has an even number of Direct ports"},
		{[]string{"--ports", "4,1024"}, "--ports: 1024 ports"},
		{[]string{"--ports", ""}, "--ports"},
		{[]string{"--idle", "10ms"}, "--idle 10ms"},
		{[]string{"--wait", "0s"}, "--wait 0s"},
		{[]string{"--topology", "5"}, "--topology: 5 ports"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := runBenchScale(tc.args...)
			require.ErrorContains(t, err, tc.want)
			var ue *usageError
			require.True(t, errors.As(err, &ue), "%v must exit with status 2", err)
		})
	}
}

// --topology prints a file that lab up takes as it is.
func TestBenchScaleTopology(t *testing.T) {
	out, err := runBenchScale("--topology", "8")
	require.NoError(t, err)
	topo, err := topology.Parse("scale.yaml", []byte(out))
	require.NoError(t, err)
	require.Len(t, topo.Links, 8)
	require.Equal(t, "scale", topo.Name)
}
