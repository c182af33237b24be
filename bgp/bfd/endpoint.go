package bfd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// TTLReader is a PacketConn that also reports the received IP TTL or hop
// limit, so the GTSM check of RFC 5881 §5 can run. Listen's receive
// socket implements it; in-memory test connections need not.
type TTLReader interface {
	ReadFromTTL(b []byte) (n int, src netip.Addr, ttl int, err error)
}

// Endpoint carries the Control packets of single-hop sessions over UDP:
// it receives on rx (port 3784) and sends from tx (a source port in
// 49152–65535, TTL 255), demultiplexing by Your Discriminator, or by
// source address while that is 0 (RFC 5881 §3).
type Endpoint struct {
	rx, tx net.PacketConn

	mu       sync.Mutex
	sessions []*Session
	running  bool
	ttlDrops uint64
}

// NewEndpoint returns an endpoint over rx and tx, which may be one conn.
func NewEndpoint(rx, tx net.PacketConn) *Endpoint { return &Endpoint{rx: rx, tx: tx} }

// Add creates a session to cfg.Peer; it starts when Run does (or at once
// if Run is running).
func (e *Endpoint) Add(cfg Config) *Session {
	s := NewSession(cfg)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sessions = append(e.sessions, s)
	if e.running {
		s.start(e.sender(s))
	}
	return s
}

func (e *Endpoint) sender(s *Session) func(*Control) {
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.cfg.Peer, Port))
	var buf []byte
	var mu sync.Mutex
	return func(c *Control) {
		mu.Lock()
		defer mu.Unlock()
		buf = c.Append(buf[:0])
		e.tx.WriteTo(buf, dst) // a lost packet is what BFD is built to survive
	}
}

// Run starts the sessions and reads packets until ctx ends or rx fails;
// it then stops the sessions' timers. It closes neither conn.
func (e *Endpoint) Run(ctx context.Context) error {
	e.mu.Lock()
	e.running = true
	for _, s := range e.sessions {
		s.start(e.sender(s))
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running = false
		for _, s := range e.sessions {
			s.stop()
		}
		e.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { e.rx.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	ttlr, checkTTL := e.rx.(TTLReader)
	buf := make([]byte, 1500)
	for {
		var (
			n   int
			src netip.Addr
			ttl = RequiredTTL
			err error
		)
		if checkTTL {
			n, src, ttl, err = ttlr.ReadFromTTL(buf)
		} else {
			var a net.Addr
			n, a, err = e.rx.ReadFrom(buf)
			if err == nil {
				src = addrOf(a)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		e.dispatch(buf[:n], src, ttl)
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (e *Endpoint) dispatch(b []byte, src netip.Addr, ttl int) {
	if ttl != RequiredTTL {
		e.mu.Lock()
		e.ttlDrops++
		e.mu.Unlock()
		return
	}
	c, err := Parse(b)
	if err != nil {
		return
	}
	e.mu.Lock()
	var s *Session
	for _, x := range e.sessions {
		if c.YourDiscr != 0 && x.localDiscr == c.YourDiscr || c.YourDiscr == 0 && x.cfg.Peer == src {
			s = x
			break
		}
	}
	e.mu.Unlock()
	if s != nil {
		s.receive(c)
	}
}

// TTLDrops counts packets dropped for a TTL other than 255.
func (e *Endpoint) TTLDrops() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ttlDrops
}

var aLongTimeAgo = time.Unix(1, 0)
