package scenario

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/topology"
)

// probePort is the UDP port of probe flows.
const probePort = 47123

// probeMagic opens every probe datagram: "slprobe" and a version.
var probeMagic = [8]byte{'s', 'l', 'p', 'r', 'o', 'b', 'e', 1}

// flow is one direction of a probe: datagrams with a sequence number and
// the send time, from one namespace to another.
type flow struct {
	name     string
	interval time.Duration
	tx, rx   *net.UDPConn
	dst      *net.UDPAddr
	start    time.Time

	mu   sync.Mutex
	sent []time.Time // by sequence number
	recv []arrival
}

type arrival struct {
	seq      uint64
	sent, at time.Time
}

// probe is a bidirectional probe: two flows.
type probe struct {
	spec  ProbeSpec
	flows [2]*flow
	stop  chan struct{}
	wg    sync.WaitGroup
}

// openUDP opens a UDP socket bound to addr inside a node's namespace.
func openUDP(lab, node string, addr netip.Addr) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := netnsx.Do(topology.NamespaceName(lab, node), func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, probePort)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe socket %s %s: %w", node, addr, err)
	}
	return c, nil
}

func startProbe(lab string, spec ProbeSpec) (*probe, error) {
	a, err := openUDP(lab, spec.From.Node, spec.From.Addr)
	if err != nil {
		return nil, err
	}
	b, err := openUDP(lab, spec.To.Node, spec.To.Addr)
	if err != nil {
		a.Close()
		return nil, err
	}
	p := &probe{spec: spec, stop: make(chan struct{})}
	interval := time.Second / time.Duration(spec.Rate)
	now := time.Now()
	p.flows[0] = &flow{name: spec.From.Node + "→" + spec.To.Node, interval: interval, tx: a, rx: b,
		dst: net.UDPAddrFromAddrPort(netip.AddrPortFrom(spec.To.Addr, probePort)), start: now}
	p.flows[1] = &flow{name: spec.To.Node + "→" + spec.From.Node, interval: interval, tx: b, rx: a,
		dst: net.UDPAddrFromAddrPort(netip.AddrPortFrom(spec.From.Addr, probePort)), start: now}
	for _, f := range p.flows {
		p.wg.Add(2)
		go func() { defer p.wg.Done(); f.send(p.stop) }()
		go func() { defer p.wg.Done(); f.receive() }()
	}
	return p, nil
}

