package scenario

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// Options say where a run keeps its state and report.
type Options struct {
	StateDir string // lab state (secylab lab down finds a crashed run's lab there)
	OutDir   string // the report, captures included
	// LabName names the exercise's lab; "": a fresh unique name.
	LabName string
	// Keep leaves the lab running after the run (secylab lab down NAME
	// removes it). Without it the lab goes at the end, and also when the
	// run is killed: the lab process removes a lab whose run has ended.
	Keep     bool
	Progress io.Writer // progress lines; nil: none
	Live     bool      // Progress is a terminal: keep one status line up to date
	Capture  CaptureOverride
	// ExportKeys writes the keys of every MACsec link, as they were while
	// the run went (collected every second and at the end), to keys.json
	// in OutDir, mode 0600: what secylab frame validate --keys needs to
	// decrypt the run's (--full) captures.
	ExportKeys bool
	// Azure names the user's Azure resources in the runbook.
	Azure AzureNames
	// Span, for a scenario whose topology spans hosts, makes the run
	// bring up this host's half and drive the far halves (span.go).
	Span *SpanOptions
}

// CaptureOverride changes the bounds of every scenario's captures (lab run's
// flags); a nil field keeps the scenario's.
type CaptureOverride struct {
	SnapLen  *int
	FileSize *int64
	Files    *int
	// None writes no capture files; the lab still counts every frame, for
	// the cleartext assertions.
	None bool
}

// bounds applies o to a scenario's bounds.
func (o CaptureOverride) bounds(b capture.Bounds) capture.Bounds {
	if o.SnapLen != nil {
		b.SnapLen = *o.SnapLen
	}
	if o.FileSize != nil {
		b.FileSize = *o.FileSize
	}
	if o.Files != nil {
		b.Files = *o.Files
	}
	return b
}

// run is one scenario run in progress.
type run struct {
	sc     *Scenario
	opt    Options
	lab    lab.Controller
	span   *lab.Span // a lab spanning hosts; nil: one host
	name   string
	start  time.Time
	report *Report

	mu        sync.Mutex
	events    []Event
	azureSeen uint64 // the Seq of the last Azure call looked at
	step      string
	probes    []*probe
	bulks     []*bulk
	caps      []*linkCapture

	traffic map[string][]trafficSample // link → its first end's frame counts, by the monitor

	captureBounds capture.Bounds
	keysMu        sync.Mutex
	keys          *lab.KeysFile // with ExportKeys
}

// Run runs the scenario on a lab of its own, an ordinary lab with its lab
// process and control socket (so lab status, lab macsec, lab capture work
// on it meanwhile), and returns its report (written to opt.OutDir too). An
// error means the run could not be carried out or recorded; failed
// assertions are in the report. The report is never nil.
func Run(ctx context.Context, sc *Scenario, opt Options) (*Report, error) {
	r := &run{sc: sc, opt: opt, start: time.Now()}
	r.report = &Report{Scenario: sc.Name, Title: sc.Title, Description: sc.Description, Source: sc.Source,
		Started: r.start, Timers: timersReport(sc), Production: sc.Production, YAML: sc.YAML}
	if sc.Topology != nil {
		r.report.Graph = graphOf(sc.Topology)
	}
	if sc.PNTable {
		r.report.Production = append(r.report.Production, pnTableLines()...)
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		r.report.Error = fmt.Sprintf("report directory: %v", err)
		return r.report, fmt.Errorf("scenario %s: report directory: %w", sc.Name, err)
	}
	err := r.run(ctx)
	r.report.Duration = Duration(time.Since(r.start))
	r.report.Events = r.events
	if r.lab != nil {
		r.finishReport(time.Duration(r.report.Duration))
		r.report.Runbook = buildRunbook(sc, r.report, opt.Azure)
	}
	if err != nil {
		r.report.Error = err.Error()
	}
	r.report.Passed = err == nil && len(r.report.Assertions) > 0
	for _, a := range r.report.Assertions {
		r.report.Passed = r.report.Passed && a.Passed
	}
	if werr := r.report.write(opt.OutDir); werr != nil {
		return r.report, errors.Join(err, werr)
	}
	return r.report, err
}

func (r *run) elapsed() float64 { return time.Since(r.start).Seconds() }

