package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/scenario"
)

// TestLabRunBuiltins runs every built-in scenario, as CI does: each one's
// assertions hold, exit status 0, and JUnit XML with no failure.
func TestLabRunBuiltins(t *testing.T) {
	nettest.NeedRoot(t)
	if testing.Short() {
		t.Skip("runs every scenario (a minute and a half)")
	}
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
	out, errOut, status := runBin(t, env, "lab", "run", "--all", "--out", filepath.Join(dir, "reports"), "--junit", junit)
	require.Zero(t, status, "%s\n%s", out, errOut)

	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var suites struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &suites))
	require.Len(t, suites.Suites, len(scenario.Builtins()))
	for _, s := range suites.Suites {
		require.NotZero(t, s.Tests, s.Name)
		require.Zero(t, s.Failures, s.Name)
	}
	for _, n := range scenario.Builtins() {
		for _, f := range []string{"report.json", "report.html", "summary.txt"} {
			require.FileExists(t, filepath.Join(dir, "reports", n, f))
		}
	}
}

// A scenario whose assertion is wrong fails the run with a readable
// message and exit status 1.
func TestLabRunWrongAssertion(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "wrong.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`name: wrong
title: link1 is claimed to be down while nothing happens
topology: expressroute-direct
probes:
  - {name: p, from: ce1 192.168.100.129, to: msee1 192.168.100.130, rate: 50}
steps:
  - wait: 1s
assert:
  - {mka: {link: link1, secured: false}}
  - {probe: p, maxLoss: 0}
`), 0o600))
	env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
	out, errOut, status := runBin(t, env, "lab", "run", file, "--out", filepath.Join(dir, "reports"))
	require.Equal(t, 1, status, "%s\n%s", out, errOut)
	require.Contains(t, out, "FAIL  wrong")
	require.Contains(t, out, "✗ end     MKA on link1 is not secured — 2 of 2 ends secured")
	require.Contains(t, out, "✓ end     p: at most 0 packets lost")
	require.Contains(t, errOut, "1 of 1 scenarios failed: wrong")
}
