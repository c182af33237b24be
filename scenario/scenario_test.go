package scenario

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/topology"
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
		{"name: x\nsteps:\n  - note: a\n  - macsec:\n      link: link1\n      sci: Enabeld\n", `x.yaml:6: steps[1].macsec.sci: "Enabeld": want Enabled or Disabled (on or off)`},
		{"name: x\nsteps:\n  - macsec: {link: link1, cipher: GcmAes512}\n", `x.yaml:3: steps[0].macsec.cipher: "GcmAes512": want GcmAes128`},
		{"name: x\nsteps:\n  - macsec: {link: link1, node: ce1, key: \"generate:../x\"}\n", `x.yaml:3: steps[0].macsec.key: key name "../x" must start with a lower-case letter`},
		{"name: x\nsteps:\n  - macsec: {link: link1, node: ce9, state: on}\n", `x.yaml:3: steps[0].macsec.node: "ce9" is not an end of link link1`},
		{"name: x\nsteps:\n  - impair: {link: link1, rate: 0}\n", `x.yaml:3: steps[0].impair.rate: "0" is not a rate: want 1kbit to 1Tbit`},
		{"name: x\nsteps:\n  - impair: {link: link1, delay: 1000h}\n", `x.yaml:3: steps[0].impair.delay: 1000h0m0s is out of range: want 0s to 10s`},
		{"name: x\nsteps:\n  - wait: 100000h\n", `x.yaml:3: steps[0].wait: 100000h0m0s is out of range: want 1ms to 1h0m0s`},
		{"name: x\nsteps:\n  - adminstate: {link: link1}\n", `x.yaml:3: steps[0].adminstate: unknown step: want one of note, wait, waitFor, exec, check, `},
		{"name: x\nsteps:\n  - exec: {node: ce1, command: true, expect: maybe}\n", `x.yaml:3: steps[0].exec.expect: "maybe": want ok or fail`},
		{"name: x\nsteps:\n  - adminState: {link: link1, state: Off-ish}\n", `x.yaml:3: steps[0].adminState.state: "Off-ish": want Enabled or Disabled (on or off)`},
		{"name: x\nsteps:\n  - wait: 1s\n", `x.yaml:1: assert: the scenario asserts nothing, so it could never fail`},
		{"name: x\nprobes:\n  - {name: p, from: ce1 10.9.9.9, to: msee1 192.168.100.130}\n", "x.yaml:3: probes[0].from: node ce1 has no address 10.9.9.9"},
		{"name: x\nassert:\n  - {probe: nope, maxLoss: 0}\n", `x.yaml:3: assert[0].probe: no probe "nope"`},
		{"name: x\nassert:\n  - {noCleartext: link1}\n", "link link1 is not captured"},
		{"name: x\nsteps:\n  - {wait: soon}\n", `x.yaml:3: steps[0].wait: "soon" is not a duration`},
		{"name: x\nbogus: 1\n", "x.yaml:2: bogus: unknown field"},
		{"name: x\ncapture: {snapLen: 0.5}\nassert: [{mka: {link: link1, secured: true}}]\n", `x.yaml:2: capture.snapLen: snap length "0.5": want 1 to 262144 octets, or full`},
		{"name: x\ncapture: {fileSize: 1kB}\nassert: [{mka: {link: link1, secured: true}}]\n", `capture.fileSize: 1kB: want 0 (no cap) or at least 65536 octets`},
		{"name: x\ncapture: {fileSize: lots}\nassert: [{mka: {link: link1, secured: true}}]\n", `capture.fileSize: size "lots": want octets or a number with kB, MB`},
		{"name: x\ncapture: {files: 0}\nassert: [{mka: {link: link1, secured: true}}]\n", `capture.files: 0: want 1 to 10000 files in the ring`},
		{"name: x\ncapture: {accept: [everything]}\nassert: [{mka: {link: link1, secured: true}}]\n", `capture.accept[0]: "everything": want one of rotated, notWritten`},
		{"name: x\nassert:\n  - {counter: {port: \"ce1:er1\", name: InPktsNope, min: 1}}\n", `unknown counter "InPktsNope": want one of OutPktsUntagged, OutPktsTooLong, `},
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

