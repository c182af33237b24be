package lab

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/clock"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

func psk(t *testing.T, suite macsec.CipherSuite) mka.PSK {
	k, err := mka.GeneratePSK(rand.Reader, suite)
	require.NoError(t, err)
	return k
}

// portPair runs a port in each of two namespaces joined by a wire, with
// the given MACsec settings, and addresses .129 and .130 on the TAPs.
func portPair(t *testing.T, mcA, mcB *MACsecConfig) (nsA, nsB string, a, b *Port) {
	return portPairClock(t, mcA, mcB, nil)
}

// portPairClock is portPair with MKA on clk (nil: the real clock).
func portPairClock(t *testing.T, mcA, mcB *MACsecConfig, clk clock.Clock) (nsA, nsB string, a, b *Port) {
	nettest.NeedRoot(t)
	nsA, nsB = nettest.Namespace(t, "nda"), nettest.Namespace(t, "ndb")
	nettest.Wire(t, nsA, nsB, "er1w", 1600)
	open := func(ns, addr string, mc *MACsecConfig) *Port {
		p, err := OpenPort(PortConfig{Node: ns, Name: "er1", Namespace: ns, TAP: "er1", Wire: "er1w", MACsec: mc, Clock: clk})
		require.NoError(t, err)
		nettest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.er1.disable_ipv6=1")
		nettest.Run(t, "ip", "-n", ns, "addr", "add", addr, "dev", "er1")
		nettest.Run(t, "ip", "-n", ns, "link", "set", "er1", "up")
		return p
	}
	a, b = open(nsA, "192.168.100.129/30", mcA), open(nsB, "192.168.100.130/30", mcB)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*Port{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, p.Run(ctx)) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return nsA, nsB, a, b
}

func TestPortMKABringsUpTheLink(t *testing.T) {
	for _, suite := range macsec.Suites {
		t.Run(suite.String(), func(t *testing.T) {
			k := psk(t, suite)
			mc := func(prio uint8) *MACsecConfig {
				return &MACsecConfig{Suite: suite, PSK: k, KeyServerPriority: prio, HelloTime: 200 * time.Millisecond, LifeTime: 600 * time.Millisecond}
			}
			nsA, _, a, b := portPair(t, mc(16), mc(32))
			require.Eventually(t, func() bool {
				return a.Status().MKA.Secured && b.Status().MKA.Secured
			}, 5*time.Second, 20*time.Millisecond, "MKA secures the link")
			require.NoError(t, nettest.Ping(nsA, "192.168.100.130", 3))
			sa := a.Status()
			require.True(t, sa.MKA.KeyServer, "lower priority is key server")
			require.NotZero(t, b.Status().SecY.RxSCs[0].Stats.InPktsOK)
		})
	}
}

func TestPortCAKMismatchNeverOpens(t *testing.T) {
	suite := macsec.GCMAESXPN256
	ka, kb := psk(t, suite), psk(t, suite)
	kb.CKN = ka.CKN // same CKN, different CAK
	mc := func(k mka.PSK) *MACsecConfig {
		return &MACsecConfig{Suite: suite, PSK: k, HelloTime: 200 * time.Millisecond, LifeTime: 600 * time.Millisecond}
	}
	nsA, _, a, b := portPair(t, mc(ka), mc(kb))
	require.Error(t, nettest.Ping(nsA, "192.168.100.130", 3))
	sa, sb := a.Status(), b.Status()
	require.False(t, sa.MKA.Secured)
	require.False(t, sb.MKA.Secured)
	require.NotZero(t, sb.MKACounter.RxBadICV, "MKA says why: ICV failures")
	require.Zero(t, sb.Dataplane.RxFrames, "nothing reached B's stack")
	require.Zero(t, sa.Dataplane.TxFrames, "A sent nothing: no SA, no cleartext")
	require.NotZero(t, sa.Dataplane.TxDropped)
}

// MKA in simulated time: with production timers (2 s hello, 6 s life) on
// a manual clock, the link secures, and when one end goes silent the
// other drops it after the life time — six simulated seconds, a fraction
// of a real one. Frames still cross real namespaces; only time is
// simulated.
func TestPortMKAOnManualClock(t *testing.T) {
	suite := macsec.GCMAESXPN128
	k := psk(t, suite)
	mc := func(prio uint8) *MACsecConfig { return &MACsecConfig{Suite: suite, PSK: k, KeyServerPriority: prio} }
	clk := clock.NewManual(time.Unix(1e9, 0))
	_, _, a, b := portPairClock(t, mc(16), mc(32), clk)
	start := time.Now()
	advanceUntil := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		var simulated time.Duration
		for !cond() {
			if simulated > limit {
				t.Fatalf("%s: not after %v of simulated time", what, limit)
			}
			clk.Advance(100 * time.Millisecond)
			simulated += 100 * time.Millisecond
			time.Sleep(2 * time.Millisecond) // let MKPDUs cross the wire
		}
		return simulated
	}
	advanceUntil("MKA secures the link", 10*time.Second, func() bool { return a.Status().MKA.Secured && b.Status().MKA.Secured })
	require.NoError(t, b.SetMACsec(nil)) // b goes silent
	gone := advanceUntil("a drops the silent peer", 20*time.Second, func() bool { return a.Status().MKACounter.PeersExpired > 0 })
	require.GreaterOrEqual(t, gone, mka.DefaultLifeTime, "not before the life time")
	require.Less(t, gone, mka.DefaultLifeTime+mka.DefaultHelloTime+time.Second, "at the life time")
	t.Logf("peer expired after %v of simulated time, %v of real time", gone, time.Since(start).Round(time.Millisecond))
}
