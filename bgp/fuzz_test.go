package bgp

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/secylab/secylab/clock"
)

// FuzzSession feeds arbitrary bytes to an Established session. Whatever
// they are, the speaker must not panic, and if it ends the session its
// NOTIFICATION must carry a defined error code.
func FuzzSession(f *testing.F) {
	f.Add(serialize(bgp.NewBGPKeepAliveMessage()))
	f.Add(serialize(encodeReach(&Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: ce1Addr}, []netip.Prefix{onprem4}, false, true)[0]))
	f.Add(serialize(encodeReach(&Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: addr("2001:db8::1")}, []netip.Prefix{onprem6}, false, true)[0]))
	f.Add(serialize(encodeWithdraw([]netip.Prefix{onprem6})[0]))
	f.Add(serialize(bgpRouteRefresh(2, 1)))
	f.Add(append(header(30, msgUpdate), 0, 0, 0, 7, 0x80, 14, 4, 0, 2, 1, 99))
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, data []byte) { runSession(t, data) })
}

// TestSessionHarnessWaitsForNothing: the session harness knows when the
// speaker has taken every octet it was given, so an input the speaker waits
// on (a truncated message) costs no wall-clock wait. It used to wait 100 ms
// for a reply per input, about 14 inputs a second.
func TestSessionHarnessWaitsForNothing(t *testing.T) {
	truncated := serialize(bgp.NewBGPKeepAliveMessage())[:10]
	start := time.Now()
	const n = 50
	for range n {
		if st := runSession(t, truncated); st != Established {
			t.Fatalf("a truncated message ended the session: %v", st)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%d inputs took %v: the harness waits on the wall clock", n, d)
	}
	if st := runSession(t, bytes.Repeat([]byte{0xff}, 40)); st == Established {
		t.Fatal("a malformed message left the session up")
	}
}

// TestUpdateNextHopBadFlags: an UPDATE whose NEXT_HOP has the wrong flags
// (0x00, not well-known transitive) is treated as withdraw (RFC 7606 §3.c);
// it made gobgp's validator panic inside the speaker's loop (found by
// FuzzSession; the input is its seed update-nexthop-bad-flags).
func TestUpdateNextHopBadFlags(t *testing.T) {
	attrs := []byte{
		0x40, 1, 1, 0, // ORIGIN IGP
		0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, // AS_PATH 65001
		0x00, 3, 4, 192, 168, 100, 129, // NEXT_HOP with flags 0
	}
	body := append([]byte{0, 0, 0, byte(len(attrs))}, attrs...)
	body = append(body, 24, 10, 1, 2) // 10.1.2.0/24
	msg := append(header(19+len(body), msgUpdate), body...)
	if st := runSession(t, msg); st != Established {
		t.Fatalf("session %v: treat-as-withdraw keeps the session", st)
	}
}

// runSession brings a Microsoft edge speaker, on a manual clock, to
// Established with a scripted peer on an in-memory connection, feeds it
// data, waits until the speaker has taken every octet and handled every
// message, and checks what it sent back. It returns the session's state.
func runSession(t *testing.T, data []byte) State {
	cfg := mseeConfig(msee1Addr, ce1Addr, "1.1.1.1")
	cfg.Neighbors[0].Passive = true
	cfg.Clock = clock.NewManual(time.Unix(1_700_000_000, 0))
	in := serialize(buildOpen(65001, 180, addr("9.9.9.1"), []Family{IPv4Unicast, IPv6Unicast}))
	in = append(in, serialize(bgp.NewBGPKeepAliveMessage())...)
	c := newScriptConn(append(in, data...))
	cfg.Listen = func() (net.Listener, error) { return &oneConnListener{c: c, done: make(chan struct{})}, nil }
	cfg.FIB = newMemFIB()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := runNode(t, s)
	defer n.stop()

	// Every octet taken (the reader asks for more) or the connection closed.
	select {
	case <-c.drained:
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the speaker neither read the input nor closed the connection")
	}
	// Every message the reader posted is handled once a call of ours is.
	state := n.neighbor(t, ce1Addr).State
	if state != Established {
		// The session ended: the NOTIFICATION, if any, is written before close.
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("session %v but the connection stays open", state)
		}
	}
	out := bytes.NewReader(c.written())
	for out.Len() > 0 {
		raw, err := readMessage(out)
		if err != nil {
			t.Fatalf("the speaker wrote a malformed message: %v", err)
		}
		m, err := parseMessage(raw)
		if err != nil {
			t.Fatalf("the speaker wrote a message that does not parse: %v", err)
		}
		if nt, ok := m.Body.(*bgp.BGPNotification); ok && (nt.ErrorCode < 1 || nt.ErrorCode > 7) {
			t.Fatalf("NOTIFICATION with code %d", nt.ErrorCode)
		}
	}
	if _, err := s.Status(); err != nil {
		t.Fatalf("speaker gone: %v", err)
	}
	return state
}

// scriptConn is the speaker's end of a connection to a scripted peer: reads
// return the script, then block until Close (drained says the speaker asked
// for more than the script holds); writes are kept.
type scriptConn struct {
	in      *bytes.Reader
	drained chan struct{}
	closed  chan struct{}
	drain   sync.Once
	close   sync.Once

	mu  sync.Mutex
	out []byte
}

func newScriptConn(script []byte) *scriptConn {
	return &scriptConn{in: bytes.NewReader(script), drained: make(chan struct{}), closed: make(chan struct{})}
}

func (c *scriptConn) Read(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if c.in.Len() > 0 {
		return c.in.Read(b) // only the speaker's reader goroutine reads
	}
	c.drain.Do(func() { close(c.drained) })
	<-c.closed
	return 0, io.EOF
}

func (c *scriptConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	c.out = append(c.out, b...)
	return len(b), nil
}

func (c *scriptConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out)
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.close.Do(func() { close(c.closed) })
	return nil
}

func (c *scriptConn) LocalAddr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(msee1Addr, Port))
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ce1Addr, 40001))
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener accepts one connection, then waits for Close.
type oneConnListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	took bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	took := l.took
	l.took = true
	l.mu.Unlock()
	if !took {
		return l.c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *oneConnListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }
func (l *oneConnListener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(msee1Addr, Port))
}
