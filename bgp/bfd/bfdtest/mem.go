// Package bfdtest has an in-memory datagram link for BFD tests.
package bfdtest

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one end of an in-memory datagram link.
type Conn struct {
	self    netip.Addr
	in      chan []byte
	peer    *Conn
	blocked atomic.Bool
	once    sync.Once
	done    chan struct{}
	mu      sync.Mutex
	dl      time.Time
	wake    chan struct{} // closed when the deadline changes
}

// Pair returns the two ends of a link between addresses a and b.
func Pair(a, b netip.Addr) (*Conn, *Conn) {
	x := &Conn{self: a, in: make(chan []byte, 64), done: make(chan struct{})}
	y := &Conn{self: b, in: make(chan []byte, 64), done: make(chan struct{})}
	x.peer, y.peer = y, x
	return x, y
}

func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	dl := c.dl
	if c.wake == nil {
		c.wake = make(chan struct{})
	}
	wake := c.wake
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case p := <-c.in:
		return copy(b, p), net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.peer.self, 49152)), nil
	case <-timeout:
		return 0, nil, timeoutErr{}
	case <-wake:
		return c.ReadFrom(b)
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *Conn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if c.blocked.Load() {
		return len(b), nil
	}
	select {
	case c.peer.in <- append([]byte(nil), b...):
	default: // a full queue drops, like UDP
	}
	return len(b), nil
}

func (c *Conn) Close() error { c.once.Do(func() { close(c.done) }); return nil }
func (c *Conn) LocalAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.self, 3784))
}
func (c *Conn) SetDeadline(time.Time) error { return nil }
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.dl = t
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
	c.mu.Unlock()
	return nil
}
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

type timeoutErr struct{}

func (timeoutErr) Error() string { return "timeout" }
func (timeoutErr) Timeout() bool { return true }

// Block makes this end's packets vanish (true) or flow again (false), as
// a broken link or a MACsec key mismatch would.
func (c *Conn) Block(b bool) { c.blocked.Store(b) }

var _ net.PacketConn = (*Conn)(nil)
