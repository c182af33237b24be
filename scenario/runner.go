package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

// Options say where a run keeps its state and report.
type Options struct {
	StateDir string    // lab state (secylab lab down finds a crashed run's lab there)
	OutDir   string    // the report, captures included
	Progress io.Writer // progress lines; nil: none
	Live     bool      // Progress is a terminal: keep one status line up to date
}

var runSeq atomic.Int32

// run is one scenario run in progress.
type run struct {
	sc     *Scenario
	opt    Options
	lab    *lab.Lab
	name   string
	start  time.Time
	report *Report

	mu     sync.Mutex
	events []Event
	step   string
	probes []*probe
	bulks  []*bulk
	caps   []*linkCapture
}

// Run runs the scenario on a lab of its own, in this process, and returns
// its report (written to opt.OutDir too). An error means the run could not
// be carried out; failed assertions are in the report.
func Run(ctx context.Context, sc *Scenario, opt Options) (*Report, error) {
	r := &run{sc: sc, opt: opt, start: time.Now()}
	r.report = &Report{Scenario: sc.Name, Title: sc.Title, Description: sc.Description, Source: sc.Source,
		Started: r.start, Timers: timersReport(sc), Production: sc.Production}
	if sc.PNTable {
		r.report.Production = append(r.report.Production, pnTableLines()...)
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, err
	}
	err := r.run(ctx)
	r.report.Duration = Duration(time.Since(r.start))
	r.report.Events = r.events
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
	topo := *sc.Topology
	r.name = fmt.Sprintf("sc%d%d", os.Getpid()%10000, runSeq.Add(1))
	if err := topo.Rename(r.name); err != nil {
		return err
	}
	r.report.Lab = r.name
	r.event("lab", "creating lab %s from %s (%d nodes, %d links)", r.name, sc.TopologyRef, len(topo.Nodes), len(topo.Links))
	if err := topology.Create(ctx, &topo, r.opt.StateDir); err != nil {
		return err
	}
	defer func() {
		if err := topology.Destroy(r.opt.StateDir, r.name); err != nil {
			r.event("lab", "removing the lab: %v", err)
		}
	}()
	labCtx, stopLab := context.WithCancel(ctx)
	defer stopLab()
	lab, err := lab.StartLab(labCtx, lab.LabConfig{
		Topology: &topo, KeyDir: filepath.Join(topology.LabDir(r.opt.StateDir, r.name), "keys"),
		HelloTime: sc.Timers.MKAHello, LifeTime: sc.Timers.MKALife, PNThreshold: sc.Timers.PNThreshold,
		ConfigurePort: func(ctx context.Context, n, p string) error {
			return topology.ConfigureControlledPort(ctx, &topo, n, p)
		},
	})
	if err != nil {
		return err
	}
	r.lab = lab
	defer func() { stopLab(); lab.Wait() }()

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
			b, err := startBulk(r.name, ps, r.start)
			if err != nil {
				return err
			}
			r.bulks = append(r.bulks, b)
			continue
		}
		p, err := startProbe(r.name, ps)
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
		if err := r.doStep(ctx, i, st); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, st.describe(), err)
		}
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	for _, p := range r.probes {
		p.finish(500 * time.Millisecond)
		r.report.Probes = append(r.report.Probes, p.result(r.start))
	}
	bulk := []BulkResult{}
	for _, b := range r.bulks {
		b.finish()
		bulk = append(bulk, b.result())
	}
	r.report.Bulk = bulk
	r.stopCaptures()
	for _, a := range sc.Assert {
		r.check(-1, a)
	}
	return nil
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

// linkState is the MKA state of a link's ends.
func (r *run) linkState(link string) (secured, unsecured int, err error) {
	ps, err := r.lab.LinkPorts(link)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range ps {
		if p == nil {
			continue
		}
		if st := p.Status(); st.MKA != nil && st.MKA.Secured {
			secured++
		} else {
			unsecured++
		}
	}
	return secured, unsecured, nil
}

func (r *run) mkaHolds(c MKACond) (bool, error) {
	s, u, err := r.linkState(c.Link)
	if c.Secured {
		return u == 0, err
	}
	return s == 0, err
}

