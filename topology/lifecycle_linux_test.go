package topology

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

func needRootTest(t *testing.T) {
	t.Helper()
	if err := needRoot(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: needs iproute2 (ip)")
	}
}

// uniqueLab names a lab after the test and the process, so parallel runs
// and tests never share a name: "t" and 8 hex digits.
func uniqueLab(t *testing.T, salt string) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s/%d", t.Name(), salt, os.Getpid())
	return fmt.Sprintf("t%08x", h.Sum32())
}

// chain is h1 — r — h2 with static routes across the router.
const chain = `name: NAME
nodes:
  h1:
    kind: host
    ports:
      eth1: {addresses: [10.0.1.10/24]}
    routes:
      - {prefix: 10.0.2.0/24, via: 10.0.1.1}
  r:
    kind: router
    ports:
      eth1: {addresses: [10.0.1.1/24]}
      eth2: {addresses: [10.0.2.1/24]}
  h2:
    kind: host
    ports:
      eth1: {addresses: [10.0.2.10/24]}
    routes:
      - {prefix: 10.0.1.0/24, via: 10.0.2.1}
links:
  - name: l1
    endpoints: [h1:eth1, r:eth1]
  - name: l2
    endpoints: [r:eth2, h2:eth1]
`

func parseLab(t *testing.T, src, lab string) *Topology {
	t.Helper()
	topo, err := Parse("test.yaml", []byte(strings.ReplaceAll(src, "NAME", lab)))
	require.NoError(t, err)
	return topo
}

// createLab creates the lab and always destroys it when the test ends.
func createLab(t *testing.T, topo *Topology, stateDir string) {
	t.Helper()
	t.Cleanup(func() {
		if err := Destroy(stateDir, topo.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	})
	require.NoError(t, Create(context.Background(), topo, stateDir))
}

func ping(ns, addr string) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c1", "-W1", addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w\n%s", addr, ns, err, out)
	}
	return nil
}

func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// assertGone checks that nothing of lab remains: no namespace, no
// interface in the root namespace named after it, no state directory.
func assertGone(t *testing.T, stateDir, lab string) {
	t.Helper()
	for _, ns := range strings.Split(ipOut(t, "netns", "list"), "\n") {
		assert.False(t, strings.HasPrefix(ns, NamespacePrefix+lab+NamespaceSep), "namespace left: %s", ns)
	}
	matches, _ := filepath.Glob(filepath.Join(NetnsDir, NamespacePrefix+lab+NamespaceSep+"*"))
	assert.Empty(t, matches, "mount points left")
	assert.NotContains(t, ipOut(t, "-o", "link", "show"), lab[:4], "interface left in the root namespace")
	_, err := os.Stat(LabDir(stateDir, lab))
	assert.ErrorIs(t, err, fs.ErrNotExist, "state directory left")
}

