package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/topology"
)

// neighbor returns node's BGP neighbour on link from the lab's status.
func (l *testLab) neighbor(nodeName, link string) bgp.NeighborStatus {
	l.t.Helper()
	for _, r := range l.status().BGP {
		if r.Node != nodeName || r.Status == nil {
			continue
		}
		for _, n := range r.Status.Neighbors {
			if n.Name == link {
				return n
			}
		}
	}
	l.t.Fatalf("no BGP neighbour of %s on %s", nodeName, link)
	return bgp.NeighborStatus{}
}

// routeGet is `ip route get dst` in node's namespace, or its error: while
// BGP converges there can be a moment with no route, which callers polling
// for a path must see as "not yet" (the probes measure the outage).
func (l *testLab) routeGet(nodeName, dst string) string {
	out, err := exec.Command("ip", "-n", l.ns(nodeName), "route", "get", dst).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s: %v", strings.TrimSpace(string(out)), err)
	}
	return strings.TrimSpace(string(out))
}

func (l *testLab) eventually(what string, timeout time.Duration, cond func() bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			l.t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func (l *testLab) mustRun(args ...string) string {
	l.t.Helper()
	out, errOut, status := l.run(args...)
	require.Zero(l.t, status, "secylab %s: %s%s", strings.Join(args, " "), out, errOut)
	return out
}

// probe is a UDP flow at a fixed rate between two namespaces: each
// datagram carries its sequence number, so the receiver knows which were
// lost.
type probe struct {
	interval time.Duration
	send     *net.UDPConn
	recv     *net.UDPConn
	sent     atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup

	mu  sync.Mutex
	got map[int64]bool
}

func startProbe(t *testing.T, fromNS, toNS, dst string, pps int) *probe {
	t.Helper()
	p := &probe{interval: time.Second / time.Duration(pps), stop: make(chan struct{}), got: map[int64]bool{}}
	require.NoError(t, netnsx.Do(toNS, func() (err error) {
		p.recv, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9099})
		return err
	}))
	require.NoError(t, netnsx.Do(fromNS, func() (err error) {
		p.send, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: 9099})
		return err
	}))
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 64)
		for {
			n, err := p.recv.Read(buf)
			if err != nil {
				return
			}
			if n >= 8 {
				p.mu.Lock()
				p.got[int64(binary.BigEndian.Uint64(buf))] = true
				p.mu.Unlock()
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(p.interval)
		defer tick.Stop()
		b := make([]byte, 64)
		for seq := int64(0); ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint64(b, uint64(seq))
			p.send.Write(b) // unreachable while routes move: that is a loss
			p.sent.Store(seq + 1)
		}
	}()
	return p
}

// finish stops the flow (after a grace for packets in flight) and returns
// how many were sent and lost and the longest run of losses as a time.
func (p *probe) finish() (sent, lost int64, outage time.Duration) {
	close(p.stop)
	time.Sleep(200 * time.Millisecond)
	p.send.Close()
	p.recv.Close()
	p.wg.Wait()
	sent = p.sent.Load()
	var run, longest int64
	for seq := range sent {
		if p.got[seq] {
			run = 0
			continue
		}
		lost++
		run++
		longest = max(longest, run)
	}
	return sent, lost, time.Duration(longest) * p.interval
}

func portCounters(l *testLab, nodeName, port string) (tx, rx uint64) {
	p := l.port(nodeName, port)
	return p.Dataplane.TxFrames, p.Dataplane.RxFrames
}