// A flow has landed what it sent before t once the last probeGrace's
// datagrams arrived (a loss before that is final), or a later one did.
func TestFlowLanded(t *testing.T) {
	start := time.Unix(1000, 0)
	f := &flow{}
	for i := range 100 { // 0 … 990 ms
		f.addSent(uint64(i), start.Add(time.Duration(i)*10*time.Millisecond))
	}
	for i := range 98 {
		if i != 10 { // lost long before t: never waited for
			f.addRecv(uint64(i), f.sent[i], f.sent[i].Add(time.Millisecond))
		}
	}
	t1 := start.Add(985 * time.Millisecond) // 98 (980 ms) still on its way
	ok, missing := f.landed(t1)
	require.False(t, ok)
	require.Equal(t, 1, missing)
	f.addRecv(98, f.sent[98], t1)
	f.addRecv(98, f.sent[98], t1) // a duplicate counts once
	ok, missing = f.landed(t1)
	require.True(t, ok)
	require.Zero(t, missing)

	// 97 lost, 99 (sent after t) arrived: the path delivers.
	g := &flow{}
	for i := range 100 {
		g.addSent(uint64(i), start.Add(time.Duration(i)*10*time.Millisecond))
		if i != 97 && i != 98 {
			g.addRecv(uint64(i), g.sent[i], g.sent[i].Add(time.Millisecond))
		}
	}
	ok, missing = g.landed(t1)
	require.True(t, ok)
	require.Equal(t, 2, missing)
	ok, _ = g.landed(start.Add(995 * time.Millisecond)) // 99 is before this t
	require.False(t, ok)
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

// Steps decode into the lab's operations, in the long and the short form.
func TestStepsAreOps(t *testing.T) {
	sc, err := Parse("x.yaml", []byte(`name: x
steps:
  - drain: {link: link1}
  - cut: link2
  - restore: {link: link2}
  - macsec: {link: link1, node: ce1, sci: enabled, cipher: gcmaesxpn128, key: "generate:k-1"}
  - macsec: {link: link1, newCAK: true}
  - impair: {link: link1, loss: 1%, rate: 100Mbit, delay: 5ms}
  - route: {node: ce1, prefix: 10.50.0.0/16, via: 192.168.100.130}
  - adminState: {link: link1, state: Disabled}
  - check:
      - mka: {link: link1, secured: true}
`))
	require.NoError(t, err)
	var got []string
	for _, st := range sc.Steps {
		got = append(got, st.describe())
	}
	require.Equal(t, []string{
		"drain link1 (BGP: AS-path prepend and lower local preference on the customer router)",
		"cut link2 (every frame lost)",
		"restore link2",
		"MACsec on link1 at ce1: cipher GcmAesXpn128, SCI Enabled, key k-1",
		"MACsec on link1: a new CAK/CKN, the same on both ends",
		"impair link1: delay 5ms, loss 1%, rate 100Mbit",
		"route 10.50.0.0/16 via 192.168.100.130 on ce1",
		"adminState of link1 Disabled (the Microsoft edge's laser off: no frames either way)",
		"check 1 condition(s)",
	}, got)
}

func TestScenarioNameIsAName(t *testing.T) {
	_, err := Parse("escape.yaml", []byte("name: \"../../../../tmp/x/ESCAPED\"\ntitle: t\nsteps:\n  - wait: 1s\nassert:\n  - {mka: {link: link1, secured: true}}\n"))
	require.ErrorContains(t, err, "escape.yaml:1")
	require.ErrorContains(t, err, "name")
}

// TestNewLabNamesDiffer: names carry 32 random bits, so 100 of them
// collide with a probability near 1e-6 (10 000 did in about 1 % of runs:
// the birthday bound, not a bug).
func TestNewLabNamesDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := NewLabName()
		require.NoError(t, topology.CheckLabName(n))
		require.False(t, seen[n], "%s twice", n)
		seen[n] = true
	}
}

func TestCaptureBounds(t *testing.T) {
	sc, err := Parse("x.yaml", []byte("name: x\nassert: [{mka: {link: link1, secured: true}}]\n"))
	require.NoError(t, err)
	require.Equal(t, capture.DefaultBounds(), sc.Capture.Bounds, "bounded by default")
	require.False(t, sc.Capture.Accepts("rotated"))
	sc, err = Parse("x.yaml", []byte("name: x\ncapture: {snapLen: full, fileSize: 0, accept: [notWritten]}\nassert: [{mka: {link: link1, secured: true}}]\n"))
	require.NoError(t, err)
	require.Equal(t, capture.Bounds{SnapLen: capture.MaxSnapLen, FileSize: 0, Files: capture.DefaultFiles}, sc.Capture.Bounds)
	require.True(t, sc.Capture.Accepts("notWritten"))
	rc, err := Builtin("rotate-cak")
	require.NoError(t, err)
	require.Equal(t, []string{"rotated"}, rc.Capture.Accept, "the flagship's bulk flow fills the ring")
}

