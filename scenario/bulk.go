package scenario

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/topology"
)

// bulkPort is the TCP port of bulk flows.
const bulkPort = 47124

// bulk is a bulk TCP flow from one end of a probe to the other: it shows
// what a change does to throughput, and TCP's own recovery after an
// outage, beside the probes' loss.
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
}

func startBulk(lab string, spec ProbeSpec, runStart time.Time) (*bulk, error) {
	b := &bulk{spec: spec, start: runStart, stop: make(chan struct{})}
	addr := netip.AddrPortFrom(spec.To.Addr, bulkPort).String()
	if err := netnsx.Do(topology.NamespaceName(lab, spec.To.Node), func() (err error) {
		b.ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		return nil, fmt.Errorf("bulk flow %s: %w", spec.Name, err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := b.ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	err := netnsx.Do(topology.NamespaceName(lab, spec.From.Node), func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(spec.From.Addr, 0)), Timeout: 5 * time.Second}
		b.conn, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		b.ln.Close()
		return nil, fmt.Errorf("bulk flow %s: %w", spec.Name, err)
	}
	rx, ok := <-accepted
	if !ok {
		b.conn.Close()
		b.ln.Close()
		return nil, fmt.Errorf("bulk flow %s: no connection", spec.Name)
	}
	b.wg.Add(3)
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

func (b *bulk) finish() {
	close(b.stop)
	b.ln.Close()
	b.wg.Wait()
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
