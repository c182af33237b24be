package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBuiltinsParse(t *testing.T) {
	names := Builtins()
	require.GreaterOrEqual(t, len(names), 8)
	for _, n := range names {
		sc, err := Builtin(n)
		require.NoError(t, err, n)
		require.Equal(t, n, sc.Name)
		require.NotEmpty(t, sc.Title)
	}
}

func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"name: x\nsteps:\n  - {wait: 1s, note: a}\n", "x.yaml:3: steps[0]: a step has exactly one of"},
		{"name: x\nsteps:\n  - {cut: link9}\n", `x.yaml:3: steps[0].cut: no link "link9"`},
		{"name: x\nprobes:\n  - {name: p, from: ce1 10.9.9.9, to: msee1 192.168.100.130}\n", "x.yaml:3: probes[0].from: node ce1 has no address 10.9.9.9"},
		{"name: x\nassert:\n  - {probe: nope, maxLoss: 0}\n", `x.yaml:3: assert[0].probe: no probe "nope"`},
		{"name: x\nassert:\n  - {noCleartext: link1}\n", "link link1 is not captured"},
		{"name: x\nsteps:\n  - {wait: soon}\n", `x.yaml:3: steps[0].wait: "soon" is not a duration`},
		{"name: x\nbogus: 1\n", "x.yaml:2: bogus: unknown field"},
		{"name: x\nassert:\n  - {counter: {port: \"ce1:er1\", name: InPktsNope, min: 1}}\n", `unknown counter "InPktsNope"`},
		{"name: x\nassert:\n  - {probe: p, phase: later, maxLoss: 0}\nprobes:\n  - {name: p, from: ce1 192.168.100.129, to: msee1 192.168.100.130}\n", `no note step "later"`},
	} {
		_, err := Parse("x.yaml", []byte(tc.yaml))
		require.ErrorContains(t, err, tc.want, tc.yaml)
	}
}

func TestMeasure(t *testing.T) {
	start := time.Unix(1000, 0)
	interval := 10 * time.Millisecond
	var sent []time.Time
	for i := 0; i < 100; i++ {
		sent = append(sent, start.Add(time.Duration(i)*interval))
	}
	var recv []arrival
	for i := 0; i < 100; i++ {
		if i >= 20 && i < 50 { // an outage of 30 datagrams
			continue
		}
		recv = append(recv, arrival{seq: uint64(i), sent: sent[i], at: sent[i].Add(time.Millisecond)})
	}
	// 60 arrives again, and 90 before 89.
	recv = append(recv, arrival{seq: 60, sent: sent[60], at: sent[60]})
	recv[len(recv)-12], recv[len(recv)-13] = recv[len(recv)-13], recv[len(recv)-12]
	r := measure("a→b", sent, recv, interval, start)
	require.Equal(t, 100, r.Sent)
	require.Equal(t, 70, r.Received)
	require.Equal(t, 30, r.Lost)
	require.Equal(t, 1, r.Duplicates)
	require.Equal(t, 1, r.Reordered)
	require.Len(t, r.Outages, 1)
	require.InDelta(t, 0.2, r.Outages[0].From, 1e-9)
	require.InDelta(t, 0.5, r.Outages[0].To, 1e-9)
	require.Equal(t, Duration(300*time.Millisecond), r.MaxOutage)
	require.Equal(t, Duration(time.Millisecond), r.LatencyP50)
	require.Equal(t, 25, r.Timeline[0].Sent) // 250 ms buckets
	require.Equal(t, 20, r.Timeline[0].Received)
}

func TestJUnit(t *testing.T) {
	reps := []*Report{{Scenario: "s", Assertions: []AssertionResult{{Text: "holds", Passed: true}, {Text: "breaks", Detail: "2 lost"}}}}
	var b strings.Builder
	require.NoError(t, WriteJUnit(&b, reps))
	require.Contains(t, b.String(), `<testsuite name="secylab.s" tests="2" failures="1"`)
	require.Contains(t, b.String(), `<failure message="2 lost">breaks: 2 lost</failure>`)
}

func TestPNExhaustionTable(t *testing.T) {
	tab := PNExhaustionTable()
	// 400 Gbit/s of 64-octet frames: 595.2 Mframes/s, 2^32 PNs in 7.2 s.
	var e PNExhaustion
	for _, x := range tab {
		if x.Gbps == 400 && x.FrameBytes == 64 {
			e = x
		}
	}
	require.InDelta(t, 595.238e6, e.FramesPerS, 1e3)
	require.InDelta(t, 7.216, e.PN32.Seconds(), 0.01)
	require.Greater(t, e.PN64Years, 900.0)
}
