package lab

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/clock"
	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// MACsecConfig is a port's MACsec setting: the SecY and its MKA participant.
type MACsecConfig struct {
	Suite             macsec.CipherSuite
	IncludeSCI        bool // Azure "SCI state Enabled"
	ReplayProtect     bool
	ReplayWindow      uint32
	KeyServerPriority uint8
	PSK               mka.PSK
	// CAKDigits is the number of hex digits of the CAK secret as given
	// (expressroute.Key): fewer than the suite takes were padded with
	// zeros, and a cipher change pads or refuses it again, as Azure does.
	CAKDigits   int
	HelloTime   time.Duration // 0: 2 s
	LifeTime    time.Duration // 0: 6 s
	PNThreshold uint64        // 0: the suite's default
}

// PortConfig says where a port lives and what it does.
type PortConfig struct {
	Node, Name string
	Link       string
	Namespace  string // the node's network namespace
	TAP        string // controlled port interface
	Wire       string // uncontrolled port: the veth end
	// VLANs are the port's tagged sub-interfaces (its peerings), each a
	// TAP of its own in the node.
	VLANs []PortVLAN
	// HostWire: Wire is a host interface (an external end) in the lab
	// process's own namespace, not a veth in the node's.
	HostWire bool
	// Device names the external node at the far end of a host wire.
	Device     string
	MACsec     *MACsecConfig
	Impairment dataplane.Impairment
	Seed       uint64
	Logger     *slog.Logger
	Clock      clock.Clock // MKA's time; nil: the real clock
}

// PortVLAN is a tagged sub-interface of a port: its TAP's name and its
// tags (STag 0 for 802.1Q).
type PortVLAN struct {
	TAP        string
	STag, CTag uint16
}

// Port is one running port of a node.
type Port struct {
	cfg PortConfig
	dp  *dataplane.Port
	mac net.HardwareAddr
	log *slog.Logger
	clk clock.Clock

	mu  sync.Mutex
	mc  *MACsecConfig
	kay *mka.Participant // nil when MACsec is off

	// driveMKA sleeps until mkaNext (Unix ns; MaxInt64 while it looks);
	// mkaWake wakes it earlier.
	mkaWake chan struct{}
	mkaNext atomic.Int64
}