// bgpHolds reports whether every BGP session over link is Established
// (c.Established) or none is.
func (r *run) bgpHolds(c BGPCond) (bool, error) {
	up, down := 0, 0
	for _, st := range r.lab.BGPStatus() {
		if st.Status == nil {
			continue
		}
		for _, n := range st.Status.Neighbors {
			if n.Name != c.Link {
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

// macsecLinks are the links with MACsec on now (a step may have turned
// it off or on).
func (r *run) macsecLinks() []string {
	var links []string
	for _, l := range r.sc.Topology.Links {
		ps, err := r.lab.LinkPorts(l.Name)
		if err != nil {
			continue
		}
		for _, p := range ps {
			if p != nil && p.Status().MACsec {
				links = append(links, l.Name)
				break
			}
		}
	}
	return links
}

func (r *run) waitAllSecured(ctx context.Context, timeout time.Duration) error {
	var pending []string
	ok, err := poll(ctx, timeout, func() (bool, error) {
		pending = pending[:0]
		for _, l := range r.macsecLinks() {
			if ok, _ := r.mkaHolds(MKACond{Link: l, Secured: true}); !ok {
				pending = append(pending, l)
			}
		}
		return len(pending) == 0, nil
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("MKA did not secure %s within %v", strings.Join(pending, ", "), timeout)
	}
	r.event("mka", "every MACsec link secured")
	return nil
}

// waitAllBGP waits until every BGP session of the lab is Established.
func (r *run) waitAllBGP(ctx context.Context, timeout time.Duration) error {
	var pending []string
	ok, err := poll(ctx, timeout, func() (bool, error) {
		pending = pending[:0]
		for _, st := range r.lab.BGPStatus() {
			if st.Status == nil {
				continue
			}
			for _, n := range st.Status.Neighbors {
				if n.State.String() != "Established" {
					pending = append(pending, st.Node+"→"+n.Name)
				}
			}
		}
		return len(pending) == 0, nil
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("BGP sessions not Established within %v: %s", timeout, strings.Join(pending, ", "))
	}
	if len(r.lab.BGPStatus()) > 0 {
		r.event("bgp", "every BGP session Established")
	}
	return nil
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

// monitor records MKA transitions as events and keeps the live status line.
func (r *run) monitor(ctx context.Context) {
	last := map[string]string{}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		var line []string
		for _, l := range r.sc.Topology.Links {
			ps, err := r.lab.LinkPorts(l.Name)
			if err != nil {
				continue
			}
			for _, p := range ps {
				if p == nil {
					continue
				}
				st := p.Status()
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
			s, u, _ := r.linkState(l.Name)
			if l.MACsec.Enabled || s > 0 {
				line = append(line, fmt.Sprintf("%s %d/%d secured", l.Name, s, s+u))
			}
		}
		for _, st := range r.lab.BGPStatus() {
			if st.Status == nil {
				continue
			}
			for _, n := range st.Status.Neighbors {
				key := "bgp " + st.Node + "→" + n.Name
				state := n.State.String()
				if prev, ok := last[key]; ok && prev != state {
					r.event("bgp", "%s over %s: %s → %s", st.Node, n.Name, prev, state)
				}
				last[key] = state
				if n.BFD != nil {
					key, state := "bfd "+st.Node+"→"+n.Name, n.BFD.State.String()
					if prev, ok := last[key]; ok && prev != state {
						r.event("bfd", "%s over %s: %s → %s", st.Node, n.Name, prev, state)
					}
					last[key] = state
				}
			}
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
	case st.Wait > 0:
		return sleep(ctx, st.Wait)
	case st.WaitFor != nil:
		ok, err := poll(ctx, st.WaitFor.Timeout, func() (bool, error) {
			if st.WaitFor.BGP != nil {
				return r.bgpHolds(*st.WaitFor.BGP)
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
		_, err := r.lab.Do(ctx, st.Op)
		return err
	case st.Exec != nil:
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, "ip", "netns", "exec", topology.NamespaceName(r.name, st.Exec.Node), "sh", "-c", st.Exec.Command).CombinedOutput()
		detail := lastLine(string(out))
		switch st.Exec.Expect {
		case "ok":
			r.assert(i+1, desc+" succeeds", err == nil, exitDetail(err, detail))
		case "fail":
			r.assert(i+1, desc+" fails", err != nil, exitDetail(err, detail))
		default:
			if err != nil && cctx.Err() == nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					return err
				}
			}
		}
	case st.Check != nil:
		for _, a := range st.Check {
			r.check(i+1, a)
		}
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func exitDetail(err error, out string) string {
	status := "exit status 0"
	if err != nil {
		status = err.Error()
	}
	if out == "" {
		return status
	}
	return status + ": " + out
}

// linkCapture records one link's wire, as seen by its first end, to a
// pcapng file, and classifies every frame for the cleartext checks. The
// counting happens on the forwarding path (it is cheap and must see every
// frame); the writing happens off it, in a capture.Queue.
type linkCapture struct {
	link  string
	port  *dataplane.Port
	file  string
	f     *os.File
	q     *capture.Queue
	mu    sync.Mutex
	types map[uint16]int
	total int
	clear int // frames that are neither MACsec, MKA, ARP nor ESP in UDP
	esp   int // ESP in UDP (RFC 3948)
}

// classify tells ESP in UDP and cleartext apart among the frames that are
// not MACsec or MKA.
func classify(frame []byte) (esp, clear bool) {
	et := uint16(frame[12])<<8 | uint16(frame[13])
	switch et {
	case macsec.EtherType, mka.EtherTypeEAPOL, 0x0806:
		return false, false
	case 0x0800:
		ihl := int(frame[14]&0x0F) * 4
		if len(frame) >= 14+ihl+8 && frame[23] == 17 {
			udp := frame[14+ihl:]
			sport, dport := uint16(udp[0])<<8|uint16(udp[1]), uint16(udp[2])<<8|uint16(udp[3])
			if sport == 4500 || dport == 4500 {
				return true, false
			}
		}
	}
	return false, true
}

func (c *linkCapture) Capture(ts time.Time, frame []byte) {
	c.mu.Lock()
	c.total++
	if len(frame) >= 14 {
		c.types[uint16(frame[12])<<8|uint16(frame[13])]++
		esp, clear := classify(frame)
		if esp {
			c.esp++
		}
		if clear {
			c.clear++
		}
	}
	c.mu.Unlock()
	c.q.Capture(ts, frame)
}

func (r *run) startCaptures() error {
	if len(r.sc.Captures) == 0 {
		return nil
	}
	dir := filepath.Join(r.opt.OutDir, "captures")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, l := range r.sc.Captures {
		ps, err := r.lab.LinkPorts(l)
		if err != nil {
			return err
		}
		p := ps[0]
		if p == nil {
			p = ps[1]
		}
		c := &linkCapture{link: l, port: p.Dataplane(), file: filepath.Join(dir, l+"-wire.pcapng"), types: map[uint16]int{}}
		if c.f, err = os.OpenFile(c.file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		w, err := capture.NewWriter(c.f, capture.PCAPNG)
		if err != nil {
			c.f.Close()
			return err
		}
		c.q = capture.NewQueue(w, 1<<16, time.Second, 0)
		c.port.SetMirror(dataplane.Wire, c)
		r.caps = append(r.caps, c)
	}
	return nil
}

// etherTypeName is how captures name an EtherType: 0x88e5.
func etherTypeName(et uint16) string { return fmt.Sprintf("0x%04x", et) }

func (r *run) stopCaptures() {
	for _, c := range r.caps {
		c.port.SetMirror(dataplane.Wire, nil)
		err := c.q.Close()
		c.f.Close()
		c.mu.Lock()
		types := map[string]int{}
		for et, n := range c.types {
			types[etherTypeName(et)] = n
		}
		cr := CaptureResult{Link: c.link, File: c.file, Frames: c.total, EtherTypes: types, ESPInUDP: c.esp,
			ClearPayload: c.clear, NotWritten: c.q.Dropped()}
		if err != nil {
			cr.Error = err.Error()
		}
		r.report.Captures = append(r.report.Captures, cr)
		c.mu.Unlock()
	}
	r.caps = nil
}
