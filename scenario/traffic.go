package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// LinkTraffic is the data frames a link carried while the run went, both
// directions, as counted by the ports of its first end: per interval of
// Interval seconds from the run's start, in frames per second. It is
// sampled from the lab's status (the monitor's 100 ms poll), never on the
// forwarding path.
type LinkTraffic struct {
	Link     string    `json:"link"`
	Port     string    `json:"port"`     // node:port that counted
	Interval float64   `json:"interval"` // seconds
	Rate     []float64 `json:"framesPerSecond"`
	// From is the first interval with a sample (the monitor starts once
	// the lab is up and BGP established).
	From int     `json:"from"`
	Peak float64 `json:"peak"`
}

// trafficSample is a port's cumulative frame count at T seconds.
type trafficSample struct {
	T      float64
	Frames uint64
}

// trafficLinks are the links whose first end runs in user space: their
// counters can be sampled.
func trafficLinks(t *topology.Topology) []*topology.Link {
	var ls []*topology.Link
	for _, l := range t.Links {
		if n := t.Node(l.Ends[0].Node); n != nil {
			if p := n.Port(l.Ends[0].Port); p != nil && p.Controlled {
				ls = append(ls, l)
			}
		}
	}
	return ls
}

// sampleTraffic records the frame counts of the traffic links' first ends
// in st at t.
func (r *run) sampleTraffic(st *lab.LabStatus, t float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.traffic == nil {
		r.traffic = map[string][]trafficSample{}
	}
	for _, l := range trafficLinks(r.sc.Topology) {
		for _, p := range st.Ports {
			if p.Node == l.Ends[0].Node && p.Name == l.Ends[0].Port {
				r.traffic[l.Name] = append(r.traffic[l.Name], trafficSample{T: t, Frames: p.Dataplane.TxFrames + p.Dataplane.RxFrames})
			}
		}
	}
}

// trafficResult turns the samples into rates per interval, up to total
// seconds.
func (r *run) trafficResult(total float64) []LinkTraffic {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []LinkTraffic
	for _, l := range trafficLinks(r.sc.Topology) {
		out = append(out, rates(l.Name, l.Ends[0].String(), r.traffic[l.Name], bucket.Seconds(), total))
	}
	return out
}

// rates bins cumulative samples into per-interval rates: the count at each
// interval's edge is interpolated between the samples either side.
func rates(link, port string, ss []trafficSample, iv, total float64) LinkTraffic {
	lt := LinkTraffic{Link: link, Port: port, Interval: iv}
	if len(ss) < 2 {
		return lt
	}
	at := func(t float64) float64 {
		j := 0
		for j < len(ss)-1 && ss[j+1].T < t {
			j++
		}
		a, b := ss[j], ss[min(j+1, len(ss)-1)]
		if b.T <= a.T || t <= a.T {
			return float64(a.Frames)
		}
		if t >= b.T {
			return float64(b.Frames)
		}
		return float64(a.Frames) + float64(b.Frames-a.Frames)*(t-a.T)/(b.T-a.T)
	}
	n := int(total/iv) + 1
	lt.Rate = make([]float64, n)
	lt.From = int(ss[0].T / iv)
	last := ss[len(ss)-1].T
	for k := lt.From; k < n; k++ {
		lo, hi := max(float64(k)*iv, ss[0].T), min(float64(k+1)*iv, last)
		if hi <= lo {
			continue
		}
		lt.Rate[k] = (at(hi) - at(lo)) / (hi - lo)
		lt.Peak = max(lt.Peak, lt.Rate[k])
	}
	return lt
}

// shares is each of links' share of the data frames of links in the
// intervals wholly inside [from, to) seconds (0 to 1), and its average rate in frames
// per second; nil when nothing was counted.
func shares(ts []LinkTraffic, from, to float64, links []string) (share, rate map[string]float64) {
	share, rate = map[string]float64{}, map[string]float64{}
	total := 0.0
	for _, t := range ts {
		if !slices.Contains(links, t.Link) {
			continue
		}
		n := 0
		for k, v := range t.Rate {
			if s := float64(k) * t.Interval; s >= from && s+t.Interval <= to+1e-9 {
				share[t.Link] += v
				total += v
				n++
			}
		}
		if n > 0 {
			rate[t.Link] = share[t.Link] / float64(n)
		}
	}
	if total == 0 {
		return nil, nil
	}
	for k := range share {
		share[k] /= total
	}
	return share, rate
}

// trafficText is the links' shares of the traffic in [from, to): "link1
// 98 % (120k frames/s), link2 2 % (2.1k frames/s)".
func trafficText(ts []LinkTraffic, from, to float64, links ...string) string {
	sh, rate := shares(ts, from, to, links)
	if sh == nil {
		return "no traffic counted"
	}
	var parts []string
	for _, l := range links {
		parts = append(parts, fmt.Sprintf("%s %.0f %% (%s frames/s)", l, 100*sh[l], siCount(rate[l])))
	}
	return strings.Join(parts, ", ")
}