func TestLabBGPFailover(t *testing.T) {
	l := startLab(t)
	onprem, vnet := l.ns("onprem-host"), l.ns("vnet-host")

	// Every session Established, BFD Up, timers the lab's 9 s / 3 s: the
	// private peering's (VLAN 100) over both links and the siblings'.
	for _, s := range []struct{ node, link string }{{"ce1", "link1.100"}, {"msee1", "link1.100"}, {"ce2", "link2.100"}, {"msee2", "link2.100"}, {"ce1", "ce-lan"}, {"msee1", "msee-lan"}} {
		n := l.neighbor(s.node, s.link)
		require.Equal(t, bgp.Established, n.State, "%s on %s", s.node, s.link)
		require.Equal(t, 9*time.Second, n.HoldTime)
		require.Equal(t, 3*time.Second, n.KeepaliveTime)
		l.eventually("BFD Up "+s.node+" "+s.link, 5*time.Second, func() bool {
			b := l.neighbor(s.node, s.link).BFD
			return b != nil && b.State == bfd.Up
		})
	}
	require.Equal(t, 2, l.neighbor("msee1", "link1.100").Received[bgp.IPv4Unicast], "10.1.0.0/16 and 198.51.100.0/24 from ce1 on private peering")
	require.Equal(t, 1, l.neighbor("ce1", "link1.100").Received[bgp.IPv4Unicast], "10.50.0.0/16 from msee1 (private peering carries no public prefix)")

	// On-premises ↔ VNet over link1's private peering, by BGP routes.
	require.Contains(t, l.routeGet("ce1", "10.50.0.10"), "via 192.168.100.130 dev er1.100 ")
	require.Contains(t, l.routeGet("msee1", "10.1.0.10"), "via 192.168.100.129 dev er1.100 ")
	bgpRoutes, err := exec.Command("ip", "-n", l.ns("ce1"), "route", "show", "proto", "bgp").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(bgpRoutes), "10.50.0.0/16 via 192.168.100.130 dev er1.100 ")
	require.Contains(t, l.routeGet("ce2", "10.50.0.10"), "dev sib", "ce2 prefers link1 through ce1 (local preference 100 over 90)")
	tx1, _ := portCounters(l, "ce1", "er1")
	tx2, _ := portCounters(l, "ce2", "er2")
	require.NoError(t, nettest.Ping(onprem, "10.50.0.10", 100))
	tx1b, _ := portCounters(l, "ce1", "er1")
	tx2b, _ := portCounters(l, "ce2", "er2")
	require.GreaterOrEqual(t, tx1b-tx1, uint64(100), "100 pings left over link1")
	require.Less(t, tx2b-tx2, uint64(80), "link2 carries only MKA, BGP and BFD (of both peerings)")

	// BGP itself rides MACsec: UPDATEs (a drain and undrain) and BFD
	// cross link1 while it is captured, and nothing is in clear.
	drainCycle := func() {
		l.mustRun("lab", "bgp", "drain", "link1")
		time.Sleep(300 * time.Millisecond)
		l.mustRun("lab", "bgp", "undrain", "link1")
		require.NoError(t, nettest.Ping(onprem, "10.50.0.10", 3))
	}
	types, protocols := l.capture("link1", drainCycle)
	require.NotZero(t, types["0x88e5"], "MACsec frames on link1: %v", types)
	for et := range types {
		require.Contains(t, []string{"0x88e5", "0x888e"}, et, "only MACsec and MKA on the wire")
	}
	require.NotContains(t, protocols, "bgp")
	require.NotContains(t, protocols, "bfd")
	_, clear := l.captureSide("link1", "clear", drainCycle)
	require.Contains(t, clear, ":bgp", "the UPDATEs travel on link1 (seen on the clear side)")
	require.Contains(t, clear, "bfd", "BFD control packets travel on link1")
	l.eventually("link1 preferred again after undrain", 5*time.Second, func() bool {
		return strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev er1.100 ")
	})

	// A key mismatch on link1: BFD drops the sessions in under a second
	// and the traffic moves to link2 through the siblings.
	p := startProbe(t, onprem, vnet, "10.50.0.10", 100)
	time.Sleep(time.Second)
	broke := time.Now()
	l.mustRun("lab", "macsec", "set", "link1", "--node", "msee1", "--new-cak")
	moved := l.eventually("ce1 routes the VNet over link2", 5*time.Second, func() bool {
		return strings.Contains(l.routeGet("ce1", "10.50.0.10"), "via 10.1.255.2 dev sib")
	})
	t.Logf("ce1's route moved to link2 %v after the key mismatch", moved.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	sent, lost, outage := p.finish()
	t.Logf("failover with BFD: %d of %d probe packets lost at 100 pps, outage %v", lost, sent, outage)
	require.NotZero(t, lost, "a mismatch costs something: the probe must have seen it")
	require.Less(t, outage, 1500*time.Millisecond, "traffic on link2 within about a second")
	require.Contains(t, l.routeGet("msee1", "10.1.0.10"), "via 10.50.255.2 dev sib")
	n1, m1 := l.neighbor("ce1", "link1.100"), l.neighbor("msee1", "link1.100")
	require.NotEqual(t, bgp.Established, n1.State)
	isBFDDown := func(e *bgp.NotificationEvent) bool {
		return e != nil && e.Code == bgp.CodeCease && e.Subcode == bgp.CeaseBFDDown && e.At.After(broke)
	}
	require.True(t, isBFDDown(n1.LastSent) || isBFDDown(m1.LastSent), "Cease / BFD Down: ce1 %v, msee1 %v", n1.LastSent, m1.LastSent)
	_, rx2 := portCounters(l, "ce2", "er2")
	require.NoError(t, nettest.Ping(onprem, "10.50.0.10", 20))
	_, rx2b := portCounters(l, "ce2", "er2")
	require.GreaterOrEqual(t, rx2b-rx2, uint64(20), "the replies come back over link2")

	// The same key on both ends again: link1 comes back as preferred.
	p = startProbe(t, onprem, vnet, "10.50.0.10", 100)
	l.mustRun("lab", "macsec", "set", "link1", "--new-key", "restored")
	back := l.eventually("link1 preferred again", 20*time.Second, func() bool {
		return strings.Contains(l.routeGet("ce1", "10.50.0.10"), "dev er1.100 ") && strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev er1.100 ")
	})
	time.Sleep(time.Second)
	sent, lost, outage = p.finish()
	t.Logf("restore: link1 preferred again %v after the keys matched; %d of %d probe packets lost (longest gap %v)", back.Round(time.Millisecond), lost, sent, outage)
	require.Less(t, outage, 1500*time.Millisecond)
	require.Equal(t, bgp.Established, l.neighbor("ce1", "link1.100").State)

	out := l.mustRun("lab", "status")
	require.Regexp(t, `ce1\s+192\.168\.100\.130\s+link1\.100\s+12076\s+Established\s+\S+\s+Up`, out)
	require.Regexp(t, `ce1\s+203\.0\.113\.2\s+link1\.200\s+12076\s+Established\s+\S+\s+Up`, out)
	out = l.mustRun("lab", "bgp", "msee1")
	require.Contains(t, out, "BGP router identifier 12.0.76.1, local AS number 12076")
	require.Contains(t, out, "10.1.0.0/16")
}

