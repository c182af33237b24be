package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

var labSeq atomic.Int32

// testLab is a lab started through the secylab binary with its own state
// directory; it is removed when the test ends, also when it fails.
type testLab struct {
	t     *testing.T
	name  string
	state string
}

func startLab(t *testing.T, args ...string) *testLab {
	return startLabWait(t, true, args...)
}

// startLabWait starts a lab; secured says whether lab up must report every
// MACsec link secured.
func startLabWait(t *testing.T, secured bool, args ...string) *testLab {
	t.Helper()
	nettest.NeedRoot(t)
	l := &testLab{t: t, name: fmt.Sprintf("t%d%d", os.Getpid()%10000, labSeq.Add(1)), state: t.TempDir()}
	t.Cleanup(func() {
		if out, errOut, status := l.run("lab", "down", "--all"); status != 0 {
			t.Errorf("lab down --all: %s%s", out, errOut)
		}
	})
	out, errOut, status := l.run(append([]string{"lab", "up", "--name", l.name, "--wait", "20s"}, args...)...)
	require.Zero(t, status, "lab up: %s%s", out, errOut)
	if secured {
		require.Contains(t, out, "MKA secured every MACsec link")
	}
	return l
}

func (l *testLab) run(args ...string) (string, string, int) {
	return runBin(l.t, []string{"SECYLAB_STATE_DIR=" + l.state}, append(args, "--lab", l.name)...)
}

func (l *testLab) ns(node string) string { return topology.NamespaceName(l.name, node) }

func (l *testLab) status() *lab.LabStatus {
	c, err := lab.Dial(l.state, l.name)
	require.NoError(l.t, err)
	st, err := c.Status()
	require.NoError(l.t, err)
	return st
}

func (l *testLab) port(nodeName, port string) lab.PortStatus {
	for _, p := range l.status().Ports {
		if p.Node == nodeName && p.Name == port {
			return p
		}
	}
	l.t.Fatalf("no port %s:%s", nodeName, port)
	return lab.PortStatus{}
}

// capture records a link's wire while fn runs and returns the EtherTypes
// and protocol stacks tshark finds in it.
func (l *testLab) capture(link string, fn func()) (etherTypes map[string]int, protocols string) {
	return l.captureSide(link, "wire", fn)
}

func (l *testLab) captureSide(link, side string, fn func()) (etherTypes map[string]int, protocols string) {
	file := filepath.Join(l.t.TempDir(), link+"-"+side+".pcapng")
	cmd := exec.Command(secylabBin, "lab", "capture", link, "--side", side, "-w", file, "--duration", "3s", "--lab", l.name)
	cmd.Env = append(os.Environ(), "SECYLAB_STATE_DIR="+l.state)
	require.NoError(l.t, cmd.Start())
	time.Sleep(300 * time.Millisecond)
	fn()
	require.NoError(l.t, cmd.Wait())
	if _, err := exec.LookPath("tshark"); err != nil {
		l.t.Skip("tshark is not installed (.ci/run installs it)")
	}
	out, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "eth.type", "-e", "frame.protocols").CombinedOutput()
	require.NoError(l.t, err, "%s", out)
	etherTypes = map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			etherTypes[f[0]]++
		}
	}
	return etherTypes, string(out)
}

// tcpTransfer sends n random octets from namespace from to a listener at
// addr in namespace to and returns the SHA-256 of what was sent and what
// was received.
func tcpTransfer(t *testing.T, from, to, addr string, n int64) (sent, got string) {
	t.Helper()
	var ln net.Listener
	require.NoError(t, netnsx.Do(to, func() (err error) { ln, err = net.Listen("tcp", addr); return err }))
	defer ln.Close()
	done := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		done <- hex.EncodeToString(h.Sum(nil))
	}()
	var c net.Conn
	require.NoError(t, netnsx.Do(from, func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }))
	h := sha256.New()
	_, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.Reader, n), h))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	select {
	case got = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the transfer did not finish")
	}
	return hex.EncodeToString(h.Sum(nil)), got
}

