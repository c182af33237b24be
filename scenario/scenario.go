package scenario

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/internal/yamlx"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// Scenario is a parsed scenario file.
type Scenario struct {
	Name        string
	Title       string
	Description string
	Source      string
	// Topology is the lab's topology, or nil when the scenario expects
	// the topology to be refused (ExpectInvalid).
	Topology      *topology.Topology
	TopologyRef   string
	ExpectInvalid []string // substrings the validation error must contain
	Timers        Timers
	Probes        []ProbeSpec
	Captures      []string
	Capture       CaptureSpec
	Setup         []Step // before probes and captures start: not measured
	Steps         []Step
	Assert        []Assertion
	Production    []string // what the production timers would imply
	// PNTable adds the time to exhaust 32-bit and 64-bit packet numbers at
	// production line rates to the report.
	PNTable bool
	// YAML is the file's text, for the report.
	YAML string
}

// CaptureSpec is how the scenario's captures are bounded, and which of the
// frames a bounded capture loses the scenario accepts. Without Accept, a
// capture that lost a frame is a failure of the capture (not of the
// exercise: its assertions count every frame).
type CaptureSpec struct {
	Bounds capture.Bounds
	Accept []string // of CaptureLosses
}

// CaptureLosses are the ways a bounded capture loses frames: "rotated",
// written to a file of the ring that was deleted when the ring was full;
// "notWritten", counted but never written, the writer having fallen behind.
var CaptureLosses = []string{"rotated", "notWritten"}

// Accepts reports whether the scenario accepts the loss.
func (c CaptureSpec) Accepts(loss string) bool { return slices.Contains(c.Accept, loss) }

// Timers are the lab's protocol timers.
type Timers struct {
	MKAHello, MKALife time.Duration
	PNThreshold       uint64 // 0: the suite's default
}

// ProbeSpec is a bidirectional probe flow between two addresses.
type ProbeSpec struct {
	Name     string
	From, To Endpoint
	Rate     int  // packets per second, each way
	Bulk     bool // a bulk TCP flow From → To instead of datagrams
}

// Endpoint is a probe's end: a node and one of its addresses.
type Endpoint struct {
	Node string
	Addr netip.Addr
}

// Step is one action of a scenario; exactly one field is set. Op is a
// change to the lab (MACsec, cut, drain, …: one of lab's operations, its
// kind the step's key); the others are the scenario's own.
type Step struct {
	Line    int
	Note    string
	Wait    time.Duration
	WaitFor *WaitFor
	Op      lab.Op
	Exec    *ExecStep
	Check   []Assertion
}

// WaitFor waits until a condition holds or the timeout passes (a failed
// assertion then).
type WaitFor struct {
	MKA     *MKACond
	BGP     *BGPCond
	IPsec   *IPsecCond
	Timeout time.Duration
}

// IPsecCond is the state of an IKE-keyed tunnel's IKE SA at its gateway
// on Node (every gateway the lab runs for it when ""): ESTABLISHED, or
// not (a peer declared dead by DPD, a refused exchange).
type IPsecCond struct {
	Tunnel      string `yaml:"tunnel"`
	Node        string `yaml:"node"`
	Established bool   `yaml:"established"`
	// Notify, with established false: the gateway's last failure names
	// this IKE notify (NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED, ...), at
	// one of the tunnel's gateways at least (on Node when given).
	Notify string `yaml:"notify"`
}

// BGPCond is the state of the BGP sessions over a link (or over an
// IKE-keyed tunnel with enableBgp, by its name): Established on both
// ends, or not.
type BGPCond struct {
	Link        string `yaml:"link"`
	Established bool   `yaml:"established"`
}

// MKACond is the MKA state of a link: secured on both ends, or not secured
// on either.
type MKACond struct {
	Link    string
	Secured bool
}

