package scenario

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// The drawings are SVG written by hand: every text is an element with class
// lbl (the Chromium test measures them), placed so that none overlaps
// another: labels that would collide go to another row.

// textWidth estimates the width of s in the drawings' 11 px sans-serif.
func textWidth(s string, size float64) float64 {
	return float64(len([]rune(s))) * size * 0.58
}

// rows packs spans [x, x+w] into rows: each goes to the first row where it
// overlaps nothing; it returns each span's row.
type rows struct {
	ends []float64 // per row, the right edge of its last span
}

func (rs *rows) place(x, w float64) int {
	for i, e := range rs.ends {
		if x >= e+6 {
			rs.ends[i] = x + w
			return i
		}
	}
	rs.ends = append(rs.ends, x+w)
	return len(rs.ends) - 1
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// Marker is a numbered event on the timeline; the legend lists them.
type Marker struct {
	N     int     `json:"n"`
	T     float64 `json:"t"`
	Kind  string  `json:"kind"`
	Text  string  `json:"text"`
	Color string  `json:"-"`
}

// markers are the events the timeline numbers: steps that change the lab
// (not notes, which are phases, nor waits), MKA changes, BGP sessions
// reaching or leaving Established, BFD going Up or Down, failed checks,
// Azure API calls that change something or are refused.
func (rep *Report) markers() []Marker {
	var ms []Marker
	for _, e := range rep.Events {
		color := ""
		switch e.Kind {
		case "step":
			_, what, _ := strings.Cut(e.Text, " ")
			if !strings.HasPrefix(what, "note: ") && !strings.HasPrefix(what, "wait ") {
				color = "#3366cc"
			}
		case "mka":
			if strings.Contains(e.Text, "→") {
				color = "#e07000"
			}
		case "bgp":
			if strings.Contains(e.Text, "Established") {
				color = "#8844aa"
			}
		case "bfd":
			if i := strings.LastIndex(e.Text, "→ "); i >= 0 { // the state it went to, then maybe why
				if to := e.Text[i+len("→ "):]; strings.HasPrefix(to, "Up") || strings.HasPrefix(to, "Down") {
					color = "#118888"
				}
			}
		case "check":
			if strings.HasPrefix(e.Text, "FAIL") {
				color = "#cc0000"
			}
		case "azure": // a change or a refusal through Azure's API
			color = "#0078d4"
		}
		if color != "" {
			ms = append(ms, Marker{N: len(ms) + 1, T: e.T, Kind: e.Kind, Text: e.Text, Color: color})
		}
	}
	return ms
}

// timeline draws the run: phases shaded and named, drains/cuts hatched,
// numbered markers, then a lane per probe flow (share delivered per 250 ms),
// per bulk flow (Mbit/s) and per traffic link (frames/s), over a time axis
// in seconds.
func (rep *Report) timelineSVG() string {
	total := time.Duration(rep.Duration).Seconds()
	if total <= 0 {
		return ""
	}
	const width, left, right, lane = 1000.0, 190.0, 16.0, 64.0
	x := func(t float64) float64 { return left + (width-left-right)*math.Min(math.Max(t, 0), total)/total }
	var b strings.Builder

	// Rows of names above the chart: phases (blue), then spans (brown).
	type label struct {
		x, row    float64
		text, cls string
		color     string
	}
	var labels []label
	var lr rows
	for _, ph := range rep.Phases {
		w := textWidth(ph.Name, 11)
		labels = append(labels, label{x: x(ph.From) + 2, row: float64(lr.place(x(ph.From)+2, w)), text: ph.Name, cls: "phase", color: "#224488"})
	}
	for _, sp := range rep.Spans {
		w := textWidth(sp.Label(), 11)
		labels = append(labels, label{x: x(sp.From) + 2, row: float64(lr.place(x(sp.From)+2, w)), text: sp.Label(), cls: "span", color: "#8a5a00"})
	}
	top := 6 + 15*float64(len(lr.ends))
	// Marker rows.
	ms := rep.markers()
	var mr rows
	mrow := make([]int, len(ms))
	for i, m := range ms {
		mrow[i] = mr.place(x(m.T)-8, 16)
	}
	markTop := top + 4
	lanesTop := markTop + 18*float64(len(mr.ends)) + 6

	nFlows := len(rep.Bulk) + len(rep.Traffic)
	for _, p := range rep.Probes {
		nFlows += len(p.Flows)
	}
	lanesBottom := lanesTop + lane*float64(nFlows)
	height := lanesBottom + 40
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, width, height, width, height)
	b.WriteString(`<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="8" stroke="#c8962e" stroke-width="3" stroke-opacity="0.45"/></pattern></defs>`)
	// Phase shading, alternating; a zero-length phase is a line.
	for i, ph := range rep.Phases {
		x0, x1 := x(ph.From), x(ph.To)
		if x1-x0 < 1 {
			fmt.Fprintf(&b, `<line class="phase-band" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#224488" stroke-width="1.5"><title>%s (no time)</title></line>`, x0, top, x0, lanesBottom, esc(ph.Name))
			continue
		}
		fill := [...]string{"#e8effa", "#f5efe2"}[i%2]
		fmt.Fprintf(&b, `<rect class="phase-band" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.1f–%.1f s</title></rect>`, x0, top, x1-x0, lanesBottom-top, fill, esc(ph.Name), ph.From, ph.To)
	}
	for _, sp := range rep.Spans {
		fmt.Fprintf(&b, `<rect class="span-band" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#hatch)"><title>%s: %.1f–%.1f s</title></rect>`,
			x(sp.From), top, math.Max(x(sp.To)-x(sp.From), 1.5), lanesBottom-top, esc(sp.Label()), sp.From, sp.To)
	}
	for _, l := range labels {
		fmt.Fprintf(&b, `<text class="lbl %s" x="%.1f" y="%.1f" fill="%s">%s</text>`, l.cls, l.x, 15+15*l.row, l.color, esc(l.text))
	}
	// Time axis, in seconds.
	step := niceStep(total / 10)
	for t := 0.0; t <= total+1e-9; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text class="lbl axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`,
			x(t), lanesTop, x(t), lanesBottom+4, x(t), lanesBottom+16, trimFloat(t))
	}
	fmt.Fprintf(&b, `<text class="lbl axis" x="%.1f" y="%.1f" text-anchor="middle">time since the run started (s)</text>`, left+(width-left-right)/2, lanesBottom+32)
	// Markers: a dashed line through the lanes, a numbered circle above.
	for i, m := range ms {
		cy := markTop + 9 + 18*float64(mrow[i])
		fmt.Fprintf(&b, `<g class="marker"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="3,2" stroke-opacity="0.7"/>`, x(m.T), cy+7, x(m.T), lanesBottom, m.Color)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="7.5" fill="%s"/><text class="lbl marker-n" x="%.1f" y="%.1f" text-anchor="middle" font-size="9" fill="#fff">%d</text><title>%d: %.1f s %s</title></g>`,
			x(m.T), cy, m.Color, x(m.T), cy+3, m.N, m.N, m.T, esc(m.Text))
	}
	y := lanesTop
	bw := x(bucket.Seconds()) - x(0)
	for _, p := range rep.Probes {
		for _, f := range p.Flows {
			laneLabel(&b, y, lane, p.Name, f.Name, fmt.Sprintf("lost %d, outage %s", f.Lost, f.MaxOutage))
			yAxis(&b, x(0), y, lane, "100 %", "0 %", "delivered")
			for _, bk := range f.Timeline {
				if bk.Sent == 0 {
					continue
				}
				hOK := (lane - 14) * float64(bk.Received) / float64(bk.Sent)
				base := y + lane - 6
				fmt.Fprintf(&b, `<rect class="delivered" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a9a4a"/>`, x(bk.T), base-hOK, math.Max(bw-0.5, 0.5), hOK)
				if lost := bk.Sent - bk.Received; lost > 0 {
					hl := (lane - 14) - hOK
					fmt.Fprintf(&b, `<rect class="lost" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d33"><title>%.2f s: %d of %d lost</title></rect>`,
						x(bk.T), base-hOK-hl, math.Max(bw-0.5, 0.5), hl, bk.T, lost, bk.Sent)
				}
			}
			y += lane
		}
	}
	for _, bk := range rep.Bulk {
		peak := 1.0
		for _, v := range bk.Timeline {
			peak = math.Max(peak, v)
		}
		peak = niceCeil(peak)
		laneLabel(&b, y, lane, bk.Name, "bulk TCP", fmt.Sprintf("%.0f Mbit/s, stall %s", bk.Mbps, bk.MaxStall))
		yAxis(&b, x(0), y, lane, trimFloat(peak), "0", "Mbit/s")
		for i, v := range bk.Timeline {
			h := (lane - 14) * v / peak
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3a6fb0"><title>%.2f s: %.0f Mbit/s</title></rect>`,
				x(float64(i)*bucket.Seconds()), y+lane-6-h, math.Max(bw-0.5, 0.5), h, float64(i)*bucket.Seconds(), v)
		}
		y += lane
	}
	// The links' traffic on one scale, so that a move from link1 to link2
	// shows as one lane emptying while the other fills.
	peak := 1.0
	for _, t := range rep.Traffic {
		peak = math.Max(peak, t.Peak)
	}
	peak = niceCeil(peak)
	for _, t := range rep.Traffic {
		laneLabel(&b, y, lane, t.Link+" traffic", "frames, both ways", "at "+t.Port)
		yAxis(&b, x(0), y, lane, siCount(peak), "0", "frames/s")
		for k, v := range t.Rate {
			if k < t.From || v <= 0 {
				continue
			}
			h := (lane - 14) * v / peak
			fmt.Fprintf(&b, `<rect class="traffic" data-link="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#7a4fb0"><title>%s %.2f s: %.0f frames/s</title></rect>`,
				esc(t.Link), x(float64(k)*t.Interval), y+lane-6-h, math.Max(bw-0.5, 0.5), h, esc(t.Link), float64(k)*t.Interval, v)
		}
		y += lane
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// laneLabel names a lane in up to three lines left of the chart.
func laneLabel(b *strings.Builder, y, lane float64, lines ...string) {
	for i, l := range lines {
		weight := ""
		if i == 0 {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(b, `<text class="lbl lane" x="4" y="%.1f"%s fill="%s">%s</text>`, y+lane/2-10+13*float64(i), weight, [...]string{"#000", "#444", "#666"}[i], esc(l))
	}
}

// yAxis draws a lane's vertical axis at x: its top and zero values and
// unit.
func yAxis(b *strings.Builder, x, y, lane float64, topV, zero, unit string) {
	base, high := y+lane-6, y+8
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`, x, high, x, base)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`, x-3, high, x, high, x-3, base, x, base)
	fmt.Fprintf(b, `<text class="lbl axis" x="%.1f" y="%.1f" text-anchor="end" font-size="9" fill="#555">%s</text>`, x-5, high+3, esc(topV+" "+unit))
	fmt.Fprintf(b, `<text class="lbl axis" x="%.1f" y="%.1f" text-anchor="end" font-size="9" fill="#555">%s</text>`, x-5, base+3, esc(zero))
}

// niceStep rounds a step up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// niceCeil rounds v up to a value with one or two significant digits.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Ceil(v/p) * p
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// siCount writes a count with k or M: 143k, 2.1k, 980.
func siCount(v float64) string {
	switch {
	case v >= 1e6:
		return trimFloat(math.Round(v/1e5)/10) + "M"
	case v >= 1e5:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return trimFloat(math.Round(v/1e2)/10) + "k"
	}
	return fmt.Sprintf("%.0f", v)
}

// topologySVG draws the topology as the snapshot found it: nodes in
// columns (hops from the first host), links between them; MACsec links
// thick, green when secured, red and dashed when not or down.
func topologySVG(g *Graph, s *Snapshot, when string) string {
	if g == nil || len(g.Nodes) == 0 {
		return ""
	}
	pos, width, height, boxW := layout(g)
	const boxH = 34.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="topology" data-when="%s" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, esc(when), width, height, width, height)
	title := "at " + when
	if s != nil {
		title += fmt.Sprintf(" (%.1f s)", s.T)
	}
	fmt.Fprintf(&b, `<text class="lbl" x="6" y="16" font-weight="bold">%s</text>`, esc(title))
	nodeOf := func(end string) string { n, _, _ := strings.Cut(end, ":"); return n }
	for _, l := range g.Links {
		a, z := pos[nodeOf(l.Ends[0])], pos[nodeOf(l.Ends[1])]
		stroke, w, dash, state := "#888", 1.5, "", "up"
		var ls *LinkState
		if s != nil {
			ls = s.Link(l.Name)
		}
		switch {
		case ls != nil && !ls.Up:
			stroke, w, dash, state = "#cc3333", 3.5, ` stroke-dasharray="6,4"`, ls.StateWord()
		case ls != nil && ls.MACsec:
			stroke, w, state = "#2a8a2a", 4.5, "MACsec secured"
		case l.MACsec:
			stroke, w, dash, state = "#cc3333", 3.5, ` stroke-dasharray="6,4"`, "MACsec off"
		}
		if ls != nil && len(ls.DrainedBy) > 0 {
			state += ", drained"
		}
		fmt.Fprintf(&b, `<line class="link" data-link="%s" data-state="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s><title>%s %s–%s: %s</title></line>`,
			esc(l.Name), esc(state), a[0], a[1], z[0], z[1], stroke, w, dash, esc(l.Name), esc(l.Ends[0]), esc(l.Ends[1]), esc(state))
	}
	// Link names at their middles, on a white ground, after every line.
	for _, l := range g.Links {
		a, z := pos[nodeOf(l.Ends[0])], pos[nodeOf(l.Ends[1])]
		mx, my := (a[0]+z[0])/2, (a[1]+z[1])/2
		lines := []string{l.Name}
		ls := s.Link(l.Name)
		switch {
		case ls != nil && ls.MACsec && ls.Up:
			lines = append(lines, "MACsec")
		case ls != nil && ls.MACsec:
			lines = append(lines, "not secured")
		case ls != nil && !ls.Up:
			lines = append(lines, "down")
		}
		if ls != nil && len(ls.DrainedBy) > 0 {
			lines = append(lines, "drained")
		}
		w := 0.0
		for _, t := range lines {
			w = max(w, textWidth(t, 10)+6)
		}
		h := 12 * float64(len(lines))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" fill-opacity="0.9"/>`, mx-w/2, my-h/2, w, h)
		for i, t := range lines {
			fmt.Fprintf(&b, `<text class="lbl link-name" x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`, mx, my-h/2+10+12*float64(i), esc(t))
		}
	}
	for _, n := range g.Nodes {
		p := pos[n.Name]
		fill := "#eef2f7"
		if n.Kind == "host" {
			fill = "#f4f4f4"
		}
		fmt.Fprintf(&b, `<g class="node" data-node="%s"><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="5" fill="%s" stroke="#446"/>`, esc(n.Name), p[0]-boxW/2, p[1]-boxH/2, boxW, boxH, fill)
		sub := n.Kind
		if n.ASN != 0 {
			sub += fmt.Sprintf(", AS %d", n.ASN)
		}
		fmt.Fprintf(&b, `<text class="lbl" x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">%s</text><text class="lbl" x="%.1f" y="%.1f" text-anchor="middle" font-size="9" fill="#555">%s</text></g>`,
			p[0], p[1]-2, esc(n.Name), p[0], p[1]+11, esc(sub))
	}
	// Key.
	ky := height - 16
	fmt.Fprintf(&b, `<line x1="8" y1="%.1f" x2="34" y2="%.1f" stroke="#2a8a2a" stroke-width="4.5"/><text class="lbl" x="38" y="%.1f" font-size="10">MACsec secured</text>`, ky, ky, ky+3)
	fmt.Fprintf(&b, `<line x1="140" y1="%.1f" x2="166" y2="%.1f" stroke="#cc3333" stroke-width="3.5" stroke-dasharray="6,4"/><text class="lbl" x="170" y="%.1f" font-size="10">not secured or down</text>`, ky, ky, ky+3)
	fmt.Fprintf(&b, `<line x1="290" y1="%.1f" x2="316" y2="%.1f" stroke="#888" stroke-width="1.5"/><text class="lbl" x="320" y="%.1f" font-size="10">plain Ethernet, up</text>`, ky, ky, ky+3)
	b.WriteString(`</svg>`)
	return b.String()
}