// TestLabBGPFailoverHoldTimer: without BFD the session waits for the lab's
// 9 s hold time before the traffic moves.
func TestLabBGPFailoverHoldTimer(t *testing.T) {
	nettest.NeedRoot(t)
	if testing.Short() {
		t.Skip("waits for a 9 s hold time")
	}
	b, err := os.ReadFile("../../topology/builtin/expressroute-direct.yaml")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "nobfd.yaml")
	require.NoError(t, os.WriteFile(file, []byte(strings.ReplaceAll(string(b), "bfd: true", "bfd: false")), 0o600))
	l := startLab(t, file)
	require.Nil(t, l.neighbor("ce1", "link1.100").BFD)
	p := startProbe(t, l.ns("onprem-host"), l.ns("vnet-host"), "10.50.0.10", 100)
	time.Sleep(500 * time.Millisecond)
	l.mustRun("lab", "macsec", "set", "link1", "--node", "msee1", "--new-cak")
	moved := l.eventually("ce1 routes the VNet over link2", 15*time.Second, func() bool {
		return strings.Contains(l.routeGet("ce1", "10.50.0.10"), "dev sib")
	})
	time.Sleep(time.Second)
	sent, lost, outage := p.finish()
	t.Logf("failover without BFD (hold 9 s): route moved after %v; %d of %d probe packets lost, outage %v", moved.Round(time.Millisecond), lost, sent, outage)
	require.Less(t, outage, 10*time.Second)
	require.Greater(t, outage, 5*time.Second, "the hold timer, not BFD, ended the session")
	n := l.neighbor("ce1", "link1.100")
	m := l.neighbor("msee1", "link1.100")
	isHold := func(e *bgp.NotificationEvent) bool { return e != nil && e.Code == bgp.CodeHoldTimer }
	require.True(t, isHold(n.LastSent) || isHold(m.LastSent), "Hold Timer Expired: ce1 %v, msee1 %v", n.LastSent, m.LastSent)
}

func TestLabBGPMaxPrefix(t *testing.T) {
	nettest.NeedRoot(t)
	b, err := os.ReadFile("../../topology/builtin/expressroute-direct.yaml")
	require.NoError(t, err)
	// ce1 advertises 10.1.0.0/16, 198.51.100.0/24 and 3,999 /24s: 4,001
	// prefixes on private peering, one more than Azure accepts there.
	nets := []string{"10.1.0.0/16", "198.51.100.0/24"}
	for i := range 3999 {
		nets = append(nets, fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256))
	}
	const have = "networks: [10.1.0.0/16, 198.51.100.0/24]"
	require.Contains(t, string(b), have)
	y := strings.Replace(string(b), have, "networks: ["+strings.Join(nets, ", ")+"]", 1)
	file := filepath.Join(t.TempDir(), "maxprefix.yaml")
	require.NoError(t, os.WriteFile(file, []byte(y), 0o600))
	l := startLab(t, file)

	l.eventually("msee1 holds ce1's session down", 20*time.Second, func() bool { return l.neighbor("msee1", "link1.100").HeldDown })
	m := l.neighbor("msee1", "link1.100")
	require.NotNil(t, m.LastSent)
	require.Equal(t, uint8(bgp.CodeCease), m.LastSent.Code)
	require.Equal(t, uint8(bgp.CeaseMaxPrefixes), m.LastSent.Subcode, "sent %v", m.LastSent)
	require.Equal(t, "Cease / Maximum Number of Prefixes Reached", strings.SplitN(m.LastSent.String(), " (", 2)[0])
	require.NotEqual(t, bgp.Established, m.State)
	c := l.neighbor("ce1", "link1.100")
	require.NotNil(t, c.LastReceived, "ce1 received the NOTIFICATION")
	require.Equal(t, uint8(bgp.CeaseMaxPrefixes), c.LastReceived.Subcode)
	l.eventually("link2 unaffected", 10*time.Second, func() bool { return l.neighbor("msee2", "link2.100").State == bgp.Established })
	out := l.mustRun("lab", "bgp", "msee1")
	require.Contains(t, out, "(max-prefix)")
	require.Contains(t, out, "sent Cease / Maximum Number of Prefixes Reached")
	// The VNet is still reached, over link2.
	require.NoError(t, nettest.Ping(l.ns("onprem-host"), "10.50.0.10", 3))
	require.Contains(t, l.routeGet("ce1", "10.50.0.10"), "dev sib")
}

