package routers

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
)

// The outputs in testdata are BIRD 2.0.12's and FRR 8.4's, captured from
// TestInteropBIRD and TestInteropFRR: one eBGP session to the Microsoft
// edge, Established.
func TestParseDaemonNeighbors(t *testing.T) {
	b, err := os.ReadFile("testdata/bird-show-protocols-all.txt")
	if err != nil {
		t.Fatal(err)
	}
	bird := ParseBIRDProtocols(string(b))
	f, err := os.ReadFile("testdata/frr-show-bgp-neighbors.json")
	if err != nil {
		t.Fatal(err)
	}
	frr, err := ParseFRRNeighbors(f)
	if err != nil {
		t.Fatal(err)
	}
	for name, nbrs := range map[string][]bgp.NeighborStatus{"bird": bird, "frr": frr} {
		if len(nbrs) != 1 {
			t.Fatalf("%s: %d neighbours, want 1: %+v", name, len(nbrs), nbrs)
		}
		n := nbrs[0]
		if n.Address != netip.MustParseAddr("192.168.100.130") || n.ASN != 12076 || n.State != bgp.Established ||
			n.RouterID != netip.MustParseAddr("192.168.100.130") || n.Accepted[bgp.IPv4Unicast] != 1 || len(n.Families) != 2 {
			t.Errorf("%s: %+v", name, n)
		}
	}
	if n := bird[0]; n.Name != "n_link1" || n.Advertised[bgp.IPv4Unicast] != 1 || n.HoldTime != 180*time.Second || n.KeepaliveTime != 60*time.Second {
		t.Errorf("bird: name %q, advertised %v, hold %v, keepalive %v", n.Name, n.Advertised, n.HoldTime, n.KeepaliveTime)
	}
	// Since 03:39:58.696: a minute before 03:40:58.696, and a day less
	// that minute before 03:38:58.696 (it was yesterday).
	day := time.Date(2026, 12, 3, 3, 40, 58, 696e6, time.Local)
	for now, want := range map[time.Time]time.Duration{day: time.Minute, day.Add(-2 * time.Minute): 24*time.Hour - time.Minute} {
		if got := parseBIRDProtocols(string(b), now)[0].Uptime; got != want {
			t.Errorf("bird: up %v at %v, want %v", got, now, want)
		}
	}
	if n := frr[0]; n.Name != "192.168.100.130" || n.HoldTime.Seconds() != 180 || n.BFD == nil || n.BFD.State != bfd.Down || n.BFD.DetectMult != 3 || n.BFD.TxInterval != 300*time.Millisecond ||
		n.LastError != "No AFI/SAFI activated for peer" {
		t.Errorf("frr: %+v BFD %+v", n, n.BFD)
	}
	// A protocol that is not up: its info is the state it is in.
	nbrs := ParseBIRDProtocols("n_link2    BGP        ---        start  03:39:58.696  Active        Socket: Connection refused\n" +
		"    Last error:       BFD session down\n" +
		"n_off      BGP        ---        down   03:39:58.696  \n")
	if len(nbrs) != 1 || nbrs[0].State != bgp.Active || nbrs[0].LastError != "BFD session down" {
		t.Errorf("start/Active and a disabled protocol: %+v", nbrs)
	}
	if _, err := ParseFRRNeighbors([]byte("% Unknown command")); err == nil {
		t.Error("FRR output that is not JSON: no error")
	}
}

// TestParseBIRDBFDSessions reads BIRD 2.0.12's `show bfd sessions`,
// captured from TestInteropBIRD: the session to the Microsoft edge, Up,
// 300 ms, detected after 900 ms.
func TestParseBIRDBFDSessions(t *testing.T) {
	b, err := os.ReadFile("testdata/bird-show-bfd-sessions.txt")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 7, 24, 19, 630e6, time.Local)
	ss := parseBIRDBFDSessions(string(b), now)
	if len(ss) != 1 || ss[0].Peer != netip.MustParseAddr("192.168.100.130") || ss[0].State != bfd.Up ||
		ss[0].TxInterval != 300*time.Millisecond || ss[0].DetectTime != 900*time.Millisecond || !ss[0].Since.Equal(now.Add(-time.Minute)) {
		t.Fatalf("%+v", ss)
	}
	ss = ParseBIRDBFDSessions("bfd1:\n10.0.0.2   eth0   Init   03:39:59.123   1.000   0.000\n10.0.0.6 eth1 Down 03:39:59.123 x y\n")
	if len(ss) != 2 || ss[0].State != bfd.Init || ss[0].TxInterval != time.Second || ss[1].State != bfd.Down || ss[1].TxInterval != 0 {
		t.Fatalf("Init and Down: %+v", ss)
	}
}

// FuzzParseDaemonNeighbors: whatever a daemon prints, the parsers do not
// panic.
func FuzzParseDaemonNeighbors(f *testing.F) {
	for _, p := range []string{"testdata/bird-show-protocols-all.txt", "testdata/bird-show-bfd-sessions.txt", "testdata/frr-show-bgp-neighbors.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseBIRDProtocols(string(b))
		ParseBIRDBFDSessions(string(b))
		ParseFRRNeighbors(b)
	})
}
