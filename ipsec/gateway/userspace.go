package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/ipsec"
)

// UserspaceConfig places a userspace data plane in a network namespace.
type UserspaceConfig struct {
	Namespace string         // where the TUN and the socket live ("" = the caller's)
	TUNName   string         // default "ipsec0"
	Local     netip.AddrPort // the local end of ESP in UDP (port 0: 4500)
	Remote    netip.AddrPort // the peer gateway (port 0: 4500)
	MSS       int            // clamp TCP SYNs to this MSS (0: DefaultMSS, <0: off)
}

// Userspace is the userspace backend: ESP on a TUN device for the
// protected prefixes and a UDP socket to the peer gateway (RFC 3948).
// Packets are read and written in batches into buffers it owns, and
// sealed or opened in place: no allocation per packet.
type Userspace struct {
	cfg UserspaceConfig
	sad ipsec.SAD
	spd ipsec.SPD
	tun frameio.Device // a frameio.TUN, with TSO both ways if the kernel allows
	udp espConn        // a frameio.UDP
	mss uint16

	closeOnce sync.Once
	stats     pathCounters

	// onIKE, if set, takes the IKE messages that arrive on the ESP-in-UDP
	// port behind the non-ESP marker (RFC 3948 §2.2), marker removed; the
	// slice is the callee's.
	onIKE atomic.Pointer[func([]byte)]
}

var _ ipsec.Backend = (*Userspace)(nil)