// ExecStep runs a command in a node's namespace; Expect "fail" asserts
// that it fails (e.g. a ping across mismatched keys), "ok" that it
// succeeds, "" nothing.
type ExecStep struct {
	Node string `yaml:"node"`
	// Host runs the command on the host instead of in a node: the user's
	// own automation, aimed at the lab's Azure emulator (the environment
	// of secylab azure env, the service principal's secret in
	// AZURE_CLIENT_SECRET), in the scenario file's directory, 5 min at most.
	Host    bool   `yaml:"host"`
	Command string `yaml:"command"`
	Expect  string `yaml:"expect"`
	// ExitCode asserts the command's exit status exactly.
	ExitCode *int `yaml:"exitCode"`
}

// Assertion is one expected outcome; exactly one kind is set.
type Assertion struct {
	Line int
	// Probe assertions, over the whole run.
	Probe     string
	Phase     string         // only packets sent during this phase (a note step's text, until the next note)
	MaxLoss   *int           // lost packets, both directions
	MaxOutage *time.Duration // the longest outage window
	MinOutage *time.Duration
	// NoCleartext: the link's wire capture holds only MACsec and MKA.
	NoCleartext string
	// NoClearPayload: the link's wire carries no traffic in clear: MACsec,
	// MKA, ARP, IKE (UDP 500, or 4500 behind the non-ESP marker) and ESP in
	// UDP only (IPsec protects what MACsec does not).
	NoClearPayload string
	// MKA state now.
	MKA *MKACond
	// Counter of a port's SecY or MKA participant now.
	Counter *CounterCond
}

// CounterCond bounds a counter: SecY (InPktsNotValid, …, any SC summed) or
// MKA (RxBadICV, …).
type CounterCond struct {
	Port     string // node:port
	Name     string
	Min, Max *uint64
}

// raw shapes, decoded strictly.
type rawScenario struct {
	Name          string         `yaml:"name"`
	Title         string         `yaml:"title"`
	Description   string         `yaml:"description"`
	Topology      string         `yaml:"topology"`
	ExpectInvalid []string       `yaml:"expectInvalid"`
	Timers        rawTimers      `yaml:"timers"`
	Probes        []rawProbe     `yaml:"probes"`
	Captures      []string       `yaml:"captures"`
	Capture       rawCapture     `yaml:"capture"`
	Setup         []rawStep      `yaml:"setup"`
	Steps         []rawStep      `yaml:"steps"`
	Assert        []rawAssertion `yaml:"assert"`
	Production    []string       `yaml:"production"`
	PNTable       bool           `yaml:"pnExhaustionTable"`
	// Azure runs the lab with its Azure emulator (lab up --azure).
	Azure bool `yaml:"azure"`
}

type rawCapture struct {
	SnapLen  string   `yaml:"snapLen"`  // octets, or full
	FileSize string   `yaml:"fileSize"` // 20MB; 0: no cap
	Files    *int     `yaml:"files"`
	Accept   []string `yaml:"accept"`
}

type rawTimers struct {
	MKAHello    string `yaml:"mkaHello"`
	MKALife     string `yaml:"mkaLife"`
	PNThreshold uint64 `yaml:"pnThreshold"`
}

type rawProbe struct {
	Name string `yaml:"name"`
	From string `yaml:"from"` // "node address"
	To   string `yaml:"to"`
	Rate int    `yaml:"rate"`
	Bulk bool   `yaml:"bulk"`
}

// rawStep is one step: a single key, decoded by what it names.
type rawStep map[string]ast.Node

type rawWaitFor struct {
	MKA     *MKACond   `yaml:"mka"`
	BGP     *BGPCond   `yaml:"bgp"`
	IPsec   *IPsecCond `yaml:"ipsec"`
	Timeout string     `yaml:"timeout"`
}

type rawAssertion struct {
	Probe       string       `yaml:"probe"`
	Phase       string       `yaml:"phase"`
	MaxLoss     *int         `yaml:"maxLoss"`
	MaxOutage   string       `yaml:"maxOutage"`
	MinOutage   string       `yaml:"minOutage"`
	NoCleartext string       `yaml:"noCleartext"`
	NoClear     string       `yaml:"noClearPayload"`
	MKA         *MKACond     `yaml:"mka"`
	Counter     *CounterCond `yaml:"counter"`
}

