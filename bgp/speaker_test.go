package bgp

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

var (
	ce1Addr   = addr("192.168.100.129")
	msee1Addr = addr("192.168.100.130")
	ce2Addr   = addr("192.168.100.133")
	msee2Addr = addr("192.168.100.134")
	vnet4     = pfx("10.50.0.0/16")
	vnet6     = pfx("2001:db8:50::/48")
	onprem4   = pfx("10.1.0.0/16")
	onprem6   = pfx("2001:db8:1::/48")
)

func mseeConfig(self, ce netip.Addr, id string) Config {
	return Config{
		ASN: 12076, RouterID: addr(id), HoldTime: 180 * time.Second,
		Networks:  []netip.Prefix{vnet4, vnet6},
		Neighbors: []NeighborConfig{{Name: "ce", Address: ce, ASN: 65001, LocalAddress6: addr("2001:db8:ffff::2")}},
	}
}

func TestEstablishedExchangesIPv4AndIPv6(t *testing.T) {
	n := newMemNet()
	msee := startNode(t, n, msee1Addr, mseeConfig(msee1Addr, ce1Addr, "1.1.1.1"))
	ce := startNode(t, n, ce1Addr, Config{
		ASN: 65001, RouterID: addr("9.9.9.1"), HoldTime: 90 * time.Second,
		Networks:  []netip.Prefix{onprem4, onprem6},
		Neighbors: []NeighborConfig{{Name: "link1", Address: msee1Addr, ASN: 12076, LocalAddress6: addr("2001:db8:ffff::1")}},
	})
	ce.waitState(t, msee1Addr, Established)
	msee.waitState(t, ce1Addr, Established)
	eventually(t, "routes", 2*time.Second, func() bool {
		_, a := ce.fib.get(vnet4)
		_, b := ce.fib.get(vnet6)
		_, c := msee.fib.get(onprem4)
		_, d := msee.fib.get(onprem6)
		return a && b && c && d
	})
	if r, _ := ce.fib.get(vnet4); !slices.Equal(r.NextHops, []netip.Addr{msee1Addr}) {
		t.Errorf("ce FIB %v: next hops %v, want [%v]", vnet4, r.NextHops, msee1Addr)
	}
	if r, _ := ce.fib.get(vnet6); !slices.Equal(r.NextHops, []netip.Addr{addr("2001:db8:ffff::2")}) {
		t.Errorf("ce FIB %v: next hops %v, want the MSEE's IPv6 next hop", vnet6, r.NextHops)
	}
	b := ce.best(t, vnet4)
	if len(b) != 1 || b[0].ASPath.String() != "12076" || b[0].Origin != OriginIGP {
		t.Errorf("ce best %v = %+v, want AS path 12076, origin IGP", vnet4, b)
	}
	st := ce.neighbor(t, msee1Addr)
	if st.HoldTime != 90*time.Second || st.KeepaliveTime != 30*time.Second {
		t.Errorf("negotiated %v/%v, want 90s/30s (the lower offer)", st.HoldTime, st.KeepaliveTime)
	}
	if st.Received[IPv4Unicast] != 1 || st.Received[IPv6Unicast] != 1 || st.Advertised[IPv4Unicast] != 1 || st.Advertised[IPv6Unicast] != 1 {
		t.Errorf("counts rcvd %v adv %v, want 1 of each", st.Received, st.Advertised)
	}
	if st.RouterID != addr("1.1.1.1") {
		t.Errorf("router ID %v", st.RouterID)
	}
	// Only one session survives the collision of the two dials.
	if ms := msee.neighbor(t, ce1Addr); ms.Counters.Established != 1 || st.Counters.Established != 1 {
		t.Errorf("Established %d/%d times, want once each", ms.Counters.Established, st.Counters.Established)
	}
	var sum bytes.Buffer
	stAll, _ := ce.Status()
	WriteSummary(&sum, stAll)
	rib, _ := ce.LocRIB()
	WriteLocRIB(&sum, rib)
	for _, want := range []string{"Established", "1m30s/30s", "10.50.0.0/16", "192.168.100.130"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func TestTimerNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name             string
		mseeHold, ceHold time.Duration
		ceKeepalive      time.Duration
		ceZero           bool
		wantHold, wantKA time.Duration
	}{
		{"azure 180/60 both", 180 * time.Second, 180 * time.Second, 0, false, 180 * time.Second, 60 * time.Second},
		{"customer lower wins", 180 * time.Second, 9 * time.Second, 0, false, 9 * time.Second, 3 * time.Second},
		{"edge lower wins", 30 * time.Second, 180 * time.Second, 0, false, 30 * time.Second, 10 * time.Second},
		{"keepalive configured lower", 180 * time.Second, 180 * time.Second, 5 * time.Second, false, 180 * time.Second, 5 * time.Second},
		{"hold zero", 180 * time.Second, 0, 0, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newMemNet()
			mc := mseeConfig(msee1Addr, ce1Addr, "1.1.1.1")
			mc.HoldTime = tc.mseeHold
			msee := startNode(t, n, msee1Addr, mc)
			ce := startNode(t, n, ce1Addr, Config{ASN: 65001, RouterID: addr("9.9.9.1"), HoldTime: 90 * time.Second,
				Neighbors: []NeighborConfig{{Address: msee1Addr, ASN: 12076, HoldTime: tc.ceHold, KeepaliveTime: tc.ceKeepalive, HoldTimeZero: tc.ceZero}}})
			ce.waitState(t, msee1Addr, Established)
			msee.waitState(t, ce1Addr, Established)
			st := ce.neighbor(t, msee1Addr)
			if st.HoldTime != tc.wantHold || st.KeepaliveTime != tc.wantKA {
				t.Errorf("ce: hold/keepalive %v/%v, want %v/%v", st.HoldTime, st.KeepaliveTime, tc.wantHold, tc.wantKA)
			}
			if ms := msee.neighbor(t, ce1Addr); ms.HoldTime != tc.wantHold {
				t.Errorf("msee: hold %v, want %v", ms.HoldTime, tc.wantHold)
			}
		})
	}
}

