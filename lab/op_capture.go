package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &CaptureOp{} }) }

// CaptureOp streams a pcapng of one side of a link's port: "wire" (what
// travels on the fibre: ciphertext once MACsec is on) or "clear" (what the
// node's IP stack sends and receives). Frames are copied off the forwarding
// path into a bounded queue; when the client is too slow they are dropped
// there, never stalling the data plane.
type CaptureOp struct {
	Link string `json:"link"`
	Node string `json:"node,omitempty"` // which end: "" the first with a data plane
	Side string `json:"side,omitempty"` // wire (default) or clear
	// Count stops the capture after so many frames; 0: until the client
	// hangs up.
	Count int `json:"count,omitempty"`
	// Counts ends the stream with the counts of every frame, by EtherType
	// and in clear, taken where the frames pass, before the queue
	// (capture.CountsAtEnd reads them).
	Counts bool `json:"counts,omitempty"`
	// SnapLen is how many octets of each frame are sent (1 to
	// capture.MaxSnapLen); 0: capture.DefaultSnapLen.
	SnapLen int `json:"snapLen,omitempty"`
}

func (*CaptureOp) Kind() string { return "capture" }

func (o *CaptureOp) Describe() string {
	return fmt.Sprintf("capture %s (%s side)", o.Link, o.side())
}

func (o *CaptureOp) side() string {
	if o.Side == "" {
		return "wire"
	}
	s, _ := value.Enum(o.Side, "wire", "clear")
	return s
}

func (o *CaptureOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	l := c.link("link", o.Link)
	c.wire("link", l)
	c.end("node", l, o.Node)
	if o.Side != "" {
		if _, err := value.Enum(o.Side, "wire", "clear"); err != nil {
			c.errorf("side", "%v", err)
		}
	}
	if o.SnapLen < 0 || o.SnapLen > capture.MaxSnapLen {
		c.errorf("snapLen", "%d: want 1 to %d octets (0: %d)", o.SnapLen, capture.MaxSnapLen, capture.DefaultSnapLen)
	}
	if o.Count < 0 {
		c.errorf("count", "%d: want 0 (no limit) or more", o.Count)
	}
	return c.err()
}

// Apply refuses: a capture is a stream.
func (o *CaptureOp) Apply(context.Context, *Lab) (any, error) {
	return nil, fmt.Errorf("a capture is a stream: use Client.Stream")
}

func (o *CaptureOp) Stream(ctx context.Context, l *Lab, c net.Conn) error {
	ps, err := l.LinkPorts(o.Link)
	if err != nil {
		return err
	}
	var p *Port
	for _, q := range ps {
		if q != nil && (o.Node == "" || q.cfg.Node == o.Node) && p == nil {
			p = q
		}
	}
	if p == nil {
		return fmt.Errorf("link %s has no port with a data plane on node %q", o.Link, o.Node)
	}
	side := dataplane.Wire
	if o.side() == "clear" {
		side = dataplane.Clear
	}
	// Large writes: a busy link's capture is a stream of many small frames.
	snap := o.SnapLen
	if snap == 0 {
		snap = capture.DefaultSnapLen
	}
	w, err := capture.NewWriterSnap(bufio.NewWriterSize(c, 256<<10), capture.PCAPNG, snap)
	if err != nil {
		return err
	}
	// Room for about half a second of a busy link's frames (at the default
	// snap length, 13 MB at most), so that a writer the scheduler runs
	// late, or a reader that falls behind for a moment, loses nothing.
	q := capture.NewQueue(w, 1<<17, 200*time.Millisecond, o.Count)
	var mirror dataplane.Mirror = q
	counter := capture.NewCounter(q)
	if o.Counts {
		mirror = counter
	}
	p.dp.SetMirror(side, mirror)
	defer func() {
		p.dp.SetMirror(side, nil)
		if q.Close() == nil {
			// What the queue had no room for, in a statistics block
			// (Wireshark shows it as the interface's drops), and the counts
			// of every frame, taken before the queue.
			_ = w.WriteStats(q.Written()+q.Dropped(), q.Dropped())
			if o.Counts {
				_ = w.WriteCounts(counter.Counts())
			}
		}
	}()
	// The client hangs up to stop (or half-closes, and then reads to the
	// end of the stream): notice it by reading.
	gone := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(gone) }()
	select {
	case <-ctx.Done():
	case <-gone:
	case <-q.Done(): // the count reached, or the client went away
	}
	return nil
}