func TestCreatePingDestroy(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	topo := parseLab(t, chain, lab)
	fds := openFDs(t)
	createLab(t, topo, stateDir)

	require.NoError(t, ping(NamespaceName(lab, "h1"), "10.0.2.10"), "across the router")
	require.NoError(t, ping(NamespaceName(lab, "r"), "10.0.1.10"))

	fwd, err := exec.Command("ip", "netns", "exec", NamespaceName(lab, "r"), "cat", "/proc/sys/net/ipv4/ip_forward").Output()
	require.NoError(t, err)
	assert.Equal(t, "1", strings.TrimSpace(string(fwd)))

	st, err := ReadState(stateDir, lab)
	require.NoError(t, err)
	assert.True(t, st.Complete)
	assert.Len(t, st.Namespaces, 3)
	assert.Len(t, st.Links, 2)
	fi, err := os.Stat(filepath.Join(LabDir(stateDir, lab), "state.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	labs, err := List(stateDir)
	require.NoError(t, err)
	require.Len(t, labs, 1)
	assert.True(t, labs[0].Healthy())

	require.NoError(t, Destroy(stateDir, lab))
	assertGone(t, stateDir, lab)
	assert.ErrorIs(t, Destroy(stateDir, lab), fs.ErrNotExist, "second destroy")
	assert.Equal(t, fds, openFDs(t), "namespace handles, netlink sockets or files leaked")
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

func TestCreateExists(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	topo := parseLab(t, chain, lab)
	createLab(t, topo, stateDir)

	err := Create(context.Background(), topo, stateDir)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.ErrorContains(t, err, fmt.Sprintf("lab %q exists", lab))
	assert.ErrorContains(t, err, "run secylab lab down "+lab)

	// A namespace of the lab without state (e.g. made by hand) is refused
	// too, and left alone.
	other := t.TempDir()
	err = Create(context.Background(), topo, other)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.ErrorContains(t, err, "namespace "+NamespaceName(lab, "h1"))
	assert.True(t, namespaceExists(NamespaceName(lab, "h1")))
	_, err = os.Stat(LabDir(other, lab))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestCreateFailsHalfWay(t *testing.T) {
	needRootTest(t)
	for _, at := range []string{"link l2", "routes h2:eth1", "namespace NS"} {
		t.Run(at, func(t *testing.T) {
			stateDir := t.TempDir()
			lab := uniqueLab(t, at)
			at = strings.ReplaceAll(at, "NS", NamespaceName(lab, "r"))
			failpoint = func(step string) error {
				if step == at {
					return errors.New("injected failure")
				}
				return nil
			}
			t.Cleanup(func() { failpoint = nil; _ = Destroy(stateDir, lab) })
			err := Create(context.Background(), parseLab(t, chain, lab), stateDir)
			require.ErrorContains(t, err, "injected failure")
			assertGone(t, stateDir, lab)
		})
	}
}

func TestCreateCanceled(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	failpoint = func(step string) error {
		if strings.HasPrefix(step, "link") {
			cancel()
		}
		return nil
	}
	t.Cleanup(func() { failpoint = nil; _ = Destroy(stateDir, lab) })
	err := Create(ctx, parseLab(t, chain, lab), stateDir)
	// The cancel lands after the first link step ran; the next step fails.
	require.ErrorIs(t, err, context.Canceled)
	assertGone(t, stateDir, lab)
}

func TestTwoLabsSideBySide(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	a, b := uniqueLab(t, "a"), uniqueLab(t, "b")
	createLab(t, parseLab(t, chain, a), stateDir)
	createLab(t, parseLab(t, chain, b), stateDir)
	require.NoError(t, ping(NamespaceName(a, "h1"), "10.0.2.10"))
	require.NoError(t, ping(NamespaceName(b, "h1"), "10.0.2.10"))

	require.NoError(t, Destroy(stateDir, a))
	assertGone(t, stateDir, a)
	require.NoError(t, ping(NamespaceName(b, "h1"), "10.0.2.10"), "the other lab is untouched")
}

func TestDestroyAfterNamespaceGone(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	createLab(t, parseLab(t, chain, lab), stateDir)
	ipOut(t, "netns", "del", NamespaceName(lab, "r"))

	labs, err := List(stateDir)
	require.NoError(t, err)
	require.Len(t, labs, 1)
	assert.Equal(t, []string{NamespaceName(lab, "r")}, labs[0].Missing)
	assert.False(t, labs[0].Healthy())

	require.NoError(t, Destroy(stateDir, lab))
	assertGone(t, stateDir, lab)
}

func TestDestroyAllTouchesOnlyLabsWithState(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	a, b := uniqueLab(t, "a"), uniqueLab(t, "b")
	createLab(t, parseLab(t, chain, a), stateDir)
	createLab(t, parseLab(t, chain, b), stateDir)
	// A namespace that looks like secylab's but has no state stays.
	foreign := NamespaceName(uniqueLab(t, "foreign"), "x")
	ipOut(t, "netns", "add", foreign)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", foreign).Run() })

	require.NoError(t, DestroyAll(stateDir))
	assertGone(t, stateDir, a)
	assertGone(t, stateDir, b)
	assert.True(t, namespaceExists(foreign))
}

func TestDestroyStopsProcesses(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	createLab(t, parseLab(t, chain, lab), stateDir)

	// A recorded process outside the lab's namespaces, and an unrecorded
	// one inside, which would keep its namespace alive.
	recorded := exec.Command("sleep", "300")
	require.NoError(t, recorded.Start())
	inside := exec.Command("ip", "netns", "exec", NamespaceName(lab, "r"), "sleep", "300")
	require.NoError(t, inside.Start())
	require.NoError(t, RecordProcess(stateDir, lab, "sleeper", recorded.Process.Pid))
	st, err := ReadState(stateDir, lab)
	require.NoError(t, err)
	require.Len(t, st.Processes, 1)
	assert.NotZero(t, st.Processes[0].StartTime)

	done := make(chan error, 2)
	go func() { done <- recorded.Wait() }()
	go func() { done <- inside.Wait() }()
	require.NoError(t, Destroy(stateDir, lab))
	for range 2 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a lab process survived Destroy")
		}
	}
	assertGone(t, stateDir, lab)
}

func TestRecycledPIDIsNotKilled(t *testing.T) {
	needRootTest(t)
	p := exec.Command("sleep", "300")
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
	start, err := processStartTime(p.Process.Pid)
	require.NoError(t, err)
	stale := Process{Name: "old", PID: p.Process.Pid, StartTime: start - 1}
	assert.False(t, stale.alive())
	require.NoError(t, stale.stop(10*time.Millisecond))
	require.NoError(t, p.Process.Signal(syscall.Signal(0)), "a process with another start time was killed")
}

// TestHelperCreateAndHang is the lab process of TestDestroyAfterSIGKILL.
func TestHelperCreateAndHang(t *testing.T) {
	lab, stateDir := os.Getenv("SECYLAB_TEST_LAB"), os.Getenv("SECYLAB_TEST_STATE")
	if lab == "" {
		t.Skip("helper process for TestDestroyAfterSIGKILL")
	}
	topo := parseLab(t, chain, lab)
	if err := Create(context.Background(), topo, stateDir); err != nil {
		fmt.Println("create:", err)
		os.Exit(1)
	}
	if err := RecordProcess(stateDir, lab, "lab", os.Getpid()); err != nil {
		fmt.Println("record:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(0)
}

func TestDestroyAfterSIGKILL(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCreateAndHang$", "-test.v")
	cmd.Env = append(os.Environ(), "SECYLAB_TEST_LAB="+lab, "SECYLAB_TEST_STATE="+stateDir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = Destroy(stateDir, lab) })
	buf := make([]byte, 4096)
	var got strings.Builder
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(got.String(), "ready") {
		require.True(t, time.Now().Before(deadline), "helper never got ready: %s", got.String())
		n, err := out.Read(buf)
		got.Write(buf[:n])
		require.NoError(t, err, "helper: %s", got.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	require.NoError(t, ping(NamespaceName(lab, "h1"), "10.0.2.10"), "the lab outlives its process")

	require.NoError(t, Destroy(stateDir, lab))
	assertGone(t, stateDir, lab)
}

func TestCheckCaps(t *testing.T) {
	assert.NoError(t, checkCaps(strings.NewReader("Name:\tx\nCapEff:\t000001ffffffffff\n")))
	assert.ErrorIs(t, checkCaps(strings.NewReader("CapEff:\t0000000000000000\n")), ErrNeedRoot)
	assert.ErrorIs(t, checkCaps(strings.NewReader("CapEff:\t0000000000001000\n")), ErrNeedRoot, "NET_ADMIN without SYS_ADMIN")
	assert.EqualError(t, ErrNeedRoot, "secylab lab needs root (CAP_NET_ADMIN) to create namespaces")
}

// TestControlledPort plays the dataplane: after Create, the wire of a
// MACsec link is up with a large MTU, no address and no IPv6; once a TAP
// named after the port exists, ConfigureControlledPort gives it the
// addresses and the routes through it.
func TestControlledPort(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	src := strings.Replace(base, "name: t\n", "name: NAME\n", 1)
	src = strings.Replace(src, "    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.0/16, via: 192.168.100.130}\n", 1)
	topo := parseLab(t, src, lab)
	createLab(t, topo, stateDir)
	ns := NamespaceName(lab, "a")

	wire := ipOut(t, "-n", ns, "-d", "addr", "show", "link1")
	assert.Contains(t, wire, "mtu 1600")
	assert.Contains(t, wire, "state UP")
	assert.NotContains(t, wire, "inet", "the wire carries no address")
	v6, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv6/conf/link1/disable_ipv6").Output()
	if err == nil {
		assert.Equal(t, "1", strings.TrimSpace(string(v6)))
	}
	for key, want := range map[string]string{"arp_ignore": "8", "rp_filter": "1"} {
		v, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/conf/link1/"+key).Output()
		require.NoError(t, err)
		assert.Equal(t, want, strings.TrimSpace(string(v)), "link1's %s", key)
	}

	err = ConfigureControlledPort(context.Background(), topo, "a", "er1")
	assert.ErrorContains(t, err, "the dataplane makes the TAP before calling ConfigureControlledPort")

	ipOut(t, "-n", ns, "tuntap", "add", "dev", "er1", "mode", "tap")
	for range 2 { // idempotent
		require.NoError(t, ConfigureControlledPort(context.Background(), topo, "a", "er1"))
	}
	assert.Contains(t, ipOut(t, "-n", ns, "addr", "show", "er1"), "inet 192.168.100.129/30")
	assert.Contains(t, ipOut(t, "-n", ns, "route", "show", "10.50.0.0/16"), "via 192.168.100.130 dev er1")

	// A kernel on the wire asking for a's address gets no answer from a's
	// wire: the address lives on the TAP, behind the dataplane. (It used
	// to answer, and a MACsec-off link's traffic went past the far port.)
	nsB := NamespaceName(lab, "b")
	ipOut(t, "-n", nsB, "addr", "add", "192.168.100.130/30", "dev", "link1")
	assert.Error(t, ping(nsB, "192.168.100.129"))
	assert.NotContains(t, ipOut(t, "-n", nsB, "neigh", "show", "192.168.100.129", "dev", "link1"), "lladdr", "a's wire answered ARP")

	assert.ErrorContains(t, ConfigureControlledPort(context.Background(), topo, "a", "nope"), `no port "nope"`)

	require.NoError(t, Destroy(stateDir, lab))
	assertGone(t, stateDir, lab)
}

// TestBuiltinLabUp brings up expressroute-direct: the plain LANs work at
// once (onprem-host ↔ ce1, msee1 ↔ vnet-host); link1 waits for the
// dataplane.
func TestBuiltinLabUp(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	topo, err := Builtin("expressroute-direct")
	require.NoError(t, err)
	require.NoError(t, topo.Rename(uniqueLab(t, "")))
	createLab(t, topo, stateDir)
	require.NoError(t, ping(NamespaceName(topo.Name, "onprem-host"), "10.1.0.1"))
	require.NoError(t, ping(NamespaceName(topo.Name, "vnet-host"), "10.50.0.1"))
	require.NoError(t, ping(NamespaceName(topo.Name, "ce2"), "10.1.1.10"))
	require.NoError(t, Destroy(stateDir, topo.Name))
	assertGone(t, stateDir, topo.Name)
}

// Labs whose names used to make the same namespace (lab X with node a-h1,
// lab X-a with node h1: both sl-X-a-h1) come up side by side, at the same
// moment, and removing one leaves the other whole.
func TestNamespaceNamesNeverCollide(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	x := uniqueLab(t, "")[:8]
	one := parseLab(t, strings.ReplaceAll(chain, "h1", "a-h1"), x)
	two := parseLab(t, chain, x+"-a")
	require.NotEqual(t, NamespaceName(one.Name, "a-h1"), NamespaceName(two.Name, "h1"))
	t.Cleanup(func() { _ = Destroy(stateDir, one.Name); _ = Destroy(stateDir, two.Name) })
	errs := make(chan error, 2)
	for _, topo := range []*Topology{one, two} {
		go func() { errs <- Create(context.Background(), topo, stateDir) }()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	require.NoError(t, Destroy(stateDir, one.Name))
	assertGone(t, stateDir, one.Name)
	require.NoError(t, ping(NamespaceName(two.Name, "h1"), "10.0.2.10"), "the other lab is whole")
}

// A namespace that appears under a lab's name while the lab is being made
// (someone else's) is never removed by the failed create's cleanup, and
// the refusal names it.
func TestCreateLeavesAnotherOwnersNamespace(t *testing.T) {
	needRootTest(t)
	stateDir := t.TempDir()
	lab := uniqueLab(t, "")
	ns := NamespaceName(lab, "r")
	failpoint = func(step string) error {
		if step == "namespace "+ns {
			ipOut(t, "netns", "add", ns) // made by someone else, just now
		}
		return nil
	}
	t.Cleanup(func() { failpoint = nil; _ = Destroy(stateDir, lab); _ = exec.Command("ip", "netns", "del", ns).Run() })
	err := Create(context.Background(), parseLab(t, chain, lab), stateDir)
	var ce *CollisionError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ns, ce.Namespace)
	assert.ErrorContains(t, err, "no lab in "+stateDir+" made it")
	assert.NotContains(t, err.Error(), "run secylab lab down "+lab, "the lab does not own it: lab down is no remedy")
	assert.True(t, namespaceExists(ns), "another owner's namespace was removed")
	_, err = os.Stat(LabDir(stateDir, lab))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// TestPeeringMTU: a peering's 1500-octet packets fit the wire with an
// S-tag and a C-tag and the longest MACsec overhead (SecTAG with SCI,
// ICV); the root test TestLabCircuits sends them with DF set.
func TestPeeringMTU(t *testing.T) {
	const tags = 8
	require.LessOrEqual(t, PlainMTU+tags+macsec.MaxOverhead, WireMTU)
}