//go:embed builtin/*.yaml builtin/topologies/*.yaml builtin/topologies/*.conf
var builtinFS embed.FS

// builtinFiles maps each built-in scenario's name to its file, in the
// order of the files' numbers (the order they are meant to be read).
func builtinFiles() (names []string, files map[string]string) {
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	files = map[string]string{}
	for _, e := range entries { // sorted by file name
		if e.IsDir() {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".yaml")
		if num, rest, ok := strings.Cut(name, "-"); ok && strings.Trim(num, "0123456789") == "" {
			name = rest
		}
		names = append(names, name)
		files[name] = path.Join("builtin", e.Name())
	}
	return names, files
}

// Builtins lists the built-in scenarios.
func Builtins() []string {
	names, _ := builtinFiles()
	return names
}

// Builtin parses the built-in scenario called name.
func Builtin(name string) (*Scenario, error) {
	names, files := builtinFiles()
	file, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("no built-in scenario %q: have %s", name, strings.Join(names, ", "))
	}
	data, err := builtinFS.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// BuiltinSource returns the YAML of the built-in scenario called name, as a
// starting point for one's own (secylab lab scenarios --yaml).
func BuiltinSource(name string) ([]byte, error) {
	names, files := builtinFiles()
	file, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("no built-in scenario %q: have %s", name, strings.Join(names, ", "))
	}
	return builtinFS.ReadFile(file)
}

// Load reads a scenario file.
func Load(file string) (*Scenario, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(file, data)
}

// MaxName bounds a scenario's name (the name of its report directory).
const MaxName = 63

// Parse checks a scenario; errors name the file, line and field.
func Parse(file string, data []byte) (*Scenario, error) { return parse(file, data, nil) }

// parse checks a scenario against topo, or (nil) the topology it names.
func parse(file string, data []byte, topo *topology.Topology) (*Scenario, error) {
	var raw rawScenario
	doc, err := yamlx.Decode(file, data, &raw)
	if err != nil {
		return nil, err
	}
	c := &scChecker{Doc: doc, file: file, override: topo}
	sc := c.build(&raw)
	if err := c.Err(); err != nil {
		return nil, err
	}
	sc.YAML = string(data)
	return sc, nil
}

type scChecker struct {
	*yamlx.Doc
	file string
	topo *topology.Topology
	// override is the topology to check against instead of the one the
	// scenario names (lab run --topology).
	override *topology.Topology
}

// Ranges of a scenario's durations.
var (
	WaitRange    = value.Range{Min: time.Millisecond, Max: time.Hour}
	TimeoutRange = value.Range{Min: 100 * time.Millisecond, Max: time.Hour}
	OutageRange  = value.Range{Min: 0, Max: time.Hour}
)

func (c *scChecker) duration(path, s string, def time.Duration, r value.Range) time.Duration {
	if s == "" {
		return def
	}
	d, err := value.ParseDuration(s)
	if err == nil {
		err = r.Check(d)
	}
	if err != nil {
		c.Errorf(path, "%v", err)
	}
	return d
}

