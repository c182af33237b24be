package lab

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/secylab/secylab/clock"
	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

// LabConfig describes a lab to run.
type LabConfig struct {
	Topology *topology.Topology
	// KeyDir holds the CAK/CKN pairs the lab generates (0700, files 0600).
	KeyDir string
	// MKA timers; zero values are the standard's (2 s hello, 6 s life).
	HelloTime, LifeTime time.Duration
	// PNThreshold lowers the PN at which MKA rekeys (0: the suite's
	// default), to show a PN-exhaustion rekey in seconds.
	PNThreshold uint64
	// ConfigurePort gives a controlled port (the TAP, now open) its
	// addresses and routes.
	ConfigurePort func(ctx context.Context, node, port string) error
	// RecordProcess, if set, records a process the lab starts (a BIRD or
	// FRR daemon) in the lab's state, so that lab down stops it even after
	// the lab process was killed.
	RecordProcess func(name string, pid int) error
	Logger        *slog.Logger
	// Clock is the lab's time for MKA, BGP and BFD; nil: the real clock.
	// A clock.Manual runs a lab's protocols in simulated time.
	Clock clock.Clock
	// Dir is the lab's directory (lab.log's): a strongswan node's charon
	// runs from Dir/NODE.strongswan and logs to Dir/NODE.charon.log; "":
	// a temporary directory.
	Dir string
	// AzureDir, for a topology with an azure block, is where the lab's
	// Azure emulator writes what clients need (azure.go); "": no emulator.
	AzureDir string
	// ControlKey, for a half of a lab spanning hosts, is the control key
	// both halves hold: generate:NAME keys are derived from it, so both
	// halves make the same pair.
	ControlKey *ControlKey
}

// Ranges of the MKA timers a lab takes (the standard's are 2 s and 6 s).
var (
	HelloRange = value.Range{Min: 100 * time.Millisecond, Max: time.Minute}
	LifeRange  = value.Range{Min: 300 * time.Millisecond, Max: 10 * time.Minute}
)

// Lab runs every controlled port of a topology.
type Lab struct {
	cfg     LabConfig
	topo    *topology.Topology
	ports   map[string]*Port // "node:port"
	tunnels []*tunnelEnd
	routers []*bgpRouter // nodes with BGP, in node order
	swans   []*swanNode  // strongswan nodes' charons
	swanTmp string       // their directory when cfg.Dir is ""
	started time.Time
	// impair is each link's impairment as set; adminDown the links whose
	// adminState is Disabled, which stay down whatever impair says.
	linkMu    sync.Mutex
	impair    map[string]dataplane.Impairment
	adminDown map[string]bool
	azure     *azureRuntime // nil: no Azure emulator
	keyMu     sync.Mutex    // generatedKey's make-or-read
	wg        sync.WaitGroup
	errMu     sync.Mutex
	err       error
}