// daemonTopology: ce1 is a real BIRD or FRR customer router on link1 (with
// MACsec and BFD) to our Microsoft edge msee1.
func daemonTopology(t *testing.T, kind string) string {
	y := `name: dm
profile: expressroute
nodes:
  ce1:
    kind: ` + kind + `
    bgp: {asn: 65001, profile: customer, networks: [10.1.0.0/16], neighbors: [{link: link1, prefer: true}], bfd: true}
    ports:
      er1: {kind: direct, addresses: [192.168.100.129/30]}
  msee1:
    kind: router
    bgp: {profile: microsoft-edge, networks: [10.50.0.0/16], neighbors: [{link: link1}], bfd: true}
    ports:
      er1: {kind: direct, addresses: [192.168.100.130/30]}
links:
  - name: link1
    endpoints: [ce1:er1, msee1:er1]
    macsec: {enabled: true, cipher: GcmAesXpn256, secret: generate}
`
	file := filepath.Join(t.TempDir(), kind+".yaml")
	require.NoError(t, os.WriteFile(file, []byte(y), 0o600))
	return file
}

// eachDaemon runs f as a subtest for BIRD and for FRR, as root, each
// skipped when the daemon is not installed.
func eachDaemon(t *testing.T, f func(t *testing.T, tt daemonKind)) {
	for _, tt := range daemonKinds {
		t.Run(tt.kind, func(t *testing.T) {
			needKinds(t, tt.kind)
			f(t, tt)
		})
	}
}

var daemonKinds = []daemonKind{{"bird", "bird", "proto bird"}, {"frr", "/usr/lib/frr/bgpd", "proto bgp"}}

// daemonKind is a routing daemon: the node kind, its binary and the
// proto its kernel routes carry.
type daemonKind struct{ kind, bin, proto string }

func TestLabBGPDaemons(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		l := startLab(t, daemonTopology(t, tt.kind), "--wait", "40s")
		start := time.Now()
		l.eventually(tt.kind+" Established with msee1, prefixes both ways", 40*time.Second, func() bool {
			n := l.neighbor("msee1", "link1")
			out, _ := exec.Command("ip", "-n", l.ns("ce1"), "route", "show", "10.50.0.0/16").CombinedOutput()
			return n.State == bgp.Established && n.Received[bgp.IPv4Unicast] == 1 && n.Advertised[bgp.IPv4Unicast] == 1 &&
				strings.Contains(string(out), "via 192.168.100.130 dev er1 "+tt.proto)
		})
		l.eventually("BFD Up", 20*time.Second, func() bool {
			b := l.neighbor("msee1", "link1").BFD
			return b != nil && b.State == bfd.Up
		})
		t.Logf("%s: Established, routes exchanged and BFD Up %v after lab up", tt.kind, time.Since(start).Round(time.Millisecond))
		l.eventually(tt.kind+"'s own view: BFD Up, the timers msee1 negotiated", 5*time.Second, func() bool {
			n, m := l.neighbor("ce1", "link1"), l.neighbor("msee1", "link1")
			return n.BFD != nil && n.BFD.State == bfd.Up && n.HoldTime == m.HoldTime && n.KeepaliveTime == m.KeepaliveTime && n.HoldTime > 0
		})
		require.Contains(t, l.routeGet("msee1", "10.1.0.1"), "via 192.168.100.129 dev er1")
		require.NoError(t, nettest.Ping(l.ns("ce1"), "192.168.100.130", 2))
		out := l.mustRun("lab", "bgp", "ce1")
		require.Contains(t, out, "== ce1 ("+tt.kind+") ==")
		require.Contains(t, out, "10.50.0.0/16")
		st, err := os.ReadFile(filepath.Join(l.state, l.name, "state.json"))
		require.NoError(t, err)
		require.Contains(t, string(st), `"name": "`+tt.kind+`-ce1"`, "the daemon is recorded for lab down")
	})
}

// siblingDaemons writes the built-in topology with ce1 of kind ce1 and ce2
// of kind ce2 (router: secylab's own; bird; frr) to er-CE1.yaml when both
// are one kind, er-CE1-CE2.yaml otherwise, in a directory of its own.
func siblingDaemons(t *testing.T, ce1, ce2 string) string {
	topo, err := os.ReadFile("../../topology/builtin/expressroute-direct.yaml")
	require.NoError(t, err)
	y := string(topo)
	for ce, kind := range map[string]string{"ce1": ce1, "ce2": ce2} {
		require.Contains(t, y, "  "+ce+":\n    kind: router\n")
		y = strings.Replace(y, "  "+ce+":\n    kind: router\n", "  "+ce+":\n    kind: "+kind+"\n", 1)
	}
	name := "er-" + ce1
	if ce2 != ce1 {
		name += "-" + ce2
	}
	file := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(file, []byte(y), 0o600))
	return file
}