func TestLabExpressRouteDirect(t *testing.T) {
	l := startLab(t)
	ce1, msee1 := l.ns("ce1"), l.ns("msee1")

	types, protocols := l.capture("link1", func() {
		require.NoError(t, nettest.Ping(ce1, "192.168.100.130", 5))
		require.NoError(t, nettest.Ping(l.ns("onprem-host"), "10.50.0.10", 3))
	})
	require.NotZero(t, types["0x88e5"], "MACsec frames on link1: %v", types)
	for et := range types {
		require.Contains(t, []string{"0x88e5", "0x888e"}, et, "only MACsec and MKA on the wire")
	}
	require.Contains(t, protocols, "eth:ethertype:macsec")
	if types["0x888e"] > 0 {
		require.Contains(t, protocols, "eapol")
	}

	// A TCP transfer ce1 → msee1 over link1 arrives intact.
	sent, got := tcpTransfer(t, ce1, msee1, "192.168.100.130:7777", 20<<20)
	require.Equal(t, sent, got, "SHA-256 of 20 MiB sent and received")

	// The clear side shows what the router sees: the private peering's
	// IPv4, tagged with its VLAN (100).
	types, protocols = l.captureSide("link1", "clear", func() {
		require.NoError(t, nettest.Ping(ce1, "192.168.100.130", 3))
	})
	require.NotZero(t, types["0x8100"], "802.1Q-tagged frames on the clear side: %v", types)
	require.Contains(t, protocols, "eth:ethertype:vlan:ethertype:ip:icmp", "IPv4 inside the tag")

	// Cut the link and restore it while the lab runs.
	out, errOut, status := l.run("lab", "link", "set", "link1", "--down")
	require.Zero(t, status, "%s%s", out, errOut)
	require.Error(t, nettest.Ping(ce1, "192.168.100.130", 2))
	out, errOut, status = l.run("lab", "link", "set", "link1", "--up", "--delay", "20ms")
	require.Zero(t, status, "%s%s", out, errOut)
	require.NoError(t, nettest.Ping(ce1, "192.168.100.130", 2))
	require.Equal(t, 20*time.Millisecond, l.port("ce1", "er1").Impairment.Delay)
	require.NotZero(t, l.port("ce1", "er1").Dataplane.Impair.Down, "frames lost while down are counted")
	// The same with the scenario steps' names.
	out, errOut, status = l.run("lab", "link", "cut", "link1")
	require.Zero(t, status, "%s%s", out, errOut)
	require.Error(t, nettest.Ping(ce1, "192.168.100.130", 1))
	out, errOut, status = l.run("lab", "link", "restore", "link1")
	require.Zero(t, status, "%s%s", out, errOut)
	require.Eventually(t, func() bool { return nettest.Ping(ce1, "192.168.100.130", 1) == nil }, 15*time.Second, 100*time.Millisecond, "MKA secures the restored link again")
	require.Equal(t, 20*time.Millisecond, l.port("ce1", "er1").Impairment.Delay, "a restore keeps the other impairments")

	// adminState Disabled at the Microsoft edge: no frame either way until
	// Enabled, whatever a restore says.
	out, errOut, status = l.run("lab", "link", "admin-state", "link1", "disabled")
	require.Zero(t, status, "%s%s", out, errOut)
	require.Contains(t, out, "adminState Disabled")
	require.Error(t, nettest.Ping(ce1, "192.168.100.130", 1))
	l.mustRun("lab", "link", "restore", "link1")
	require.Error(t, nettest.Ping(ce1, "192.168.100.130", 1), "a restore does not undo adminState Disabled")
	_, _, status = l.run("lab", "link", "admin-state", "link1", "Enabeld")
	require.Equal(t, 2, status)
	l.mustRun("lab", "link", "admin-state", "link1", "Enabled")
	require.Eventually(t, func() bool { return nettest.Ping(ce1, "192.168.100.130", 1) == nil }, 15*time.Second, 100*time.Millisecond)
	// While MKA re-secures a restored link a frame sent under the new SAK
	// can reach the peer before its receive SA is in (counted as dropped),
	// and the key server may distribute a second SAK as the peer list
	// settles; once both ends transmit one agreed SAK and the one before
	// is retired, nothing more is dropped.
	settle := l.eventually("link1 on one agreed SAK, the old one retired", 20*time.Second, func() bool {
		a, b := l.port("msee1", "er1").MKA, l.port("ce1", "er1").MKA
		return a != nil && b != nil && a.Secured && b.Secured && a.Latest != nil && b.Latest != nil &&
			a.Latest.KI == b.Latest.KI && a.Latest.Tx && b.Latest.Tx && a.Old == nil && b.Old == nil &&
			onlyLivePeer(a) && onlyLivePeer(b)
	})
	t.Logf("link1 settled %v after the ping went through", settle)
	steady := l.port("msee1", "er1").Dataplane.RxDropped
	require.NoError(t, nettest.Ping(ce1, "192.168.100.130", 5))

	// --json: camelCase keys all the way down.
	out, _, status = l.run("lab", "macsec", "--json")
	require.Zero(t, status)
	var ports []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ports), out)
	require.NotEmpty(t, ports)
	require.Contains(t, ports[0], "mka")
	require.Contains(t, ports[0]["secY"], "txSC")
	require.NotContains(t, out, `"SecY"`)
	out, _, status = l.run("lab", "bgp", "--json")
	require.Zero(t, status)
	var routers []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &routers), out)
	require.NotEmpty(t, routers)
	require.Contains(t, routers[0], "node")

	out, _, status = l.run("lab", "macsec", "ce1")
	require.Zero(t, status)
	require.Contains(t, out, "GCM-AES-XPN-256 (GcmAesXpn256)")
	require.Contains(t, out, "InPktsOK")
	require.Contains(t, out, "MKA: CKN")

	p := l.port("msee1", "er1")
	require.Equal(t, "GCM-AES-XPN-256", p.SecY.Suite.String())
	require.NotZero(t, p.SecY.RxSCs[0].Stats.InPktsOK)
	require.Zero(t, p.SecY.RxSCs[0].Stats.InPktsNotValid)
	require.Equal(t, steady, p.Dataplane.RxDropped, "no frame dropped on a secured link; SecY counters %+v", p.SecY.Stats)
}