// snapshot is the state of the lab's links now (nil if the lab does not
// answer).
func (r *run) snapshot() *Snapshot {
	st, err := r.lab.Status()
	if err != nil {
		r.event("lab", "status: %v", err)
		return nil
	}
	return snapshot(r.sc.Topology, st, r.elapsed())
}

func (r *run) event(kind, format string, args ...any) {
	e := Event{T: r.elapsed(), Kind: kind, Text: fmt.Sprintf(format, args...)}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if r.opt.Progress != nil && !r.opt.Live {
		fmt.Fprintf(r.opt.Progress, "%6.1fs  %-6s %s\n", e.T, kind, e.Text)
	}
}

func (r *run) assert(step int, text string, ok bool, detail string) {
	r.report.Assertions = append(r.report.Assertions, AssertionResult{Step: step, Text: text, Passed: ok, Detail: detail})
	mark := "ok  "
	if !ok {
		mark = "FAIL"
	}
	r.event("check", "%s %s: %s", mark, text, detail)
}

func (r *run) run(ctx context.Context) error {
	sc := r.sc
	if len(sc.ExpectInvalid) > 0 {
		return r.expectInvalid()
	}
	if err := r.up(ctx); err != nil {
		return err
	}
	defer func() {
		if r.opt.Keep {
			r.event("lab", "lab %s keeps running (--keep): see it with secylab lab status --lab %s, remove it with secylab lab down %s", r.name, r.name, r.name)
			return
		}
		if r.span != nil {
			r.resetFar(context.WithoutCancel(ctx))
		}
		if err := lab.Down(r.opt.StateDir, r.name); err != nil {
			r.event("lab", "removing the lab: %v", err)
		}
	}()

	if err := r.waitAllSecured(ctx, 30*time.Second); err != nil {
		return err
	}
	for i, st := range sc.Setup {
		r.event("setup", "%d/%d %s", i+1, len(sc.Setup), st.describe())
		if err := r.doStep(ctx, -1, st); err != nil {
			return fmt.Errorf("setup step %d (%s): %w", i+1, st.describe(), err)
		}
	}
	if len(sc.Setup) > 0 {
		if err := r.waitAllSecured(ctx, 30*time.Second); err != nil {
			return err
		}
	}
	if err := r.waitAllBGP(ctx, 60*time.Second); err != nil {
		return err
	}
	r.report.Start = r.snapshot()
	if err := r.startCaptures(); err != nil {
		return err
	}
	defer r.stopCaptures()
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); r.monitor(monCtx) }()
	defer func() { stopMon(); <-monDone }()

	for _, ps := range sc.Probes {
		if ps.Bulk {
			b, err := startBulk(r, ps)
			if err != nil {
				return err
			}
			r.bulks = append(r.bulks, b)
			continue
		}
		p, err := startProbe(r, ps)
		if err != nil {
			return err
		}
		r.probes = append(r.probes, p)
	}
	defer func() {
		for _, b := range r.bulks {
			if r.report.Bulk == nil {
				b.finish()
			}
		}
	}()
	r.event("probe", "%d probe(s) and %d bulk TCP flow(s) running; baseline", len(r.probes), len(r.bulks))
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	for i, st := range sc.Steps {
		err := r.doStep(ctx, i, st)
		r.azureEvents()
		if err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, st.describe(), err)
		}
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	r.report.End = r.snapshot()
	for _, p := range r.probes {
		p.finish()
		r.report.Probes = append(r.report.Probes, p.result(r.start))
	}
	bulk := []BulkResult{}
	for _, b := range r.bulks {
		b.finish()
		bulk = append(bulk, b.result())
	}
	r.report.Bulk = bulk
	if r.opt.ExportKeys {
		r.collectKeys(ctx)
		if err := r.writeKeys(); err != nil {
			return err
		}
	}
	r.stopCaptures()
	for _, a := range sc.Assert {
		r.check(-1, a)
	}
	return nil
}