// OpenPort opens the TAP and the wire socket inside the node's namespace.
func OpenPort(cfg PortConfig) (*Port, error) {
	var tap frameio.Device
	var wire *frameio.PacketSocket
	var mac net.HardwareAddr
	var offload bool
	var vlans []dataplane.VLAN
	closeVLANs := func() {
		for _, v := range vlans {
			v.Dev.Close()
		}
	}
	err := netnsx.Do(cfg.Namespace, func() error {
		for _, v := range cfg.VLANs {
			t, err := frameio.OpenTAPOffload(v.TAP)
			if err != nil {
				closeVLANs()
				return err
			}
			vlans = append(vlans, dataplane.VLAN{STag: v.STag, CTag: v.CTag, Dev: t})
		}
		// TSO/GRO offloads: one TAP read or write per up to 64 KiB of TCP.
		t, err := frameio.OpenTAPOffload(cfg.TAP)
		if err != nil {
			closeVLANs()
			return err
		}
		offload = t.Offload()
		ifi, err := net.InterfaceByName(cfg.TAP)
		if err != nil {
			t.Close()
			closeVLANs()
			return err
		}
		mac = ifi.HardwareAddr
		if !cfg.HostWire {
			if wire, err = frameio.OpenPacket(cfg.Wire); err != nil {
				t.Close()
				closeVLANs()
				return err
			}
		}
		tap = t
		return nil
	})
	if err == nil && cfg.HostWire {
		// A NIC passes only its own MAC's unicast; the far end sends to
		// the TAP's.
		if wire, err = frameio.OpenPacketPromisc(cfg.Wire); err != nil {
			tap.Close()
			closeVLANs()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s:%s: %w", cfg.Node, cfg.Name, err)
	}
	p := &Port{cfg: cfg, mac: mac, log: cfg.Logger, clk: cfg.Clock, mkaWake: make(chan struct{}, 1)}
	if p.clk == nil {
		p.clk = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("port", cfg.Node+":"+cfg.Name)
	if !offload {
		p.log.Warn("TAP offloads unavailable: one system call per frame on the controlled port")
	}
	p.dp = dataplane.NewPort(cfg.Node+":"+cfg.Name, tap, wire, nil, cfg.Seed)
	p.dp.SetVLANs(vlans)
	p.dp.SetImpairment(cfg.Impairment)
	if err := p.SetMACsec(cfg.MACsec); err != nil {
		p.dp.Run(canceled()) // closes the devices
		return nil, err
	}
	return p, nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// SCI is the port's SCI: the controlled port's MAC with port number 1.
func (p *Port) SCI() macsec.SCI { return macsec.NewSCI(p.mac, 1) }

// Dataplane returns the forwarder, for impairments and capture.
func (p *Port) Dataplane() *dataplane.Port { return p.dp }

// SetMACsec turns MACsec on with mc (a fresh SecY and MKA participant:
// until MKA agrees a SAK nothing passes, never cleartext), or off (nil:
// frames pass unchanged).
func (p *Port) SetMACsec(mc *MACsecConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kay != nil {
		p.dp.SetKaY(nil)
		p.kay.Stop()
		p.kay = nil
	}
	p.mc = mc
	if mc == nil {
		p.dp.SetSecY(nil)
		return nil
	}
	var kay *mka.Participant
	y, err := macsec.New(macsec.Config{
		Suite: mc.Suite, SCI: p.SCI(), IncludeSCI: mc.IncludeSCI,
		ReplayProtect: mc.ReplayProtect, ReplayWindow: mc.ReplayWindow,
		PNThreshold:   mc.PNThreshold,
		OnPNThreshold: func(an uint8, pn uint64) { kay.PNThresholdReached(an, pn); p.wakeMKA() },
	})
	if err != nil {
		return fmt.Errorf("%s:%s: %w", p.cfg.Node, p.cfg.Name, err)
	}
	kay, err = mka.NewParticipant(mka.Config{
		PSK: mc.PSK, Suite: mc.Suite, SCI: p.SCI(), KeyServerPriority: mc.KeyServerPriority,
		HelloTime: mc.HelloTime, LifeTime: mc.LifeTime, PNThreshold: mc.PNThreshold,
		Rand: rand.Reader, SecY: y, Logger: p.log,
		Send: func(frame []byte) {
			if err := p.dp.SendKaY(frame); err != nil {
				p.log.Warn("MKPDU not sent", "err", err)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("%s:%s: %w", p.cfg.Node, p.cfg.Name, err)
	}
	p.kay = kay
	p.dp.SetSecY(y)
	p.dp.SetKaY(func(frame []byte) { kay.Receive(p.clk.Now(), frame); p.nudge(kay) })
	kay.Tick(p.clk.Now())
	p.wakeMKA()
	return nil
}

// Run forwards frames and drives MKA until ctx ends.
func (p *Port) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.driveMKA(ctx)
	}()
	err := p.dp.Run(ctx)
	<-done
	p.mu.Lock()
	if p.kay != nil {
		p.kay.Stop()
	}
	p.mu.Unlock()
	return err
}

// driveMKA calls the participant's Tick on time, as the port's clock
// tells it (a manual clock runs MKA in simulated time), and sleeps until
// its NextTick: one wake-up per hello, not a poll. Received MKPDUs are
// answered at once by Receive; what they, a rekey or a PN threshold move
// earlier wakes it (nudge).
func (p *Port) driveMKA(ctx context.Context) {
	var t clock.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		p.mkaNext.Store(math.MaxInt64) // a nudge while we look wakes us again
		p.mu.Lock()
		kay := p.kay
		p.mu.Unlock()
		if t != nil {
			t.Stop()
			t = nil
		}
		if kay != nil {
			now := p.clk.Now()
			kay.Tick(now)
			next := kay.NextTick()
			p.mkaNext.Store(next.UnixNano())
			t = p.clk.AfterFunc(mkaWait(now, next), p.wakeMKA)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.mkaWake:
		}
	}
}

// mkaWait is how long driveMKA sleeps for a tick due at next. A wait of a
// hello or a life time ends on the next instant of BFD's transmit grid
// (less than one bfd.GridStep late), so that every port's MKPDUs leave in
// the bursts of the lab's BFD packets instead of waking the lab on their
// own; a short wait (a step of the protocol under way) is kept exact.
func mkaWait(now, next time.Time) time.Duration {
	d := next.Sub(now)
	if d < 4*bfd.GridStep {
		return max(d, time.Millisecond)
	}
	step := int64(bfd.GridStep)
	return time.Duration((next.UnixNano()+step-1)/step*step - now.UnixNano())
}

func (p *Port) wakeMKA() {
	select {
	case p.mkaWake <- struct{}{}:
	default:
	}
}

// nudge wakes driveMKA if kay's next timer is now earlier than the one it
// sleeps for.
func (p *Port) nudge(kay *mka.Participant) {
	if kay.NextTick().UnixNano() < p.mkaNext.Load() {
		p.wakeMKA()
	}
}

// Rekey makes the port's participant distribute a new SAK if it is the key
// server.
func (p *Port) Rekey() error {
	p.mu.Lock()
	kay := p.kay
	p.mu.Unlock()
	if kay == nil {
		return fmt.Errorf("%s:%s: MACsec is off", p.cfg.Node, p.cfg.Name)
	}
	defer p.nudge(kay)
	return kay.Rekey(p.clk.Now())
}

// PortStatus is a snapshot for display.
type PortStatus struct {
	Node       string               `json:"node"`
	Name       string               `json:"name"`
	Link       string               `json:"link"`
	TAP        string               `json:"tap"`
	Wire       string               `json:"wire"`
	HostWire   bool                 `json:"hostWire,omitempty"`
	Device     string               `json:"device,omitempty"`
	SCI        macsec.SCI           `json:"sci"`
	MACsec     bool                 `json:"macsec"`
	Suite      macsec.CipherSuite   `json:"suite,omitempty"`
	IncludeSCI bool                 `json:"includeSCI,omitempty"` // Azure's sciState Enabled
	Impairment dataplane.Impairment `json:"impairment"`
	Dataplane  dataplane.PortStats  `json:"dataplane"`
	SecY       *macsec.Status       `json:"secY,omitempty"`
	MKA        *mka.Status          `json:"mka,omitempty"`
	MKACounter *mka.Counters        `json:"mkaCounters,omitempty"`
}

// Status takes a snapshot of the port.
func (p *Port) Status() PortStatus {
	s := PortStatus{
		Node: p.cfg.Node, Name: p.cfg.Name, Link: p.cfg.Link, TAP: p.cfg.TAP, Wire: p.cfg.Wire, HostWire: p.cfg.HostWire, Device: p.cfg.Device, SCI: p.SCI(),
		Impairment: p.dp.Impairment(), Dataplane: p.dp.Stats(),
	}
	p.mu.Lock()
	kay, mc := p.kay, p.mc
	p.mu.Unlock()
	if y := p.dp.SecY(); y != nil && mc != nil {
		st := y.Status()
		s.MACsec, s.Suite, s.IncludeSCI, s.SecY = true, mc.Suite, mc.IncludeSCI, &st
	}
	if kay != nil {
		ms, mcnt := kay.Status(), kay.Counters()
		s.MKA, s.MKACounter = &ms, &mcnt
	}
	return s
}
