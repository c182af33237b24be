package scenario

import (
	"bytes"
	"encoding/json"
	stdhtml "html"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/topology"
)

// sampleReport is a run with a probe that lost packets for a second.
func sampleReport() *Report {
	start := time.Unix(1000, 0)
	interval := 10 * time.Millisecond
	var sent []time.Time
	var recv []arrival
	for i := 0; i < 600; i++ {
		t := start.Add(time.Duration(i) * interval)
		sent = append(sent, t)
		if i < 200 || i >= 300 {
			recv = append(recv, arrival{seq: uint64(i), sent: t, at: t.Add(time.Millisecond)})
		}
	}
	f := measure("a→b", sent, recv, interval, start)
	return &Report{
		Scenario: "sample", Title: "a sample", Started: start, Duration: Duration(6 * time.Second), Passed: true,
		Probes:     []ProbeResult{{Name: "p", Flows: [2]FlowResult{f, f}}},
		Events:     []Event{{T: 1, Kind: "step", Text: "1/2 note: change"}, {T: 2, Kind: "mka", Text: "ce1:er1 secured → unsecured"}},
		Assertions: []AssertionResult{{Step: -1, Text: "p: an outage", Passed: true, Detail: "1s"}},
		// A phase with no time (two notes in a row) starts where the next
		// one does.
		Phases: []Phase{{Name: "change", From: 1, To: 1}, {Name: "after", From: 1, To: 6}},
		Spans:  []Span{{Kind: "drained", Link: "link1", From: 1, To: 3}},
	}
}

func TestHTMLTimeline(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleReport().WriteHTML(&b))
	html := b.String()
	require.Contains(t, html, "<svg")
	// 6 s in 250 ms buckets, 4 of them (the lost second) without deliveries,
	// for each of the two flows.
	require.Equal(t, 2*20, strings.Count(html, `fill="#4a9a4a"`)-strings.Count(html, `height="0.0" fill="#4a9a4a"`), "a green bar per bucket with deliveries")
	require.Contains(t, html, `fill="#d33"`, "losses drawn in red")
	// The three names start at the same time: each on a row of its own.
	ys := map[string]bool{}
	for _, name := range []string{"change", "after", "link1 drained"} {
		m := regexp.MustCompile(`<text class="lbl (?:phase|span)" x="[0-9.]+" y="([0-9.]+)"[^>]*>` + name + `</text>`).FindStringSubmatch(html)
		require.NotNil(t, m, "%s is named", name)
		ys[m[1]] = true
	}
	require.Len(t, ys, 3, "names at the same time go to different rows")
	require.Contains(t, html, `class="phase-band" x1=`, "the phase with no time is a line")
	require.Contains(t, html, `class="span-band"`, "the drain is shaded")
}

// realReport is the flagship exercise's report.json as lab run wrote it
// (testdata/rotate-cak-report.json; make it again with
// secylab lab run rotate-cak --out DIR and copy DIR/rotate-cak/report.json).
func realReport(t *testing.T) *Report {
	b, err := os.ReadFile("testdata/rotate-cak-report.json")
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep))
	return &rep
}