// up brings the exercise's lab up: named as asked, or with a fresh name
// (made again if another run took it first).
func (r *run) up(ctx context.Context) error {
	owner := "lab run"
	if r.opt.Keep {
		owner = ""
	}
	var far *lab.Span
	if so := r.opt.Span; so != nil {
		// The far halves first: a run whose far half is absent builds
		// nothing.
		var err error
		if far, err = lab.NewSpan(ctx, r.sc.Topology, so.Host, so.Far); err != nil {
			return err
		}
		for _, h := range far.Halves {
			r.event("lab", "host %s: lab %s answers at %s (pid %d; nodes %s; clock offset %v, round trip %v)", h.Host, h.Lab, h.Endpoint, h.PID, strings.Join(h.Nodes, ", "), h.ClockOffset.Round(time.Microsecond), h.RTT.Round(time.Microsecond))
		}
	}
	for try := 0; ; try++ {
		topo := *r.sc.Topology
		if r.opt.Span != nil {
			topo = *r.opt.Span.Half
		}
		r.name = r.opt.LabName
		if r.name == "" {
			r.name = NewLabName()
		}
		if err := topo.Rename(r.name); err != nil {
			return err
		}
		r.report.Lab = r.name
		r.event("lab", "creating lab %s from %s (%d nodes, %d links)", r.name, r.sc.TopologyRef, len(topo.Nodes), len(topo.Links))
		spec := lab.Spec{Topology: &topo, HelloTime: r.sc.Timers.MKAHello, LifeTime: r.sc.Timers.MKALife, PNThreshold: r.sc.Timers.PNThreshold}
		if r.opt.Span != nil {
			spec.Control = &lab.ControlSpec{KeyFile: r.opt.Span.KeyFile}
		}
		c, err := lab.Up(ctx, spec,
			lab.UpOptions{StateDir: r.opt.StateDir, Owner: owner})
		var exists *topology.ExistsError
		if errors.As(err, &exists) && r.opt.LabName == "" && try < 3 {
			continue
		}
		if err != nil {
			return err
		}
		r.lab = c
		if far != nil {
			if err := far.SetHere(ctx, r.opt.Span.Host, c); err != nil {
				return errors.Join(err, lab.Down(r.opt.StateDir, r.name))
			}
			r.lab, r.span = far, far
			r.report.Hosts = far.Halves
		}
		return nil
	}
}

// NewLabName makes a lab name for an exercise: "sc" and 8 random hex
// digits, so that concurrent runs do not choose the same one (and if they
// did, creating the lab's state directory would refuse the second).
func NewLabName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "sc" + hex.EncodeToString(b[:])
}

