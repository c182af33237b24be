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

// A phase ends at the next note, and the datagrams sent in it that are
// still on their way land before the step after the note acts: here 3 a
// direction sit in the slow link's 30 ms delay when wire is cut. Counted
// lost in the phase they were sent in, dpd's "both tunnels" lost 1 of 401
// so (sent 61 µs before link1 was cut).
func TestLabRunPhaseEndsWhenInFlightLand(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "slow.yaml"), []byte(`name: slow
nodes:
  a:
    kind: host
    ports:
      p: {kind: ethernet, addresses: [10.9.1.1/24]}
    routes:
      - {prefix: 10.9.2.0/24, via: 10.9.1.2}
  r:
    kind: router
    ports:
      a: {kind: ethernet, addresses: [10.9.1.2/24]}
      b: {kind: ethernet, addresses: [10.9.2.2/24]}
  b:
    kind: host
    ports:
      p: {kind: ethernet, addresses: [10.9.2.1/24]}
    routes:
      - {prefix: 10.9.1.0/24, via: 10.9.2.2}
links:
  - {name: slow, endpoints: ["a:p", "r:a"], impairments: {delay: 30ms}}
  - {name: wire, endpoints: ["r:b", "b:p"], impairments: {rate: 10Gbit}}
`), 0o600))
	file := filepath.Join(dir, "inflight.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`name: inflight
title: a cut behind a slow link
topology: slow.yaml
probes:
  - {name: p, from: a 10.9.1.1, to: b 10.9.2.1, rate: 100}
steps:
  - note: before the cut
  - wait: 1s
  - note: cut
  - cut: wire
  - wait: 500ms
assert:
  - {probe: p, phase: before the cut, maxLoss: 0}
  - {probe: p, phase: cut, minOutage: 400ms}
`), 0o600))
	env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
	out, errOut, status := runBin(t, env, "lab", "run", file, "--out", filepath.Join(dir, "r"), "--no-capture")
	require.Zero(t, status, "%s\n%s", out, errOut)
	var rep scenario.Report
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "r", "inflight", "report.json"))), &rep))
	require.Len(t, rep.Phases, 2)
	before := rep.Phases[0].Probes[0]
	require.Zero(t, before.Lost)
	require.Greater(t, before.Sent, 150)
	// The note waited for the last datagram sent before it (≤ 10 ms
	// earlier, 30 ms in flight), and returned when it landed, not at the
	// bound.
	note := rep.Steps[2]
	require.Equal(t, "note: cut", note.Text)
	require.Greater(t, note.End-note.Start, 0.015)
	require.Less(t, note.End-note.Start, 0.4)
	require.NotContains(t, out+errOut, "not arrived")
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
	out, errOut, status := runBin(t, env, "lab", "run", "rotate-cak", "--name", "x", "--keep", "--out", filepath.Join(dir, "r"),
		"--runbook", "--resource-group", "rg-test", "--vault", "kv-test")
	require.Zero(t, status, "%s%s", out, errOut)
	checkReportAndRunbook(t, env, filepath.Join(dir, "r", "rotate-cak"), out)
	out, errOut, status = runBin(t, env, "lab", "status", "--lab", "x", "--json")
	require.Zero(t, status, "%s%s", out, errOut)
	var infos []struct{ Name, State, Owner string }
	require.NoError(t, json.Unmarshal([]byte(out), &infos), out)
	require.Equal(t, []struct{ Name, State, Owner string }{{"x", "running", ""}}, infos)
	out, errOut, status = runBin(t, env, "lab", "down", "x")
	require.Zero(t, status, "%s%s", out, errOut)
}

// checkReportAndRunbook: a rotate-cak run's report has the links' state
// at start and end as the lab has it (the kept lab's CAK fingerprints are
// the report's end ones, new since the start), both links' traffic and the
// drains; --runbook printed the procedure with the names given, the same
// as runbook.txt, and no key.
func checkReportAndRunbook(t *testing.T, env []string, dir, out string) {
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var rep scenario.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.NotNil(t, rep.Start)
	require.NotNil(t, rep.End)
	macsec, errOut, status := runBin(t, env, "lab", "macsec", "--lab", "x", "--json")
	require.Zero(t, status, "%s%s", macsec, errOut)
	for _, link := range []string{"link1", "link2"} {
		start, end := rep.Start.Link(link), rep.End.Link(link)
		require.True(t, start.Up && end.Up && start.MACsec, "%s secured at start and end", link)
		for i, e := range end.Ends {
			require.Equal(t, "GcmAesXpn256", e.Cipher)
			require.Equal(t, "Disabled", e.SCIState)
			require.Len(t, e.CAK, 8, "a fingerprint")
			require.Contains(t, macsec, e.CAK, "%s: the lab's CAK is the report's", e.Port)
			require.NotEqual(t, start.Ends[i].CAK, e.CAK, "%s: rotated", e.Port)
			require.Len(t, e.BGP, 2, "%s: the circuit's two peerings", e.Port)
			for j, want := range []string{link + ".100", link + ".200"} {
				require.Equal(t, want, e.BGP[j].Session)
				require.Equal(t, "Established", e.BGP[j].State, "%s %s", e.Port, want)
			}
		}
		require.Equal(t, end.Ends[0].CKN, end.Ends[1].CKN)
		require.NotEqual(t, end.Ends[0].KeyServer, end.Ends[1].KeyServer, "one key server")
	}
	require.Len(t, rep.Traffic, 2)
	for _, tr := range rep.Traffic {
		require.Greater(t, tr.Peak, 1000.0, "%s carried the bulk flow at some point", tr.Link)
	}
	require.Len(t, rep.Spans, 2, "both drains")
	require.NotNil(t, rep.Runbook)
	runbook, err := os.ReadFile(filepath.Join(dir, "runbook.txt"))
	require.NoError(t, err)
	require.Contains(t, out, string(runbook), "--runbook prints runbook.txt")
	require.Contains(t, string(runbook), "RG=rg-test")
	require.Contains(t, string(runbook), "VAULT=kv-test")
	require.Contains(t, string(runbook), `az network express-route port link update -g "$RG" --port-name "$PORT" -n link2`)
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	require.NoError(t, err)
	for _, want := range []string{`class="topology" data-when="start"`, `class="topology" data-when="end"`, `class="timeline"`, `class="traffic" data-link="link2"`, `id="runbook"`, `class="yaml"`} {
		require.Contains(t, string(html), want)
	}
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

// daemonExercises are the built-in exercises on the built-in topology
// that TestLabRunExercisesDaemons runs with BIRD and FRR as ce1 and ce2:
// every one whose recommended procedure drains a link (enable-macsec,
// rotate-cak, rotate-cak-azure: the Azure emulator keys the Microsoft
// edges, the daemons are keyed as secylab's routers are), and
// key-mismatch, the failover the drains avoid. The rest on that
// topology drain nothing and test MACsec, not the customer router:
// cipher-mismatch, sci-state and pn-exhaustion, and admin-state (the
// Microsoft edge's port off, the failover key-mismatch already covers).
var daemonExercises = []string{"01-enable-macsec", "02-rotate-cak", "03-key-mismatch", "10-rotate-cak-azure"}

// TestLabRunExercisesDaemons runs daemonExercises on the built-in
// topology with BIRD, then FRR, as ce1 and ce2 (iBGP between them over
// ce-lan, next hop self), with the built-in scenarios' assertions: every
// recommended procedure (drain, change, verify, undrain, link by link)
// loses nothing, the key mismatch moves the traffic to link2 in at most
// 1.5 s (BFD), link1 is preferred again once the keys agree.
func TestLabRunExercisesDaemons(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		if testing.Short() {
			t.Skip("runs four exercises (a minute)")
		}
		topo := siblingDaemons(t, tt.kind, tt.kind)
		dir := filepath.Dir(topo)
		var files []string
		for _, sc := range daemonExercises {
			b, err := os.ReadFile("../../scenario/builtin/" + sc + ".yaml")
			require.NoError(t, err)
			s := strings.Replace(string(b), "topology: expressroute-direct\n", "topology: "+filepath.Base(topo)+"\n", 1)
			s = strings.Replace(s, "{probe: onprem-vnet, phase: mismatch, maxOutage: 2s}", "{probe: onprem-vnet, phase: mismatch, maxOutage: 1500ms}", 1)
			require.NotEqual(t, string(b), s)
			files = append(files, filepath.Join(dir, sc+".yaml"))
			require.NoError(t, os.WriteFile(files[len(files)-1], []byte(s), 0o600))
		}
		env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
		out, errOut, status := runBin(t, env, append([]string{"lab", "run", "--out", filepath.Join(dir, "reports")}, files...)...)
		t.Logf("%s as ce1 and ce2:\n%s", tt.kind, out)
		require.Zero(t, status, "%s\n%s", out, errOut)
		require.Equal(t, 3, strings.Count(out, "onprem-vnet during recommended: at most 0 packets lost — 0 lost"), "enable-macsec, rotate-cak and rotate-cak-azure")
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

// A scenario's exec step runs the daemons' own CLIs as lab exec does:
// vtysh and birdc reach the node's daemon at their default paths, the
// output is in the report, and the exit status can be asserted.
func TestLabRunExecDaemonCLI(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		dir := filepath.Dir(daemonTopology(t, tt.kind))
		cli, want := `vtysh -c 'show bgp summary'`, `192.168.100.130 +4 +12076`
		if tt.kind == "bird" {
			cli, want = `birdc show protocols`, `n_link1 +BGP +--- +up`
		}
		file := filepath.Join(dir, "cli.yaml")
		require.NoError(t, os.WriteFile(file, []byte(`name: cli
title: the daemon's CLI in exec steps
topology: `+tt.kind+`.yaml
steps:
  - waitFor: {bgp: {link: link1, established: true}, timeout: 40s}
  - exec: {node: ce1, command: "`+strings.ReplaceAll(cli, `"`, `\"`)+`", exitCode: 0}
  - exec: {node: ce1, command: "`+cli+` | grep -E '`+want+`'", expect: ok}
  - exec: {node: ce1, command: "`+cli+` >/dev/null; exit 3", exitCode: 3}
`), 0o600))
		env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
		out, errOut, status := runBin(t, env, "lab", "run", file, "--out", filepath.Join(dir, "reports"), "--no-capture")
		require.Zero(t, status, "%s\n%s", out, errOut)
		require.Contains(t, out, "on ce1: "+cli+" exits with status 0 — exit status 0")
		require.Contains(t, out, "exits with status 3 — exit status 3")
		b, err := os.ReadFile(filepath.Join(dir, "reports", "cli", "report.json"))
		require.NoError(t, err)
		var rep scenario.Report
		require.NoError(t, json.Unmarshal(b, &rep))
		require.Regexp(t, want, rep.Steps[1].Output, "the CLI's whole output is in the report")
	})
}