func (c *scChecker) build(raw *rawScenario) *Scenario {
	sc := &Scenario{Name: raw.Name, Title: raw.Title, Description: strings.TrimSpace(raw.Description),
		Source: c.file, TopologyRef: raw.Topology, ExpectInvalid: raw.ExpectInvalid, Captures: raw.Captures,
		Production: raw.Production, PNTable: raw.PNTable}
	if err := topology.CheckName(raw.Name, MaxName); err != nil {
		// Reports go to a directory named after the scenario: a name, never a path.
		c.Errorf("name", "scenario name %v", err)
	}
	if raw.Topology == "" {
		raw.Topology = "expressroute-direct"
		sc.TopologyRef = raw.Topology
	}
	topo, err := c.loadTopology(raw.Topology)
	if c.override != nil {
		topo, err = c.override, nil
		sc.TopologyRef = topo.Source
	}
	switch {
	case len(raw.ExpectInvalid) > 0:
		if err == nil {
			c.Errorf("expectInvalid", "the topology %s is valid, but the scenario expects it to be refused", raw.Topology)
		}
		// The refusal itself is what the run checks and reports.
		return sc
	case err != nil:
		c.Errorf("topology", "%v", err)
		return sc
	}
	if raw.Azure && topo.Azure == nil {
		if topo.Azure, err = topology.DefaultAzure(topo); err != nil {
			c.Errorf("azure", "%v", err)
		}
	}
	c.topo, sc.Topology = topo, topo
	sc.Timers = Timers{
		MKAHello:    c.duration("timers.mkaHello", raw.Timers.MKAHello, expressroute.LabMKAHelloTime, lab.HelloRange),
		MKALife:     c.duration("timers.mkaLife", raw.Timers.MKALife, expressroute.LabMKALifeTime, lab.LifeRange),
		PNThreshold: raw.Timers.PNThreshold,
	}
	if sc.Timers.MKALife <= sc.Timers.MKAHello {
		c.Errorf("timers.mkaLife", "%v must exceed the hello time %v", sc.Timers.MKALife, sc.Timers.MKAHello)
	}
	names := map[string]bool{}
	for i, p := range raw.Probes {
		path := fmt.Sprintf("probes[%d]", i)
		ps := ProbeSpec{Name: p.Name, Rate: p.Rate, Bulk: p.Bulk, From: c.endpoint(path+".from", p.From), To: c.endpoint(path+".to", p.To)}
		if ps.Rate == 0 {
			ps.Rate = 100
		}
		if ps.Rate < 1 || ps.Rate > 10000 {
			c.Errorf(path+".rate", "%d packets per second: want 1 to 10000", ps.Rate)
		}
		if p.Name == "" || names[p.Name] {
			c.Errorf(path+".name", "probes need unique names")
		}
		names[p.Name] = true
		sc.Probes = append(sc.Probes, ps)
	}
	for i, l := range raw.Captures {
		c.link(fmt.Sprintf("captures[%d]", i), l)
	}
	sc.Capture = c.capture(raw.Capture)
	for i, rs := range raw.Setup {
		st := c.step(fmt.Sprintf("setup[%d]", i), rs, names)
		if st.asserts() {
			c.Errorf(fmt.Sprintf("setup[%d]", i), "setup steps change the lab; checks belong in steps")
		}
		sc.Setup = append(sc.Setup, st)
	}
	phases := map[string]bool{}
	for i, rs := range raw.Steps {
		st := c.step(fmt.Sprintf("steps[%d]", i), rs, names)
		if st.Note != "" {
			phases[st.Note] = true
		}
		sc.Steps = append(sc.Steps, st)
	}
	for i, ra := range raw.Assert {
		if ra.Phase != "" && !phases[ra.Phase] {
			c.Errorf(fmt.Sprintf("assert[%d].phase", i), "no note step %q starts this phase", ra.Phase)
		}
	}
	for i, ra := range raw.Assert {
		sc.Assert = append(sc.Assert, c.assertion(fmt.Sprintf("assert[%d]", i), ra, names, sc.Captures))
	}
	asserts := len(sc.Assert) > 0
	for _, st := range sc.Steps {
		asserts = asserts || st.asserts()
	}
	if !asserts {
		c.Errorf("assert", "the scenario asserts nothing, so it could never fail: add assert, or steps with check, waitFor or exec with expect")
	}
	return sc
}