// expectInvalid runs a validation scenario: the topology must be refused,
// with the reason.
func (r *run) expectInvalid() error {
	_, err := (&scChecker{file: r.sc.Source}).loadTopology(r.sc.TopologyRef)
	if err == nil {
		r.assert(-1, "the topology is refused", false, "it was accepted")
		return nil
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	r.event("valid", "refused: %s", first)
	for _, want := range r.sc.ExpectInvalid {
		r.assert(-1, fmt.Sprintf("the refusal says %q", want), strings.Contains(err.Error(), want), first)
	}
	return nil
}

// phase returns the span of a phase: from its note step to the next note
// step, or the end of the steps.
func (r *run) phase(name string) (from, to float64) {
	from, to = -1, r.elapsed()
	for i, st := range r.report.Steps {
		if from >= 0 && r.sc.Steps[st.Index-1].Note != "" {
			return from, st.Start
		}
		if r.sc.Steps[st.Index-1].Note == name {
			from = r.report.Steps[i].Start
		}
	}
	return from, to
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// linkPorts are the running ports of link in st.
func linkPorts(st *lab.LabStatus, link string) ([]lab.PortStatus, error) {
	var ps []lab.PortStatus
	for _, p := range st.Ports {
		if p.Link == link {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("link %q has no userspace data plane (a plain veth): MKA, impairments and captures need a MACsec-capable link", link)
	}
	return ps, nil
}

// linkState is the MKA state of a link's ends.
func linkState(st *lab.LabStatus, link string) (secured, unsecured int, err error) {
	ps, err := linkPorts(st, link)
	for _, p := range ps {
		if p.MKA != nil && p.MKA.Secured {
			secured++
		} else {
			unsecured++
		}
	}
	return secured, unsecured, err
}

func (r *run) mkaHolds(c MKACond) (bool, error) {
	st, err := r.lab.Status()
	if err != nil {
		return false, err
	}
	s, u, err := linkState(st, c.Link)
	if c.Secured {
		return u == 0, err
	}
	return s == 0, err
}

// bgpHolds reports whether every BGP session over link is Established
// (c.Established) or none is.
func (r *run) bgpHolds(c BGPCond) (bool, error) {
	ls, err := r.lab.Status()
	if err != nil {
		return false, err
	}
	up, down := 0, 0
	for _, st := range ls.BGP {
		if st.Status == nil {
			continue
		}
		for _, n := range st.Status.Neighbors {
			if topology.SessionLink(n.Name) != c.Link {
				continue
			}
			if n.State.String() == "Established" {
				up++
			} else {
				down++
			}
		}
	}
	if up+down == 0 {
		return false, fmt.Errorf("no BGP session runs over link %s", c.Link)
	}
	if c.Established {
		return down == 0, nil
	}
	return up == 0, nil
}

// ipsecHolds reports whether the tunnel's IKE SAs are (all) established
// or (none) not.
func (r *run) ipsecHolds(ctx context.Context, c IPsecCond) (bool, error) {
	var sas []lab.IKETunnelSAs
	if err := r.lab.DoResult(ctx, &lab.IPsecSAsOp{Tunnel: c.Tunnel, Node: c.Node}, &sas); err != nil {
		return false, err
	}
	up, notified := 0, ""
	for _, s := range sas {
		if s.State == "ESTABLISHED" {
			up++
		}
		if notified == "" && c.Notify != "" && strings.Contains(s.LastError, c.Notify) {
			notified = fmt.Sprintf("%s at %s (peer %s): %s", s.Tunnel, s.Node, s.Peer, s.LastError)
		}
	}
	if c.Notify != "" {
		if up == 0 && notified != "" {
			r.event("ipsec", "%s", notified)
			return true, nil
		}
		return false, nil
	}
	if c.Established {
		return up == len(sas), nil
	}
	return up == 0, nil
}

func (r *run) waitAllSecured(ctx context.Context, timeout time.Duration) error {
	if err := r.lab.WaitSecured(ctx, timeout); err != nil {
		return err
	}
	r.event("mka", "every MACsec link secured")
	return nil
}

// waitAllBGP waits until every BGP session of the lab is Established.
func (r *run) waitAllBGP(ctx context.Context, timeout time.Duration) error {
	heldDown, err := r.lab.WaitBGP(ctx, timeout)
	if err != nil {
		return err
	}
	if len(heldDown) > 0 {
		return fmt.Errorf("BGP sessions held down after exceeding the maximum prefixes: %s", strings.Join(heldDown, ", "))
	}
	if st, err := r.lab.Status(); err == nil && len(st.BGP) > 0 {
		r.event("bgp", "every BGP session Established")
	}
	return nil
}

// settle lets the probes' datagrams in flight land before the step after
// a note acts. A phase ends at the next note and counts the datagrams sent
// until then; one sent just before, still on its way when the next step
// cuts a link, would count as lost in the phase it left (dpd's "both
// tunnels" lost 1 of 401 so: sent 61 µs before link1 was cut, on a path
// of 1 ms p99 latency, 14 ms under load). It returns once every
// flow has landed (flow.landed), or after probeGrace, saying which had
// not.
func (r *run) settle(ctx context.Context, note string) error {
	t := time.Now()
	deadline := t.Add(probeGrace)
	for {
		var late []string
		for _, p := range r.probes {
			for _, f := range p.flows {
				if ok, missing := f.landed(t); !ok {
					late = append(late, fmt.Sprintf("%s %s: %d", p.spec.Name, f.name, missing))
				}
			}
		}
		if len(late) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			r.event("probe", "%s: datagrams sent before the note and not arrived after %v (lost in the phase before): %s", note, probeGrace, strings.Join(late, ", "))
			return nil
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return err
		}
	}
}

// poll checks cond every 50 ms until it holds (true), it fails, or timeout
// passes (false).
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
}

// slowStatus is how late a status answer is an event: the lab process
// (its routers' BFD and forwarders too) did not run for that long, as a
// machine short of CPU does to it, and 500 ms is more than half of BFD's
// 300 ms × 3.
const slowStatus = 500 * time.Millisecond

// hostLoad is the machine's load average and CPU pressure, for an event
// saying the lab process was held up.
func hostLoad() string {
	load, pressure := "unknown", ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			load = f[0]
		}
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil { // "some avg10=77.93 avg60=…"
		if f := strings.Fields(string(b)); len(f) > 1 {
			pressure = ", CPU pressure " + strings.TrimPrefix(f[1], "avg10=") + " % over 10 s"
		}
	}
	return "load average " + load + pressure
}