// customer builds the dual-homed CE of the lab: link1 preferred, link2
// with AS-path prepend ×3 on export and local preference 90 on import.
func customer(maxPaths int, drainLink2 bool) Config {
	link2 := NeighborConfig{Name: "link2", Address: msee2Addr, ASN: 12076}
	if drainLink2 {
		link2.Import = Policy{LocalPref: 90}
		link2.Export = Policy{Prepend: 3}
	}
	return Config{
		ASN: 65001, RouterID: addr("9.9.9.1"), MaxPaths: maxPaths,
		Networks: []netip.Prefix{onprem4},
		Neighbors: []NeighborConfig{
			{Name: "link1", Address: msee1Addr, ASN: 12076, Import: Policy{LocalPref: 100}},
			link2,
		},
	}
}

// dualHomed starts the CE with two links to two MSEEs, each its own
// speaker, and waits for both sessions.
func dualHomed(t *testing.T, cfg Config) (n *memNet, ce, m1, m2 *node) {
	n = newMemNet()
	// The CE has two addresses on two links; one memNet endpoint per
	// address, so the CE listens on both.
	ceCfg := cfg
	ceCfg.Dial = func(ctx context.Context, local netip.Addr, remote netip.AddrPort) (net.Conn, error) {
		from := ce1Addr
		if remote.Addr() == msee2Addr {
			from = ce2Addr
		}
		return n.dialFrom(from)(ctx, local, remote)
	}
	ce = startNode(t, n, ce1Addr, ceCfg)
	eventually(t, "CE listener", 2*time.Second, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.listeners[ce2Addr] = n.listeners[ce1Addr]
		return n.listeners[ce1Addr] != nil
	})
	m1 = startNode(t, n, msee1Addr, mseeConfig(msee1Addr, ce1Addr, "1.1.1.1"))
	m2c := mseeConfig(msee2Addr, ce2Addr, "1.1.1.2")
	m2 = startNode(t, n, msee2Addr, m2c)
	ce.waitState(t, msee1Addr, Established)
	ce.waitState(t, msee2Addr, Established)
	m1.waitState(t, ce1Addr, Established)
	m2.waitState(t, ce2Addr, Established)
	return n, ce, m1, m2
}

