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
	if bird[0].Name != "n_link1" || bird[0].Advertised[bgp.IPv4Unicast] != 1 {
		t.Errorf("bird: name %q, advertised %v", bird[0].Name, bird[0].Advertised)
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

// FuzzParseDaemonNeighbors: whatever a daemon prints, the parsers do not
// panic.
func FuzzParseDaemonNeighbors(f *testing.F) {
	for _, p := range []string{"testdata/bird-show-protocols-all.txt", "testdata/frr-show-bgp-neighbors.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseBIRDProtocols(string(b))
		ParseFRRNeighbors(b)
	})
}
