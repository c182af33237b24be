package routers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/secylab/secylab/bgp"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr

	ce1Addr   = addr("192.168.100.129")
	msee1Addr = addr("192.168.100.130")
	ce2Addr   = addr("192.168.100.133")
	msee2Addr = addr("192.168.100.134")
	vnet4     = pfx("10.50.0.0/16")
	onprem4   = pfx("10.1.0.0/16")
	onprem6   = pfx("2001:db8:1::/48")
)

// node is a running speaker, stopped at the end of the test.
type node struct {
	*bgp.Speaker
	stop func()
}

// startReal runs a speaker whose sockets live in namespace ns, with
// restart timers short enough that tests do not wait.
func startReal(t *testing.T, ns string, cfg bgp.Config, fib bgp.FIB) *node {
	t.Helper()
	cfg.IdleHoldTime = 20 * time.Millisecond
	cfg.ConnectRetryTime = 200 * time.Millisecond
	cfg.Listen = ListenIn(ns, netip.Addr{})
	cfg.Dial = DialIn(ns)
	cfg.FIB = fib
	s, err := bgp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &node{Speaker: s, stop: stop}
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (n *node) neighbor(t *testing.T, a netip.Addr) bgp.NeighborStatus {
	t.Helper()
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range st.Neighbors {
		if ns.Address == a {
			return ns
		}
	}
	t.Fatalf("no neighbour %v", a)
	return bgp.NeighborStatus{}
}

func (n *node) waitState(t *testing.T, a netip.Addr, want bgp.State) {
	t.Helper()
	eventually(t, fmt.Sprintf("%v to be %v", a, want), 5*time.Second, func() bool { return n.neighbor(t, a).State == want })
}

func (n *node) best(t *testing.T, p netip.Prefix) []bgp.Path {
	t.Helper()
	rib, err := n.LocRIB()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rib, func(e bgp.RIBEntry) bool { return e.Prefix == p })
	if i < 0 {
		return nil
	}
	return rib[i].Paths[:rib[i].Selected]
}