func TestPreferLink1AndFailover(t *testing.T) {
	n, ce, m1, m2 := dualHomed(t, customer(1, true))
	eventually(t, "VNet route via link1", 2*time.Second, func() bool {
		r, ok := ce.fib.get(vnet4)
		return ok && slices.Equal(r.NextHops, []netip.Addr{msee1Addr})
	})
	eventually(t, "on-premises route at msee2", 2*time.Second, func() bool { return len(m2.best(t, onprem4)) == 1 })
	if got := m2.best(t, onprem4)[0].ASPath.String(); got != "65001 65001 65001 65001" {
		t.Errorf("msee2 sees AS path %q, want 65001 prepended 3 times", got)
	}
	if got := m1.best(t, onprem4)[0].ASPath.String(); got != "65001" {
		t.Errorf("msee1 sees AS path %q, want 65001", got)
	}
	rib, _ := ce.LocRIB()
	for _, e := range rib {
		if e.Prefix == vnet4 && (len(e.Paths) != 2 || e.Paths[1].LocalPref != 90) {
			t.Errorf("ce paths for %v: %+v, want link2's with local pref 90 second", vnet4, e.Paths)
		}
	}

	// Link1 fails: the route moves to link2, then comes back.
	n.sever(ce1Addr, msee1Addr)
	eventually(t, "VNet route via link2", 2*time.Second, func() bool {
		r, ok := ce.fib.get(vnet4)
		return ok && slices.Equal(r.NextHops, []netip.Addr{msee2Addr})
	})
	n.heal(ce1Addr, msee1Addr)
	eventually(t, "VNet route back on link1", 5*time.Second, func() bool {
		r, ok := ce.fib.get(vnet4)
		return ok && slices.Equal(r.NextHops, []netip.Addr{msee1Addr})
	})
}

func TestECMP(t *testing.T) {
	_, ce, _, _ := dualHomed(t, customer(2, false))
	eventually(t, "ECMP route", 2*time.Second, func() bool {
		r, ok := ce.fib.get(vnet4)
		return ok && slices.Equal(r.NextHops, []netip.Addr{msee1Addr, msee2Addr})
	})
	if b := ce.best(t, vnet4); len(b) != 2 || b[0].PeerID != addr("1.1.1.1") {
		t.Errorf("best set %+v: want both paths, lowest router ID first", b)
	}
}

func TestWithdrawAndRouteRefresh(t *testing.T) {
	_, ce, m1, _ := dualHomed(t, customer(1, true))
	eventually(t, "route", 2*time.Second, func() bool { _, ok := ce.fib.get(vnet6); return ok })

	if err := m1.StopOriginating(vnet4); err != nil {
		t.Fatal(err)
	}
	// msee2 still has it: the CE falls back to link2 instead of losing it.
	eventually(t, "fallback to link2 after withdrawal", 2*time.Second, func() bool {
		r, ok := ce.fib.get(vnet4)
		return ok && slices.Equal(r.NextHops, []netip.Addr{msee2Addr})
	})
	pfx9 := pfx("10.99.0.0/24")
	m1.Originate(pfx9)
	eventually(t, "new prefix", 2*time.Second, func() bool { _, ok := ce.fib.get(pfx9); return ok })
	m1.StopOriginating(pfx9)
	eventually(t, "prefix withdrawn from FIB", 2*time.Second, func() bool { _, ok := ce.fib.get(pfx9); return !ok })

	// Route refresh: the MSEE re-sends its Adj-RIB-Out on request.
	before := ce.neighbor(t, msee1Addr).Counters.UpdatesIn
	if err := ce.RouteRefresh(msee1Addr, IPv6Unicast); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refreshed UPDATE", 2*time.Second, func() bool { return ce.neighbor(t, msee1Addr).Counters.UpdatesIn > before })

	// Changing the import policy applies to routes already received.
	if err := ce.SetImportPolicy(msee1Addr, Policy{LocalPref: 50}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "link2 preferred after policy change", 2*time.Second, func() bool {
		r, ok := ce.fib.get(vnet6)
		return ok && r.NextHops[0] != addr("2001:db8:ffff::2") || ok && ce.best(t, vnet6)[0].Peer == msee2Addr
	})
	// An export policy change drains link1 at the MSEE's side too.
	if err := ce.SetExportPolicy(msee1Addr, Policy{Prepend: 2}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "prepended path at msee1", 2*time.Second, func() bool {
		b := m1.best(t, onprem4)
		return len(b) == 1 && b[0].ASPath.Len() == 3
	})
}