// espConn is what the data path needs of its socket to the peer: a
// frameio.UDP, or a frameio.PipeEnd in tests.
type espConn interface {
	ReadSegments(bufs [][]byte, sizes, segs []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
	BatchSize() int
	Close() error
}

// newUserspace is a userspace backend on the devices given, with cfg's
// defaults filled in.
func newUserspace(cfg UserspaceConfig, open func(*UserspaceConfig) (frameio.Device, espConn, error)) (*Userspace, error) {
	if cfg.TUNName == "" {
		cfg.TUNName = "ipsec0"
	}
	if cfg.Local.Port() == 0 {
		cfg.Local = netip.AddrPortFrom(cfg.Local.Addr(), ipsec.UDPEncapPort)
	}
	if cfg.Remote.Port() == 0 {
		cfg.Remote = netip.AddrPortFrom(cfg.Remote.Addr(), ipsec.UDPEncapPort)
	}
	if !cfg.Local.Addr().IsValid() || !cfg.Remote.Addr().IsValid() {
		return nil, fmt.Errorf("userspace ESP: needs local and remote gateway addresses (got %v, %v)", cfg.Local, cfg.Remote)
	}
	u := &Userspace{cfg: cfg}
	switch {
	case cfg.MSS == 0:
		u.mss = ipsec.DefaultMSS
	case cfg.MSS > 0:
		u.mss = uint16(cfg.MSS)
	}
	var err error
	if u.tun, u.udp, err = open(&u.cfg); err != nil {
		return nil, err
	}
	return u, nil
}

type pathCounters struct {
	tx, rx, noPolicy, noSA, sealFailed, clamped, notESP atomic.Uint64
	drops                                               [ipsec.NumResults]atomic.Uint64
}

// Name returns "userspace".
func (u *Userspace) Name() string { return ipsec.BackendUserspace }

// TUNName is the name of the TUN device.
func (u *Userspace) TUNName() string { return u.cfg.TUNName }

// AddSA keys an SA and adds it to the SAD.
func (u *Userspace) AddSA(cfg ipsec.SAConfig) error {
	sa, err := ipsec.NewSA(cfg)
	if err != nil {
		return err
	}
	if cfg.Encap != ipsec.EncapUDP {
		return fmt.Errorf("SA %#x: the userspace backend carries ESP in UDP only (RFC 3948); set Encap to EncapUDP", cfg.SPI)
	}
	return u.sad.Add(sa)
}

// SwapOutbound keys an outbound SA and puts it in place of the outbound
// SA of its reqid in one step, zeroing the one it replaces: a
// make-before-break rekey's switch.
func (u *Userspace) SwapOutbound(cfg ipsec.SAConfig) error {
	sa, err := ipsec.NewSA(cfg)
	if err != nil {
		return err
	}
	old, err := u.sad.Swap(sa)
	if old != nil {
		old.Zero()
	}
	return err
}

// OnIKE hands the IKE messages that arrive on the ESP-in-UDP socket to fn
// (nil: they are counted and dropped).
func (u *Userspace) OnIKE(fn func(msg []byte)) { u.onIKE.Store(&fn) }

// SendIKE sends an IKE message to the peer from the ESP-in-UDP port,
// behind the non-ESP marker.
func (u *Userspace) SendIKE(msg []byte) error {
	s, ok := u.udp.(interface{ Send([]byte) error })
	if !ok {
		return fmt.Errorf("userspace ESP: the socket cannot send IKE")
	}
	return s.Send(append(make([]byte, 4, 4+len(msg)), msg...))
}

// DelSA removes an SA and zeroes its keys.
func (u *Userspace) DelSA(spi uint32, dst netip.Addr) error {
	sa, err := u.sad.Del(spi, dst)
	if err == nil {
		sa.Zero()
	}
	return err
}

func (u *Userspace) AddPolicy(p ipsec.Policy) error                        { return u.spd.Add(p) }
func (u *Userspace) DelPolicy(sel ipsec.Selector, d ipsec.Direction) error { return u.spd.Del(sel, d) }
func (u *Userspace) Policies() ([]ipsec.Policy, error)                     { return u.spd.List(), nil }

// States reports the SAs.
func (u *Userspace) States() ([]ipsec.State, error) {
	var st []ipsec.State
	for _, sa := range u.sad.List() {
		st = append(st, ipsec.StateOf(sa))
	}
	return st, nil
}

// SAD and SPD give the tables themselves, for tests and status.
func (u *Userspace) SAD() *ipsec.SAD { return &u.sad }
func (u *Userspace) SPD() *ipsec.SPD { return &u.spd }

// Stats returns the data path's counters.
func (u *Userspace) Stats() DataPathStats {
	c := &u.stats
	s := DataPathStats{
		TxPackets: c.tx.Load(), RxPackets: c.rx.Load(), NoPolicy: c.noPolicy.Load(), NoSA: c.noSA.Load(),
		SealFailed: c.sealFailed.Load(), MSSClamped: c.clamped.Load(), NotESP: c.notESP.Load(),
	}
	for i := range s.Drops {
		s.Drops[i] = c.drops[i].Load()
	}
	if c, ok := u.udp.(interface{ Stats() frameio.SocketStats }); ok {
		us := c.Stats()
		s.Truncated, s.UDPGSOSends, s.UDPGRORecvs = us.Truncated, us.GSOSends, us.GRORecvs
	}
	if t, ok := u.tun.(interface {
		Stats() frameio.TUNStats
		Offload() bool
	}); ok {
		ts := t.Stats()
		s.TUNRefused = ts.Refused
		s.TUNOffload = t.Offload()
		s.TUNReads, s.SuperPackets, s.Segments = ts.Reads, ts.SuperFrames, ts.Segments
		s.TUNWrites, s.Coalesced, s.TUNBad = ts.Writes, ts.Coalesced, ts.Bad
	}
	return s
}

// Close stops the data path and closes the TUN (which takes its routes
// with it) and the socket; the SAs' keys are zeroed.
func (u *Userspace) Close() error {
	u.closeOnce.Do(func() {
		u.tun.Close()
		u.udp.Close()
		for _, sa := range u.sad.List() {
			sa.Zero()
		}
	})
	return nil
}

// bufSize holds the largest datagram the path accepts with the headroom
// Seal and Open need: an inner packet of a jumbo MTU.
const bufSize = ipsec.Headroom + 9216 + ipsec.Tailroom

// rxSlots is how many datagrams one recvmmsg takes on the inbound path,
// and rxBufSize the buffer of each: with UDP_GRO a buffer holds a run of
// ESP packets of up to 64 KiB.
const (
	rxSlots   = 64
	rxBufSize = ipsec.Headroom + 65535 + 1
	// maxGSOSegs is the most datagrams a UDP_GRO buffer holds (the
	// kernel's UDP_MAX_SEGMENTS, 64 before Linux 6.11).
	maxGSOSegs = 64
)

// Run moves packets both ways until ctx is done or the device fails.
func (u *Userspace) Run(ctx context.Context) error {
	return frameio.Run(ctx, func() { u.Close() }, u.outbound, u.inbound)
}

// outbound reads inner packets from the TUN, seals them and sends them.
func (u *Userspace) outbound() error {
	b := frameio.NewBatch(u.tun.BatchSize(), bufSize, u.udp.BatchSize())
	for {
		n, err := u.tun.Read(b.Bufs, b.Sizes, ipsec.Headroom)
		if err != nil {
			return err
		}
		b.Out = b.Out[:0]
		for i := range n {
			if esp := u.sealOne(b.Bufs[i], b.Sizes[i]); esp != nil {
				b.Out = append(b.Out, esp)
			}
		}
		if len(b.Out) == 0 {
			continue
		}
		sent, err := u.udp.Write(b.Out, 0)
		u.stats.tx.Add(uint64(sent))
		clear(b.Out) // keep no buffer alive through the slice
		if err != nil {
			return err
		}
	}
}

func (u *Userspace) sealOne(buf []byte, n int) []byte {
	pkt := buf[ipsec.Headroom : ipsec.Headroom+n]
	f, ok := ipsec.ParseFlow(pkt)
	if !ok {
		u.stats.noPolicy.Add(1)
		return nil
	}
	p := u.spd.Lookup(ipsec.DirOut, &f)
	if p == nil || p.Action != ipsec.ActionProtect {
		// Nothing leaves the TUN in clear: it is only for protected traffic.
		u.stats.noPolicy.Add(1)
		return nil
	}
	sa := u.sad.Outbound(p.Tmpl.ReqID)
	if sa == nil {
		u.stats.noSA.Add(1)
		return nil
	}
	if u.mss != 0 && ipsec.ClampMSS(pkt, u.mss) {
		u.stats.clamped.Add(1)
	}
	nh := byte(ipsec.NextHeaderIPv4)
	if f.Dst.Is6() {
		nh = ipsec.NextHeaderIPv6
	}
	esp, err := sa.Seal(buf, ipsec.Headroom, n, nh)
	if err != nil {
		u.stats.sealFailed.Add(1)
		return nil
	}
	return esp
}

// inbound receives ESP in UDP, opens it and writes the inner packets to
// the TUN. A buffer received with UDP_GRO holds a run of ESP packets back
// to back: each is opened in place, so that the inner packets stay where
// they are until the TUN write.
func (u *Userspace) inbound() error {
	b := frameio.NewBatch(rxSlots, rxBufSize, rxSlots*2*maxGSOSegs)
	local, remote := u.cfg.Local.Addr(), u.cfg.Remote.Addr()
	for {
		n, err := u.udp.ReadSegments(b.Bufs, b.Sizes, b.Segs, ipsec.Headroom)
		if err != nil {
			return err
		}
		b.Out = b.Out[:0]
		for i := range n {
			buf, size, seg := b.Bufs[i], b.Sizes[i], b.Segs[i]
			if seg == 0 {
				seg = size
			}
			for off := 0; off < size; off += seg {
				if len(b.Out) == cap(b.Out) {
					break // cannot happen: a run is at most 128 datagrams (UDP_MAX_SEGMENTS)
				}
				if inner := u.openAt(buf, ipsec.Headroom+off, min(seg, size-off), local, remote); inner != nil {
					b.Out = append(b.Out, inner)
				}
			}
		}
		if len(b.Out) == 0 {
			continue
		}
		w, err := u.tun.Write(b.Out, 0)
		u.stats.rx.Add(uint64(w))
		clear(b.Out)
		if err != nil {
			return err
		}
	}
}

// openAt opens the ESP packet buf[off:off+n]. Open takes ipsec.ScratchLen
// octets before the packet: past the first packet of a run they belong
// to the packet before (its trailer and ICV, perhaps the end of its inner
// packet, already opened), so they are put back afterwards.
func (u *Userspace) openAt(buf []byte, off, n int, local, remote netip.Addr) []byte {
	if off == ipsec.Headroom {
		return u.openOne(buf, off, n, local, remote)
	}
	var saved [ipsec.ScratchLen]byte
	copy(saved[:], buf[off-ipsec.ScratchLen:off])
	inner := u.openOne(buf, off, n, local, remote)
	copy(buf[off-ipsec.ScratchLen:off], saved[:])
	return inner
}

func (u *Userspace) openOne(buf []byte, off, n int, local, remote netip.Addr) []byte {
	d := buf[off : off+n]
	if k := ipsec.ClassifyUDP(d); k != ipsec.UDPESP {
		if fn := u.onIKE.Load(); k == ipsec.UDPIKE && fn != nil && *fn != nil {
			(*fn)(bytes.Clone(d[4:]))
			return nil
		}
		u.stats.notESP.Add(1) // IKE and keepalives are the key exchange's, not ours
		return nil
	}
	spi := uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3])
	sa := u.sad.Inbound(spi, local, remote)
	if sa == nil {
		u.stats.drops[ipsec.NoSA].Add(1)
		return nil
	}
	inner, r := sa.Open(buf, off, n)
	if r != ipsec.OK {
		u.stats.drops[r].Add(1)
		return nil
	}
	// The inner packet must be one the SA's policy admits (RFC 4301 §5.2):
	// a peer cannot use its SA to inject traffic for other prefixes.
	f, ok := ipsec.ParseFlow(inner)
	p := u.spd.Lookup(ipsec.DirIn, &f)
	if !ok || p == nil || p.Action != ipsec.ActionProtect || p.Tmpl.ReqID != sa.ReqID() {
		if p = u.spd.Lookup(ipsec.DirFwd, &f); !ok || p == nil || p.Action != ipsec.ActionProtect || p.Tmpl.ReqID != sa.ReqID() {
			u.stats.drops[ipsec.PolicyMismatch].Add(1)
			return nil
		}
	}
	if u.mss != 0 && ipsec.ClampMSS(inner, u.mss) {
		u.stats.clamped.Add(1)
	}
	return inner
}
