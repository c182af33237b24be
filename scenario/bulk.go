package scenario

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// bulk is a bulk TCP flow from one end of a probe to the other: it shows
// what a change does to throughput, and TCP's own recovery after an
// outage, beside the probes' loss. Either end may run in a far half's lab
// process (lab.BulkEndOp), which streams the receiver's counts.
type bulk struct {
	spec    ProbeSpec
	ln      net.Listener
	conn    net.Conn
	start   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
	bytes   atomic.Uint64
	mu      sync.Mutex
	samples []uint64 // bytes received by the end of each bucket
	err     error
	// far ends: the receiver's, the sender's
	farRx, farTx *remoteBulkEnd
	once         sync.Once
}

func startBulk(r *run, spec ProbeSpec) (*bulk, error) {
	b := &bulk{spec: spec, start: r.start, stop: make(chan struct{})}
	fail := func(err error) (*bulk, error) {
		b.finish()
		return nil, fmt.Errorf("bulk flow %s: %w", spec.Name, err)
	}
	rxHalf, err := r.halfOf(spec.To.Node)
	if err != nil {
		return nil, fmt.Errorf("bulk flow %s: %w", spec.Name, err)
	}
	txHalf, err := r.halfOf(spec.From.Node)
	if err != nil {
		return nil, fmt.Errorf("bulk flow %s: %w", spec.Name, err)
	}
	addr := netip.AddrPortFrom(spec.To.Addr, lab.BulkPort).String()
	accepted := make(chan net.Conn, 1)
	if rxHalf != nil {
		if b.farRx, err = openRemoteBulkEnd(rxHalf, &lab.BulkEndOp{Node: spec.To.Node, Addr: spec.To.Addr}); err != nil {
			return fail(err)
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			err := b.farRx.read(func(n uint64) {
				b.bytes.Store(n)
				b.mu.Lock()
				b.samples = append(b.samples, n)
				b.mu.Unlock()
			})
			if err != nil {
				b.mu.Lock()
				b.err = err
				b.mu.Unlock()
			}
		}()
	} else {
		if err := netnsx.Do(topology.NamespaceName(r.name, spec.To.Node), func() (err error) {
			b.ln, err = net.Listen("tcp", addr)
			return err
		}); err != nil {
			return fail(err)
		}
		go func() {
			c, err := b.ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
	}
	if txHalf != nil {
		if b.farTx, err = openRemoteBulkEnd(txHalf, &lab.BulkEndOp{Node: spec.From.Node, Addr: spec.From.Addr, Peer: spec.To.Addr, Send: true}); err != nil {
			return fail(err)
		}
		go b.farTx.read(func(uint64) {})
	} else {
		err := netnsx.Do(topology.NamespaceName(r.name, spec.From.Node), func() (err error) {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(spec.From.Addr, 0)), Timeout: 5 * time.Second}
			b.conn, err = d.Dial("tcp", addr)
			return err
		})
		if err != nil {
			return fail(err)
		}
		b.wg.Add(1)
		go func() { // sender
			defer b.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-b.stop:
					b.conn.Close()
					return
				default:
				}
				b.conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := b.conn.Write(buf); err != nil && !isTimeout(err) {
					return
				}
			}
		}()
	}
	if rxHalf != nil {
		return b, nil
	}
	var rx net.Conn
	select {
	case c, ok := <-accepted:
		if !ok {
			return fail(errors.New("no connection"))
		}
		rx = c
	case <-time.After(10 * time.Second):
		return fail(errors.New("no connection within 10s"))
	}
	b.wg.Add(2)
	go func() { // receiver
		defer b.wg.Done()
		defer rx.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := rx.Read(buf)
			b.bytes.Add(uint64(n))
			if err != nil {
				if err != io.EOF {
					b.mu.Lock()
					b.err = err
					b.mu.Unlock()
				}
				return
			}
		}
	}()
	go func() { // sampler
		defer b.wg.Done()
		t := time.NewTicker(bucket)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.mu.Lock()
				b.samples = append(b.samples, b.bytes.Load())
				b.mu.Unlock()
			}
		}
	}()
	return b, nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// finish stops the flow (once) and waits for its ends.
func (b *bulk) finish() {
	b.once.Do(func() {
		close(b.stop)
		if b.farTx != nil {
			b.farTx.stop()
		}
		if b.farRx != nil {
			b.farRx.stop()
		}
		if b.ln != nil {
			b.ln.Close()
		}
		b.wg.Wait()
	})
}

// BulkResult is a bulk TCP flow's throughput over the run.
type BulkResult struct {
	Name     string    `json:"name"`
	Spec     string    `json:"spec"`
	Bytes    uint64    `json:"bytes"`
	Mbps     float64   `json:"mbps"` // average over the run
	Timeline []float64 `json:"timeline_mbps"`
	// MaxStall is the longest time no byte arrived, in whole buckets.
	MaxStall Duration `json:"max_stall"`
	Error    string   `json:"error,omitempty"`
}

func (b *bulk) result() BulkResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := BulkResult{Name: b.spec.Name, Bytes: b.bytes.Load(),
		Spec: fmt.Sprintf("TCP %s %s → %s %s", b.spec.From.Node, b.spec.From.Addr, b.spec.To.Node, b.spec.To.Addr)}
	if b.err != nil {
		r.Error = b.err.Error()
	}
	var prev uint64
	stall := 0
	for _, s := range b.samples {
		mbps := float64(s-prev) * 8 / bucket.Seconds() / 1e6
		r.Timeline = append(r.Timeline, mbps)
		if s == prev {
			stall++
			r.MaxStall = max(r.MaxStall, Duration(time.Duration(stall)*bucket))
		} else {
			stall = 0
		}
		prev = s
	}
	if n := len(b.samples); n > 0 {
		r.Mbps = float64(r.Bytes) * 8 / (float64(n) * bucket.Seconds()) / 1e6
	}
	return r
}
