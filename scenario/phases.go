package scenario

import (
	"time"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// Graph is the topology as the report draws it.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Links []GraphLink `json:"links"`
}

// GraphNode is a node: its name, kind and AS.
type GraphNode struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	ASN  uint32 `json:"asn,omitempty"`
}

// GraphLink is a link between two node:port ends; MACsec says whether the
// topology turns MACsec on.
type GraphLink struct {
	Name   string    `json:"name"`
	Ends   [2]string `json:"ends"`
	MACsec bool      `json:"macsec"`
}

func graphOf(t *topology.Topology) *Graph {
	g := &Graph{}
	for _, n := range t.Nodes {
		gn := GraphNode{Name: n.Name, Kind: string(n.Kind)}
		if n.BGP != nil {
			gn.ASN = n.BGP.ASN
		}
		g.Nodes = append(g.Nodes, gn)
	}
	for _, l := range t.Links {
		g.Links = append(g.Links, GraphLink{Name: l.Name, Ends: [2]string{l.Ends[0].String(), l.Ends[1].String()}, MACsec: l.MACsec.Enabled})
	}
	return g
}

// Phase is a named part of the run (a note step until the next one) and
// what the probes saw in it.
type Phase struct {
	Name   string       `json:"name"`
	From   float64      `json:"from"`
	To     float64      `json:"to"`
	Probes []PhaseProbe `json:"probes"`
	// Traffic is each traffic link's share of the data frames in the
	// phase: "link1 2 %, link2 98 %".
	Traffic string `json:"traffic,omitempty"`
}

// PhaseProbe is one probe's loss and longest outage in a phase, both
// directions.
type PhaseProbe struct {
	Probe     string   `json:"probe"`
	Sent      int      `json:"sent"`
	Lost      int      `json:"lost"`
	MaxOutage Duration `json:"maxOutage"`
}

// Span is a time a link was drained, cut or disabled (adminState).
type Span struct {
	Kind string  `json:"kind"` // drained, cut, disabled
	Link string  `json:"link"`
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

// Label is how the drawing names the span: "link1 drained".
func (s Span) Label() string { return s.Link + " " + s.Kind }

// phases lists the note phases of the run with the probes' results in each.
func (r *run) phases() []Phase {
	var out []Phase
	for _, st := range r.report.Steps {
		note := r.sc.Steps[st.Index-1].Note
		if note == "" {
			continue
		}
		from, to := r.phase(note)
		if end := r.stepsEnd(); to > end {
			to = end
		}
		ph := Phase{Name: note, From: from, To: to}
		for _, p := range r.probes {
			res := p.resultWithin(r.start, from, to)
			ph.Probes = append(ph.Probes, PhaseProbe{Probe: p.spec.Name, Sent: res.Flows[0].Sent + res.Flows[1].Sent,
				Lost: res.Lost(), MaxOutage: Duration(res.MaxOutage())})
		}
		var links []string
		for _, t := range r.report.Traffic {
			links = append(links, t.Link)
		}
		if len(links) > 0 {
			ph.Traffic = trafficText(r.report.Traffic, from, to, links...)
		}
		out = append(out, ph)
	}
	return out
}

// stepsEnd is when the last step ended.
func (r *run) stepsEnd() float64 {
	end := r.elapsed()
	if n := len(r.report.Steps); n > 0 {
		end = r.report.Steps[n-1].End
	}
	return end
}

// spans finds the drains, cuts and disabled links among the steps.
func (r *run) spans() []Span {
	var out []Span
	open := map[[2]string]int{} // kind, link → index in out
	begin := func(kind, link string, t float64) {
		if _, ok := open[[2]string{kind, link}]; !ok {
			open[[2]string{kind, link}] = len(out)
			out = append(out, Span{Kind: kind, Link: link, From: t, To: -1})
		}
	}
	end := func(kind, link string, t float64) {
		if i, ok := open[[2]string{kind, link}]; ok {
			out[i].To = t
			delete(open, [2]string{kind, link})
		}
	}
	for _, st := range r.report.Steps {
		switch op := r.sc.Steps[st.Index-1].Op.(type) {
		case *lab.DrainOp:
			begin("drained", op.Link, st.Start)
		case *lab.UndrainOp:
			end("drained", op.Link, st.Start)
		case *lab.CutOp:
			begin("cut", op.Link, st.Start)
		case *lab.RestoreOp:
			end("cut", op.Link, st.Start)
		case *lab.AdminStateOp:
			if bool(op.State) {
				end("disabled", op.Link, st.Start)
			} else {
				begin("disabled", op.Link, st.Start)
			}
		}
	}
	for i := range out {
		if out[i].To < 0 {
			out[i].To = r.stepsEnd()
		}
	}
	return out
}

// finishReport adds what the drawing and tables need once the steps are
// done: the end snapshot, the traffic, the phases and spans.
func (r *run) finishReport(total time.Duration) {
	r.report.Traffic = r.trafficResult(total.Seconds())
	r.report.Phases = r.phases()
	r.report.Spans = r.spans()
}