func (c *scChecker) capture(raw rawCapture) CaptureSpec {
	cs := CaptureSpec{Bounds: capture.DefaultBounds(), Accept: raw.Accept}
	var err error
	if raw.SnapLen != "" {
		if cs.Bounds.SnapLen, err = capture.ParseSnapLen(raw.SnapLen); err != nil {
			c.Errorf("capture.snapLen", "%v", err)
		}
	}
	if raw.FileSize != "" {
		if cs.Bounds.FileSize, err = capture.ParseSize(raw.FileSize); err != nil {
			c.Errorf("capture.fileSize", "%v", err)
		} else if cs.Bounds.FileSize != 0 && cs.Bounds.FileSize < capture.MinFileSize {
			c.Errorf("capture.fileSize", "%s: want 0 (no cap) or at least %d octets", raw.FileSize, capture.MinFileSize)
		}
	}
	if raw.Files != nil {
		cs.Bounds.Files = *raw.Files
		if *raw.Files < 1 || *raw.Files > 10000 {
			c.Errorf("capture.files", "%d: want 1 to 10000 files in the ring", *raw.Files)
		}
	}
	for i, a := range raw.Accept {
		if !slices.Contains(CaptureLosses, a) {
			c.Errorf(fmt.Sprintf("capture.accept[%d]", i), "%q: want one of %s", a, strings.Join(CaptureLosses, ", "))
		}
	}
	return cs
}

func (c *scChecker) loadTopology(ref string) (*topology.Topology, error) {
	if strings.Contains(ref, "/") || strings.HasSuffix(ref, ".yaml") {
		if !filepath.IsAbs(ref) && !strings.HasPrefix(c.file, "builtin/") {
			ref = filepath.Join(filepath.Dir(c.file), ref)
		}
		if strings.HasPrefix(c.file, "builtin/") {
			name := path.Join("builtin/topologies", path.Base(ref))
			data, err := builtinFS.ReadFile(name)
			if err != nil {
				return nil, err
			}
			return topology.ParseFS(builtinFS, name, data)
		}
		return topology.Load(ref)
	}
	return topology.Builtin(ref)
}

func (c *scChecker) endpoint(path, s string) Endpoint {
	f := strings.Fields(s)
	if len(f) != 2 {
		c.Errorf(path, "%q: want \"NODE ADDRESS\", e.g. \"onprem-host 10.1.0.10\"", s)
		return Endpoint{}
	}
	addr, err := netip.ParseAddr(f[1])
	if err != nil {
		c.Errorf(path, "%q is not an IP address", f[1])
	}
	n := c.topo.Node(f[0])
	if n == nil {
		c.Errorf(path, "no node %q in topology %s", f[0], c.topo.Name)
		return Endpoint{}
	}
	for _, p := range n.Ports {
		for _, a := range p.AllAddresses() {
			if a.Addr() == addr {
				return Endpoint{Node: f[0], Addr: addr}
			}
		}
	}
	c.Errorf(path, "node %s has no address %s", f[0], addr)
	return Endpoint{}
}

func (c *scChecker) link(path, name string) {
	if c.topo != nil && c.topo.Link(name) == nil {
		c.Errorf(path, "no link %q in topology %s", name, c.topo.Name)
	}
}

// ikeTunnel checks that name is an IKE-keyed tunnel.
func (c *scChecker) ikeTunnel(path, name string) {
	if c.topo == nil {
		return
	}
	for _, tu := range c.topo.Tunnels {
		if tu.Name == name {
			if tu.IKE == nil {
				c.Errorf(path, "tunnel %s is keyed by hand: it has no IKE SA (give it a sharedKey)", name)
			}
			return
		}
	}
	c.Errorf(path, "no link or IKE-keyed tunnel %q in topology %s", name, c.topo.Name)
}

func (c *scChecker) node(path, name string) {
	if c.topo != nil && c.topo.Node(name) == nil {
		c.Errorf(path, "no node %q in topology %s", name, c.topo.Name)
	}
}

// stepKeys are the scenario's own steps; every other key is a lab
// operation's kind.
var stepKeys = []string{"note", "wait", "waitFor", "exec", "check"}