func (f *flow) send(stop <-chan struct{}) {
	buf := make([]byte, 64)
	copy(buf, probeMagic[:])
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for seq := uint64(0); ; seq++ {
		now := time.Now()
		binary.BigEndian.PutUint64(buf[8:], seq)
		binary.BigEndian.PutUint64(buf[16:], uint64(now.UnixNano()))
		f.mu.Lock()
		f.sent = append(f.sent, now)
		f.mu.Unlock()
		// A send error (no route, no neighbour) is a lost probe, as on a
		// real network.
		f.tx.WriteToUDP(buf, f.dst)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (f *flow) receive() {
	buf := make([]byte, 256)
	for {
		n, _, err := f.rx.ReadFromUDP(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if n < 24 || [8]byte(buf[:8]) != probeMagic {
			continue
		}
		f.mu.Lock()
		f.recv = append(f.recv, arrival{
			seq:  binary.BigEndian.Uint64(buf[8:]),
			sent: time.Unix(0, int64(binary.BigEndian.Uint64(buf[16:]))),
			at:   at,
		})
		f.mu.Unlock()
	}
}

// finish stops sending, waits for datagrams in flight and closes the
// sockets.
func (p *probe) finish(grace time.Duration) {
	close(p.stop)
	time.Sleep(grace)
	for _, f := range p.flows {
		f.tx.Close()
	}
	p.wg.Wait()
}

// FlowResult measures one direction of a probe.
type FlowResult struct {
	Name       string    `json:"name"`
	Sent       int       `json:"sent"`
	Received   int       `json:"received"`
	Lost       int       `json:"lost"`
	Duplicates int       `json:"duplicates"`
	Reordered  int       `json:"reordered"`
	LatencyP50 Duration  `json:"latency_p50"`
	LatencyP99 Duration  `json:"latency_p99"`
	LatencyMax Duration  `json:"latency_max"`
	Outages    []Window  `json:"outages"` // runs of lost datagrams, by send time
	MaxOutage  Duration  `json:"max_outage"`
	Timeline   []Bucket  `json:"timeline"`
	Interval   Duration  `json:"interval"`
	Start      time.Time `json:"start"`
}

// Window is a span of the run, in seconds from its start.
type Window struct {
	From, To float64
}

// Bucket counts datagrams sent in a slice of time and how many arrived.
type Bucket struct {
	T        float64 `json:"t"` // seconds from the run's start
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
}

// Duration marshals as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%.6f", time.Duration(d).Seconds()), nil
}

func (d Duration) String() string {
	if time.Duration(d) < 10*time.Millisecond {
		return time.Duration(d).Round(time.Microsecond).String()
	}
	return time.Duration(d).Round(time.Millisecond).String()
}

// ProbeResult is both directions of a probe.
type ProbeResult struct {
	Name  string        `json:"name"`
	Spec  string        `json:"spec"`
	Flows [2]FlowResult `json:"flows"`
}

// Lost sums both directions.
func (r ProbeResult) Lost() int { return r.Flows[0].Lost + r.Flows[1].Lost }

// MaxOutage is the longest outage of either direction.
func (r ProbeResult) MaxOutage() time.Duration {
	return time.Duration(max(r.Flows[0].MaxOutage, r.Flows[1].MaxOutage))
}

const bucket = 250 * time.Millisecond

func (p *probe) result(runStart time.Time) ProbeResult {
	r := ProbeResult{Name: p.spec.Name, Spec: fmt.Sprintf("%s %s ⇄ %s %s, %d/s each way", p.spec.From.Node, p.spec.From.Addr, p.spec.To.Node, p.spec.To.Addr, p.spec.Rate)}
	for i, f := range p.flows {
		f.mu.Lock()
		r.Flows[i] = measure(f.name, f.sent, f.recv, f.interval, runStart)
		f.mu.Unlock()
	}
	return r
}

// resultWithin measures only the datagrams sent between from and to
// (seconds into the run).
func (p *probe) resultWithin(runStart time.Time, from, to float64) ProbeResult {
	r := ProbeResult{Name: p.spec.Name}
	for i, f := range p.flows {
		f.mu.Lock()
		lo, hi := -1, -1
		for seq, t := range f.sent {
			s := t.Sub(runStart).Seconds()
			if s >= from && s < to {
				if lo < 0 {
					lo = seq
				}
				hi = seq + 1
			}
		}
		var sent []time.Time
		var recv []arrival
		if lo >= 0 {
			sent = f.sent[lo:hi]
			for _, a := range f.recv {
				if a.seq >= uint64(lo) && a.seq < uint64(hi) {
					a.seq -= uint64(lo)
					recv = append(recv, a)
				}
			}
		}
		r.Flows[i] = measure(f.name, sent, recv, f.interval, runStart)
		f.mu.Unlock()
	}
	return r
}

// measure computes a flow's loss, outages, reordering, latency and
// timeline from what was sent and what arrived.
func measure(name string, sent []time.Time, recv []arrival, interval time.Duration, runStart time.Time) FlowResult {
	r := FlowResult{Name: name, Sent: len(sent), Interval: Duration(interval), Start: runStart}
	got := make([]bool, len(sent))
	var lat []time.Duration
	var highest uint64
	for i, a := range recv {
		if a.seq >= uint64(len(sent)) {
			continue
		}
		if got[a.seq] {
			r.Duplicates++
			continue
		}
		got[a.seq] = true
		r.Received++
		if i > 0 && a.seq < highest {
			r.Reordered++
		}
		highest = max(highest, a.seq)
		lat = append(lat, a.at.Sub(a.sent))
	}
	r.Lost = r.Sent - r.Received
	if len(lat) > 0 {
		slices.Sort(lat)
		r.LatencyP50 = Duration(lat[len(lat)/2])
		r.LatencyP99 = Duration(lat[len(lat)*99/100])
		r.LatencyMax = Duration(lat[len(lat)-1])
	}
	// An outage runs from the first lost datagram's send time to the next
	// received one's: what a flow in the network would have missed.
	for i := 0; i < len(sent); {
		if got[i] {
			i++
			continue
		}
		j := i
		for j < len(sent) && !got[j] {
			j++
		}
		end := sent[j-1].Add(interval)
		if j < len(sent) {
			end = sent[j]
		}
		w := Window{From: sent[i].Sub(runStart).Seconds(), To: end.Sub(runStart).Seconds()}
		r.Outages = append(r.Outages, w)
		r.MaxOutage = max(r.MaxOutage, Duration(end.Sub(sent[i])))
		i = j
	}
	for i, t := range sent {
		b := int(t.Sub(runStart) / bucket)
		for len(r.Timeline) <= b {
			r.Timeline = append(r.Timeline, Bucket{T: float64(len(r.Timeline)) * bucket.Seconds()})
		}
		r.Timeline[b].Sent++
		if got[i] {
			r.Timeline[b].Received++
		}
	}
	return r
}
