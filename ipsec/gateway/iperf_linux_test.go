package gateway

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestTunnelThroughput measures TCP through the userspace tunnel with
// iperf3, three runs of 5 s each way, and reports the medians. Not with
// -short; the numbers mean little under -race.
func TestTunnelThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no throughput runs")
	}
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		t.Skip("iperf3 not installed")
	}
	l := newLab(t, false, nil)
	srv := exec.Command("ip", "netns", "exec", l.nsB, iperf, "-s", "-B", hostB.String())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	time.Sleep(300 * time.Millisecond)
	for _, reverse := range []bool{false, true} {
		var runs []float64
		for range 3 {
			args := []string{"netns", "exec", l.nsA, iperf, "-c", hostB.String(), "-B", hostA.String(), "-t", "5", "-J"}
			if reverse {
				args = append(args, "-R")
			}
			out, err := exec.Command("ip", args...).Output()
			if err != nil {
				t.Fatalf("iperf3: %v\n%s", err, out)
			}
			var res struct {
				End struct {
					SumReceived struct {
						BitsPerSecond float64 `json:"bits_per_second"`
					} `json:"sum_received"`
				} `json:"end"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, res.End.SumReceived.BitsPerSecond/1e9)
		}
		slices.Sort(runs)
		dir := "A→B"
		if reverse {
			dir = "B→A"
		}
		t.Logf("iperf3 TCP %s through the userspace ESP tunnel: median %.2f Gbit/s (runs %.2f)", dir, runs[1], runs)
	}
	st, _ := l.a.Status()
	t.Logf("A: %+v", *st.DataPath)
}
