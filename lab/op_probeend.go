package lab

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &ProbeEndOp{} }) }

// ProbeEndOp runs one end of a probe in a node of this half: its socket on
// Addr, sending to Peer at Rate datagrams a second from when the client
// writes one octet (every end of the probe is open then) until it
// half-closes the stream. The stream is records: 'O' once the socket is
// bound; 'S' seq, time for each datagram sent; 'R' seq, sent, arrival
// for each received (times in this host's clock, UnixNano); 'E' at the
// end, after Grace for the datagrams in flight.
type ProbeEndOp struct {
	Node  string        `json:"node"`
	Addr  netip.Addr    `json:"addr"`
	Peer  netip.Addr    `json:"peer"`
	Rate  int           `json:"rate"`
	Grace time.Duration `json:"grace,omitempty"`
}

func (*ProbeEndOp) Kind() string { return "probeEnd" }
func (o *ProbeEndOp) Describe() string {
	return fmt.Sprintf("probe end on %s %s ⇄ %s", o.Node, o.Addr, o.Peer)
}

func (o *ProbeEndOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if o.Rate < 1 || o.Rate > 100000 {
		c.errorf("rate", "%d: want 1 to 100000 datagrams a second", o.Rate)
	}
	return c.err()
}

func (o *ProbeEndOp) Apply(context.Context, *Lab) (any, error) {
	return nil, errors.New("a probe end is a stream: use Client.Stream")
}

// The records of a probe end's or bulk end's stream.
const (
	RecordOpen  = 'O' // the socket is bound (a bulk receiver: listening)
	RecordSent  = 'S' // seq, time
	RecordRecv  = 'R' // seq, sent, arrival
	RecordBytes = 'B' // a bulk flow's octets received so far
	RecordEnd   = 'E'
)

// recordWriter writes a stream's records from several goroutines.
type recordWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (w *recordWriter) put(kind byte, vals ...uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.w.WriteByte(kind)
	for _, v := range vals {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], v)
		w.w.Write(b[:])
	}
}

func (w *recordWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// flushEvery flushes w every d until stop is closed.
func (w *recordWriter) flushEvery(d time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.flush()
		}
	}
}

// untilHangUp returns a channel closed when the client half-closes c (or
// it fails) or ctx ends.
func untilHangUp(ctx context.Context, c net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		go func() { <-ctx.Done(); c.SetReadDeadline(time.Now()) }()
		io.Copy(io.Discard, c)
	}()
	return done
}

func (o *ProbeEndOp) Stream(ctx context.Context, l *Lab, c net.Conn) error {
	e, err := OpenProbeEnd(topology.NamespaceName(l.topo.Name, o.Node), o.Addr)
	if err != nil {
		return err
	}
	w := &recordWriter{w: bufio.NewWriter(c)}
	w.put(RecordOpen)
	if err := w.flush(); err != nil {
		e.Close()
		return err
	}
	var goAhead [1]byte
	if _, err := io.ReadFull(c, goAhead[:]); err != nil {
		e.Close()
		return nil // the client went before the probe started
	}
	hangUp := untilHangUp(ctx, c)
	stop, flushStop := make(chan struct{}), make(chan struct{})
	go w.flushEvery(20*time.Millisecond, flushStop)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		e.Send(stop, o.Peer, time.Second/time.Duration(o.Rate), func(seq uint64, at time.Time) {
			w.put(RecordSent, seq, uint64(at.UnixNano()))
		})
	}()
	go func() {
		defer wg.Done()
		e.Receive(func(seq uint64, sent, at time.Time) {
			w.put(RecordRecv, seq, uint64(sent.UnixNano()), uint64(at.UnixNano()))
		})
	}()
	<-hangUp
	close(stop)
	time.Sleep(o.Grace)
	e.Close()
	wg.Wait()
	close(flushStop)
	w.put(RecordEnd)
	return w.flush()
}

// Record is one record of a probe or bulk end's stream.
type Record struct {
	Kind byte
	Vals [3]uint64
}

// ReadRecord reads the next record of a probe end's or bulk end's stream.
func ReadRecord(r io.Reader) (Record, error) {
	var rec Record
	var k [1]byte
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return rec, err
	}
	rec.Kind = k[0]
	n := 0
	switch rec.Kind {
	case RecordSent:
		n = 2
	case RecordRecv:
		n = 3
	case RecordBytes:
		n = 1
	case RecordOpen, RecordEnd:
	default:
		return rec, fmt.Errorf("probe stream: unknown record %q", rec.Kind)
	}
	var b [24]byte
	if _, err := io.ReadFull(r, b[:8*n]); err != nil {
		return rec, err
	}
	for i := range n {
		rec.Vals[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return rec, nil
}
