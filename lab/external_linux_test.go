package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

// ifaceSnapshot is what lab down must leave as it was on a host interface:
// name and index, MAC, MTU, up/down, promiscuity, and every offload as
// ethtool -k reports it.
type ifaceSnapshot struct {
	Link     string // ip -d link show, less counters and the operstate
	Offloads string // ethtool -k
}

// linkSettings is ip -d link show less what is not a setting: the carrier
// and operational state follow the far end, and the qdisc is noop until a
// link is first up, when the kernel attaches its default (noqueue on a
// veth), which stays.
func linkSettings(out []byte) string {
	s := regexp.MustCompile(`state \S+ `).ReplaceAllString(string(out), "")
	s = regexp.MustCompile(`qdisc (noop|noqueue) `).ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "NO-CARRIER,", "")
}

var promiscRe = regexp.MustCompile(`promiscuity (\d+)`)

// snapshot reads the settings of ifname in ns ("": this namespace).
func snapshot(t *testing.T, ns, ifname string) ifaceSnapshot {
	t.Helper()
	in := func(args ...string) string {
		if ns != "" {
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
		// Standard output only: ip warns on standard error about other
		// tests' namespaces going away ("Peer netns reference is invalid").
		var stderr strings.Builder
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%s: %s", args, stderr.String())
		return string(out)
	}
	return ifaceSnapshot{Link: linkSettings([]byte(in("ip", "-d", "link", "show", "dev", ifname))), Offloads: in("ethtool", "-k", ifname)}
}

func (s ifaceSnapshot) promiscuity(t *testing.T) int {
	m := promiscRe.FindStringSubmatch(s.Link)
	require.NotNil(t, m, "%s", s.Link)
	n, _ := strconv.Atoi(m[1])
	return n
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (.ci/setup --tests installs it)", name)
	}
}

// externalTopology reads a test topology and fills in its host
// interfaces, key file and lab name.
func externalTopology(t *testing.T, file, name, ext1, ext2, key string) *topology.Topology {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	s := strings.NewReplacer("EXT1", ext1, "EXT2", ext2, "secret: KEY", "secret: "+key).Replace(string(data))
	topo, err := topology.Parse(filepath.Join(t.TempDir(), file), []byte(s))
	require.NoError(t, err)
	require.NoError(t, topo.Rename(name))
	return topo
}

// pingLoss pings addr from ns every 50 ms for d and returns how many
// echo requests went unanswered.
func pingLoss(t *testing.T, ns, addr string, d time.Duration) (sent, lost int) {
	t.Helper()
	n := int(d / (50 * time.Millisecond))
	out, _ := exec.Command("ip", "netns", "exec", ns, "ping", "-q", "-c", strconv.Itoa(n), "-i", "0.05", "-W", "1", addr).CombinedOutput()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	tx, _ := strconv.Atoi(m[1])
	rx, _ := strconv.Atoi(m[2])
	return tx, tx - rx
}