func stepKinds() string { return strings.Join(append(slices.Clone(stepKeys), lab.Changes()...), ", ") }

// asserts reports whether the step checks something.
func (st Step) asserts() bool {
	return st.Check != nil || st.Exec != nil && (st.Exec.Expect != "" || st.Exec.ExitCode != nil) || st.WaitFor != nil
}

func (c *scChecker) step(path string, rs rawStep, probes map[string]bool) Step {
	var s Step
	if len(rs) != 1 {
		c.Errorf(path, "a step has exactly one of %s (found %d)", stepKinds(), len(rs))
		return s
	}
	var key string
	var n ast.Node
	for key, n = range rs {
	}
	path += "." + key
	switch key {
	case "note":
		c.DecodeNode(n, &s.Note)
	case "wait":
		var w string
		if c.DecodeNode(n, &w) {
			s.Wait = c.duration(path, w, 0, WaitRange)
		}
	case "waitFor":
		var rw rawWaitFor
		if !c.DecodeNode(n, &rw) {
			return s
		}
		s.WaitFor = &WaitFor{MKA: rw.MKA, BGP: rw.BGP, IPsec: rw.IPsec, Timeout: c.duration(path+".timeout", rw.Timeout, 30*time.Second, TimeoutRange)}
		n := 0
		for _, set := range []bool{rw.MKA != nil, rw.BGP != nil, rw.IPsec != nil} {
			if set {
				n++
			}
		}
		switch {
		case n != 1:
			c.Errorf(path, "give one condition: mka, bgp or ipsec")
		case rw.MKA != nil:
			c.link(path+".mka.link", rw.MKA.Link)
		case rw.IPsec != nil:
			c.ikeTunnel(path+".ipsec.tunnel", rw.IPsec.Tunnel)
			if rw.IPsec.Node != "" {
				c.node(path+".ipsec.node", rw.IPsec.Node)
			}
			if nt := rw.IPsec.Notify; nt != "" {
				if _, ok := ike.NotifyNamed(nt); !ok {
					c.Errorf(path+".ipsec.notify", "%q is not an IKEv2 notify (e.g. NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED)", nt)
				} else if rw.IPsec.Established {
					c.Errorf(path+".ipsec.notify", "a notify is a failure: give established: false with it")
				}
			}
		case c.topo == nil || c.topo.Link(rw.BGP.Link) != nil:
		default:
			c.ikeTunnel(path+".bgp.link", rw.BGP.Link)
		}
	case "exec":
		var e ExecStep
		if !c.DecodeNode(n, &e) {
			return s
		}
		s.Exec = &e
		switch {
		case e.Host && e.Node != "":
			c.Errorf(path+".host", "host and node exclude each other: the command runs on the host or in a node")
		case !e.Host:
			c.node(path+".node", e.Node)
		}
		if e.Command == "" {
			c.Errorf(path+".command", "missing")
		}
		if e.ExitCode != nil && (e.Expect != "" || *e.ExitCode < 0 || *e.ExitCode > 255) {
			c.Errorf(path+".exitCode", "%d: want 0 to 255, and not with expect", *e.ExitCode)
		}
		if x := e.Expect; x != "" {
			var err error
			if e.Expect, err = value.Enum(x, "ok", "fail"); err != nil {
				c.Errorf(path+".expect", "%v", err)
			}
		}
	case "check":
		var ras []rawAssertion
		if !c.DecodeNode(n, &ras) {
			return s
		}
		s.Check = []Assertion{}
		for i, ra := range ras {
			p := fmt.Sprintf("%s[%d]", path, i)
			a := c.assertion(p, ra, probes, nil)
			if a.Probe != "" || a.NoCleartext != "" || a.NoClearPayload != "" {
				c.Errorf(p, "probe and capture assertions hold over the whole run: put them under assert")
			}
			s.Check = append(s.Check, a)
		}
	default:
		s.Op = c.op(path, key, n)
	}
	return s
}