// needKinds skips t unless the daemons of the node kinds are installed
// (router is secylab's own).
func needKinds(t *testing.T, kinds ...string) {
	t.Helper()
	nettest.NeedRoot(t)
	for _, k := range kinds {
		for _, d := range daemonKinds {
			if d.kind != k {
				continue
			}
			if _, err := exec.LookPath(d.bin); err != nil {
				t.Skipf("%s is not installed (.ci/setup installs bird2 and frr)", d.bin)
			}
		}
	}
}

// A drain returns once the traffic has moved, both ways: when `lab bgp
// drain link1` returns, ce1 already forwards to the VNet through ce2 and
// link2, ce2 over link2, msee1 to on-premises through msee2; after
// undrain both ce1 and msee1 use link1 again. The siblings are BIRD, FRR
// or secylab's own router, of one kind or mixed: their iBGP must work
// whatever the other end runs.
func TestLabBGPDaemonsDrain(t *testing.T) {
	for _, c := range []struct{ ce1, ce2 string }{
		{"bird", "bird"}, {"frr", "frr"}, {"bird", "frr"}, {"frr", "bird"}, {"router", "frr"}, {"bird", "router"},
	} {
		t.Run(c.ce1+"-"+c.ce2, func(t *testing.T) {
			needKinds(t, c.ce1, c.ce2)
			siblingsDrain(t, siblingDaemons(t, c.ce1, c.ce2))
		})
	}
}

func siblingsDrain(t *testing.T, topo string) {
	l := startLab(t, topo, "--wait", "40s")
	// The daemons' own sessions are in lab status (and lab up --wait
	// waits for them): ce1's with its sibling ce2, which no Microsoft
	// edge sees, and those of both peerings.
	l.eventually("ce1's sessions in lab status", 10*time.Second, func() bool {
		return l.neighbor("ce1", "ce-lan").State == bgp.Established && l.neighbor("ce1", "ce-lan").ASN == 65001 &&
			l.neighbor("ce2", "ce-lan").State == bgp.Established && l.neighbor("ce2", "ce-lan").ASN == 65001
	})
	status := l.mustRun("lab", "status")
	require.Regexp(t, `(?m)^ce1\s+10\.1\.255\.2\s+ce-lan\s+65001\s+Established`, status)
	require.Regexp(t, `(?m)^ce2\s+10\.1\.255\.1\s+ce-lan\s+65001\s+Established`, status)
	require.Regexp(t, `(?m)^ce1\s+\S+\s+link1\S*\s+12076\s+Established`, status)
	require.Regexp(t, `(?m)^ce2\s+\S+\s+link2\S*\s+12076\s+Established`, status)
	// Both customer routers' prefixes at the Microsoft edge, on each link's
	// private peering: 10.1.0.0/16 and 198.51.100.0/24.
	l.eventually("msee1 and msee2 have ce1's and ce2's prefixes", 20*time.Second, func() bool {
		return l.neighbor("msee1", "link1.100").Received[bgp.IPv4Unicast] == 2 && l.neighbor("msee2", "link2.100").Received[bgp.IPv4Unicast] == 2
	})
	l.eventually("ce1 and msee1 on link1, ce2 through ce1", 40*time.Second, func() bool {
		return strings.Contains(l.routeGet("ce1", "10.50.0.10"), "dev er1.100 ") &&
			strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev er1.100 ") &&
			strings.Contains(l.routeGet("ce2", "10.50.0.10"), "via 10.1.255.1 dev sib")
	})
	for i := range 2 {
		l.mustRun("lab", "bgp", "drain", "link1")
		require.Contains(t, l.routeGet("ce1", "10.50.0.10"), "via 10.1.255.2 dev sib", "cycle %d", i)
		require.Contains(t, l.routeGet("ce2", "10.50.0.10"), "dev er2.100 ")
		require.Contains(t, l.routeGet("msee1", "10.1.0.10"), "via 10.50.255.2 dev sib")
		require.Contains(t, l.routeGet("msee2", "10.1.0.10"), "dev er2.100 ")
		// An undrain returns with every path whole (no loop, no router
		// without a route); link1 is preferred again soon after.
		l.mustRun("lab", "bgp", "undrain", "link1")
		l.eventually("ce1 and msee1 back on link1", 5*time.Second, func() bool {
			return strings.Contains(l.routeGet("ce1", "10.50.0.10"), "dev er1.100 ") && strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev er1.100 ")
		})
	}
}

