package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// twoTunnels has two IPsec tunnels, each asking for its own backend.
const twoTunnels = `name: twotun
nodes:
  a: {kind: router, ports: {w: {addresses: [10.98.1.1/30]}, lan: {addresses: [10.96.1.1/24]}}}
  b: {kind: router, ports: {w: {addresses: [10.98.1.2/30]}, lan: {addresses: [10.96.2.1/24]}}}
  c: {kind: router, ports: {w: {addresses: [10.98.2.1/30]}, lan: {addresses: [10.96.3.1/24]}}}
  d: {kind: router, ports: {w: {addresses: [10.98.2.2/30]}, lan: {addresses: [10.96.4.1/24]}}}
  ha: {kind: host, ports: {p: {addresses: [10.96.1.10/24]}}}
  hb: {kind: host, ports: {p: {addresses: [10.96.2.10/24]}}}
  hc: {kind: host, ports: {p: {addresses: [10.96.3.10/24]}}}
  hd: {kind: host, ports: {p: {addresses: [10.96.4.10/24]}}}
tunnels:
  - name: t1
    backend: userspace
    ends:
      - {node: a, outer: 10.98.1.1, protects: [10.96.1.0/24]}
      - {node: b, outer: 10.98.1.2, protects: [10.96.2.0/24]}
  - name: t2
    backend: auto
    ends:
      - {node: c, outer: 10.98.2.1, protects: [10.96.3.0/24]}
      - {node: d, outer: 10.98.2.2, protects: [10.96.4.0/24]}
links:
  - {name: ab, endpoints: ["a:w", "b:w"]}
  - {name: cd, endpoints: ["c:w", "d:w"]}
  - {name: la, endpoints: ["a:lan", "ha:p"]}
  - {name: lb, endpoints: ["b:lan", "hb:p"]}
  - {name: lc, endpoints: ["c:lan", "hc:p"]}
  - {name: ld, endpoints: ["d:lan", "hd:p"]}
`

// Under lab up each tunnel runs on its own backend: t2 asks for auto (the
// probe decides), not for t1's userspace (lab serve used to be given the
// first tunnel's backend for all of them).
func TestLabUpTunnelsKeepTheirBackends(t *testing.T) {
	file := filepath.Join(t.TempDir(), "two.yaml")
	require.NoError(t, os.WriteFile(file, []byte(twoTunnels), 0o600))
	l := startLabWait(t, false, file)
	why := map[string]string{}
	for _, tu := range l.status().Tunnels {
		why[tu.Tunnel+"@"+tu.Node] = tu.Reason
	}
	require.Len(t, why, 4)
	for _, n := range []string{"a", "b"} {
		assert.Equal(t, "userspace ESP forced", why["t1@"+n], "t1 asks for userspace")
	}
	for _, n := range []string{"c", "d"} {
		assert.NotContains(t, why["t2@"+n], "forced", "t2 asks for auto: the probe chooses")
	}
	// The lab process reads the resolved topology from the lab's state, 0600.
	fi, err := os.Stat(filepath.Join(l.state, l.name, "spec.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// labProcessOf finds the lab process of the lab in dir by its command line.
func labProcessOf(dir string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.HasSuffix(string(b), "\x00lab\x00serve\x00"+dir+"\x00") && running(pid) {
			return pid
		}
	}
	return 0
}

// lab up killed while it holds the lab's lock, right after starting the lab
// process and before anything recorded it: lab down still finds and ends
// the lab process (it records itself, under that lock, before it acts).
func TestLabUpKilledAfterStartingTheLabProcess(t *testing.T) {
	nettest.NeedRoot(t)
	state := t.TempDir()
	name := fmt.Sprintf("k%d%d", os.Getpid()%10000, labSeq.Add(1))
	env := []string{"SECYLAB_STATE_DIR=" + state}
	t.Cleanup(func() { runBin(t, env, "lab", "down", "--all") })
	up := exec.Command(secylabBin, "lab", "up", "--name", name)
	up.Env = append(os.Environ(), append(env, lab.UpHoldEnv+"=5s")...)
	require.NoError(t, up.Start())
	dir := filepath.Join(state, name)
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the lab process never started")
		pid = labProcessOf(dir)
	}
	require.NoError(t, up.Process.Signal(syscall.SIGKILL))
	_ = up.Wait()

	out, errOut, status := runBin(t, env, "lab", "down", name)
	require.Zero(t, status, "%s%s", out, errOut)
	for deadline := time.Now().Add(5 * time.Second); running(pid); time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the lab process (pid %d) outlived lab down", pid)
	}
	nss, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	require.NotContains(t, string(nss), topology.NamespaceName(name, ""))
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// After its lab process was killed, lab status says what is wrong and what
// lab down will remove, and exits 1.
func TestLabStatusAfterCrash(t *testing.T) {
	l := startLab(t)
	pid := l.status().PID
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	for deadline := time.Now().Add(5 * time.Second); running(pid); time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline))
	}
	out, errOut, status := l.run("lab", "status")
	require.Equal(t, 1, status, "%s%s", out, errOut)
	require.Contains(t, out, "lab "+l.name+": broken")
	require.Contains(t, out, fmt.Sprintf("its lab process (pid %d) has ended", pid))
	require.NotContains(t, out, "stopped: false")
	require.Contains(t, out, "secylab lab down "+l.name+" will remove:")
	require.Contains(t, out, "namespace "+l.ns("ce1"))

	out, _, status = l.run("lab", "status", "--json")
	require.Equal(t, 1, status)
	var infos []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &infos), out)
	require.Len(t, infos, 1)
	require.Equal(t, "broken", infos[0]["state"])
	require.NotEmpty(t, infos[0]["problems"])
	require.NotEmpty(t, infos[0]["down"])
}