// TestCaptureKeptAndLost: the report says what a capture kept, what it
// lost and how, and a loss the scenario does not accept makes the capture
// incomplete.
func TestCaptureKeptAndLost(t *testing.T) {
	for _, accept := range [][]string{nil, {"rotated"}} {
		dir := t.TempDir()
		b := capture.Bounds{SnapLen: capture.DefaultSnapLen, FileSize: capture.MinFileSize, Files: 2}
		ring, err := capture.NewRing(filepath.Join(dir, "link1-wire.pcapng"), b)
		require.NoError(t, err)
		c := &linkCapture{link: "link1", ring: ring}
		start := time.Now()
		frame := make([]byte, 1514)
		frame[12], frame[13] = 0x88, 0xe5
		for range 3000 {
			p := capture.Packet{Timestamp: time.Now(), Data: frame[:b.SnapLen], Length: len(frame)}
			require.NoError(t, ring.Write(p))
			c.written++
			c.cut++
			time.Sleep(time.Microsecond)
		}
		require.NoError(t, ring.Close())
		r := &run{sc: &Scenario{Capture: CaptureSpec{Bounds: b, Accept: accept}}, start: start, captureBounds: b}
		cr := CaptureResult{Link: "link1", Frames: 3000}
		r.keptAndLost(&cr, c, nil)
		require.Equal(t, 3000, cr.Cut)
		require.Zero(t, cr.NotWritten)
		require.Equal(t, uint64(3000), cr.Kept+cr.Rotated)
		require.Positive(t, cr.Rotated)
		require.Len(t, cr.FileList, 2)
		require.Contains(t, cr.Detail, "kept "+strconv.FormatUint(cr.Kept, 10)+" of 3000 frames in 2 file(s)")
		require.Contains(t, cr.Detail, "3000 frames cut to 100 octets")
		require.Contains(t, cr.Detail, "older files deleted by the ring (snap 100, ring of 2 × 65.5 kB)")
		require.Equal(t, accept != nil, cr.Complete, cr.Detail)
		rep := &Report{Captures: []CaptureResult{cr}}
		require.Equal(t, accept != nil, rep.CapturesComplete())
		var sb strings.Builder
		rep.WriteText(&sb)
		if accept == nil {
			require.Contains(t, sb.String(), "(capture incomplete)")
			require.Contains(t, sb.String(), "capture ✗ INCOMPLETE link1")
		} else {
			require.Contains(t, sb.String(), "(accepted: capture.accept rotated)")
		}
	}
}

// TestWriteTextListsMarkers: the text summary lists the timeline's
// numbered events, in order, with their times.
func TestWriteTextListsMarkers(t *testing.T) {
	rep := &Report{Scenario: "x", Markers: []Marker{
		{N: 1, T: 2.5, Kind: "step", Text: "macsec link1 key generate:new"},
		{N: 2, T: 3.25, Kind: "mka", Text: "link1 secured"},
	}}
	var sb strings.Builder
	rep.WriteText(&sb)
	out := sb.String()
	i, j := strings.Index(out, "event  1   2.50 s  step  macsec link1 key generate:new\n"), strings.Index(out, "event  2   3.25 s  mka   link1 secured\n")
	require.True(t, i >= 0 && j > i, out)
}

// TestScenarioEveryError: a file with many problems gets all of them, the
// unknown fields too, in file order.
func TestScenarioEveryError(t *testing.T) {
	_, err := Parse("x.yaml", []byte(`name: x
bogus: 1
probes:
  - {name: p, from: ce1 10.9.9.9, to: msee1 192.168.100.130, colour: red}
steps:
  - wait: soon
  - cut: link9
assert:
  - {probe: nope, maxLoss: 0}
  - {counter: {port: "ce1:er1", name: InPktsNope, min: 1}}
`))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"x.yaml:2: bogus: unknown field",
		"x.yaml:4: probes[0].colour: unknown field",
		"x.yaml:4: probes[0].from: node ce1 has no address 10.9.9.9",
		`x.yaml:6: steps[0].wait: "soon" is not a duration`,
		`x.yaml:7: steps[1].cut: no link "link9"`,
		`x.yaml:9: assert[0].probe: no probe "nope"`,
		`x.yaml:10: assert[1].counter.name: unknown counter "InPktsNope": want one of`,
	}
	require.Len(t, lines, len(want), err.Error())
	for i, w := range want {
		require.Contains(t, lines[i], w)
	}
}

// TestBuiltinStrongswanCompanion: vpn-over-private-peering-strongswan's
// on-premises gateway is a strongswan node whose swanctl.conf is embedded
// beside its topology and includes the secrets file the lab writes.
func TestBuiltinStrongswanCompanion(t *testing.T) {
	sc, err := Builtin("vpn-over-private-peering-strongswan")
	require.NoError(t, err)
	n := sc.Topology.Node("onprem-vpngw")
	require.Equal(t, topology.KindStrongswan, n.Kind)
	require.Equal(t, "builtin/topologies/vpn-strongswan-onprem.conf", n.Config)
	require.Contains(t, string(n.ConfigData), "include s2s0.secrets")
	require.Contains(t, string(n.ConfigData), "modp1024")
	require.True(t, sc.Topology.Tunnels[0].IKE.SharedKey.Generate)
}