// daemonFailoverTopology: ce1 is a real BIRD or FRR customer router with
// both Direct links, link1 preferred (the customer profile: link2 gets
// AS-path prepend and lower local preference), to msee1 and msee2, which
// run iBGP between them.
func daemonFailoverTopology(t *testing.T, kind string) string {
	y := `name: df
profile: expressroute
nodes:
  ce1:
    kind: ` + kind + `
    bgp: {asn: 65001, profile: customer, networks: [10.1.0.0/16], neighbors: [{link: link1, prefer: true}, {link: link2}], bfd: true}
    ports:
      er1: {kind: direct, addresses: [192.168.100.129/30]}
      er2: {kind: direct, addresses: [192.168.100.133/30]}
  msee1:
    kind: router
    bgp: {profile: microsoft-edge, routerID: 12.0.76.1, networks: [10.50.0.0/16], neighbors: [{link: link1}, {link: msee-lan}], bfd: true}
    ports:
      er1: {kind: direct, addresses: [192.168.100.130/30]}
      sib: {kind: ethernet, addresses: [10.50.255.1/30]}
  msee2:
    kind: router
    bgp: {profile: microsoft-edge, routerID: 12.0.76.2, networks: [10.50.0.0/16], neighbors: [{link: link2}, {link: msee-lan}], bfd: true}
    ports:
      er2: {kind: direct, addresses: [192.168.100.134/30]}
      sib: {kind: ethernet, addresses: [10.50.255.2/30]}
links:
  - name: link1
    endpoints: [ce1:er1, msee1:er1]
    macsec: {enabled: true, cipher: GcmAesXpn256, secret: generate}
  - name: link2
    endpoints: [ce1:er2, msee2:er2]
    macsec: {enabled: true, cipher: GcmAesXpn256, secret: generate}
  - name: msee-lan
    endpoints: [msee1:sib, msee2:sib]
`
	file := filepath.Join(t.TempDir(), kind+"-failover.yaml")
	require.NoError(t, os.WriteFile(file, []byte(y), 0o600))
	return file
}

// TestLabBGPDaemonsFailOver: BIRD and FRR as the customer router fail over
// as secylab's own router does: a key mismatch on link1 moves ce1's route
// to the VNet onto link2 (BFD), and the same key on both ends brings link1
// back as preferred.
func TestLabBGPDaemonsFailOver(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		l := startLab(t, daemonFailoverTopology(t, tt.kind), "--wait", "40s")
		via := func(dev string) func() bool {
			return func() bool {
				out, _ := exec.Command("ip", "-n", l.ns("ce1"), "route", "get", "10.50.0.1").CombinedOutput()
				return strings.Contains(string(out), "dev "+dev)
			}
		}
		l.eventually(tt.kind+" prefers link1", 60*time.Second, via("er1"))
		l.eventually("msee1 Established over link1 with BFD Up", 30*time.Second, func() bool {
			n := l.neighbor("msee1", "link1")
			return n.State == bgp.Established && n.BFD != nil && n.BFD.State == bfd.Up
		})
		l.mustRun("lab", "macsec", "set", "link1", "--node", "msee1", "--new-cak")
		took := l.eventually(tt.kind+" moves to link2", 10*time.Second, via("er2"))
		t.Logf("%s: route to the VNet moved to link2 %v after the key mismatch", tt.kind, took.Round(time.Millisecond))
		require.Less(t, took, 3*time.Second, "BFD (300 ms × 3) drives the failover")
		l.mustRun("lab", "macsec", "set", "link1", "--new-key", "agreed")
		back := l.eventually(tt.kind+" prefers link1 again", 60*time.Second, via("er1"))
		t.Logf("%s: back on link1 %v after the keys agreed", tt.kind, back.Round(time.Millisecond))
	})
}

// ribPath is one path of a Loc-RIB: its next hop and AS path (flattened).
type ribPath struct {
	NextHop     string
	ASPath      []uint32
	Communities []uint32
}

// ribPaths is the Loc-RIB of node as `secylab lab bgp NODE --json` prints
// it: for every prefix, the path from peer.
func (l *testLab) ribPaths(nodeName, peer string) map[string]ribPath {
	l.t.Helper()
	var routers []struct {
		Node string
		RIB  []struct {
			Prefix string
			Paths  []struct {
				Peer        string
				NextHop     string
				ASPath      []struct{ ASNs []uint32 }
				Communities []uint32
			}
		}
	}
	require.NoError(l.t, json.Unmarshal([]byte(l.mustRun("lab", "bgp", nodeName, "--json")), &routers))
	out := map[string]ribPath{}
	for _, r := range routers {
		for _, e := range r.RIB {
			for _, p := range e.Paths {
				if p.Peer != peer {
					continue
				}
				rp := ribPath{NextHop: p.NextHop, ASPath: []uint32{}, Communities: p.Communities}
				for _, s := range p.ASPath {
					rp.ASPath = append(rp.ASPath, s.ASNs...)
				}
				out[e.Prefix] = rp
			}
		}
	}
	return out
}