func TestImportPrefixFilter(t *testing.T) {
	n := newMemNet()
	mc := mseeConfig(msee1Addr, ce1Addr, "1.1.1.1")
	mc.Neighbors[0].Import = Policy{Prefixes: PrefixList{{Prefix: pfx("10.0.0.0/8"), LE: 24}}}
	msee := startNode(t, n, msee1Addr, mc)
	ce := startNode(t, n, ce1Addr, Config{ASN: 65001, RouterID: addr("9.9.9.1"),
		Networks:  []netip.Prefix{onprem4, pfx("10.2.3.0/25"), pfx("172.16.0.0/12"), onprem6},
		Neighbors: []NeighborConfig{{Address: msee1Addr, ASN: 12076}}})
	_ = ce
	eventually(t, "received", 2*time.Second, func() bool { return msee.neighbor(t, ce1Addr).Received[IPv4Unicast] == 3 })
	st := msee.neighbor(t, ce1Addr)
	if st.Accepted[IPv4Unicast] != 1 || st.Accepted[IPv6Unicast] != 0 {
		t.Errorf("accepted %v, want only 10.1.0.0/16", st.Accepted)
	}
	// The status names what the filter refused, sorted; not what it let in.
	var refused4 []netip.Prefix
	for _, p := range st.Refused {
		if p.Addr().Is4() {
			refused4 = append(refused4, p)
		}
	}
	if want := []netip.Prefix{pfx("10.2.3.0/25"), pfx("172.16.0.0/12")}; !slices.Equal(refused4, want) {
		t.Errorf("refused %v, want %v", st.Refused, want)
	}
	if _, ok := msee.fib.get(onprem4); !ok {
		t.Error("10.1.0.0/16 not installed")
	}
}

// sendOne encodes an UPDATE announcing onprem4 with p's attributes to an
// eBGP neighbour, and decodes it as the receiver does.
func sendOne(t *testing.T, p *Path) ([]byte, *received) {
	t.Helper()
	b := serialize(encodeReach(p, []netip.Prefix{onprem4}, false, false)[0])
	got, err := parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	r, n := decodeUpdate(got.Body.(*bgp.BGPUpdate), false)
	if n != nil {
		t.Fatal(n)
	}
	return b, r
}

func TestAS4PathWithASTrans(t *testing.T) {
	p := &Path{ASPath: ASPath{{ASNs: []uint32{4200000001, 65001}}}, NextHop: addr("192.0.2.1")}
	b, r := sendOne(t, p)
	if r.attrs.ASPath.String() != "4200000001 65001" {
		t.Errorf("merged AS path %q, want 4200000001 65001", r.attrs.ASPath)
	}
	if !bytes.Contains(b, []byte{0x5b, 0xa0}) { // 23456, AS_TRANS
		t.Error("AS_PATH does not carry AS_TRANS")
	}
}

// Communities (RFC 1997) cross as they came: type 8, optional transitive,
// 4 octets each (65001:100 is 0xfde90064).
func TestCommunitiesPassOn(t *testing.T) {
	p := &Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: addr("192.0.2.1"), Communities: []uint32{65001<<16 | 100, 0xffffff01}}
	b, r := sendOne(t, p)
	if !bytes.Contains(b, []byte{0xc0, 8, 8, 0xfd, 0xe9, 0, 0x64, 0xff, 0xff, 0xff, 0x01}) {
		t.Errorf("no COMMUNITIES attribute (flags 0xc0, type 8, length 8) in % x", b)
	}
	if !slices.Equal(r.attrs.Communities, p.Communities) {
		t.Errorf("communities %v, want %v", r.attrs.Communities, p.Communities)
	}
}