// layout places the nodes: a column per hop from the first host, a row
// each within its column, columns at least a box and a link's label apart
// (the drawing grows with them). It returns the box centres, the
// drawing's size and the boxes' width (the longest name's).
func layout(g *Graph) (pos map[string][2]float64, width, height, boxW float64) {
	col := columns(g)
	byCol := map[int][]string{}
	ncol := 0
	boxW = 84
	for _, n := range g.Nodes {
		byCol[col[n.Name]] = append(byCol[col[n.Name]], n.Name)
		ncol = max(ncol, col[n.Name]+1)
		boxW = max(boxW, textWidth(n.Name, 11)*1.12+12) // bold
	}
	tall := 0
	for _, ns := range byCol {
		tall = max(tall, len(ns))
	}
	const rowH, gap = 100.0, 64.0
	width = max(520, 20+float64(ncol)*boxW+float64(ncol-1)*gap)
	height = 40 + rowH*float64(tall) + 44
	pos = map[string][2]float64{}
	for c, ns := range byCol {
		cx := 10 + boxW/2 + (width-20-boxW)*float64(c)/math.Max(float64(ncol-1), 1)
		off := 40 + rowH*float64(tall-len(ns))/2
		for i, n := range ns {
			pos[n] = [2]float64{cx, off + rowH*float64(i) + rowH/2}
		}
	}
	return pos, width, height, boxW
}

// columns places each node in a column by its hops from the first host
// (the first node without hosts); further components start right of it.
func columns(g *Graph) map[string]int {
	adj := map[string][]string{}
	for _, l := range g.Links {
		a, _, _ := strings.Cut(l.Ends[0], ":")
		z, _, _ := strings.Cut(l.Ends[1], ":")
		adj[a], adj[z] = append(adj[a], z), append(adj[z], a)
	}
	var order []string
	for _, n := range g.Nodes {
		if n.Kind == "host" {
			order = append(order, n.Name)
		}
	}
	for _, n := range g.Nodes {
		if !slices.Contains(order, n.Name) {
			order = append(order, n.Name)
		}
	}
	col := map[string]int{}
	base := 0
	for _, root := range order {
		if _, ok := col[root]; ok {
			continue
		}
		col[root] = base
		queue, far := []string{root}, base
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, m := range adj[n] {
				if _, ok := col[m]; !ok {
					col[m] = col[n] + 1
					far = max(far, col[m])
					queue = append(queue, m)
				}
			}
		}
		base = far + 1
	}
	return col
}