func TestLabStatusJSONRunning(t *testing.T) {
	l := startLab(t)
	out, errOut, status := l.run("lab", "status", "--json")
	require.Zero(t, status, "%s%s", out, errOut)
	var infos []struct {
		Name, State string
		Ports       []struct{ Node, Port, MACsec, MKA string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &infos), out)
	require.Len(t, infos, 1)
	require.Equal(t, "running", infos[0].State)
	require.Len(t, infos[0].Ports, 4)
	for _, p := range infos[0].Ports {
		require.Equal(t, "secured", p.MKA, "%s:%s", p.Node, p.Port)
	}
	require.Contains(t, out, `"keyServer"`, "camelCase keys")

	out, _, status = l.run("lab", "up", "--name", "")
	require.Equal(t, 2, status, out)

	// lab exec NODE without a command: a shell in the node's namespace.
	sh := exec.Command(secylabBin, "lab", "exec", "ce1", "--lab", l.name)
	sh.Env = append(os.Environ(), "SECYLAB_STATE_DIR="+l.state, "SHELL=/bin/sh")
	sh.Stdin = strings.NewReader("ip -o link show er1\nexit 3\n")
	got, err := sh.Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, ee.ExitCode(), "the shell's exit status")
	require.Contains(t, string(got), "er1:", "the shell runs in ce1's namespace")
}

func TestVersionFlag(t *testing.T) {
	out, errOut, status := runBin(t, nil, "--version")
	require.Zero(t, status, errOut)
	v, _, _ := runBin(t, nil, "version")
	require.Equal(t, v, out)
	require.NotEmpty(t, strings.TrimSpace(out))
}

// Every life-cycle command has examples of its own in its help.
func TestLifecycleHelpHasOwnExamples(t *testing.T) {
	root := newRootCmd()
	seen := map[string]string{}
	for _, path := range [][]string{
		{}, {"version"}, {"lab"}, {"lab", "up"}, {"lab", "down"}, {"lab", "status"}, {"lab", "exec"},
		{"lab", "run"}, {"lab", "scenarios"}, {"bench", "lab"}, {"conformance"},
	} {
		c, _, err := root.Find(path)
		require.NoError(t, err, path)
		name := strings.Join(append([]string{"secylab"}, path...), " ")
		require.NotEmpty(t, c.Example, "%s has no examples", name)
		if prev, ok := seen[c.Example]; ok {
			t.Errorf("%s repeats the examples of %s", name, prev)
		}
		seen[c.Example] = name
		for _, line := range strings.Split(c.Example, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				assert.True(t, strings.HasPrefix(line, "secylab "+strings.Join(path, " ")) || len(path) == 0, "%s: example %q is not of this command", name, line)
			}
		}
	}
}
