package dataplane

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// Mirror receives a copy of the frames that pass one side of a port, as a
// switch's port mirror does, for capture. It must not keep frame after
// returning.
type Mirror interface {
	Capture(ts time.Time, frame []byte)
}

// Side names where a Mirror listens.
type Side int

const (
	Wire  Side = iota // the veth: ciphertext once MACsec is on
	Clear             // the controlled port: what the node's IP stack sees
)

// PortStats counts frames through a port.
type PortStats struct {
	TxFrames     uint64 // controlled port → wire
	TxDropped    uint64 // not sent: the SecY refused (no SA, PN exhausted, too long)
	RxFrames     uint64 // wire → controlled port
	RxDropped    uint64 // received and not delivered (see the SecY counters for why)
	KaYRxFrames  uint64 // EAPOL frames handed to the key agreement
	KaYTxFrames  uint64
	Impair       ImpairStats
	WireTruncate uint64 // frames too long for the receive buffers
	// RxUnknownVLAN counts tagged frames from the wire whose tags are no
	// sub-interface's (or are malformed), dropped, on a port with VLANs.
	RxUnknownVLAN uint64
}

// Port joins a controlled port to the wire through a SecY.
type Port struct {
	name string
	ctrl frameio.Device
	wire frameio.Device
	// wireMu serialises the wire's senders (the transmitters, the shaper,
	// the KaY). A transmitter (its own device's or a VLAN's) holds it from
	// protection to the wire, so that PNs leave in order: a receiver with
	// replay window 0 drops a frame that arrives after one with a higher PN.
	wireMu sync.Mutex
	secy   atomic.Pointer[macsec.SecY]
	kay    atomic.Pointer[func([]byte)]
	mirror [2]atomic.Pointer[Mirror]
	shaper *shaper
	subs   []*sub // tagged sub-interfaces (SetVLANs)

	txFrames, txDropped, rxFrames, rxDropped, kayRx, kayTx, rxUnknownVLAN atomic.Uint64
}

// NewPort joins ctrl (the TAP) and wire (the veth). secy may be nil: MACsec
// off, frames pass unchanged. seed makes impairment losses reproducible.
func NewPort(name string, ctrl, wire frameio.Device, secy *macsec.SecY, seed uint64) *Port {
	p := &Port{name: name, ctrl: ctrl, wire: wire}
	p.secy.Store(secy)
	p.shaper = newShaper(lockedWriter{p}, MaxFrame, seed)
	return p
}

// lockedWriter serialises writes to the wire.
type lockedWriter struct{ p *Port }

func (w lockedWriter) Write(frames [][]byte, offset int) (int, error) {
	w.p.wireMu.Lock()
	defer w.p.wireMu.Unlock()
	return w.p.wire.Write(frames, offset)
}

// Name names the port.
func (p *Port) Name() string { return p.name }

// SecY returns the SecY in use, or nil when MACsec is off.
func (p *Port) SecY() *macsec.SecY { return p.secy.Load() }

// SetSecY switches MACsec on (with a new SecY) or off (nil) while traffic
// flows.
func (p *Port) SetSecY(y *macsec.SecY) { p.secy.Store(y) }

// SetKaY sets the receiver of EAPOL frames from the wire; nil drops them.
// The function must not keep the frame after returning.
func (p *Port) SetKaY(f func(frame []byte)) {
	if f == nil {
		p.kay.Store(nil)
		return
	}
	p.kay.Store(&f)
}

// SendKaY transmits a frame of the key agreement on the wire, outside the
// SecY (and outside the impairments' queue, but not their loss and cuts).
// A wire capture sees it as it sees the forwarded frames: before the
// impairments.
func (p *Port) SendKaY(frame []byte) error {
	p.capture(Wire, frame, new(time.Time))
	frames := [][]byte{frame}
	frames = p.shaper.filter(frames)
	if len(frames) == 0 {
		return nil
	}
	if _, err := (lockedWriter{p}).Write(frames, 0); err != nil {
		return fmt.Errorf("port %s: send MKPDU: %w", p.name, err)
	}
	p.kayTx.Add(1)
	return nil
}

// SetImpairment changes what the wire does to frames this port sends.
func (p *Port) SetImpairment(im Impairment) { p.shaper.set(im) }

// Impairment returns the impairment in force.
func (p *Port) Impairment() Impairment { return *p.shaper.cfg.Load() }