// onlyLivePeer: the participant's peer list is one live peer, no
// participant left over from before a restart, whose expiry would make the
// key server distribute a new SAK.
func onlyLivePeer(m *mka.Status) bool { return len(m.Peers) == 1 && m.Peers[0].Live }

// mismatchTopology is the built-in topology with link1's ends holding the
// same CKN and different CAKs, as after a CAK change on one side only.
func mismatchTopology(t *testing.T) string {
	dir := t.TempDir()
	ckn := strings.Repeat("ab", 32)
	for name, cak := range map[string]string{"ce1.psk": strings.Repeat("11", 32), "msee1.psk": strings.Repeat("22", 32)} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("CKN="+ckn+"\nCAK="+cak+"\n"), 0o600))
	}
	b, err := os.ReadFile("../../topology/builtin/expressroute-direct.yaml")
	require.NoError(t, err)
	y := string(b)
	anchor := y[strings.Index(y, "    macsec: &er-macsec\n"):strings.Index(y, "  - name: link2\n")]
	shared := strings.Replace(anchor, "macsec: &er-macsec", "macsec:", 1)
	y = strings.Replace(y, anchor, strings.Replace(shared, "secret: generate", "secret: ce1.psk", 1)+
		"      allowMismatch: true\n      overrides:\n        msee1:er1: {secret: msee1.psk}\n", 1)
	y = strings.Replace(y, "    macsec: *er-macsec\n", shared, 1)
	file := filepath.Join(dir, "mismatch.yaml")
	require.NoError(t, os.WriteFile(file, []byte(y), 0o600))
	return file
}