// StartLab opens the ports of every link that needs the data plane, keys
// them, configures their controlled ports and starts forwarding. The
// namespaces and veths must exist. On error nothing keeps running.
func StartLab(ctx context.Context, cfg LabConfig) (*Lab, error) {
	t := cfg.Topology
	l := &Lab{cfg: cfg, topo: t, ports: map[string]*Port{}, started: time.Now()}
	if l.cfg.Logger == nil {
		l.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	fail := func(err error) (*Lab, error) {
		for _, p := range l.ports {
			p.dp.Run(canceled())
		}
		for _, te := range l.tunnels {
			te.close()
		}
		for _, r := range l.routers {
			r.close()
		}
		l.stopSwans()
		return nil, err
	}
	// Each node's ports are opened, then configured in name order (a
	// route may need an address of another of its ports); nodes are
	// independent and done in parallel, as their namespaces are.
	var portMu sync.Mutex
	err := parallel(len(t.Nodes), func(i int) error {
		n := t.Nodes[i]
		var keys []string
		for _, tp := range n.Ports {
			if !tp.Controlled {
				continue
			}
			p, err := l.openPort(n, tp)
			if err != nil {
				return err
			}
			portMu.Lock()
			l.ports[n.Name+":"+tp.Name] = p
			portMu.Unlock()
			keys = append(keys, n.Name+":"+tp.Name)
		}
		sort.Strings(keys)
		for _, key := range keys {
			portMu.Lock()
			p := l.ports[key]
			portMu.Unlock()
			if cfg.ConfigurePort != nil {
				if err := cfg.ConfigurePort(ctx, p.cfg.Node, p.cfg.Name); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if err := l.startTunnels(); err != nil {
		return fail(err)
	}
	if err := l.startSwans(); err != nil {
		return fail(err)
	}
	// BGP after the ports: its sockets, BFD and daemons need the
	// controlled ports' addresses.
	if err := l.startBGP(); err != nil {
		return fail(err)
	}
	if t.Azure != nil && cfg.AzureDir != "" {
		if err := l.startAzure(cfg.AzureDir); err != nil {
			return fail(err)
		}
	}
	run := func(f func(context.Context) error) {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := f(ctx); err != nil {
				l.errMu.Lock()
				l.err = errors.Join(l.err, err)
				l.errMu.Unlock()
			}
		}()
	}
	for _, p := range l.ports {
		run(p.Run)
	}
	for _, te := range l.tunnels {
		run(te.run)
	}
	for _, r := range l.routers {
		run(r.run)
	}
	if len(l.swans) > 0 {
		run(func(ctx context.Context) error { <-ctx.Done(); l.stopSwans(); return nil })
	}
	if l.azure != nil {
		run(l.azure.serve)
	}
	return l, nil
}

// openPort opens node n's controlled port tp.
func (l *Lab) openPort(n *topology.Node, tp *topology.Port) (*Port, error) {
	t := l.topo
	link := t.Link(tp.Link)
	mc, err := l.macsecConfig(link, tp.End)
	if err != nil {
		return nil, err
	}
	var vlans []PortVLAN
	for _, v := range tp.VLANs {
		vlans = append(vlans, PortVLAN{TAP: v.Name, STag: v.STag, CTag: v.CTag})
	}
	var device string
	if tp.HostWire {
		far := link.Ends[1-tp.End]
		fn := t.Node(far.Node)
		device = fmt.Sprintf("%s (kind %s)", far.Node, fn.Kind)
		if fn.Kind == topology.KindLinux {
			device = fmt.Sprintf("%s (kind %s, KaY %s)", far.Node, fn.Kind, cmp.Or(fn.KaY, topology.LinuxWPA))
		}
	}
	return OpenPort(PortConfig{
		Node: n.Name, Name: tp.Name, Link: tp.Link, Namespace: topology.NamespaceName(t.Name, n.Name),
		TAP: tp.Name, Wire: tp.Wire, HostWire: tp.HostWire, Device: device, VLANs: vlans, MACsec: mc,
		Impairment: impairment(link.Impairments), Seed: seed(t.Name, n.Name, tp.Name),
		Logger: l.cfg.Logger, Clock: l.cfg.Clock,
	})
}

// parallel runs f(0..n-1), a few at a time (they wait on the kernel more
// than they compute), and returns the first error; after one, no more
// are started.
func parallel(n int, f func(i int) error) error {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// Wait blocks until every port has stopped (the context given to StartLab
// ended) and returns their errors.
func (l *Lab) Wait() error {
	l.wg.Wait()
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *Lab) portKeys() []string {
	keys := make([]string, 0, len(l.ports))
	for k := range l.ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Ports returns the running ports in node:port order.
func (l *Lab) Ports() []*Port {
	ps := make([]*Port, 0, len(l.ports))
	for _, k := range l.portKeys() {
		ps = append(ps, l.ports[k])
	}
	return ps
}

// Port returns a running port, or nil.
func (l *Lab) Port(node, port string) *Port { return l.ports[node+":"+port] }

// LinkPorts returns the running ports at the ends of a link (nil where an
// end has no data plane).
func (l *Lab) LinkPorts(name string) ([2]*Port, error) {
	link := l.topo.Link(name)
	if link == nil {
		return [2]*Port{}, fmt.Errorf("no link %q in lab %s", name, l.topo.Name)
	}
	var ps [2]*Port
	for i, e := range link.Ends {
		ps[i] = l.Port(e.Node, e.Port)
	}
	if ps[0] == nil && ps[1] == nil {
		return ps, fmt.Errorf("link %q has no userspace data plane (a plain veth): impairments and captures need a MACsec-capable link", name)
	}
	return ps, nil
}

// macsecConfig resolves the MACsec setting of a link's end, loading or
// generating its CAK/CKN.
func (l *Lab) macsecConfig(link *topology.Link, end int) (*MACsecConfig, error) {
	m := link.MACsec
	if !m.Enabled {
		return nil, nil
	}
	e := link.Ends[end]
	var k expressroute.Key
	var err error
	switch {
	case e.Secret.Generate:
		name := link.Name
		if e.OwnSecret {
			name += "-" + e.Node
		}
		k, err = l.generatedKey(name, e.Cipher)
	default:
		k, err = secret.LoadKey(e.Secret.Path, e.Cipher)
	}
	if err != nil {
		return nil, fmt.Errorf("link %s, %s: %w", link.Name, e, err)
	}
	return &MACsecConfig{
		Suite: e.Cipher, IncludeSCI: m.IncludeSCI, ReplayProtect: m.ReplayProtect,
		ReplayWindow: m.ReplayWindow, KeyServerPriority: m.KeyServerPriority, PSK: k.PSK, CAKDigits: k.CAKDigits,
		HelloTime: l.cfg.HelloTime, LifeTime: l.cfg.LifeTime, PNThreshold: l.cfg.PNThreshold,
	}, nil
}

// SetImpairment sets what both ends of link do to the frames they send. A
// link whose adminState is Disabled stays down.
func (l *Lab) SetImpairment(link string, im dataplane.Impairment) error {
	l.linkMu.Lock()
	defer l.linkMu.Unlock()
	return l.setImpairment(link, im)
}

func (l *Lab) setImpairment(link string, im dataplane.Impairment) error {
	ps, err := l.LinkPorts(link)
	if err != nil {
		return err
	}
	if l.impair == nil {
		l.impair = map[string]dataplane.Impairment{}
	}
	l.impair[link] = im
	im.Down = im.Down || l.adminDown[link]
	for _, p := range ps {
		if p != nil {
			p.dp.SetImpairment(im)
		}
	}
	return nil
}

// Impairment is the impairment set on link (a cut included, the
// adminState not).
func (l *Lab) Impairment(link string) (dataplane.Impairment, error) {
	ps, err := l.LinkPorts(link)
	if err != nil {
		return dataplane.Impairment{}, err
	}
	l.linkMu.Lock()
	defer l.linkMu.Unlock()
	if im, ok := l.impair[link]; ok {
		return im, nil
	}
	for _, p := range ps {
		if p != nil {
			return p.dp.Impairment(), nil
		}
	}
	return dataplane.Impairment{}, nil
}

// SetAdminState takes link down at the Microsoft edge (enabled false: the
// laser off, no frames either way) or brings it back.
func (l *Lab) SetAdminState(link string, enabled bool) error {
	l.linkMu.Lock()
	defer l.linkMu.Unlock()
	if l.adminDown == nil {
		l.adminDown = map[string]bool{}
	}
	l.adminDown[link] = !enabled
	im, ok := l.impair[link]
	if !ok {
		ps, err := l.LinkPorts(link)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p != nil {
				im = p.dp.Impairment()
			}
		}
	}
	return l.setImpairment(link, im)
}

// generatedKey returns the lab's generated pair called name, making it on
// first use: the lab's stand-in for a Key Vault secret. An existing pair
// is read for suite by Azure's rule, like any key file; a bad name or a
// refusal by the rule is an *InvalidError.
func (l *Lab) generatedKey(name string, suite macsec.CipherSuite) (expressroute.Key, error) {
	l.keyMu.Lock() // a link's two ends, opened in parallel, share the pair
	defer l.keyMu.Unlock()
	if err := value.CheckName(name, value.MaxKeyName); err != nil {
		return expressroute.Key{}, &InvalidError{fmt.Errorf("key name %w", err)}
	}
	path := filepath.Join(l.cfg.KeyDir, name+".psk")
	if k, err := secret.LoadKey(path, suite); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return expressroute.Key{}, &InvalidError{fmt.Errorf("the lab's key %s: %w", name, err)}
	}
	if err := os.MkdirAll(l.cfg.KeyDir, 0o700); err != nil {
		return expressroute.Key{}, err
	}
	var rnd io.Reader = rand.Reader
	if l.cfg.ControlKey != nil {
		rnd = l.cfg.ControlKey.Reader("generated key "+name, mka.MaxCKNLen+32)
	}
	k, err := mka.GeneratePSK(rnd, suite)
	if err != nil {
		return expressroute.Key{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return expressroute.Key{}, err
	}
	if err := errors.Join(expressroute.WriteKeyFile(f, k), f.Close()); err != nil {
		os.Remove(path)
		return expressroute.Key{}, err
	}
	return expressroute.Key{PSK: k, Suite: suite, CAKDigits: expressroute.CAKHexDigits(suite)}, nil
}

func impairment(im topology.Impairments) dataplane.Impairment {
	return dataplane.Impairment{Delay: im.Delay, Jitter: im.Jitter, Loss: im.Loss, Rate: im.Rate, Down: im.Down}
}

// seed makes each port's impairment randomness reproducible.
func seed(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// setDown cuts link (down) or brings it back, keeping its other
// impairments.
func (l *Lab) setDown(link string, down bool) error {
	im, err := l.Impairment(link)
	if err != nil {
		return err
	}
	im.Down = down
	return l.SetImpairment(link, im)
}
