package scenario

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"
)

// WriteHTML writes a self-contained page: the verdict, a timeline in SVG
// (per probe flow: packets delivered per 250 ms, losses in red; steps and
// MKA events as markers), the assertions, the events.
func (rep *Report) WriteHTML(w io.Writer) error {
	return pageTmpl.Execute(w, struct {
		*Report
		SVG template.HTML
	}{rep, template.HTML(rep.timelineSVG())})
}

func (rep *Report) timelineSVG() string {
	total := time.Duration(rep.Duration).Seconds()
	if total <= 0 {
		return ""
	}
	const width, left, lane = 960.0, 170.0, 70.0
	flows := len(rep.Bulk)
	for _, p := range rep.Probes {
		flows += len(p.Flows)
	}
	height := 40 + lane*float64(max(flows, 1)) + 30
	x := func(t float64) float64 { return left + (width-left-10)*t/total }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`, width, height)
	// Time axis.
	step := math.Max(1, math.Round(total/12))
	for t := 0.0; t <= total; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="30" x2="%.1f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%.0fs</text>`,
			x(t), x(t), height-25, x(t), height-10, t)
	}
	// Markers: steps (blue), MKA changes (orange), failed checks (red).
	for _, e := range rep.Events {
		color := ""
		switch {
		case e.Kind == "step":
			color = "#3366cc"
		case e.Kind == "mka":
			color = "#ff9900"
		case e.Kind == "bgp" || e.Kind == "bfd":
			color = "#8844aa"
		case e.Kind == "check" && strings.HasPrefix(e.Text, "FAIL"):
			color = "#cc0000"
		}
		if color == "" {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="20" x2="%.1f" y2="%.0f" stroke="%s" stroke-dasharray="3,2"><title>%.1fs %s</title></line>`,
			x(e.T), x(e.T), height-25, color, e.T, template.HTMLEscapeString(e.Text))
		// Phases (note steps) are named above the chart.
		if _, note, ok := strings.Cut(e.Text, "note: "); ok && e.Kind == "step" {
			fmt.Fprintf(&b, `<text x="%.1f" y="14" fill="#3366cc">%s</text>`, x(e.T)+2, template.HTMLEscapeString(note))
		}
	}
	y := 40.0
	for _, p := range rep.Probes {
		for _, f := range p.Flows {
			fmt.Fprintf(&b, `<text x="5" y="%.0f">%s</text><text x="5" y="%.0f" fill="#666">lost %d, outage %s</text>`,
				y+lane/2-6, template.HTMLEscapeString(f.Name), y+lane/2+8, f.Lost, f.MaxOutage)
			peak := 1
			for _, bk := range f.Timeline {
				peak = max(peak, bk.Sent)
			}
			bw := x(bucket.Seconds()) - x(0)
			for _, bk := range f.Timeline {
				h := (lane - 12) * float64(bk.Received) / float64(peak)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a9a4a"/>`, x(bk.T), y+lane-6-h, math.Max(bw-0.5, 0.5), h)
				if lost := bk.Sent - bk.Received; lost > 0 {
					hl := (lane - 12) * float64(lost) / float64(peak)
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d33"><title>%.2fs: %d lost</title></rect>`,
						x(bk.T), y+lane-6-h-hl, math.Max(bw-0.5, 0.5), hl, bk.T, lost)
				}
			}
			y += lane
		}
	}
	for _, bk := range rep.Bulk {
		fmt.Fprintf(&b, `<text x="5" y="%.0f">%s (TCP)</text><text x="5" y="%.0f" fill="#666">%.0f Mbit/s, stall %s</text>`,
			y+lane/2-6, template.HTMLEscapeString(bk.Name), y+lane/2+8, bk.Mbps, bk.MaxStall)
		peak := 1.0
		for _, v := range bk.Timeline {
			peak = math.Max(peak, v)
		}
		bw := x(bucket.Seconds()) - x(0)
		for i, v := range bk.Timeline {
			h := (lane - 12) * v / peak
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3a6fb0"><title>%.2fs: %.0f Mbit/s</title></rect>`,
				x(float64(i+1)*bucket.Seconds()-bucket.Seconds()), y+lane-6-h, math.Max(bw-0.5, 0.5), h, float64(i)*bucket.Seconds(), v)
		}
		y += lane
	}
	b.WriteString(`</svg>`)
	return b.String()
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	// relCapture is a capture file's address from the report, which sits
	// next to the captures directory.
	"relCapture": func(name string) string { return "captures/" + filepath.Base(name) },
	"pct": func(a, b int) string {
		if b == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.2f%%", 100*float64(a)/float64(b))
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>secylab: {{.Scenario}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1000px}
.pass{color:#2a7a2a}.fail{color:#c00}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}
</style></head><body>
<h1>{{.Scenario}}: {{if .Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
<p><b>{{.Title}}</b></p>
<pre>{{.Description}}</pre>
{{if .Error}}<p class="fail">Error: {{.Error}}</p>{{end}}
<p>Lab {{.Lab}}, started {{.Started.Format "2006-01-02 15:04:05"}}, {{.Duration}}.
{{range $k, $v := .Timers}} {{$k}} {{$v}};{{end}}</p>
{{if .SVG}}<h2>Timeline</h2>
<p>Green: probe packets delivered per 250 ms; red: lost. Dashed: steps (blue), MKA changes (orange), BGP and BFD changes (purple), failed checks (red) — hover for details.</p>
{{.SVG}}{{end}}
<h2>Assertions</h2>
<table><tr><th></th><th>when</th><th>assertion</th><th>measured</th></tr>
{{range .Assertions}}<tr><td class="{{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}✓{{else}}✗{{end}}</td><td>{{if gt .Step 0}}step {{.Step}}{{else}}end{{end}}</td><td>{{.Text}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
{{if .Probes}}<h2>Probes</h2>
<table><tr><th>flow</th><th>sent</th><th>lost</th><th>loss</th><th>longest outage</th><th>reordered</th><th>latency p50 / p99</th></tr>
{{range .Probes}}{{range .Flows}}<tr><td>{{.Name}}</td><td>{{.Sent}}</td><td>{{.Lost}}</td><td>{{pct .Lost .Sent}}</td><td>{{.MaxOutage}}</td><td>{{.Reordered}}</td><td>{{.LatencyP50}} / {{.LatencyP99}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{if .Bulk}}<h2>Bulk TCP flows</h2><table><tr><th>flow</th><th></th><th>average</th><th>longest stall</th></tr>
{{range .Bulk}}<tr><td>{{.Name}}</td><td>{{.Spec}}</td><td>{{printf "%.0f" .Mbps}} Mbit/s</td><td>{{.MaxStall}}</td></tr>{{end}}</table>{{end}}
{{if .Captures}}<h2>Captures</h2><ul>{{range .Captures}}<li>{{.Link}}{{if not .Complete}} <b>(incomplete)</b>{{end}}: {{.Frames}} frames — {{.Detail}}{{range .FileList}}<br><a href="{{relCapture .Name}}"><code>{{.Name}}</code></a> {{.Frames}} frames, {{printf "%.1f" .From}}–{{printf "%.1f" .To}} s{{end}}</li>{{end}}</ul>{{end}}
{{if .Production}}<h2>In production</h2><ul>{{range .Production}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Events</h2><table>{{range .Events}}<tr><td>{{printf "%.1f" .T}}s</td><td>{{.Kind}}</td><td>{{.Text}}</td></tr>{{end}}</table>
</body></html>
`))
