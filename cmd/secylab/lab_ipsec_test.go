package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/bench"
	"github.com/secylab/secylab/internal/nettest"
)

// ipsecTCP runs one iperf3 TCP stream onprem-host → vnet-host through the
// tunnel.
func ipsecTCP(t *testing.T, l *testLab) bench.IPerfResult {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", l.ns("vnet-host"), "iperf3", "-s", "-1", "-B", "10.50.0.10")
	require.NoError(t, srv.Start())
	defer func() { srv.Process.Kill(); srv.Wait() }()
	res, err := bench.IPerf3(context.Background(), l.ns("onprem-host"), "10.50.0.10", 3*time.Second)
	require.NoError(t, err)
	return res
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
		bench.IPerfResult
		clampedAtGWs uint64
	}
	measure := func(topo string) result {
		l := startLab(t, topo)
		r := result{IPerfResult: ipsecTCP(t, l)}
		for _, tu := range l.status().Tunnels {
			if tu.DataPath != nil {
				r.clampedAtGWs += tu.DataPath.MSSClamped
			}
		}
		return r
	}
	on, no := measure("expressroute-ipsec"), measure(off)
	t.Logf("MSS clamping 1350: TCP MSS %d, %.2f Gbit/s, %d retransmits, %d SYNs clamped", on.MSS, on.Gbps, on.Retransmits, on.clampedAtGWs)
	t.Logf("no clamping:       TCP MSS %d, %.2f Gbit/s, %d retransmits, %d SYNs clamped", no.MSS, no.Gbps, no.Retransmits, no.clampedAtGWs)
	require.LessOrEqual(t, on.MSS, 1350, "the clamped MSS (less TCP options) is what the host uses")
	require.NotZero(t, on.clampedAtGWs)
	require.Greater(t, no.MSS, 1350, "without clamping the hosts negotiate their LAN's MSS")
	require.Zero(t, no.clampedAtGWs)
	require.NotZero(t, on.Gbps)
	require.NotZero(t, no.Gbps, "path MTU discovery still gets TCP through")
}