// monitor records MKA transitions as events and keeps the live status line.
func (r *run) monitor(ctx context.Context) {
	last := map[string]string{}
	sessions := sessionWatch{}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if r.opt.ExportKeys && tick%10 == 0 {
			r.collectKeys(ctx)
		}
		var line []string
		asked := time.Now()
		ls, err := r.lab.Status()
		if took := time.Since(asked); took >= slowStatus {
			r.event("lab", "the lab answered its status after %v (%s): while the lab process does not run, BFD's detection time can pass with no packet lost", took.Round(time.Millisecond), hostLoad())
		}
		if err != nil {
			ls = &lab.LabStatus{}
		} else {
			r.sampleTraffic(ls, r.elapsed())
		}
		for _, l := range r.sc.Topology.Links {
			ps, err := linkPorts(ls, l.Name)
			if err != nil {
				continue
			}
			for _, st := range ps {
				state := "off"
				if st.MKA != nil {
					state = "unsecured"
					if st.MKA.Secured {
						state = "secured"
					}
				}
				key := st.Node + ":" + st.Name
				if prev, ok := last[key]; ok && prev != state {
					r.event("mka", "%s (%s) %s → %s", key, l.Name, prev, state)
				}
				last[key] = state
			}
			s, u, _ := linkState(ls, l.Name)
			if l.MACsec.Enabled || s > 0 {
				line = append(line, fmt.Sprintf("%s %d/%d secured", l.Name, s, s+u))
			}
		}
		for _, e := range sessions.changes(ls) {
			r.event(e.kind, "%s", e.text)
		}
		if r.opt.Live && r.opt.Progress != nil {
			r.mu.Lock()
			step := r.step
			r.mu.Unlock()
			fmt.Fprintf(r.opt.Progress, "\r\033[K%6.1fs  %s | %s", r.elapsed(), step, strings.Join(line, " | "))
		}
		select {
		case <-ctx.Done():
			if r.opt.Live && r.opt.Progress != nil {
				fmt.Fprint(r.opt.Progress, "\r\033[K")
			}
			return
		case <-t.C:
		}
	}
}

func (st Step) describe() string {
	switch {
	case st.Note != "":
		return "note: " + st.Note
	case st.Wait > 0:
		return "wait " + st.Wait.String()
	case st.WaitFor != nil && st.WaitFor.IPsec != nil:
		state := "ESTABLISHED"
		if !st.WaitFor.IPsec.Established {
			state = "down (no IKE SA)"
		}
		if nt := st.WaitFor.IPsec.Notify; nt != "" {
			state = "refused with " + nt
		}
		return fmt.Sprintf("wait until the IKE SA of %s is %s (at most %v)", st.WaitFor.IPsec.Tunnel, state, st.WaitFor.Timeout)
	case st.WaitFor != nil && st.WaitFor.BGP != nil:
		state := "Established"
		if !st.WaitFor.BGP.Established {
			state = "down"
		}
		return fmt.Sprintf("wait until BGP over %s is %s (at most %v)", st.WaitFor.BGP.Link, state, st.WaitFor.Timeout)
	case st.WaitFor != nil:
		return fmt.Sprintf("wait until %s is %s (at most %v)", st.WaitFor.MKA.Link, securedWord(st.WaitFor.MKA.Secured), st.WaitFor.Timeout)
	case st.Op != nil:
		return st.Op.Describe()
	case st.Exec != nil && st.Exec.Host:
		return "on the host: " + st.Exec.Command
	case st.Exec != nil:
		return "on " + st.Exec.Node + ": " + st.Exec.Command
	case st.Check != nil:
		return fmt.Sprintf("check %d condition(s)", len(st.Check))
	}
	return "step"
}

func securedWord(b bool) string {
	if b {
		return "secured"
	}
	return "not secured"
}

