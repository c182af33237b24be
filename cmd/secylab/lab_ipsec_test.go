package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
)

// ipsecTCP runs one iperf3 TCP stream onprem-host → vnet-host through the
// tunnel and returns Gbit/s, the sender's retransmits and its MSS.
func ipsecTCP(t *testing.T, l *testLab) (gbps float64, retransmits, mss int) {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", l.ns("vnet-host"), "iperf3", "-s", "-1", "-B", "10.50.0.10")
	require.NoError(t, srv.Start())
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var out []byte
	var err error
	for i := 0; i < 30; i++ {
		out, err = exec.Command("ip", "netns", "exec", l.ns("onprem-host"), "iperf3", "-c", "10.50.0.10", "-t", "3", "-J").Output()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err, "%s", out)
	var res struct {
		Start struct {
			TCPMSS int `json:"tcp_mss_default"`
		} `json:"start"`
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	return res.End.SumReceived.BitsPerSecond / 1e9, res.End.SumSent.Retransmits, res.Start.TCPMSS
}

// TestLabIPsecMSSClamping measures what the gateways' MSS clamping (1350,
// as Azure's VPN gateway) does for hosts on 1500-octet LANs behind a
// 1400-octet tunnel: with it, TCP settles on segments that fit; without it,
// the hosts negotiate 1460 and path MTU discovery has to cut them down.
func TestLabIPsecMSSClamping(t *testing.T) {
	nettest.NeedRoot(t)
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 is not installed (.ci/setup installs it)")
	}
	b, err := os.ReadFile("../../topology/builtin/expressroute-ipsec.yaml")
	require.NoError(t, err)
	off := filepath.Join(t.TempDir(), "ipsec-no-mss.yaml")
	require.NoError(t, os.WriteFile(off, []byte(strings.Replace(string(b), "    replayWindow: 1024\n", "    replayWindow: 1024\n    mss: \"off\"\n", 1)), 0o600))

	type result struct {
		gbps         float64
		retr, mss    int
		clampedAtGWs uint64
	}
	measure := func(topo string) result {
		l := startLab(t, topo)
		var r result
		r.gbps, r.retr, r.mss = ipsecTCP(t, l)
		for _, tu := range l.status().Tunnels {
			if tu.DataPath != nil {
				r.clampedAtGWs += tu.DataPath.MSSClamped
			}
		}
		return r
	}
	on, no := measure("expressroute-ipsec"), measure(off)
	t.Logf("MSS clamping 1350: TCP MSS %d, %.2f Gbit/s, %d retransmits, %d SYNs clamped", on.mss, on.gbps, on.retr, on.clampedAtGWs)
	t.Logf("no clamping:       TCP MSS %d, %.2f Gbit/s, %d retransmits, %d SYNs clamped", no.mss, no.gbps, no.retr, no.clampedAtGWs)
	require.LessOrEqual(t, on.mss, 1350, "the clamped MSS (less TCP options) is what the host uses")
	require.NotZero(t, on.clampedAtGWs)
	require.Greater(t, no.mss, 1350, "without clamping the hosts negotiate their LAN's MSS")
	require.Zero(t, no.clampedAtGWs)
	require.NotZero(t, on.gbps)
	require.NotZero(t, no.gbps, "path MTU discovery still gets TCP through")
}