// TestCrossingDials: both speakers dial at once and each dial returns
// only after the other side's connection has been accepted and taken up —
// as on a loaded machine when a link comes back and both sides retry in
// step. The dialled connection must join collision resolution, not be
// dropped: dropping it closes the connection the other side chose, both go
// Idle, retry in step again, and so on for ever.
func TestCrossingDials(t *testing.T) {
	n := newMemNet()
	var speakers sync.Map // address → *Speaker
	crossing := func(from, peer netip.Addr) func(context.Context, netip.Addr, netip.AddrPort) (net.Conn, error) {
		d := n.dialFrom(from)
		return func(ctx context.Context, local netip.Addr, remote netip.AddrPort) (net.Conn, error) {
			for { // both listen before either dials
				n.mu.Lock()
				l := n.listeners[peer]
				n.mu.Unlock()
				if l != nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			c, err := d(ctx, local, remote)
			if err != nil {
				return c, err
			}
			// Return only once our speaker has taken the peer's connection.
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if s, ok := speakers.Load(from); ok {
					st, _ := s.(*Speaker).Status()
					if len(st.Neighbors) == 1 && st.Neighbors[0].State >= OpenSent {
						break
					}
				}
			}
			return c, nil
		}
	}
	mc := fastConfig(mseeConfig(msee1Addr, ce1Addr, "1.1.1.1"))
	mc.Dial, mc.ConnectRetryTime, mc.Listen = crossing(msee1Addr, ce1Addr), 3*time.Second, n.listen(msee1Addr)
	cc := fastConfig(Config{ASN: 65001, RouterID: addr("9.9.9.1"), HoldTime: 180 * time.Second, ConnectRetryTime: 3 * time.Second,
		Dial: crossing(ce1Addr, msee1Addr), Listen: n.listen(ce1Addr), Neighbors: []NeighborConfig{{Address: msee1Addr, ASN: 12076}}})
	ms, err := New(mc)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	speakers.Store(msee1Addr, ms)
	speakers.Store(ce1Addr, cs)
	msee, ce := runNode(t, ms), runNode(t, cs)
	ce.waitState(t, msee1Addr, Established)
	msee.waitState(t, ce1Addr, Established)
	time.Sleep(300 * time.Millisecond)
	a, b := ce.neighbor(t, msee1Addr), msee.neighbor(t, ce1Addr)
	if a.State != Established || b.State != Established || a.Flaps+b.Flaps != 0 {
		t.Errorf("ce %v, msee %v after %d flaps (%s; %s)", a.State, b.State, a.Flaps+b.Flaps, a.LastError, b.LastError)
	}
}

// TestIdleAcceptsPeer: while one side waits out a long IdleHoldTimer after
// its session ended, the other side's new connection is taken, not
// refused: two sides that refuse each other in turn never meet.
func TestIdleAcceptsPeer(t *testing.T) {
	n := newMemNet()
	mc := mseeConfig(msee1Addr, ce1Addr, "1.1.1.1")
	mc.IdleHoldTime = 5 * time.Second
	msee := startNode(t, n, msee1Addr, mc)
	ce := startNode(t, n, ce1Addr, Config{ASN: 65001, RouterID: addr("9.9.9.1"), HoldTime: 180 * time.Second,
		Neighbors: []NeighborConfig{{Address: msee1Addr, ASN: 12076}}})
	ce.waitState(t, msee1Addr, Established)
	msee.waitState(t, ce1Addr, Established)
	n.sever(ce1Addr, msee1Addr)
	eventually(t, "both down", 2*time.Second, func() bool {
		return ce.neighbor(t, msee1Addr).Flaps == 1 && msee.neighbor(t, ce1Addr).Flaps == 1
	})
	n.heal(ce1Addr, msee1Addr)
	start := time.Now()
	eventually(t, "Established again", 2*time.Second, func() bool { return msee.neighbor(t, ce1Addr).State == Established })
	t.Logf("Established %v after the link healed (msee's IdleHoldTime 5 s)", time.Since(start).Round(time.Millisecond))
}