// SetMirror starts (m != nil) or stops mirroring one side of the port.
func (p *Port) SetMirror(side Side, m Mirror) {
	if m == nil {
		p.mirror[side].Store(nil)
		return
	}
	p.mirror[side].Store(&m)
}

// capture hands frame to side's mirror, if any, stamped *ts: the time
// of its batch (the frames of one system call), read from the clock by
// the batch's first captured frame, so never while nothing captures.
func (p *Port) capture(side Side, frame []byte, ts *time.Time) {
	if m := p.mirror[side].Load(); m != nil {
		if ts.IsZero() {
			*ts = time.Now()
		}
		(*m).Capture(*ts, frame)
	}
}

// Stats returns the port's counters.
func (p *Port) Stats() PortStats {
	s := PortStats{
		TxFrames: p.txFrames.Load(), TxDropped: p.txDropped.Load(),
		RxFrames: p.rxFrames.Load(), RxDropped: p.rxDropped.Load(),
		KaYRxFrames: p.kayRx.Load(), KaYTxFrames: p.kayTx.Load(),
		Impair: p.shaper.stats(), RxUnknownVLAN: p.rxUnknownVLAN.Load(),
	}
	if ps, ok := p.wire.(interface{ Stats() frameio.SocketStats }); ok {
		s.WireTruncate = ps.Stats().Truncated
	}
	return s
}

// Run forwards frames both ways until ctx ends or a device fails. It
// closes both devices when it returns.
func (p *Port) Run(ctx context.Context) error {
	stop := make(chan struct{})
	go p.shaper.run(stop)
	loops := []func() error{p.transmit, p.receive}
	for _, s := range p.subs {
		loops = append(loops, p.vlanTransmit(s))
	}
	err := frameio.Run(ctx, func() {
		close(stop)
		p.ctrl.Close()
		p.wire.Close()
		for _, s := range p.subs {
			s.Dev.Close()
		}
	}, loops...)
	if err != nil {
		return fmt.Errorf("port %s: %w", p.name, err)
	}
	return nil
}

// newBatch allocates a port direction's buffers once: a device's batch
// of size octets each.
func newBatch(d frameio.Device, size int) (bufs [][]byte, sizes []int, out [][]byte) {
	b := frameio.NewBatch(d.BatchSize(), size, d.BatchSize())
	return b.Bufs, b.Sizes, b.Out
}

// transmit moves frames from the controlled port to the wire, protecting
// them when MACsec is on.
func (p *Port) transmit() error { return p.transmitFrom(p.ctrl, nil) }

// transmitFrom moves frames from a controlled device to the wire, tagged
// with v's tags when v is not nil (before protection: the tags are
// secure data) and protected when MACsec is on.
func (p *Port) transmitFrom(dev frameio.Device, v *VLAN) error {
	// A frame is read behind room for its tags, so that tagged or not it
	// starts macsec.Headroom into its buffer: the same layout (and
	// alignment of the secure data) for every device.
	readOff := macsec.Headroom
	if v != nil {
		readOff += v.TagLen()
	}
	bufs, sizes, out := newBatch(dev, macsec.Headroom+MaxTags+MaxFrame+macsec.ICVLen)
	for {
		n, err := dev.Read(bufs, sizes, readOff)
		if err != nil {
			return err
		}
		var ts time.Time
		p.wireMu.Lock()
		y := p.secy.Load()
		off, out := readOff, out[:n]
		for i := range n {
			if v != nil {
				off, sizes[i] = v.Tag(bufs[i], readOff, sizes[i])
			}
			out[i] = bufs[i][off : off+sizes[i]]
			p.capture(Clear, out[i], &ts)
		}
		if y != nil { // the whole read in one batch: its PNs and counters at once
			if sent, _ := y.ProtectBatch(bufs[:n], off, sizes[:n], out); sent < n {
				p.txDropped.Add(uint64(n - sent))
			}
		}
		out = slices.DeleteFunc(out, func(f []byte) bool { return f == nil })
		for _, f := range out {
			p.capture(Wire, f, &ts)
		}
		if out = p.shaper.filter(out); len(out) == 0 {
			p.wireMu.Unlock()
			continue
		}
		sent, err := p.wire.Write(out, 0)
		p.wireMu.Unlock()
		p.txFrames.Add(uint64(sent))
		if err != nil {
			return err
		}
	}
}

