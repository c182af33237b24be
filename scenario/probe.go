package scenario

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// flow is one direction of a probe: datagrams with a sequence number and
// the send time, from one namespace to another; what was sent and what
// arrived, on this host's clock.
type flow struct {
	name     string
	interval time.Duration
	start    time.Time

	mu   sync.Mutex
	sent []time.Time // by sequence number
	recv []arrival
}

type arrival struct {
	seq      uint64
	sent, at time.Time
}

func (f *flow) addSent(seq uint64, at time.Time) {
	f.mu.Lock()
	if seq == uint64(len(f.sent)) {
		f.sent = append(f.sent, at)
	}
	f.mu.Unlock()
}

func (f *flow) addRecv(seq uint64, sent, at time.Time) {
	f.mu.Lock()
	f.recv = append(f.recv, arrival{seq: seq, sent: sent, at: at})
	f.mu.Unlock()
}

// landed reports whether the datagrams the flow sent before t are where
// they were going: every one sent in the last probeGrace before t has
// arrived (older losses are final), or one sent at t or later has (the
// path delivers, so those before it that would arrive have). missing
// counts those of the last probeGrace not arrived.
func (f *flow) landed(t time.Time) (ok bool, missing int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	before := func(s, t time.Time) int { return s.Compare(t) }
	hi, _ := slices.BinarySearchFunc(f.sent, t, before)
	lo, _ := slices.BinarySearchFunc(f.sent[:hi], t.Add(-probeGrace), before)
	got := make([]bool, hi-lo)
	missing = hi - lo
	after := false
	// Arrivals are in the order they came: those of the last probeGrace's
	// datagrams, or later ones, are at the end (twice the grace back:
	// a far half's arrival times are on this host's clock only as well as
	// their offset was measured).
	from := t.Add(-2 * probeGrace)
	for i := len(f.recv) - 1; i >= 0 && !f.recv[i].at.Before(from); i-- {
		switch a := f.recv[i]; {
		case a.seq >= uint64(hi):
			after = true
		case a.seq >= uint64(lo) && !got[a.seq-uint64(lo)]:
			got[a.seq-uint64(lo)] = true
			missing--
		}
	}
	return missing == 0 || after, missing
}

// probe is a bidirectional probe: two flows, flows[0] from spec.From to
// spec.To. Each end runs here or, on a lab spanning hosts, in the lab
// process of its node's half (remoteProbeEnd).
type probe struct {
	spec  ProbeSpec
	flows [2]*flow
	stop  chan struct{}
	wg    sync.WaitGroup
	// local are the ends run here, remote those run by a far half.
	local  [2]*lab.ProbeEnd
	remote [2]*remoteProbeEnd
}

func startProbe(r *run, spec ProbeSpec) (*probe, error) {
	p := &probe{spec: spec, stop: make(chan struct{})}
	interval := time.Second / time.Duration(spec.Rate)
	now := time.Now()
	p.flows[0] = &flow{name: spec.From.Node + "→" + spec.To.Node, interval: interval, start: now}
	p.flows[1] = &flow{name: spec.To.Node + "→" + spec.From.Node, interval: interval, start: now}
	eps := [2]Endpoint{spec.From, spec.To}
	// The sockets first, then the senders: no datagram goes to an end not
	// yet listening.
	local, remote := &p.local, &p.remote
	fail := func(err error) (*probe, error) {
		for i := range 2 {
			if local[i] != nil {
				local[i].Close()
			}
			if remote[i] != nil {
				remote[i].stream.Close()
			}
		}
		return nil, err
	}
	for i, ep := range eps {
		h, err := r.halfOf(ep.Node)
		if err != nil {
			return fail(fmt.Errorf("probe %s: %w", spec.Name, err))
		}
		if h == nil {
			if local[i], err = lab.OpenProbeEnd(topology.NamespaceName(r.name, ep.Node), ep.Addr); err != nil {
				return fail(fmt.Errorf("probe %s: %s %w", spec.Name, ep.Node, err))
			}
			continue
		}
		if remote[i], err = openRemoteProbeEnd(h, ep, eps[1-i].Addr, spec.Rate, probeGrace); err != nil {
			return fail(fmt.Errorf("probe %s: %s on host %s: %w", spec.Name, ep.Node, h.Host, err))
		}
	}
	for i := range 2 {
		out, in := p.flows[i], p.flows[1-i] // what this end sends, what it receives
		// The sender's clock less this host's: a remote sender's times
		// are put on this host's clock.
		var sentOffset time.Duration
		if remote[1-i] != nil {
			sentOffset = remote[1-i].half.ClockOffset
		}
		got := func(seq uint64, sent, at time.Time) { in.addRecv(seq, sent.Add(-sentOffset), at) }
		if e := local[i]; e != nil {
			p.wg.Add(2)
			go func() { defer p.wg.Done(); e.Send(p.stop, eps[1-i].Addr, interval, out.addSent) }()
			go func() { defer p.wg.Done(); e.Receive(got) }()
			continue
		}
		e := remote[i]
		p.wg.Add(1)
		go func() { defer p.wg.Done(); e.read(out, got) }()
		if err := e.start(); err != nil {
			p.finish()
			return nil, fmt.Errorf("probe %s: %w", spec.Name, err)
		}
	}
	return p, nil
}

// probeGrace is how long the ends keep receiving after the last datagram
// was sent: those in flight are not losses.
const probeGrace = 500 * time.Millisecond

// finish stops sending, waits for datagrams in flight and closes the
// sockets.
func (p *probe) finish() {
	close(p.stop)
	for _, e := range p.remote {
		if e != nil {
			e.stopSending() // its lab process waits probeGrace too, then ends the stream
		}
	}
	time.Sleep(probeGrace)
	for _, e := range p.local {
		if e != nil {
			e.Close()
		}
	}
	for _, e := range p.remote {
		if e != nil {
			e.stream.SetReadDeadline(time.Now().Add(5 * time.Second)) // a far half gone silent
		}
	}
	p.wg.Wait()
	for _, e := range p.remote {
		if e != nil {
			e.stream.Close()
		}
	}
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

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
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

const bucket = lab.BulkBucket // a far bulk receiver counts in the same buckets

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