// doStep runs step i of the scenario (i < 0: a setup step).
func (r *run) doStep(ctx context.Context, i int, st Step) error {
	desc := st.describe()
	sr := StepResult{Index: i + 1, Text: desc, Start: r.elapsed()}
	if i >= 0 {
		r.mu.Lock()
		r.step = fmt.Sprintf("step %d/%d %s", i+1, len(r.sc.Steps), desc)
		r.mu.Unlock()
		r.event("step", "%d/%d %s", i+1, len(r.sc.Steps), desc)
		defer func() {
			sr.End = r.elapsed()
			r.report.Steps = append(r.report.Steps, sr)
		}()
	}
	switch {
	case st.Note != "":
		return r.settle(ctx, st.Note)
	case st.Wait > 0:
		return sleep(ctx, st.Wait)
	case st.WaitFor != nil:
		ok, err := poll(ctx, st.WaitFor.Timeout, func() (bool, error) {
			if st.WaitFor.BGP != nil {
				return r.bgpHolds(*st.WaitFor.BGP)
			}
			if st.WaitFor.IPsec != nil {
				return r.ipsecHolds(ctx, *st.WaitFor.IPsec)
			}
			return r.mkaHolds(*st.WaitFor.MKA)
		})
		if err != nil {
			return err
		}
		if ok {
			r.assert(i+1, desc, true, fmt.Sprintf("after %.1fs", r.elapsed()-sr.Start))
		} else {
			r.assert(i+1, desc, false, "not reached within "+st.WaitFor.Timeout.String())
		}
	case st.Op != nil:
		// An op that answers (an IKE rekey's SPIs before and after) puts
		// its answer in the report.
		var res json.RawMessage
		if err := r.lab.DoResult(ctx, st.Op, &res); err != nil {
			return err
		}
		if len(res) > 0 && string(res) != "null" {
			sr.Output = string(res)
		}
	case st.Exec != nil:
		timeout := 30 * time.Second
		if st.Exec.Host {
			timeout = 5 * time.Minute // the user's automation: az takes seconds a call
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var cmd *exec.Cmd
		var far *lab.Half
		if !st.Exec.Host {
			var err error
			if far, err = r.halfOf(st.Exec.Node); err != nil {
				return err
			}
		}
		if far != nil {
			res, err := r.remoteExec(cctx, far, st.Exec.Node, st.Exec.Command, timeout)
			if err != nil {
				return err
			}
			sr.Output = res.Output
			status := fmt.Sprintf("exit status %d", res.ExitCode)
			if res.Error != "" {
				status = res.Error
			}
			r.execAssert(i+1, st.Exec, desc, res.ExitCode, status, lastLine(res.Output))
			return nil
		}
		if st.Exec.Host {
			var err error
			if cmd, err = r.hostCommand(cctx, st.Exec.Command); err != nil {
				return err
			}
		} else {
			argv, err := r.nodeArgv(st.Exec.Node, []string{"sh", "-c", st.Exec.Command})
			if err != nil {
				return err
			}
			cmd = exec.CommandContext(cctx, "ip", append([]string{"netns", "exec", topology.NamespaceName(r.name, st.Exec.Node)}, argv...)...)
		}
		out, err := cmd.CombinedOutput()
		sr.Output = tail(string(out), 8<<10)
		code, status := 0, "exit status 0"
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code, status = ee.ExitCode(), err.Error()
		case err != nil && st.Exec.ExitCode == nil && st.Exec.Expect != "":
			code, status = -1, err.Error() // did not run: a failure to assert
		case err != nil && cctx.Err() == nil:
			return err
		}
		r.execAssert(i+1, st.Exec, desc, code, status, lastLine(string(out)))
	case st.Check != nil:
		for _, a := range st.Check {
			r.check(i+1, a)
		}
	}
	return nil
}

// nodeArgv is argv as it runs in node: on a bird, frr or strongswan node
// so that the daemon's own CLI (vtysh, birdc, swanctl) reaches the node's
// daemon (lab.LabStatus.ExecArgv).
func (r *run) nodeArgv(node string, argv []string) ([]string, error) {
	st, err := r.lab.Status()
	if err != nil {
		return nil, err
	}
	return st.ExecArgv(node, argv), nil
}

