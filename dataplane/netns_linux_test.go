package dataplane

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/frameio"
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
	open func(string) (*frameio.TAP, error)
}{
	{"plain", frameio.OpenTAP},
	{"offload", frameio.OpenTAPOffload},
}

// openPortWith opens the TAP "er1" with openTAP and the wire socket in ns.
func openPortWith(t *testing.T, openTAP func(string) (*frameio.TAP, error), ns, addr string, y *macsec.SecY) *Port {
	var tap *frameio.TAP
	var wire *frameio.PacketSocket
	require.NoError(t, netnsx.Do(ns, func() (err error) {
		if tap, err = openTAP("er1"); err != nil {
			return err
		}
		wire, err = frameio.OpenPacket("wire")
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

func testPingOverMACsec(t *testing.T, openTAP func(string) (*frameio.TAP, error)) {
	a, b := twoNodes(t)
	ya, yb := secyPair(t, 1, 1)
	// The SecYs' SCIs must follow the TAPs' MACs only for ES; SC=0, ES=0
	// works with any MAC, as on ExpressRoute.
	pa := openPortWith(t, openTAP, a, "192.168.100.129/30", ya)
	pb := openPortWith(t, openTAP, b, "192.168.100.130/30", yb)
	var wire etherTypes
	pa.SetMirror(Wire, &wire)
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

func testKeyMismatch(t *testing.T, openTAP func(string) (*frameio.TAP, error)) {
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

// TestNamespacesTCPTransferIntact sends 20 MB over TCP between two
// namespaces through ports with offload TAPs and compares SHA-256 sums:
// segmentation, MACsec and coalescing lose, reorder or corrupt nothing.
func TestNamespacesTCPTransferIntact(t *testing.T) {
	nettest.NeedRoot(t)
	for _, tc := range []struct {
		name   string
		macsec bool
		v6     bool
	}{{"MACsec IPv4", true, false}, {"MACsec IPv6", true, true}, {"clear IPv4", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoNodes(t)
			ya, yb := secyPair(t, 1, 1)
			if !tc.macsec {
				ya, yb = nil, nil
			}
			pa := openPortWith(t, frameio.OpenTAPOffload, a, "192.168.100.129/30", ya)
			pb := openPortWith(t, frameio.OpenTAPOffload, b, "192.168.100.130/30", yb)
			require.True(t, pa.ctrl.(*frameio.TAP).Offload())
			addr := "192.168.100.130:5201"
			if tc.v6 {
				for ns, ip := range map[string]string{a: "fd00::1/64", b: "fd00::2/64"} {
					nettest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.er1.disable_ipv6=0")
					nettest.Run(t, "ip", "-n", ns, "addr", "add", ip, "dev", "er1", "nodad")
				}
				addr = "[fd00::2]:5201"
			}
			startPorts(t, pa, pb)
			transferIntact(t, a, b, addr, 20<<20)
			sa, sb := pa.ctrl.(*frameio.TAP).Stats(), pb.ctrl.(*frameio.TAP).Stats()
			t.Logf("A %+v, B %+v", sa, sb)
			require.NotZero(t, sa.SuperFrames, "A's kernel sent TSO super-frames")
			require.NotZero(t, sb.Coalesced, "B's kernel got coalesced super-frames")
			require.Zero(t, sa.Bad+sb.Bad)
		})
	}
}

func transferIntact(t *testing.T, a, b, addr string, size int) {
	var ln net.Listener
	require.NoError(t, netnsx.Do(b, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}))
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{sum: [32]byte(h.Sum(nil)), n: n, err: err}
	}()
	var c net.Conn
	require.NoError(t, netnsx.Do(a, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}))
	r := rand.NewChaCha8([32]byte{1})
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(c, h), io.LimitReader(r, int64(size)))
	require.NoError(t, err)
	require.EqualValues(t, size, n)
	require.NoError(t, c.Close())
	select {
	case res := <-got:
		require.NoError(t, res.err)
		require.EqualValues(t, size, res.n)
		require.Equal(t, [32]byte(h.Sum(nil)), res.sum, "SHA-256 of what was received")
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish")
	}
}