// TestExternalEnds: the far ends of link1 and link2 of a lab of the
// Microsoft side are veths this test made outside secylab, whose other
// ends are in a namespace ("the customer's machine") where a second,
// independent secylab lab runs the customer's routers on them as its own
// external ends. MKA secures both links across the two labs, BGP comes up
// with BFD, traffic passes, a CAK change at one end of link1 fails over to
// link2, and lab down leaves every interface as the test made it, also
// after the Microsoft lab's process was killed with SIGKILL.
func TestExternalEnds(t *testing.T) {
	nettest.NeedRoot(t)
	needTool(t, "ethtool")
	id := nettest.UniqueID()
	if len(id) > 7 {
		id = id[len(id)-7:]
	}
	cust := nettest.Namespace(t, "cust")
	// The test's own interfaces: x (root namespace) ⇄ y (the customer's).
	x1, x2, y1, y2 := "slx1-"+id, "slx2-"+id, "sly1-"+id, "sly2-"+id
	for _, p := range [][2]string{{x1, y1}, {x2, y2}} {
		nettest.Run(t, "ip", "link", "add", p[0], "type", "veth", "peer", "name", p[1], "netns", cust)
		t.Cleanup(func() { exec.Command("ip", "link", "del", p[0]).Run() })
		// Something for the lab to change and restore: GRO on (veths
		// start with it off), and x1 left down.
		nettest.Run(t, "ethtool", "-K", p[0], "gro", "on")
		nettest.Run(t, "ip", "-n", cust, "link", "set", p[1], "up")
	}
	nettest.Run(t, "ip", "link", "set", x2, "up")
	before := map[string]ifaceSnapshot{}
	hostNS := func(ifname string) string {
		if strings.HasPrefix(ifname, "slx") {
			return ""
		}
		return cust
	}
	snap := func(ifname string) ifaceSnapshot { return snapshot(t, hostNS(ifname), ifname) }
	for _, ifn := range []string{x1, x2, y1, y2} {
		before[ifn] = snap(ifn)
	}

	// One CAK/CKN pair for link1 and link2, as Azure's Key Vault holds it
	// for both sides.
	key := writeKey(t, "er.key")

	msName, cuName := "m"+id, "c"+id
	msState, cuState := t.TempDir(), t.TempDir()
	ms := externalTopology(t, "er-microsoft.yaml", msName, x1, x2, key)
	cu := externalTopology(t, "er-customer.yaml", cuName, y1, y2, key)
	t.Cleanup(func() { _ = Down(msState, msName) })
	t.Cleanup(func() { _ = netnsx.Do(cust, func() error { return Down(cuState, cuName) }) })

	ctx := context.Background()
	spec := func(topo *topology.Topology) Spec {
		return Spec{Topology: topo, HelloTime: 500 * time.Millisecond, LifeTime: 1500 * time.Millisecond}
	}
	mc, err := Up(ctx, spec(ms), UpOptions{StateDir: msState})
	require.NoError(t, err)
	// The customer's lab runs on the customer's machine: started there,
	// its host interfaces are that namespace's.
	var cc *Client
	require.NoError(t, netnsx.Do(cust, func() (err error) {
		cc, err = Up(ctx, spec(cu), UpOptions{StateDir: cuState})
		return err
	}))
	require.NoError(t, mc.WaitSecured(ctx, 20*time.Second))
	require.NoError(t, cc.WaitSecured(ctx, 20*time.Second))
	_, err = mc.WaitBGP(ctx, 20*time.Second)
	require.NoError(t, err)
	_, err = cc.WaitBGP(ctx, 20*time.Second)
	require.NoError(t, err)

	st, err := mc.Status()
	require.NoError(t, err)
	require.Len(t, st.Ports, 2, "the Microsoft lab runs msee1:er1 and msee2:er2 only")
	for _, p := range st.Ports {
		assert.True(t, p.HostWire, "%s:%s", p.Node, p.Name)
		assert.Contains(t, []string{x1, x2}, p.Wire)
		assert.True(t, p.MKA.Secured)
	}
	infos, err := List(msState, msName)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.ElementsMatch(t, []string{x1, x2}, []string{infos[0].Ports[0].External, infos[0].Ports[1].External})
	for _, r := range st.BGP {
		for _, n := range r.Status.Neighbors {
			assert.Equal(t, "Established", n.State.String(), "%s %s", r.Node, n.Name)
			if n.Name == "link1" || n.Name == "link2" {
				require.NotNil(t, n.BFD, "%s %s", r.Node, n.Name)
				assert.Equal(t, "Up", n.BFD.State.String())
			}
		}
	}

	// While the lab runs, the interfaces are as the lab needs them: up,
	// promiscuous (the kernel counts the socket's membership), GRO off;
	// the TAP's MTU leaves room for MACsec on x1's 1500.
	during := snap(x1)
	assert.Contains(t, during.Link, ",UP")
	assert.Equal(t, before[x1].promiscuity(t)+1, during.promiscuity(t))
	assert.Contains(t, during.Offloads, "generic-receive-offload: off")
	assert.Equal(t, "1", sysctlIn(t, "", "net.ipv6.conf."+x1+".disable_ipv6"), "the host sends no IPv6 of its own on the link")
	out := nettest.Run(t, "ip", "-n", topology.NamespaceName(msName, "msee1"), "link", "show", "er1")
	assert.Contains(t, out, "mtu 1468")

	onprem := topology.NamespaceName(cuName, "onprem-host")
	require.NoError(t, nettest.Ping(onprem, "10.50.0.10", 5))
	require.NoError(t, nettest.Ping(topology.NamespaceName(msName, "vnet-host"), "10.1.0.10", 5))

	// The wire side of the lab's port on x1 carries MACsec and MKA only.
	cs, err := mc.Stream(ctx, &CaptureOp{Link: "link1", Count: 40, Counts: true})
	require.NoError(t, err)
	go nettest.Ping(onprem, "10.50.0.10", 20)
	pcap, err := readAll(cs)
	require.NoError(t, err)
	counts, ok := capture.CountsAtEnd(pcap)
	require.True(t, ok)
	assert.NotZero(t, counts.EtherTypes["0x88e5"], "%v", counts.EtherTypes)
	for et := range counts.EtherTypes {
		assert.Contains(t, []string{"0x88e5", "0x888e"}, et)
	}

	// Impairments act on the host interface too: 80 ms of delay on link1
	// at msee1's port (the path both ways while link1 is preferred).
	delay := value.Duration(80 * time.Millisecond)
	require.NoError(t, mc.Do(ctx, &ImpairOp{Link: "link1", Delay: &delay}))
	pout, err := exec.Command("ip", "netns", "exec", onprem, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.50.0.10").CombinedOutput()
	require.NoError(t, err, "%s", pout)
	m := regexp.MustCompile(`= ([\d.]+)/`).FindSubmatch(pout)
	require.NotNil(t, m, "%s", pout)
	minRTT, _ := strconv.ParseFloat(string(m[1]), 64)
	assert.GreaterOrEqual(t, minRTT, 80.0, "the delay is applied on the external end: %s", pout)
	require.NoError(t, mc.Do(ctx, &ImpairOp{Link: "link1", Clear: true}))

	// Key mismatch: a new CAK on msee1's end only. BFD takes link1's
	// sessions down and traffic moves to link2.
	done := make(chan [2]int)
	go func() {
		s, l := pingLoss(t, onprem, "10.50.0.10", 6*time.Second)
		done <- [2]int{s, l}
	}()
	time.Sleep(time.Second)
	require.NoError(t, mc.Do(ctx, &MACsecOp{Link: "link1", Node: "msee1", NewCAK: true}))
	loss := <-done
	outage := time.Duration(loss[1]) * 50 * time.Millisecond
	t.Logf("key mismatch on link1: %d of %d pings lost, an outage of about %v", loss[1], loss[0], outage)
	assert.LessOrEqual(t, outage, 1500*time.Millisecond, "failover to link2 with BFD")
	st, err = mc.Status()
	require.NoError(t, err)
	for _, p := range st.Ports {
		assert.Equal(t, p.Link == "link2", p.MKA.Secured, "%s", p.Link)
	}
	require.NoError(t, nettest.Ping(onprem, "10.50.0.10", 5))
	// The keys agree again: link1 secured.
	require.NoError(t, mc.Do(ctx, &MACsecOp{Link: "link1", Node: "msee1", Key: value.KeySource{File: key}}))
	require.NoError(t, mc.WaitSecured(ctx, 20*time.Second))

	// Kill the Microsoft lab's process: the kernel drops its promiscuous
	// membership; lab down restores GRO and x1's down state from the
	// intent log.
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGKILL))
	require.Eventually(t, func() bool { return syscall.Kill(st.PID, 0) != nil || processZombie(st.PID) }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, Down(msState, msName))
	require.NoError(t, netnsx.Do(cust, func() error { return Down(cuState, cuName) }))
	for _, ifn := range []string{x1, x2, y1, y2} {
		after := snap(ifn)
		assert.Equal(t, "0", sysctlIn(t, hostNS(ifn), "net.ipv6.conf."+ifn+".disable_ipv6"), "%s: IPv6 back on", ifn)
		assert.Equal(t, before[ifn].Link, after.Link, "%s: ip -d link", ifn)
		assert.Equal(t, before[ifn].Offloads, after.Offloads, "%s: ethtool -k", ifn)
	}
}

func sysctlIn(t *testing.T, ns, key string) string {
	args := []string{"sysctl", "-n", key}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.TrimSpace(string(out))
}

func processZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z")
}

func readAll(cs *CaptureStream) ([]byte, error) {
	defer cs.Close()
	var b []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := cs.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return b, nil
		}
	}
}
