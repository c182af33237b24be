package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// memNet is an in-memory network of speakers joined by net.Pipe, with
// TCP-looking addresses so that speakers recognise their neighbours.
type memNet struct {
	mu        sync.Mutex
	listeners map[netip.Addr]*memListener
	conns     map[[2]netip.Addr][]net.Conn
	cut       map[[2]netip.Addr]bool
	port      int
}

func newMemNet() *memNet {
	return &memNet{listeners: map[netip.Addr]*memListener{}, conns: map[[2]netip.Addr][]net.Conn{}, cut: map[[2]netip.Addr]bool{}, port: 40000}
}

type memListener struct {
	addr netip.Addr
	ch   chan net.Conn
	once sync.Once
	done chan struct{}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *memListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }
func (l *memListener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr, Port))
}

type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func (n *memNet) listen(a netip.Addr) func() (net.Listener, error) {
	return func() (net.Listener, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		l := &memListener{addr: a, ch: make(chan net.Conn), done: make(chan struct{})}
		n.listeners[a] = l
		return l, nil
	}
}

func pair(a, b netip.Addr) [2]netip.Addr {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return [2]netip.Addr{a, b}
}

// dialFrom returns a Config.Dial for the speaker at from.
func (n *memNet) dialFrom(from netip.Addr) func(context.Context, netip.Addr, netip.AddrPort) (net.Conn, error) {
	return func(ctx context.Context, _ netip.Addr, remote netip.AddrPort) (net.Conn, error) {
		c, _, err := n.connect(ctx, from, remote.Addr())
		return c, err
	}
}

func (n *memNet) connect(ctx context.Context, from, to netip.Addr) (net.Conn, net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[to]
	cut := n.cut[pair(from, to)]
	n.port++
	port := uint16(n.port)
	n.mu.Unlock()
	if l == nil || cut {
		return nil, nil, fmt.Errorf("connect %v: connection refused", to)
	}
	a, b := net.Pipe()
	local := net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, port))
	remote := net.TCPAddrFromAddrPort(netip.AddrPortFrom(to, Port))
	ca := addrConn{a, local, remote}
	cb := addrConn{b, remote, local}
	select {
	case l.ch <- cb:
	case <-l.done:
		return nil, nil, errors.New("listener closed")
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	n.mu.Lock()
	n.conns[pair(from, to)] = append(n.conns[pair(from, to)], a, b)
	n.mu.Unlock()
	return ca, cb, nil
}

// sever breaks the link between a and b: open connections close and new
// ones are refused until heal.
func (n *memNet) sever(a, b netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[pair(a, b)] = true
	for _, c := range n.conns[pair(a, b)] {
		c.Close()
	}
	delete(n.conns, pair(a, b))
}

func (n *memNet) heal(a, b netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, pair(a, b))
}

// memFIB records what the speaker installs.
type memFIB struct {
	mu     sync.Mutex
	routes map[netip.Prefix]Route
}

func newMemFIB() *memFIB { return &memFIB{routes: map[netip.Prefix]Route{}} }

func (f *memFIB) Replace(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[r.Prefix] = r
	return nil
}

func (f *memFIB) Delete(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.routes, p)
	return nil
}

func (f *memFIB) get(p netip.Prefix) (Route, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.routes[p]
	return r, ok
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

type node struct {
	*Speaker
	fib  *memFIB
	stop func()
}

// fastConfig shortens the restart timers so tests do not wait.
func fastConfig(cfg Config) Config {
	cfg.IdleHoldTime = orDefault(cfg.IdleHoldTime, 20*time.Millisecond)
	cfg.ConnectRetryTime = orDefault(cfg.ConnectRetryTime, 200*time.Millisecond)
	return cfg
}

func startNode(t *testing.T, n *memNet, self netip.Addr, cfg Config) *node {
	t.Helper()
	cfg = fastConfig(cfg)
	fib := newMemFIB()
	cfg.FIB = fib
	cfg.Listen = n.listen(self)
	if cfg.Dial == nil {
		cfg.Dial = n.dialFrom(self)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n2 := runNode(t, s)
	n2.fib = fib
	return n2
}

func runNode(t *testing.T, s *Speaker) *node {
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

func (n *node) neighbor(t *testing.T, a netip.Addr) NeighborStatus {
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
	return NeighborStatus{}
}

func (n *node) waitState(t *testing.T, a netip.Addr, want State) {
	t.Helper()
	eventually(t, fmt.Sprintf("%v to be %v", a, want), 5*time.Second, func() bool { return n.neighbor(t, a).State == want })
}

func (n *node) best(t *testing.T, p netip.Prefix) []Path {
	t.Helper()
	rib, err := n.LocRIB()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rib, func(e RIBEntry) bool { return e.Prefix == p })
	if i < 0 {
		return nil
	}
	return rib[i].Paths[:rib[i].Selected]
}

// rawPeer is a hand-driven BGP peer for protocol tests.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
}

// dialRaw connects a raw peer at from to the speaker at to.
func dialRaw(t *testing.T, n *memNet, from, to netip.Addr) *rawPeer {
	t.Helper()
	var c net.Conn
	eventually(t, "listener", 2*time.Second, func() bool {
		var err error
		c, _, err = n.connect(context.Background(), from, to)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, nc: c}
}

func (r *rawPeer) write(b []byte) error {
	r.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := r.nc.Write(b)
	return err
}

func (r *rawPeer) send(m *bgp.BGPMessage) {
	r.t.Helper()
	if err := r.write(serialize(m)); err != nil {
		r.t.Fatalf("raw peer write: %v", err)
	}
}

// next reads the next message; nil, err on close or timeout.
func (r *rawPeer) next(timeout time.Duration) (*bgp.BGPMessage, error) {
	r.nc.SetReadDeadline(time.Now().Add(timeout))
	raw, err := readMessage(r.nc)
	if err != nil {
		return nil, err
	}
	return parseMessage(raw)
}

// expectNotification reads until a NOTIFICATION arrives and returns it.
func (r *rawPeer) expectNotification(timeout time.Duration) *bgp.BGPNotification {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, err := r.next(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("waiting for NOTIFICATION: %v", err)
		}
		if n, ok := m.Body.(*bgp.BGPNotification); ok {
			return n
		}
	}
	r.t.Fatal("no NOTIFICATION")
	return nil
}

// handshake sends an OPEN and KEEPALIVE and waits for the speaker's.
func (r *rawPeer) handshake(asn uint32, hold uint16, id string) {
	r.t.Helper()
	r.send(buildOpen(asn, hold, netip.MustParseAddr(id), []Family{IPv4Unicast, IPv6Unicast}))
	gotOpen := false
	for {
		m, err := r.next(2 * time.Second)
		if err != nil {
			r.t.Fatalf("handshake: %v", err)
		}
		switch m.Body.(type) {
		case *bgp.BGPOpen:
			gotOpen = true
			r.send(bgp.NewBGPKeepAliveMessage())
		case *bgp.BGPKeepAlive:
			if gotOpen {
				return
			}
		case *bgp.BGPNotification:
			r.t.Fatalf("handshake: NOTIFICATION %v", m.Body)
		}
	}
}