// TestLabBGPDaemonsEveryPrefix: a BIRD or FRR customer router with two
// IPv4 and two IPv6 networks has all four received by both Microsoft
// edges, link2's prepended three times (the customer profile's backup).
func TestLabBGPDaemonsEveryPrefix(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		y, err := os.ReadFile(daemonFailoverTopology(t, tt.kind))
		require.NoError(t, err)
		nets := []string{"10.1.0.0/16", "10.2.0.0/16", "fd00:1::/48", "fd00:2::/48"}
		quoted := make([]string, len(nets))
		for i, n := range nets {
			quoted[i] = strconv.Quote(n)
		}
		file := filepath.Join(t.TempDir(), tt.kind+"-prefixes.yaml")
		require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(y), "networks: [10.1.0.0/16]", "networks: ["+strings.Join(quoted, ", ")+"]", 1)), 0o600))
		l := startLab(t, file, "--wait", "40s")
		start := time.Now()
		var got1, got2 map[string]ribPath
		all := func() bool {
			for _, n := range nets {
				if got1[n].ASPath == nil || got2[n].ASPath == nil {
					return false
				}
			}
			return true
		}
		for deadline := start.Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got1, got2 = l.ribPaths("msee1", "192.168.100.129"), l.ribPaths("msee2", "192.168.100.133")
			if all() || time.Now().After(deadline) {
				break
			}
		}
		require.ElementsMatch(t, nets, slices.Collect(maps.Keys(got1)), "prefixes msee1 received from ce1 over link1")
		require.ElementsMatch(t, nets, slices.Collect(maps.Keys(got2)), "prefixes msee2 received from ce1 over link2")
		t.Logf("%s: all four prefixes at msee1 and msee2 %v after lab up", tt.kind, time.Since(start).Round(time.Millisecond))
		for i, n := range nets {
			nh1, nh2 := "192.168.100.129", "192.168.100.133"
			if i >= 2 {
				nh1, nh2 = "::ffff:"+nh1, "::ffff:"+nh2 // IPv6 over the IPv4 session: IPv4-mapped (RFC 4798)
			}
			require.Equal(t, ribPath{NextHop: nh1, ASPath: []uint32{65001}}, got1[n], "%s at msee1 over link1", n)
			require.Equal(t, ribPath{NextHop: nh2, ASPath: []uint32{65001, 65001, 65001, 65001}}, got2[n], "%s at msee2 over link2, prepended three times", n)
		}
		n := l.neighbor("msee1", "link1")
		require.Equal(t, 2, n.Received[bgp.IPv4Unicast])
		require.Equal(t, 2, n.Received[bgp.IPv6Unicast])
	})
}

// TestLabExecDaemonCLI: the daemons' own CLIs work where an engineer
// types them, lab exec NODE -- vtysh / birdc, with their default socket
// paths; the host's /run is untouched.
func TestLabExecDaemonCLI(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		l := startLab(t, daemonTopology(t, tt.kind), "--wait", "40s")
		_, birdRun := os.Stat("/run/bird")
		cli, want := []string{"vtysh", "-c", "show bgp summary"}, `192\.168\.100\.130\s+4\s+12076`
		if tt.kind == "bird" {
			cli, want = []string{"birdc", "show", "protocols"}, `n_link1\s+BGP\s+---\s+up`
		}
		var out, errOut string
		l.eventually(strings.Join(cli, " ")+" shows the session to msee1", 30*time.Second, func() bool {
			var status int
			out, errOut, status = runBin(t, []string{"SECYLAB_STATE_DIR=" + l.state}, append([]string{"lab", "exec", "--lab", l.name, "ce1", "--"}, cli...)...)
			return status == 0 && regexp.MustCompile(want).MatchString(out)
		})
		t.Logf("secylab lab exec ce1 -- %s:\n%s%s", strings.Join(cli, " "), out, errOut)
		_, after := os.Stat("/run/bird")
		require.Equal(t, os.IsNotExist(birdRun), os.IsNotExist(after), "the host's /run is as it was")
	})
}

// ownConfigs are a customer's own BIRD and FRR configurations for ce1 of
// daemonTopology: their policy towards the Microsoft edge sets two
// communities and prepends their AS twice.
var ownConfigs = map[string]string{
	"frr": `frr defaults traditional
hostname ce1
ip prefix-list MINE seq 5 permit 10.1.0.0/16
route-map TO-MSEE permit 10
 match ip address prefix-list MINE
 set community 65001:100 65001:200
 set as-path prepend 65001 65001
exit
route-map FROM-MSEE permit 10
exit
router bgp 65001
 bgp router-id 1.1.1.1
 no bgp network import-check
 neighbor 192.168.100.130 remote-as 12076
 neighbor 192.168.100.130 timers 3 9
 neighbor 192.168.100.130 bfd
 address-family ipv4 unicast
  network 10.1.0.0/16
  neighbor 192.168.100.130 route-map FROM-MSEE in
  neighbor 192.168.100.130 route-map TO-MSEE out
 exit-address-family
exit
`,
	"bird": `router id 1.1.1.1;
protocol device {}
protocol static mine { ipv4; route 10.1.0.0/16 unreachable; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol bfd { interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }
protocol bgp msee {
  local 192.168.100.129 as 65001;
  neighbor 192.168.100.130 as 12076;
  hold time 9; keepalive time 3;
  bfd on;
  ipv4 {
    import all;
    export filter {
      if proto != "mine" then reject;
      bgp_community.add((65001, 100)); bgp_community.add((65001, 200));
      bgp_path.prepend(65001); bgp_path.prepend(65001);
      accept;
    };
  };
}
`,
}

