package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/scenario"
	"github.com/secylab/secylab/topology"
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

// A short exercise: a lab, a probe, a wait long enough to look at it.
const shortScenario = `name: short
title: a lab that is looked at while it runs
topology: expressroute-direct
probes:
  - {name: p, from: ce1 192.168.100.129, to: msee1 192.168.100.130, rate: 50}
steps:
  - wait: 6s
assert:
  - {mka: {link: link1, secured: true}}
`

// The output paths are checked before the first lab is built: a run that
// cannot write its report fails at once, with the reason, exit 2.
func TestLabRunBadOutputs(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	env := []string{"SECYLAB_STATE_DIR=" + state}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "/proc/nope", "--junit", filepath.Join(dir, "j.xml")}, "--out /proc/nope"},
		{[]string{"--out", filepath.Join(dir, "r"), "--junit", dir}, "is a directory"},
		{[]string{"--out", filepath.Join(dir, "r"), "--junit", filepath.Join(dir, "no", "such", "j.xml")}, "--junit"},
	} {
		start := time.Now()
		out, errOut, status := runBin(t, env, append([]string{"lab", "run", "provider-circuit", "key-mismatch"}, tc.args...)...)
		require.Equal(t, 2, status, "%v: %s%s", tc.args, out, errOut)
		require.Contains(t, errOut, tc.want, tc.args)
		require.Less(t, time.Since(start), 5*time.Second, "no lab was built: %v", tc.args)
		_, err := os.Stat(state)
		require.ErrorIs(t, err, os.ErrNotExist, "no lab was built: %v", tc.args)
	}
	_, err := os.Stat(filepath.Join(dir, "j.xml"))
	require.ErrorIs(t, err, os.ErrNotExist, "no JUnit that says nothing ran")
}

// A scenario's name is a name: one that is a path is refused at load, and
// nothing is written outside --out.
func TestLabRunNameIsNotAPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "escape.yaml")
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(shortScenario, "name: short", `name: "../../../../tmp/x/ESCAPED"`, 1)), 0o600))
	out, errOut, status := runBin(t, []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}, "lab", "run", file, "--out", filepath.Join(dir, "r"))
	require.Equal(t, 2, status, "%s%s", out, errOut)
	require.Contains(t, errOut, "escape.yaml:1")
	require.Contains(t, errOut, "name")
	_, err := os.Stat("/tmp/x/ESCAPED")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// An exercise's lab is an ordinary lab: lab status reports it as running
// (owned by the run) while the run goes on, and it goes when the run ends.
func TestLabRunStatusWhileRunning(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "short.yaml")
	require.NoError(t, os.WriteFile(file, []byte(shortScenario), 0o600))
	state := filepath.Join(dir, "state")
	env := []string{"SECYLAB_STATE_DIR=" + state}
	t.Cleanup(func() { runBin(t, env, "lab", "down", "--all") })
	run := exec.Command(secylabBin, "lab", "run", file, "--name", "watched", "--out", filepath.Join(dir, "r"))
	run.Env = append(os.Environ(), env...)
	var runOut strings.Builder
	run.Stdout, run.Stderr = &runOut, &runOut
	require.NoError(t, run.Start())
	var out string
	require.Eventually(t, func() bool {
		var status int
		out, _, status = runBin(t, env, "lab", "status", "--lab", "watched")
		return status == 0 && strings.Contains(out, "lab watched: running")
	}, 30*time.Second, 200*time.Millisecond, "lab status during the run: %s", out)
	require.Contains(t, out, "owned by lab run")
	require.Contains(t, out, "ce1:er1")
	// The operation commands work on it too.
	out, errOut, status := runBin(t, env, "lab", "macsec", "--lab", "watched", "--json")
	require.Zero(t, status, "lab macsec: %s%s", out, errOut)
	require.True(t, json.Valid([]byte(out)), out)
	out, errOut, status = runBin(t, env, "lab", "bgp", "--lab", "watched", "--json")
	require.Zero(t, status, "lab bgp: %s%s", out, errOut)
	require.True(t, json.Valid([]byte(out)), out)
	pcap := filepath.Join(dir, "link1.pcapng")
	out, errOut, status = runBin(t, env, "lab", "capture", "link1", "-c", "3", "--duration", "3s", "-w", pcap, "--lab", "watched")
	require.Zero(t, status, "lab capture: %s%s", out, errOut)
	fi, err := os.Stat(pcap)
	require.NoError(t, err)
	require.NotZero(t, fi.Size())
	require.NoError(t, run.Wait(), runOut.String())
	_, err = os.Stat(filepath.Join(state, "watched"))
	require.ErrorIs(t, err, os.ErrNotExist, "the lab goes with the run")
}

// lab run rotate-cak --name x --keep passes and leaves lab x running, an
// ordinary lab that lab status shows (as JSON too) and lab down removes.
func TestLabRunKeep(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	env := []string{"SECYLAB_STATE_DIR=" + state}
	t.Cleanup(func() { runBin(t, env, "lab", "down", "--all") })
	out, errOut, status := runBin(t, env, "lab", "run", "rotate-cak", "--name", "x", "--keep", "--out", filepath.Join(dir, "r"))
	require.Zero(t, status, "%s%s", out, errOut)
	out, errOut, status = runBin(t, env, "lab", "status", "--lab", "x", "--json")
	require.Zero(t, status, "%s%s", out, errOut)
	var infos []struct{ Name, State, Owner string }
	require.NoError(t, json.Unmarshal([]byte(out), &infos), out)
	require.Equal(t, []struct{ Name, State, Owner string }{{"x", "running", ""}}, infos)
	out, errOut, status = runBin(t, env, "lab", "down", "x")
	require.Zero(t, status, "%s%s", out, errOut)
}

