package scenario

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	require.Contains(t, html, ">change</text>", "the phase is named")
}

// TestHTMLRendersInChromium opens a report in headless Chromium (Debian's
// chromium package), takes a screenshot and checks that the timeline was
// drawn: green (delivered) and red (lost) pixels where the SVG is.
func TestHTMLRendersInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (.ci/setup installs it)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	require.NoError(t, err)
	require.NoError(t, sampleReport().WriteHTML(f))
	require.NoError(t, f.Close())
	shot := filepath.Join(dir, "shot.png")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1100,900", "--screenshot="+shot, "file://"+page)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	pf, err := os.Open(shot)
	require.NoError(t, err)
	defer pf.Close()
	img, err := png.Decode(pf)
	require.NoError(t, err)
	green, red := countColour(img, 0x4a, 0x9a, 0x4a), countColour(img, 0xdd, 0x33, 0x33)
	require.Greater(t, green, 1000, "the delivered bars are drawn")
	require.Greater(t, red, 200, "the lost bars are drawn")
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
