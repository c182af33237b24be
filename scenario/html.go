package scenario

import (
	"fmt"
	"html/template"
	"io"
	"path/filepath"
)

// WriteHTML writes a self-contained page: the verdict and timers, the
// topology at start and end, the links' state at start and end, the
// timeline (phases, drains, numbered markers with their legend, probe
// lanes, the links' traffic), the phases' loss, the assertions, captures,
// the runbook, the scenario's YAML and the events. It prints too.
func (rep *Report) WriteHTML(w io.Writer) error {
	return pageTmpl.Execute(w, struct {
		*Report
		SVG       template.HTML
		TopoStart template.HTML
		TopoEnd   template.HTML
		Markers   []Marker
	}{rep, template.HTML(rep.timelineSVG()), template.HTML(topologySVG(rep.Graph, rep.Start, "start")),
		template.HTML(topologySVG(rep.Graph, rep.End, "end")), rep.markers()})
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
	"secs": func(v float64) string { return fmt.Sprintf("%.1f s", v) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>secylab: {{.Scenario}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1080px;color:#111}
.pass{color:#2a7a2a}.fail{color:#c00}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}
th{background:#f3f3f3}
pre{background:#f6f6f6;padding:1em;white-space:pre-wrap;font-size:12px}
svg{max-width:100%;height:auto}
.topos{display:flex;flex-wrap:wrap;gap:0.5em}.topos figure{margin:0}
.swatch{display:inline-block;width:12px;height:12px;border-radius:6px;vertical-align:middle}
.rb-step{margin:0.8em 0;padding-left:0.5em;border-left:3px solid #ccd}
.rb-step pre{margin:0.3em 0}
.muted{color:#555}
@media print{
  @page{size:A4 landscape;margin:12mm}
  body{margin:0;max-width:none;font-size:11px}
  h2{break-after:avoid;margin-top:1em}
  svg,table,.rb-step,figure{break-inside:avoid}
  tr{break-inside:avoid}
  a{color:inherit;text-decoration:none}
  a[href]:after{content:" (" attr(href) ")";font-size:9px;color:#555}
  pre{background:none;border:1px solid #ccc}
  .noprint{display:none}
}
</style></head><body>
<h1>{{.Scenario}}: {{if .Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
<p><b>{{.Title}}</b></p>
<pre>{{.Description}}</pre>
{{if .Error}}<p class="fail">Error: {{.Error}}</p>{{end}}
<p>Lab {{.Lab}}, started {{.Started.Format "2006-01-02 15:04:05 MST"}}, ran {{.Duration}}.</p>
{{if .Hosts}}<h2>Hosts</h2>
<table><tr><th>host</th><th>lab</th><th>reached</th><th>nodes</th></tr>
{{range .Hosts}}<tr><td>{{.Host}}</td><td>{{.Lab}} (pid {{.PID}})</td><td>{{if .Endpoint}}{{.Endpoint}}, clock offset {{.ClockOffset}}, round trip {{.RTT}}{{else}}this host: the run's own lab{{end}}</td><td>{{range $i, $n := .Nodes}}{{if $i}}, {{end}}{{$n}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .Timers.Lines}}<p>Timers:</p><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Graph}}<h2 id="topology">Topology</h2>
<div class="topos"><figure>{{.TopoStart}}</figure><figure>{{.TopoEnd}}</figure></div>{{end}}
{{define "links"}}{{if .}}<table class="links"><tr><th>link</th><th>state</th><th>end</th><th>MACsec</th><th>CKN / CAK fingerprint</th><th>latest SAK</th><th>BGP</th><th>data frames tx / rx</th></tr>
{{range .Links}}{{if .Interesting}}{{$l := .}}{{range $i, $e := .Ends}}<tr>{{if eq $i 0}}<td rowspan="2"><b>{{$l.Link}}</b></td><td rowspan="2">{{$l.StateWord}}{{if $l.DrainedBy}}, drained by {{range $l.DrainedBy}}{{.}} {{end}}{{end}}</td>{{end}}
<td>{{$e.Port}}</td><td>{{$e.MACsecText}}</td><td>{{if $e.CKN}}{{$e.CKN}} / {{$e.CAK}}{{else}}—{{end}}</td><td>{{$e.KeyText}}</td><td>{{$e.BGPText}}</td><td>{{if $e.Userspace}}{{$e.TxFrames}} / {{$e.RxFrames}}{{else}}—{{end}}</td></tr>
{{end}}{{with $l.Azure}}<tr><td colspan="8">as Azure shows it, {{.Text}}</td></tr>
{{end}}{{end}}{{end}}</table>{{end}}{{end}}
{{if .Start}}<h2 id="links-start">Links at start ({{secs .Start.T}})</h2>{{template "links" .Start}}{{end}}
{{if .End}}<h2 id="links-end">Links at end ({{secs .End.T}})</h2>{{template "links" .End}}{{end}}
{{if .SVG}}<h2 id="timeline">Timeline</h2>
<p>Shaded: the scenario's phases (named above), hatched: links drained, cut or disabled. Numbered markers: <span class="swatch" style="background:#3366cc"></span> steps, <span class="swatch" style="background:#e07000"></span> MKA changes, <span class="swatch" style="background:#8844aa"></span> BGP sessions reaching or leaving Established, <span class="swatch" style="background:#118888"></span> BFD, <span class="swatch" style="background:#cc0000"></span> failed checks, <span class="swatch" style="background:#0078d4"></span> Azure API calls that change something or are refused (legend below). Probe lanes: the share of each 250 ms's packets delivered (green) and lost (red). Link lanes: data frames per second on each link, both directions, from its ports' counters, on one scale.</p>
{{.SVG}}
{{if .Markers}}<table class="legend"><tr><th>#</th><th>time</th><th>what</th><th>event</th></tr>
{{range .Markers}}<tr><td><span class="swatch" style="background:{{.Color}}"></span> {{.N}}</td><td>{{secs .T}}</td><td>{{.Kind}}</td><td>{{.Text}}</td></tr>
{{end}}</table>{{end}}{{end}}
{{if .Phases}}<h2 id="phases">Phases</h2>
<table class="phases"><tr><th>phase</th><th>from – to</th><th>probe</th><th>sent</th><th>lost</th><th>loss</th><th>longest outage</th><th>link traffic</th></tr>
{{range .Phases}}{{$ph := .}}{{range $i, $p := .Probes}}<tr>{{if eq $i 0}}<td rowspan="{{len $ph.Probes}}"><b>{{$ph.Name}}</b></td><td rowspan="{{len $ph.Probes}}">{{secs $ph.From}} – {{secs $ph.To}}</td>{{end}}<td>{{$p.Probe}}</td><td>{{$p.Sent}}</td><td>{{$p.Lost}}</td><td>{{pct $p.Lost $p.Sent}}</td><td>{{$p.MaxOutage}}</td>{{if eq $i 0}}<td rowspan="{{len $ph.Probes}}">{{$ph.Traffic}}</td>{{end}}</tr>
{{else}}<tr><td><b>{{$ph.Name}}</b></td><td>{{secs $ph.From}} – {{secs $ph.To}}</td><td colspan="6">no probes</td></tr>{{end}}{{end}}</table>{{end}}
<h2 id="assertions">Assertions</h2>
<table><tr><th></th><th>when</th><th>assertion</th><th>measured</th></tr>
{{range .Assertions}}<tr><td class="{{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}✓{{else}}✗{{end}}</td><td>{{if gt .Step 0}}step {{.Step}}{{else}}end{{end}}</td><td>{{.Text}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
{{if .Probes}}<h2 id="probes">Probes</h2>
<table><tr><th>flow</th><th>sent</th><th>lost</th><th>loss</th><th>longest outage</th><th>reordered</th><th>latency p50 / p99</th></tr>
{{range .Probes}}{{range .Flows}}<tr><td>{{.Name}}</td><td>{{.Sent}}</td><td>{{.Lost}}</td><td>{{pct .Lost .Sent}}</td><td>{{.MaxOutage}}</td><td>{{.Reordered}}</td><td>{{.LatencyP50}} / {{.LatencyP99}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{if .Bulk}}<h2>Bulk TCP flows</h2><table><tr><th>flow</th><th></th><th>average</th><th>longest stall</th></tr>
{{range .Bulk}}<tr><td>{{.Name}}</td><td>{{.Spec}}</td><td>{{printf "%.0f" .Mbps}} Mbit/s</td><td>{{.MaxStall}}</td></tr>{{end}}</table>{{end}}
{{if .Captures}}<h2 id="captures">Captures</h2><ul>{{range .Captures}}<li>{{.Link}}{{if not .Complete}} <b>(incomplete)</b>{{end}}: {{.Frames}} frames — {{.Detail}}{{range .FileList}}<br><a class="capture" href="{{relCapture .Name}}"><code>{{.Name}}</code></a> {{.Frames}} frames, {{printf "%.1f" .From}}–{{printf "%.1f" .To}} s{{end}}</li>{{end}}</ul>{{end}}
{{if .KeysFile}}<p>Keys of the run (secret, 0600): <a href="keys.json"><code>{{.KeysFile}}</code></a></p>{{end}}
{{with .Runbook}}<h2 id="runbook">Runbook: the procedure for production</h2>
<p>From {{if .Phase}}the <b>{{.Phase}}</b> phase{{else}}every step{{end}} of this run. Set first (placeholders in &lt;&gt;), and <code>$CKN</code>/<code>$CAK</code> for each new key:</p>
<pre>{{range .Names}}{{.Var}}={{.Value}}   # {{.What}}
{{end}}# PowerShell:{{range .Names}} ${{.Var}} = '{{.Value}}';{{end}}</pre>
{{range .Steps}}<div class="rb-step"><b>{{.N}}. {{.Title}}</b> <span class="muted">[{{.Where}}]</span>
{{range .Commands}}<div class="muted">{{.Tool}}:</div><pre>{{.Text}}</pre>{{end}}
{{if .Lab}}<div>Lab: {{.Lab}}</div>{{end}}{{if .Prod}}<div>Production: {{.Prod}}</div>{{end}}</div>
{{end}}<ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Production}}<h2>In production</h2><ul>{{range .Production}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .YAML}}<h2 id="scenario">Scenario</h2><p class="muted">{{.Source}}</p><pre class="yaml">{{.YAML}}</pre>{{end}}
<h2>Events</h2><table>{{range .Events}}<tr><td>{{printf "%.1f" .T}}s</td><td>{{.Kind}}</td><td>{{.Text}}</td></tr>{{end}}</table>
</body></html>
`))
