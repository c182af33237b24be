package bgp

import (
	"net"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// conn is one TCP connection of a neighbour. Reads happen on a reader
// goroutine and writes on a writer goroutine with an unbounded queue, so
// the speaker's loop never blocks on the network (net.Pipe peers write
// to each other synchronously).
type conn struct {
	id       uint64
	nc       net.Conn
	outgoing bool // we dialled it

	// Owned by the speaker loop.
	open *openInfo // the OPEN received on this connection

	mu      sync.Mutex
	cond    *sync.Cond
	queue   [][]byte
	closing bool // close once the queue drains
	closed  bool
	werr    error // the write that failed, closing the connection
}

func newConn(id uint64, nc net.Conn, outgoing bool) *conn {
	c := &conn{id: id, nc: nc, outgoing: outgoing}
	c.cond = sync.NewCond(&c.mu)
	go c.writer()
	return c
}

func (c *conn) send(m *bgp.BGPMessage) { c.sendRaw(serialize(m)) }

func (c *conn) sendRaw(b []byte) {
	c.mu.Lock()
	if !c.closing && !c.closed {
		c.queue = append(c.queue, b)
		c.cond.Signal()
	}
	c.mu.Unlock()
}

// closeAfter queues a last message (a NOTIFICATION, or nil) and closes
// the connection when it has been written or a second has passed.
func (c *conn) closeAfter(m *bgp.BGPMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return
	}
	if m != nil {
		c.queue = append(c.queue, serialize(m))
	}
	c.closing = true
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.cond.Signal()
}

func (c *conn) writer() {
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closing && !c.closed {
			c.cond.Wait()
		}
		if c.closed || len(c.queue) == 0 {
			c.closed = true
			c.mu.Unlock()
			c.nc.Close()
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		if _, err := c.nc.Write(b); err != nil {
			c.mu.Lock()
			c.closed, c.werr = true, err
			c.queue = nil
			c.mu.Unlock()
			c.nc.Close()
			return
		}
	}
}

// writeErr is the error of the write that closed the connection, if one
// did: the reader then sees only its own read on a closed socket.
func (c *conn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.werr
}