// ownConfigTopology is daemonTopology with ce1 running conf, its own
// configuration file.
func ownConfigTopology(t *testing.T, kind, conf string) (topo, file string) {
	topo = daemonTopology(t, kind)
	file = filepath.Join(filepath.Dir(topo), "ce1-"+kind+".conf")
	require.NoError(t, os.WriteFile(file, []byte(conf), 0o600))
	y, err := os.ReadFile(topo)
	require.NoError(t, err)
	s := strings.Replace(string(y), "    kind: "+kind+"\n", "    kind: "+kind+"\n    config: ce1-"+kind+".conf\n", 1)
	require.NoError(t, os.WriteFile(topo, []byte(s), 0o600))
	return topo, file
}

// A bird or frr node runs the user's own configuration as written: the
// route-map's two communities and two prepends arrive at the Microsoft
// edge, and lab up says what secylab adds (nothing).
func TestLabOwnDaemonConfig(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		topo, file := ownConfigTopology(t, tt.kind, ownConfigs[tt.kind])
		l := startLab(t, topo, "--wait", "40s")
		var p ribPath
		l.eventually("msee1 has 10.1.0.0/16 from ce1", 30*time.Second, func() bool {
			var ok bool
			p, ok = l.ribPaths("msee1", "192.168.100.129")["10.1.0.0/16"]
			return ok
		})
		require.Equal(t, []uint32{65001, 65001, 65001}, p.ASPath, "prepended twice, as the user's policy says")
		require.Equal(t, []uint32{65001<<16 | 100, 65001<<16 | 200}, p.Communities)
		require.Contains(t, l.mustRun("lab", "bgp", "msee1", "--rib"), "65001 65001 65001 i community 65001:100 65001:200")
		_, errOut, status := l.run("lab", "bgp", "drain", "link1")
		require.Equal(t, 1, status)
		require.Contains(t, errOut, "ce1 runs its own "+tt.kind+" configuration ("+file+")")
	})
}

// A configuration the daemon rejects fails lab up with the daemon's own
// message and the file's name, and leaves nothing behind.
func TestLabOwnDaemonConfigRejected(t *testing.T) {
	eachDaemon(t, func(t *testing.T, tt daemonKind) {
		bad, want := strings.Replace(ownConfigs["frr"], " neighbor 192.168.100.130 bfd\n", " neighbor 192.168.100.130 bfd\n neighbor 192.168.100.130 no-such-option\n", 1),
			"% Unknown command"
		if tt.kind == "bird" {
			bad, want = strings.Replace(ownConfigs["bird"], "neighbor 192.168.100.130 as 12076;", "neighbor 192.168.100.130;", 1), ":20:1 Remote AS number (or peer type) must be set"
		}
		topo, file := ownConfigTopology(t, tt.kind, bad)
		state := t.TempDir()
		name := fmt.Sprintf("o%d%d", os.Getpid()%10000, labSeq.Add(1))
		env := []string{"SECYLAB_STATE_DIR=" + state}
		t.Cleanup(func() { runBin(t, env, "lab", "down", "--all") })
		out, errOut, status := runBin(t, env, "lab", "up", topo, "--name", name)
		require.NotZero(t, status, "%s%s", out, errOut)
		t.Logf("lab up: %s", errOut)
		require.Contains(t, errOut, "ce1's own configuration: ")
		require.Contains(t, errOut, file)
		require.Contains(t, errOut, want, "the daemon's own message")
		require.NotContains(t, errOut, "MKA", "refused before anything ran")
		nss, err := exec.Command("ip", "netns", "list").Output()
		require.NoError(t, err)
		require.NotContains(t, string(nss), topology.NamespaceName(name, ""))
		_, err = os.Stat(filepath.Join(state, name))
		require.ErrorIs(t, err, os.ErrNotExist, "no state directory")
		left, _ := filepath.Glob(filepath.Join(os.TempDir(), "secylab-"+name+"-*"))
		require.Empty(t, left, "no daemon run directory")
		procs, _ := exec.Command("pgrep", "-f", "secylab-"+name+"-").Output()
		require.Empty(t, strings.TrimSpace(string(procs)), "no daemon left running")
	})
}