// tail is the last max octets of s.
func tail(s string, max int) string {
	if len(s) > max {
		return s[len(s)-max:]
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// execAssert checks what an exec step expects of its command's exit
// status code (status says it: "exit status 1", "signal: killed").
func (r *run) execAssert(step int, ex *ExecStep, desc string, code int, status, out string) {
	detail := status
	if out != "" {
		detail += ": " + out
	}
	ok := code == 0 && status == "exit status 0"
	switch {
	case ex.ExitCode != nil:
		r.assert(step, fmt.Sprintf("%s exits with status %d", desc, *ex.ExitCode), code == *ex.ExitCode, detail)
	case ex.Expect == "ok":
		r.assert(step, desc+" succeeds", ok, detail)
	case ex.Expect == "fail":
		r.assert(step, desc+" fails", !ok, detail)
	}
}

// linkCapture records one link's wire, as seen by its first end, to a
// ring of pcapng files. The lab process streams the capture over its
// control socket (copied off the forwarding path into a bounded queue
// there, cut at the snap length), ending it with its counts of every frame;
// this side writes the frames to the ring as they come.
type linkCapture struct {
	link   string
	file   string
	ring   *capture.Ring // nil: --no-capture, the frames are read and dropped
	stream *lab.CaptureStream
	done   chan struct{} // closed when the stream has ended
	err    error
	counts capture.Counts // every frame, counted in the lab on the forwarding path
	// notWritten counts the frames the lab's capture queue had no room
	// for (counted, not in the file).
	notWritten uint64
	written    uint64 // frames written to the ring
	cut        int    // of them, cut at the snap length
}

// read writes the stream's frames to the ring until the lab ends the
// stream.
func (c *linkCapture) read() {
	defer close(c.done)
	tail := &tailBuffer{max: 64 << 10}
	cr, err := capture.NewReader(io.TeeReader(bufio.NewReaderSize(c.stream, 1<<20), tail))
	if err != nil {
		c.err = err
		return
	}
	for {
		p, err := cr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			break
		}
		if c.ring == nil {
			continue
		}
		if err := c.ring.Write(p); err != nil {
			c.err = err
			c.stream.Close()
			break
		}
		c.written++
		if p.Truncated() {
			c.cut++
		}
	}
	c.notWritten, _ = cr.Dropped()
	var ok bool
	if c.counts, ok = capture.CountsAtEnd(tail.b); !ok {
		c.err = errors.Join(c.err, errors.New("the capture ended without the lab's frame counts"))
	}
}

// tailBuffer keeps the last max octets written to it.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (r *run) startCaptures() error {
	if len(r.sc.Captures) == 0 {
		return nil
	}
	b := r.opt.Capture.bounds(r.sc.Capture.Bounds)
	if err := b.Check(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	r.captureBounds = b
	dir := filepath.Join(r.opt.OutDir, "captures")
	if !r.opt.Capture.None {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for _, l := range r.sc.Captures {
		c := &linkCapture{link: l, done: make(chan struct{})}
		op := &lab.CaptureOp{Link: l, Side: "wire", Counts: true, SnapLen: b.SnapLen}
		if r.opt.Capture.None {
			op.SnapLen = 14 // only the counts at the end are used
		} else {
			c.file = filepath.Join(dir, l+"-wire.pcapng")
			var err error
			if c.ring, err = capture.NewRing(c.file, b); err != nil {
				return err
			}
		}
		var err error
		if c.stream, err = r.lab.Stream(context.Background(), op); err != nil {
			if c.ring != nil {
				c.ring.Close()
			}
			return fmt.Errorf("capture %s: %w", l, err)
		}
		go c.read()
		r.caps = append(r.caps, c)
	}
	return nil
}

// etherTypeName is how captures name an EtherType: 0x88e5.
func etherTypeName(et uint16) string { return capture.EtherTypeName(et) }

// stopCaptures asks the lab to end each stream (a half-close: the lab
// writes out what it queued, then closes) and records the results.
func (r *run) stopCaptures() {
	for _, c := range r.caps {
		closeWrite(c.stream)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.stream.Close()
			<-c.done
			c.err = errors.Join(c.err, errors.New("the lab did not end the capture within 5s"))
		}
		c.stream.Close()
		if c.ring != nil {
			if err := c.ring.Close(); err != nil {
				c.err = errors.Join(c.err, err)
			}
		}
		types := map[string]int{}
		for et, n := range c.counts.EtherTypes {
			types[et] = int(n)
		}
		cr := CaptureResult{Link: c.link, File: c.file, Frames: int(c.counts.Frames), EtherTypes: types, ESPInUDP: int(c.counts.ESPInUDP),
			ClearPayload: int(c.counts.Clear), NotWritten: c.notWritten}
		if c.ring == nil {
			cr.Detail = "no capture files (--no-capture): the lab counted the frames only"
			cr.Complete = c.err == nil
			if c.err != nil {
				cr.Error = c.err.Error()
			}
		} else {
			r.keptAndLost(&cr, c, c.err)
		}
		r.report.Captures = append(r.report.Captures, cr)
	}
	r.caps = nil
}

// keptAndLost says what the capture kept and what it lost, and whether the
// capture is complete: every frame written and kept, or the losses
// accepted by the scenario.
func (r *run) keptAndLost(cr *CaptureResult, c *linkCapture, err error) {
	b := r.captureBounds
	cr.SnapLen, cr.FileSize, cr.Files = b.SnapLen, b.FileSize, max(b.Files, 1)
	if b.FileSize == 0 {
		cr.Files = 1
	}
	cr.Cut = c.cut
	cr.Written = c.written
	gone, rotated := c.ring.Rotated()
	cr.RotatedFiles, cr.Rotated = gone, rotated.Frames
	for _, f := range c.ring.Files() {
		cf := CaptureFile{Name: f.Name, Frames: f.Frames, Octets: f.Octets}
		if !f.First.IsZero() {
			cf.From, cf.To = f.First.Sub(r.start).Seconds(), f.Last.Sub(r.start).Seconds()
		}
		cr.Kept += f.Frames
		cr.KeptOctets += f.Octets
		cr.FileList = append(cr.FileList, cf)
	}
	if len(cr.FileList) > 0 {
		cr.File = cr.FileList[len(cr.FileList)-1].Name
		if gone > 0 {
			cr.KeptFrom = cr.FileList[0].From
		}
	}
	var lost []string
	cr.Complete = true
	if err != nil {
		cr.Error = err.Error()
		cr.Complete = false
		lost = append(lost, "capture failed: "+cr.Error)
	}
	if cr.NotWritten > 0 {
		s := fmt.Sprintf("%d frames counted but not written: the file writer fell behind", cr.NotWritten)
		if r.sc.Capture.Accepts("notWritten") {
			s += " (accepted: capture.accept notWritten)"
		} else {
			cr.Complete = false
		}
		lost = append(lost, s)
	}
	if cr.Rotated > 0 {
		s := fmt.Sprintf("%d frames before %.1f s in %d older files deleted by the ring (%s)", cr.Rotated, cr.KeptFrom, gone, b)
		if r.sc.Capture.Accepts("rotated") {
			s += " (accepted: capture.accept rotated)"
		} else {
			cr.Complete = false
		}
		lost = append(lost, s)
	}
	cr.Detail = fmt.Sprintf("kept %d of %d frames in %d file(s), %s (%s", cr.Kept, cr.Frames, len(cr.FileList), capture.Octets(cr.KeptOctets), b)
	if cr.Cut > 0 {
		cr.Detail += fmt.Sprintf("; %d frames cut to %d octets", cr.Cut, b.SnapLen)
	}
	cr.Detail += ")"
	if len(lost) > 0 {
		cr.Detail += "; lost: " + strings.Join(lost, "; ")
	} else {
		cr.Detail += "; lost none"
	}
}

// collectKeys adds the keys of every link with MACsec on to r.keys.
func (r *run) collectKeys(ctx context.Context) {
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	if r.keys == nil {
		r.keys = &lab.KeysFile{Lab: r.name}
	}
	for _, l := range r.sc.Topology.Links {
		var lk lab.LinkKeys
		if err := r.lab.DoResult(ctx, &lab.KeysOp{OnLink: lab.OnLink{Link: l.Name}}, &lk); err == nil {
			r.keys.Add(lk)
		}
	}
}

// writeKeys writes what collectKeys found to keys.json, 0600, and says so.
func (r *run) writeKeys() error {
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	if r.keys == nil || len(r.keys.SAs()) == 0 {
		r.event("lab", "--export-keys: no MACsec SAs to export")
		return nil
	}
	r.keys.Exported = time.Now().UTC()
	file := filepath.Join(r.opt.OutDir, "keys.json")
	if err := lab.WriteKeysFile(file, r.keys); err != nil {
		return fmt.Errorf("--export-keys: %w", err)
	}
	r.report.KeysFile = file
	r.event("lab", "warning: wrote %d SAs of the run to %s (0600): %s", len(r.keys.SAs()), file, lab.KeysWarning)
	return nil
}