func TestLabKeyMismatch(t *testing.T) {
	nettest.NeedRoot(t)
	l := startLabWait(t, false, mismatchTopology(t), "--wait", "0")
	ce1 := l.ns("ce1")
	time.Sleep(2 * time.Second) // several MKA hellos

	wire := l.port("ce1", "er1").Wire
	types, _ := l.capture("link1", func() {
		require.Error(t, nettest.Ping(ce1, "192.168.100.130", 3), "no connectivity across mismatched keys")
		// A cleartext IPv4 frame injected on the wire towards msee1.
		inject := `import socket,sys
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)
s.bind((sys.argv[1],0))
s.send(bytes.fromhex("ffffffffffff020000000001080045000014000100004001f6e5c0a86481c0a86482"+"00"*20))`
		out, err := exec.Command("ip", "netns", "exec", ce1, "python3", "-c", inject, wire).CombinedOutput()
		require.NoError(t, err, "%s", out)
	})
	for et := range types {
		require.Contains(t, []string{"0x888e", "0x0800"}, et, "nothing but MKA (and the injected frame) on the wire")
	}
	require.Zero(t, types["0x0806"], "no ARP in clear")

	a, b := l.port("ce1", "er1"), l.port("msee1", "er1")
	for _, p := range []lab.PortStatus{a, b} {
		require.False(t, p.MKA.Secured, "%s:%s secured with mismatched keys", p.Node, p.Name)
		require.Zero(t, p.Dataplane.RxFrames, "%s:%s delivered a frame", p.Node, p.Name)
		require.NotZero(t, p.MKACounter.RxBadICV, "%s:%s: MKA says why", p.Node, p.Name)
		require.Equal(t, p.Dataplane.TxDropped, p.SecY.Stats.OutPktsNoSA, "%s:%s: every frame not sent is counted", p.Node, p.Name)
	}
	require.NotZero(t, a.Dataplane.TxDropped, "ce1 had ARP and ping to send")
	require.Equal(t, uint64(1), b.SecY.Stats.InPktsNoTag, "the injected clear frame is dropped and counted")
	require.Equal(t, b.Dataplane.RxDropped, b.SecY.Stats.InPktsNoTag+b.SecY.Stats.InPktsNoSCI+b.SecY.Stats.InPktsBadTag)

	// --new-cak without --node: both ends get the same new CAK/CKN, and the
	// link comes up secured.
	l.mustRun("lab", "macsec", "set", "link1", "--new-cak")
	require.Eventually(t, func() bool {
		a, b := l.port("ce1", "er1"), l.port("msee1", "er1")
		return a.MKA != nil && b.MKA != nil && a.MKA.Secured && b.MKA.Secured
	}, 20*time.Second, 100*time.Millisecond, "both ends secured with the same new key")
	a, b = l.port("ce1", "er1"), l.port("msee1", "er1")
	require.Equal(t, a.MKA.CKN, b.MKA.CKN)
	require.Equal(t, a.MKA.CAKFingerprint, b.MKA.CAKFingerprint)
	// ce1's neighbour entry failed while the keys differed: give ARP time.
	require.Eventually(t, func() bool { return nettest.Ping(ce1, "192.168.100.130", 1) == nil }, 10*time.Second, 100*time.Millisecond, "ping across the new key")
}

func TestLabDownAfterKillAndSideBySide(t *testing.T) {
	nettest.NeedRoot(t)
	a, b := startLab(t), startLab(t)
	require.NoError(t, nettest.Ping(a.ns("onprem-host"), "10.50.0.10", 2))
	require.NoError(t, nettest.Ping(b.ns("onprem-host"), "10.50.0.10", 2))

	pid := a.status().PID
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	out, errOut, status := a.run("lab", "down", a.name)
	require.Zero(t, status, "%s%s", out, errOut)

	nss, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	require.NotContains(t, string(nss), topology.NamespaceName(a.name, ""), "namespaces left behind")
	require.Contains(t, string(nss), topology.NamespaceName(b.name, ""), "the other lab is untouched")
	links, err := exec.Command("ip", "-o", "link").Output()
	require.NoError(t, err)
	require.NotContains(t, string(links), "sl"+a.name[:min(4, len(a.name))])
	_, err = os.Stat(filepath.Join(a.state, a.name))
	require.ErrorIs(t, err, os.ErrNotExist, "state left behind")
	require.False(t, running(pid), "lab process left behind")
	require.NoError(t, nettest.Ping(b.ns("onprem-host"), "10.50.0.10", 2), "the other lab still works")
}

// running reports whether pid is a live process: not gone and not a
// zombie (a killed process whose parent has not reaped it yet has ended).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func TestLabUpErrors(t *testing.T) {
	nettest.NeedRoot(t)
	l := startLab(t)
	_, errOut, status := l.run("lab", "up", "--name", l.name)
	require.NotZero(t, status)
	require.Contains(t, errOut, "exists")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nnodes:\n  a: {kind: router, color: red}\n"), 0o600))
	_, errOut, status = l.run("lab", "up", bad)
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "bad.yaml:3")
}