// measureJS runs in the page: it measures every drawn label (text.lbl) and
// marker circle, finds pairs that overlap and labels outside their drawing,
// counts what each drawing holds, and leaves the result as JSON in
// <pre id="measure">, which --dump-dom prints.
const measureJS = `<script>
(function(){
  const out = {svgs: [], overlaps: [], outside: []};
  const boxes = (svg, sel) => [...svg.querySelectorAll(sel)].map(e => ({e, r: e.getBoundingClientRect()}));
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  for (const svg of document.querySelectorAll('svg')) {
    const s = svg.getBoundingClientRect();
    const info = {cls: svg.getAttribute('class'), when: svg.getAttribute('data-when'), width: s.width, height: s.height,
      texts: [], markers: svg.querySelectorAll('g.marker').length, links: [], nodes: [],
      traffic: {}, delivered: svg.querySelectorAll('rect.delivered').length, lost: svg.querySelectorAll('rect.lost').length,
      phaseBands: svg.querySelectorAll('.phase-band').length, spanBands: svg.querySelectorAll('.span-band').length};
    const labels = boxes(svg, 'text.lbl');
    for (const {e, r} of labels) {
      info.texts.push(e.textContent);
      if (r.width === 0 || r.height === 0) out.outside.push(info.cls + ': empty label ' + e.textContent);
      if (r.left < s.left - 0.5 || r.right > s.right + 0.5 || r.top < s.top - 0.5 || r.bottom > s.bottom + 0.5)
        out.outside.push(info.cls + ': ' + e.textContent);
    }
    // Marker numbers sit in their circles: compare circles with circles
    // and with the other labels, and labels with labels.
    const circles = boxes(svg, 'g.marker circle');
    const others = labels.filter(x => !x.e.classList.contains('marker-n'));
    const pairs = (xs, ys, same) => { for (let i = 0; i < xs.length; i++) for (let j = same ? i+1 : 0; j < ys.length; j++)
      if (hit(xs[i].r, ys[j].r)) out.overlaps.push(info.cls + ': "' + (xs[i].e.textContent || 'marker') + '" / "' + (ys[j].e.textContent || 'marker') + '"'); };
    pairs(others, others, true); pairs(circles, circles, true); pairs(circles, others, false);
    for (const l of svg.querySelectorAll('line.link')) info.links.push(l.getAttribute('data-link') + '=' + l.getAttribute('data-state'));
    for (const n of svg.querySelectorAll('g.node')) info.nodes.push(n.getAttribute('data-node'));
    for (const r of svg.querySelectorAll('rect.traffic')) { const k = r.getAttribute('data-link'); info.traffic[k] = (info.traffic[k] || 0) + 1; }
    out.svgs.push(info);
  }
  out.legendRows = document.querySelectorAll('table.legend tr').length - 1;
  out.phaseRows = document.querySelectorAll('table.phases tr').length - 1;
  out.linkTables = document.querySelectorAll('table.links').length;
  out.captureLinks = [...document.querySelectorAll('a.capture')].map(a => a.getAttribute('href'));
  out.yaml = (document.querySelector('pre.yaml') || {}).textContent || '';
  out.runbook = !!document.getElementById('runbook');
  const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>`

type measured struct {
	SVGs []struct {
		Cls, When                string
		Width, Height            float64
		Texts, Links, Nodes      []string
		Markers, Delivered, Lost int
		PhaseBands, SpanBands    int
		Traffic                  map[string]int
	}
	Overlaps, Outside                 []string
	LegendRows, PhaseRows, LinkTables int
	CaptureLinks                      []string
	YAML                              string
	Runbook                           bool
}

// measurePage writes page with measureJS to file, has Chromium load it and
// returns what the script found, having checked that no label overlaps
// another or leaves its drawing.
func measurePage(t *testing.T, dir, file, page string) measured {
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(page, "</body>", measureJS+"</body>", 1)), 0o644))
	dom := runChromium(t, dir, "--virtual-time-budget=5000", "--dump-dom", "file://"+file)
	_, after, ok := strings.Cut(string(dom), `<pre id="measure">`)
	require.True(t, ok, "the measuring script ran")
	js, _, _ := strings.Cut(after, "</pre>")
	var m measured
	require.NoError(t, json.Unmarshal([]byte(stdhtml.UnescapeString(js)), &m))
	require.Empty(t, m.Overlaps, "labels overlap")
	require.Empty(t, m.Outside, "labels outside their drawing")
	return m
}

func chromium(t *testing.T) string {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (.ci/setup --tests installs it)")
	}
	return path
}

