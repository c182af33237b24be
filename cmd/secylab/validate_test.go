package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/scenario"
	"github.com/secylab/secylab/topology"
)

// TestValidateEveryError: secylab validate prints every problem of every
// malformed file, one a line, and no more (no "port a:p1 is not on any link"
// after the error of the link that names it), and exits 2; no root, no lab.
func TestValidateEveryError(t *testing.T) {
	for file, want := range map[string][]string{
		"scenario-many-errors.yaml": {
			":3: bogus: unknown field",
			":5: probes[0].colour: unknown field",
			":5: probes[0].from: node ce1 has no address 10.9.9.9",
			`:7: steps[0].wait: "soon" is not a duration`,
			`:8: steps[1].cut: no link "link9"`,
			`:9: steps[2].adminState.state: "Off-ish"`,
			`:11: assert[0].probe: no probe "nope"`,
			`:12: assert[1].counter.name: unknown counter "InPktsNope": want one of OutPktsUntagged,`,
		},
		"topology-many-errors.yaml": {
			":3: colour: unknown field",
			`:8: nodes.a.ports.p1.addresses[0]: "10.0.0.1/33" is not an address`,
			`:10: nodes.b.kind: "toaster" is not a node kind`,
			`:14: links[0].endpoints[1]: node b has no port "p9"`,
			":15: links[1].speed: unknown field",
			`:15: links[1].endpoints[0]: node "c" does not exist`,
		},
	} {
		path := filepath.Join("..", "..", "testdata", "invalid", file)
		out, errOut, status := runBin(t, nil, "validate", path)
		require.Equal(t, 2, status, "%s%s", out, errOut)
		for _, w := range want {
			require.Contains(t, out, path+w, file)
		}
		require.Equal(t, len(want), strings.Count(out, path+":"), "%s: one line per error, no others:\n%s", file, out)
		require.Contains(t, errOut, "1 of 1 files are not valid")
	}
}

// TestTemplates: every built-in scenario and topology prints as YAML that
// validates on its own.
func TestTemplates(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, n := range scenario.Builtins() {
		out, err := runCLI(t, "", "lab", "scenarios", "--yaml", n)
		require.NoError(t, err, out)
		require.Contains(t, out, "name: "+n)
		f := filepath.Join(dir, n+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(out), 0o644))
		if sc, err := scenario.Builtin(n); err == nil && len(sc.ExpectInvalid) == 0 && !strings.Contains(sc.TopologyRef, "/") {
			files = append(files, f)
		}
	}
	for _, n := range topology.Builtins() {
		out, err := runCLI(t, "", "topology", "show", n)
		require.NoError(t, err, out)
		f := filepath.Join(dir, "topology-"+n+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(out), 0o644))
		files = append(files, f)
	}
	out, errOut, status := runBin(t, nil, append([]string{"validate"}, files...)...)
	require.Zero(t, status, "%s%s", out, errOut)
	require.Equal(t, len(files), strings.Count(out, ": ok ("), out)

	_, err := runCLI(t, "", "lab", "scenarios", "--yaml", "nope")
	require.True(t, isUsage(err))
	require.ErrorContains(t, err, "have enable-macsec, rotate-cak")
	_, err = runCLI(t, "", "topology", "show", "nope")
	require.ErrorContains(t, err, "want one of expressroute-direct, expressroute-ipsec")
}