// A lab run killed in the middle leaves nothing behind: its lab process
// sees that the run has ended and removes the lab.
func TestLabRunKilledLeavesNothing(t *testing.T) {
	nettest.NeedRoot(t)
	state, _, run, pid := startShortRun(t, "killed")
	require.NoError(t, run.Process.Signal(syscall.SIGKILL))
	_ = run.Wait()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(state, "killed"))
		return os.IsNotExist(err) && !running(pid)
	}, 10*time.Second, 100*time.Millisecond, "the lab outlived its killed run")
	nss, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	require.NotContains(t, string(nss), topology.NamespaceName("killed", ""))
}

// A lab run and its lab process killed together leave a lab behind; lab
// status says so (the run that owned it was killed, its lab process has
// ended) and what lab down will remove, which then removes it.
func TestLabStatusAfterKilledRun(t *testing.T) {
	nettest.NeedRoot(t)
	state, env, run, pid := startShortRun(t, "left")
	require.NoError(t, run.Process.Signal(syscall.SIGKILL))
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	_ = run.Wait()
	require.Eventually(t, func() bool { return !running(pid) }, 5*time.Second, 20*time.Millisecond)

	out, errOut, status := runBin(t, env, "lab", "status")
	require.Equal(t, 1, status, "%s%s", out, errOut)
	require.Contains(t, out, "lab left: broken, owned by lab run")
	require.Contains(t, out, fmt.Sprintf("its lab process (pid %d) has ended", pid))
	require.Contains(t, out, fmt.Sprintf("the lab run that owned it (pid %d) has ended: it was killed", run.Process.Pid))
	require.Contains(t, out, "secylab lab down left will remove:")
	require.Contains(t, out, "namespace "+topology.NamespaceName("left", "ce1"))
	out, errOut, status = runBin(t, env, "lab", "down", "left")
	require.Zero(t, status, "%s%s", out, errOut)
	_, err := os.Stat(filepath.Join(state, "left"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestLabRunExercisesDaemons runs rotate-cak and key-mismatch on the
// built-in topology with BIRD, then FRR, as ce1 and ce2 (iBGP between
// them over ce-lan, next hop self), with the built-in scenarios'
// assertions: the recommended rotation loses nothing, the key mismatch
// moves the traffic to link2 in at most 1.5 s (BFD), link1 is preferred
// again once the keys agree.
func TestLabRunExercisesDaemons(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		if testing.Short() {
			t.Skip("runs two exercises (half a minute)")
		}
		dir := t.TempDir()
		topo, err := os.ReadFile("../../topology/builtin/expressroute-direct.yaml")
		require.NoError(t, err)
		y := string(topo)
		for _, ce := range []string{"ce1", "ce2"} {
			require.Contains(t, y, "  "+ce+":\n    kind: router\n")
			y = strings.Replace(y, "  "+ce+":\n    kind: router\n", "  "+ce+":\n    kind: "+tt.kind+"\n", 1)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "er-"+tt.kind+".yaml"), []byte(y), 0o600))
		var files []string
		for _, sc := range []string{"02-rotate-cak", "03-key-mismatch"} {
			b, err := os.ReadFile("../../scenario/builtin/" + sc + ".yaml")
			require.NoError(t, err)
			s := strings.Replace(string(b), "topology: expressroute-direct\n", "topology: er-"+tt.kind+".yaml\n", 1)
			s = strings.Replace(s, "{probe: onprem-vnet, phase: mismatch, maxOutage: 2s}", "{probe: onprem-vnet, phase: mismatch, maxOutage: 1500ms}", 1)
			require.NotEqual(t, string(b), s)
			files = append(files, filepath.Join(dir, sc+".yaml"))
			require.NoError(t, os.WriteFile(files[len(files)-1], []byte(s), 0o600))
		}
		env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
		out, errOut, status := runBin(t, env, append([]string{"lab", "run", "--out", filepath.Join(dir, "reports")}, files...)...)
		t.Logf("%s as ce1 and ce2:\n%s", tt.kind, out)
		require.Zero(t, status, "%s\n%s", out, errOut)
		require.Contains(t, out, "onprem-vnet during recommended: at most 0 packets lost — 0 lost")
	})
}

// startShortRun starts `lab run` of shortScenario as lab name, in a state
// directory of its own, and returns once its lab process has run a second.
func startShortRun(t *testing.T, name string) (state string, env []string, run *exec.Cmd, pid int) {
	dir := t.TempDir()
	file := filepath.Join(dir, "short.yaml")
	require.NoError(t, os.WriteFile(file, []byte(shortScenario), 0o600))
	state = filepath.Join(dir, "state")
	env = []string{"SECYLAB_STATE_DIR=" + state}
	t.Cleanup(func() { runBin(t, env, "lab", "down", "--all") })
	run = exec.Command(secylabBin, "lab", "run", file, "--name", name, "--out", filepath.Join(dir, "r"))
	run.Env = append(os.Environ(), env...)
	require.NoError(t, run.Start())
	require.Eventually(t, func() bool {
		pid = labProcessOf(filepath.Join(state, name))
		return pid != 0
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(time.Second)
	return state, env, run, pid
}