func runChromium(t *testing.T, dir string, args ...string) []byte {
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.Command(chromium(t), append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	return out
}

// TestReportInChromium loads the flagship exercise's real report in
// headless Chromium (Debian's chromium package) and checks what it drew:
// the topology at start and end (every node and link, MACsec links
// secured), the timeline (a lane per probe flow with delivered and lost
// bars, both links' traffic, the phases and drains shaded and named, every
// marker numbered and in the legend), labels that neither overlap nor
// leave their drawing; the per-link tables, the phases' table, the
// capture links, the YAML and the runbook. It leaves screenshots (screen,
// and printed to PDF) in the test's directory.
func TestReportInChromium(t *testing.T) {
	chromium(t)
	rep := realReport(t)
	dir := t.TempDir()
	var page bytes.Buffer
	require.NoError(t, rep.WriteHTML(&page))
	file := filepath.Join(dir, "report.html")
	m := measurePage(t, dir, file, page.String())
	var topos, timelines int
	for _, s := range m.SVGs {
		switch s.Cls {
		case "topology":
			topos++
			require.Len(t, s.Nodes, len(rep.Graph.Nodes), "every node drawn")
			require.Len(t, s.Links, len(rep.Graph.Links), "every link drawn")
			require.Contains(t, s.Links, "link1=MACsec secured", "at %s", s.When)
			require.Contains(t, s.Links, "link2=MACsec secured", "at %s", s.When)
			require.Contains(t, s.Links, "onprem1=up")
		case "timeline":
			timelines++
			require.Equal(t, len(rep.markers()), s.Markers, "every marker drawn")
			require.Greater(t, s.Delivered, 100, "delivered bars")
			require.Greater(t, s.Lost, 4, "the naive phase's losses")
			require.Greater(t, s.Traffic["link1"], 30, "link1's traffic drawn")
			require.Greater(t, s.Traffic["link2"], 30, "link2's traffic drawn")
			require.Equal(t, len(rep.Phases), s.PhaseBands)
			require.Equal(t, len(rep.Spans), s.SpanBands)
			for _, ph := range rep.Phases {
				require.Contains(t, s.Texts, ph.Name, "phase named")
			}
			for _, sp := range rep.Spans {
				require.Contains(t, s.Texts, sp.Label(), "drain named")
			}
			for _, mk := range rep.markers() {
				require.Contains(t, s.Texts, strconv.Itoa(mk.N), "marker numbered")
			}
			require.Contains(t, s.Texts, "100 % delivered", "y-axis with its unit")
			require.Contains(t, s.Texts, "time since the run started (s)")
			require.Condition(t, func() bool {
				return slices.ContainsFunc(s.Texts, func(x string) bool { return strings.HasSuffix(x, "frames/s") })
			}, "traffic axis in frames/s")
		}
	}
	require.Equal(t, 2, topos, "the topology at start and end")
	require.Equal(t, 1, timelines)
	require.Equal(t, len(rep.markers()), m.LegendRows, "a legend row per marker")
	require.Equal(t, 2, m.LinkTables, "link tables at start and end")
	require.Greater(t, m.PhaseRows, 1)
	require.NotEmpty(t, m.CaptureLinks)
	for _, l := range m.CaptureLinks {
		require.True(t, strings.HasPrefix(l, "captures/"), l)
	}
	require.Contains(t, m.YAML, "name: rotate-cak")
	require.True(t, m.Runbook)

	shot := filepath.Join(dir, "report.png")
	runChromium(t, dir, "--window-size=1120,4200", "--hide-scrollbars", "--screenshot="+shot, "file://"+file)
	img := decodePNG(t, shot)
	require.Greater(t, countColour(img, 0x4a, 0x9a, 0x4a), 5000, "the delivered bars are drawn")
	require.Greater(t, countColour(img, 0xdd, 0x33, 0x33), 200, "the lost bars are drawn")
	require.Greater(t, countColour(img, 0x7a, 0x4f, 0xb0), 2000, "the links' traffic is drawn")
	require.Greater(t, countColour(img, 0x2a, 0x8a, 0x2a), 200, "secured MACsec links are drawn")
	pdf := filepath.Join(dir, "report.pdf")
	runChromium(t, dir, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+file)
	st, err := os.Stat(pdf)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(20000), "printed")
	t.Logf("screenshot %s, printed %s (%d octets)", shot, pdf, st.Size())
	if dst := os.Getenv("SECYLAB_REPORT_SHOTS"); dst != "" {
		for _, f := range []string{shot, pdf} {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644))
		}
	}
}

func decodePNG(t *testing.T, file string) image.Image {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	return img
}

func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint8(cr>>8) == r && uint8(cg>>8) == g && uint8(cb>>8) == b {
				n++
			}
		}
	}
	return n
}

// TestTopologyDrawingsInChromium draws every built-in topology and every
// built-in scenario's own (as at a run's start, all links up) and checks in
// Chromium that no two labels overlap, none leaves its drawing, and the
// node boxes keep apart.
func TestTopologyDrawingsInChromium(t *testing.T) {
	chromium(t)
	var page strings.Builder
	page.WriteString("<!doctype html><html><body>")
	graphs := 0
	add := func(topo *topology.Topology) {
		g := graphOf(topo)
		pos, _, _, boxW := layout(g)
		for a, pa := range pos {
			for b, pb := range pos {
				if a < b && math.Abs(pa[0]-pb[0]) < boxW+40 && math.Abs(pa[1]-pb[1]) < 34 {
					t.Errorf("%s: %s and %s are drawn %.0f px apart", topo.Name, a, b, math.Abs(pa[0]-pb[0]))
				}
			}
		}
		page.WriteString(topologySVG(g, nil, topo.Name))
		graphs++
	}
	for _, name := range topology.Builtins() {
		topo, err := topology.Builtin(name)
		require.NoError(t, err)
		add(topo)
	}
	for _, name := range Builtins() {
		sc, err := Builtin(name)
		require.NoError(t, err)
		if sc.Topology != nil && sc.TopologyRef != "" && !slices.Contains(topology.Builtins(), sc.TopologyRef) {
			add(sc.Topology)
		}
	}
	page.WriteString("</body></html>")
	dir := t.TempDir()
	m := measurePage(t, dir, filepath.Join(dir, "topologies.html"), page.String())
	require.Len(t, m.SVGs, graphs)
}
