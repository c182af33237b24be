package gateway

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/secylab/secylab/ipsec/ike"
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
	startIperf(t, iperf, l.nsB, hostB)
	for _, reverse := range []bool{false, true} {
		var runs []float64
		for range 3 {
			runs = append(runs, iperfRun(t, iperf, l.nsA, hostA, hostB, reverse, 5))
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

// TestIKETunnelThroughput compares TCP through the IKE-keyed userspace
// tunnel (secylab's IKEv2 on both ends, Azure's default policy: ESP
// AES-GCM-16-256) with the manually keyed one (AES-GCM-16-256), in the
// same run: runs of 3 s interleaved, the medians and their ratio. Not
// with -short.
func TestIKETunnelThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no throughput runs")
	}
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		t.Skip("iperf3 not installed")
	}
	manual := newLab(t, false, nil)
	k := newIKELab(t, false, "", "", "")
	onprem := runIKE(t, k.sw, swOuter, azOuter, swNet, azNet, swHost, true)
	waitFor(t, onprem, "the Child SA", childUp)
	waitFor(t, k.g, "the Child SA", childUp)
	startIperf(t, iperf, manual.nsB, hostB)
	startIperf(t, iperf, k.az, azHost)
	var m, ik []float64
	for range 3 {
		m = append(m, iperfRun(t, iperf, manual.nsA, hostA, hostB, false, 3))
		ik = append(ik, iperfRun(t, iperf, k.sw, swHost, azHost, false, 3))
	}
	slices.Sort(m)
	slices.Sort(ik)
	t.Logf("iperf3 TCP through the userspace ESP tunnel: manually keyed median %.2f Gbit/s (runs %.2f), IKE-keyed median %.2f Gbit/s (runs %.2f): ratio %.2f",
		m[1], m, ik[1], ik, ik[1]/m[1])
	if c := onprem.Children()[0]; c.Suite.Encr != ike.ENCR_AES_GCM_16 || c.Suite.KeyBits != 256 {
		t.Fatalf("the IKE tunnel negotiated %v, not AES-GCM-16-256 as the manual one", c.Suite)
	}
}

func startIperf(t *testing.T, iperf, ns string, addr netip.Addr) {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", ns, iperf, "-s", "-B", addr.String())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	time.Sleep(300 * time.Millisecond)
}

// iperfRun runs one iperf3 client for secs seconds and returns Gbit/s.
func iperfRun(t *testing.T, iperf, ns string, from, to netip.Addr, reverse bool, secs int) float64 {
	t.Helper()
	args := []string{"netns", "exec", ns, iperf, "-c", to.String(), "-B", from.String(), "-t", strconv.Itoa(secs), "-J"}
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
	return res.End.SumReceived.BitsPerSecond / 1e9
}
