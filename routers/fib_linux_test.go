package routers

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func nsHandle(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	nh, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	h, err := netlink.NewHandleAt(nh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// Two speakers in two namespaces over a veth, real TCP on port 179; the
// CE's best routes land in its namespace's main table as proto bgp and
// go when withdrawn or when the FIB closes.
func TestFIBInNamespace(t *testing.T) {
	nettest.NeedRoot(t)
	ceNS, mseeNS := nettest.Namespace(t, "fibce"), nettest.Namespace(t, "fibms")
	nettest.Wire(t, ceNS, mseeNS, "link1", 1500)
	nettest.Run(t, "ip", "-n", ceNS, "addr", "add", "192.168.100.129/30", "dev", "link1")
	nettest.Run(t, "ip", "-n", mseeNS, "addr", "add", "192.168.100.130/30", "dev", "link1")

	fib, err := NewNetlinkFIB(nsHandle(t, ceNS), 0)
	if err != nil {
		t.Fatal(err)
	}
	msee := startReal(t, mseeNS, bgp.Config{ASN: 12076, RouterID: addr("1.1.1.1"), Networks: []netip.Prefix{vnet4, pfx("10.51.0.0/24")},
		Neighbors: []bgp.NeighborConfig{{Address: ce1Addr, ASN: 65001, Families: []bgp.Family{bgp.IPv4Unicast}}}}, nil)
	ce := startReal(t, ceNS, bgp.Config{ASN: 65001, RouterID: addr("9.9.9.1"), Networks: []netip.Prefix{onprem4},
		Neighbors: []bgp.NeighborConfig{{Address: msee1Addr, ASN: 12076, Families: []bgp.Family{bgp.IPv4Unicast}}}}, fib)
	ce.waitState(t, msee1Addr, bgp.Established)
	routes := func() string { return nettest.Run(t, "ip", "-n", ceNS, "route", "show", "proto", "bgp") }
	eventually(t, "routes in the kernel", 3*time.Second, func() bool {
		r := routes()
		return strings.Contains(r, "10.50.0.0/16 via 192.168.100.130") && strings.Contains(r, "10.51.0.0/24 via 192.168.100.130")
	})
	if err := msee.StopOriginating(pfx("10.51.0.0/24")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "withdrawn route gone", 3*time.Second, func() bool { return !strings.Contains(routes(), "10.51.0.0/24") })
	ce.stop()
	if r := routes(); r != "" {
		t.Errorf("routes left after shutdown:\n%s", r)
	}
	fib.Close()
}
