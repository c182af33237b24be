package dataplane

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/macsec"
)

// twoNodes makes namespaces a and b joined by a veth pair named wire in
// both, removed when the test ends.
func twoNodes(t *testing.T) (a, b string) {
	a, b = nettest.Namespace(t, "dpa"), nettest.Namespace(t, "dpb")
	nettest.Wire(t, a, b, "wire", 1600)
	return a, b
}

// tapKinds are the ways to open the controlled port that the namespace
// tests run with.
var tapKinds = []struct {
	name string
	open func(string) (*TAP, error)
}{
	{"plain", OpenTAP},
	{"offload", OpenTAPOffload},
}

// openPortWith opens the TAP "er1" with openTAP and the wire socket in ns.
func openPortWith(t *testing.T, openTAP func(string) (*TAP, error), ns, addr string, y *macsec.SecY) *Port {
	var tap *TAP
	var wire *PacketSocket
	require.NoError(t, netnsx.Do(ns, func() (err error) {
		if tap, err = openTAP("er1"); err != nil {
			return err
		}
		wire, err = OpenPacket("wire")
		return err
	}))
	nettest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.er1.disable_ipv6=1")
	nettest.Run(t, "ip", "-n", ns, "addr", "add", addr, "dev", "er1")
	nettest.Run(t, "ip", "-n", ns, "link", "set", "er1", "up")
	return NewPort(ns, tap, wire, y, 1)
}

func startPorts(t *testing.T, ports ...*Port) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range ports {
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, p.Run(ctx)) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

type etherTypes struct {
	mu    sync.Mutex
	seen  map[uint16]int
	total int
}

func (e *etherTypes) Capture(_ time.Time, f []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[uint16]int{}
	}
	e.seen[binary.BigEndian.Uint16(f[12:])]++
	e.total++
}

func TestNamespacesPingOverMACsec(t *testing.T) {
	nettest.NeedRoot(t)
	for _, k := range tapKinds {
		t.Run(k.name, func(t *testing.T) { testPingOverMACsec(t, k.open) })
	}
}

func testPingOverMACsec(t *testing.T, openTAP func(string) (*TAP, error)) {
	a, b := twoNodes(t)
	ya, yb := secyPair(t, 1, 1)
	// The SecYs' SCIs must follow the TAPs' MACs only for ES; SC=0, ES=0
	// works with any MAC, as on ExpressRoute.
	pa := openPortWith(t, openTAP, a, "192.168.100.129/30", ya)
	pb := openPortWith(t, openTAP, b, "192.168.100.130/30", yb)
	var wire etherTypes
	pa.SetTap(Wire, &wire)
	startPorts(t, pa, pb)

	require.NoError(t, nettest.Ping(a, "192.168.100.130", 5))
	wire.mu.Lock()
	defer wire.mu.Unlock()
	require.NotZero(t, wire.seen[macsec.EtherType])
	require.Equal(t, wire.total, wire.seen[macsec.EtherType], "only MACsec frames on the wire: %v", wire.seen)
	require.NotZero(t, yb.Status().RxSCs[0].Stats.InPktsOK)
}

func TestNamespacesKeyMismatch(t *testing.T) {
	nettest.NeedRoot(t)
	for _, k := range tapKinds {
		t.Run(k.name, func(t *testing.T) { testKeyMismatch(t, k.open) })
	}
}

func testKeyMismatch(t *testing.T, openTAP func(string) (*TAP, error)) {
	a, b := twoNodes(t)
	ya, yb := secyPair(t, 1, 2)
	pa := openPortWith(t, openTAP, a, "192.168.100.129/30", ya)
	pb := openPortWith(t, openTAP, b, "192.168.100.130/30", yb)
	startPorts(t, pa, pb)

	require.Error(t, nettest.Ping(a, "192.168.100.130", 2))
	require.Zero(t, pb.Stats().RxFrames, "nothing reaches B's stack")
	require.Zero(t, pa.Stats().RxFrames, "nothing reaches A's stack")
	require.Equal(t, pb.Stats().RxDropped, yb.Status().RxSCs[0].Stats.InPktsNotValid)
	require.NotZero(t, pb.Stats().RxDropped)
}