// op decodes a step into the lab operation its key names and checks it
// against the topology; problems name the step's line and field.
func (c *scChecker) op(path, kind string, n ast.Node) lab.Op {
	op, ok := lab.NewChange(kind)
	if !ok {
		c.Errorf(path, "unknown step: want one of %s", stepKinds())
		return nil
	}
	short := false
	if sh, ok := op.(lab.Shorthand); ok && n.Type() != ast.MappingType {
		var v string
		if !c.DecodeNode(n, &v) {
			return nil
		}
		sh.SetShorthand(v)
		short = true
	} else if !c.DecodeNode(n, op) {
		return nil
	}
	err := op.Check(c.topo)
	if err == nil {
		return op
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *lab.FieldError
		switch {
		case errors.As(e, &fe) && !short:
			c.Errorf(path+"."+fe.Field, "%s", fe.Msg)
		case errors.As(e, &fe):
			c.Errorf(path, "%s", fe.Msg)
		default:
			c.Errorf(path, "%v", e)
		}
	}
	return nil
}

func (c *scChecker) assertion(path string, ra rawAssertion, probes map[string]bool, captures []string) Assertion {
	a := Assertion{Probe: ra.Probe, Phase: ra.Phase, MaxLoss: ra.MaxLoss, NoCleartext: ra.NoCleartext, NoClearPayload: ra.NoClear, MKA: ra.MKA, Counter: ra.Counter}
	kinds := 0
	if ra.Probe != "" {
		kinds++
		if !probes[ra.Probe] {
			c.Errorf(path+".probe", "no probe %q", ra.Probe)
		}
		if ra.MaxOutage != "" {
			d := c.duration(path+".maxOutage", ra.MaxOutage, 0, OutageRange)
			a.MaxOutage = &d
		}
		if ra.MinOutage != "" {
			d := c.duration(path+".minOutage", ra.MinOutage, 0, OutageRange)
			a.MinOutage = &d
		}
		if a.MaxLoss == nil && a.MaxOutage == nil && a.MinOutage == nil {
			c.Errorf(path, "a probe assertion needs maxLoss, maxOutage or minOutage")
		}
	} else if ra.MaxLoss != nil || ra.MaxOutage != "" || ra.MinOutage != "" || ra.Phase != "" {
		c.Errorf(path, "phase, maxLoss, maxOutage and minOutage go with probe")
	}
	for field, link := range map[string]string{"noCleartext": ra.NoCleartext, "noClearPayload": ra.NoClear} {
		if link == "" {
			continue
		}
		kinds++
		c.link(path+"."+field, link)
		found := false
		for _, l := range captures {
			found = found || l == link
		}
		if !found {
			c.Errorf(path+"."+field, "link %s is not captured: add it to captures", link)
		}
	}
	if ra.MKA != nil {
		kinds++
		c.link(path+".mka.link", ra.MKA.Link)
	}
	if ra.Counter != nil {
		kinds++
		n, p, ok := strings.Cut(ra.Counter.Port, ":")
		isLink := !ok && c.topo != nil && c.topo.Link(ra.Counter.Port) != nil
		if !isLink && (!ok || c.topo == nil || c.topo.Node(n) == nil || c.topo.Node(n).Port(p) == nil) {
			c.Errorf(path+".counter.port", "%q: want NODE:PORT, or a LINK for the sum of its ends", ra.Counter.Port)
		}
		if !knownCounter(ra.Counter.Name) {
			c.Errorf(path+".counter.name", "unknown counter %q: want one of %s", ra.Counter.Name, strings.Join(CounterNames(), ", "))
		}
		if ra.Counter.Min == nil && ra.Counter.Max == nil {
			c.Errorf(path+".counter", "give min or max")
		}
	}
	if kinds != 1 {
		c.Errorf(path, "an assertion has exactly one of probe, noCleartext, noClearPayload, mka, counter (found %d)", kinds)
	}
	return a
}