// receive moves frames from the wire to the controlled port, validating
// them when MACsec is on, and hands EAPOL frames to the key agreement.
func (p *Port) receive() error {
	// Frames land rxOffset octets into their buffers: Validate keeps its IV
	// there instead of taking it from a pool.
	const rxOffset = macsec.RxHeadroom
	bufs, sizes, out := newBatch(p.wire, rxOffset+MaxFrame)
	// The frames of a read for the SecY, validated in one batch.
	secBufs, secSizes := make([][]byte, 0, len(bufs)), make([]int, 0, len(bufs))
	secOut, results := make([][]byte, len(bufs)), make([]macsec.Result, len(bufs))
	for {
		n, err := p.wire.Read(bufs, sizes, rxOffset)
		if err != nil {
			return err
		}
		out = out[:0]
		var ts time.Time
		y := p.secy.Load()
		secBufs, secSizes = secBufs[:0], secSizes[:0]
		for i := 0; i < n; i++ {
			frame := bufs[i][rxOffset : rxOffset+sizes[i]]
			p.capture(Wire, frame, &ts)
			if len(frame) >= 14 && binary.BigEndian.Uint16(frame[12:]) == mka.EtherTypeEAPOL { // MKA belongs to the uncontrolled port
				if kay := p.kay.Load(); kay != nil {
					p.kayRx.Add(1)
					(*kay)(frame)
					continue
				}
				if y != nil {
					continue // MKA without a KaY goes nowhere
				}
			}
			if y != nil {
				secBufs, secSizes = append(secBufs, bufs[i]), append(secSizes, sizes[i])
				continue
			}
			out = p.toClear(frame, out, &ts)
		}
		if m := len(secBufs); m > 0 {
			y.ValidateBatch(secBufs, rxOffset, secSizes, secOut, results)
			dropped := 0
			for i, frame := range secOut[:m] {
				switch r := results[i]; {
				case r == macsec.KaY:
					if kay := p.kay.Load(); kay != nil {
						p.kayRx.Add(1)
						(*kay)(frame)
					}
				case !r.Delivered():
					dropped++
				default:
					out = p.toClear(frame, out, &ts)
				}
			}
			if dropped > 0 {
				p.rxDropped.Add(uint64(dropped))
			}
		}
		if err := p.deliver(p.ctrl, out); err != nil {
			return err
		}
		for _, s := range p.subs {
			err := p.deliver(s.Dev, s.out)
			s.out = s.out[:0]
			if err != nil {
				return err
			}
		}
	}
}

// toClear passes a received frame to the controlled side: appended to out,
// or to its VLAN's sub-interface.
func (p *Port) toClear(frame []byte, out [][]byte, ts *time.Time) [][]byte {
	p.capture(Clear, frame, ts)
	if len(p.subs) > 0 {
		if k, tl := parseTags(frame); tl != 0 {
			if s := p.subFor(k); s != nil {
				s.out = append(s.out, untag(frame, tl))
			} else {
				p.rxUnknownVLAN.Add(1)
			}
			return out
		}
	}
	return append(out, frame)
}

// deliver writes received frames to a controlled device.
func (p *Port) deliver(dev frameio.Device, frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}
	sent, err := dev.Write(frames, 0)
	p.rxFrames.Add(uint64(sent))
	return err
}

// Counters lists the port's counters in declaration order, the
// impairment's as ImpairLost, ImpairDown, ImpairOverflow, ImpairDelayed.
func (s PortStats) Counters() []macsec.Counter {
	return []macsec.Counter{
		{Name: "TxFrames", Value: s.TxFrames},
		{Name: "TxDropped", Value: s.TxDropped},
		{Name: "RxFrames", Value: s.RxFrames},
		{Name: "RxDropped", Value: s.RxDropped},
		{Name: "KaYRxFrames", Value: s.KaYRxFrames},
		{Name: "KaYTxFrames", Value: s.KaYTxFrames},
		{Name: "ImpairLost", Value: s.Impair.Lost},
		{Name: "ImpairDown", Value: s.Impair.Down},
		{Name: "ImpairOverflow", Value: s.Impair.Overflow},
		{Name: "ImpairDelayed", Value: s.Impair.Delayed},
		{Name: "WireTruncate", Value: s.WireTruncate},
		{Name: "RxUnknownVLAN", Value: s.RxUnknownVLAN},
	}
}
