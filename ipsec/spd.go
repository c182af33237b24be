package ipsec

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Selector says which packets a policy is for, as xfrm's selector: source
// and destination prefixes, and optionally the IP protocol and ports.
type Selector struct {
	Src, Dst         netip.Prefix
	Proto            uint8  // 0: any
	SrcPort, DstPort uint16 // 0: any (TCP, UDP and SCTP only)
}

func (s Selector) String() string {
	str := fmt.Sprintf("src %v dst %v", s.Src, s.Dst)
	if s.Proto != 0 {
		str += fmt.Sprintf(" proto %d", s.Proto)
	}
	if s.SrcPort != 0 {
		str += fmt.Sprintf(" sport %d", s.SrcPort)
	}
	if s.DstPort != 0 {
		str += fmt.Sprintf(" dport %d", s.DstPort)
	}
	return str
}

// Flow is what a selector is matched against: the addresses, protocol
// and ports of a packet.
type Flow struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// ParseFlow reads the flow of an IPv4 or IPv6 packet without allocating.
// Ports are those of the first fragment's TCP, UDP or SCTP header, if
// there is one.
func ParseFlow(p []byte) (Flow, bool) {
	var f Flow
	var l4 []byte
	switch {
	case len(p) >= 20 && p[0]>>4 == 4:
		hl := int(p[0]&0x0F) * 4
		if hl < 20 || hl > len(p) {
			return f, false
		}
		f.Src = netip.AddrFrom4([4]byte(p[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(p[16:20]))
		f.Proto = p[9]
		if binary.BigEndian.Uint16(p[6:])&0x1FFF == 0 {
			l4 = p[hl:]
		}
	case len(p) >= 40 && p[0]>>4 == 6:
		f.Src = netip.AddrFrom16([16]byte(p[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(p[24:40]))
		f.Proto = p[6] // extension headers are not walked: selectors on them see the first header
		l4 = p[40:]
	default:
		return f, false
	}
	switch f.Proto {
	case 6, 17, 132:
		if len(l4) >= 4 {
			f.SrcPort = binary.BigEndian.Uint16(l4)
			f.DstPort = binary.BigEndian.Uint16(l4[2:])
		}
	}
	return f, true
}

// Match reports whether the flow is one the selector is for.
func (s *Selector) Match(f *Flow) bool {
	return s.Src.Contains(f.Src) && s.Dst.Contains(f.Dst) &&
		(s.Proto == 0 || s.Proto == f.Proto) &&
		(s.SrcPort == 0 || s.SrcPort == f.SrcPort) &&
		(s.DstPort == 0 || s.DstPort == f.DstPort)
}

// Action is what a policy does with the packets it selects.
type Action uint8

const (
	ActionProtect Action = iota // apply the template: ESP (xfrm "allow" with a tmpl)
	ActionBypass                // let it pass in clear (xfrm "allow" without a tmpl)
	ActionDiscard               // drop it (xfrm "block")
)

func (a Action) String() string {
	switch a {
	case ActionProtect:
		return "protect"
	case ActionBypass:
		return "bypass"
	case ActionDiscard:
		return "discard"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Template is the SA a protecting policy asks for (xfrm's tmpl).
type Template struct {
	Src, Dst netip.Addr // the tunnel endpoints
	Mode     Mode
	ReqID    uint32
}

// Policy is an SPD entry.
type Policy struct {
	Selector Selector
	Dir      Direction
	Priority uint32 // lower wins, as in xfrm
	Action   Action
	Tmpl     Template // with ActionProtect
}

// SPD is the security policy database. Lookups take no lock and allocate
// nothing; changes copy.
type SPD struct {
	mu   sync.Mutex
	snap atomic.Pointer[[]Policy]
}

func (d *SPD) load() []Policy {
	if p := d.snap.Load(); p != nil {
		return *p
	}
	return nil
}

// Add adds a policy; one with the same selector and direction is refused.
func (d *SPD) Add(p Policy) error {
	if !p.Selector.Src.IsValid() || !p.Selector.Dst.IsValid() {
		return fmt.Errorf("SPD: policy %v needs source and destination prefixes", p.Dir)
	}
	if p.Dir > DirFwd {
		return fmt.Errorf("SPD: direction %v: in, out or fwd", p.Dir)
	}
	if p.Action == ActionProtect && (!p.Tmpl.Src.IsValid() || !p.Tmpl.Dst.IsValid()) {
		return fmt.Errorf("SPD: protecting policy %v %v needs template endpoints", p.Selector, p.Dir)
	}
	if p.Action == ActionProtect && p.Tmpl.Mode == 0 {
		p.Tmpl.Mode = ModeTunnel
	}
	p.Selector.Src, p.Selector.Dst = p.Selector.Src.Masked(), p.Selector.Dst.Masked()
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.load()
	for _, o := range old {
		if o.Selector == p.Selector && o.Dir == p.Dir {
			return fmt.Errorf("SPD: a policy %v %v exists", p.Selector, p.Dir)
		}
	}
	ps := append(slices.Clone(old), p)
	// Priority first, then the more specific selector: the first match
	// of the sorted list is the one that applies.
	slices.SortStableFunc(ps, func(a, b Policy) int {
		if a.Priority != b.Priority {
			return int(int64(a.Priority) - int64(b.Priority))
		}
		return (b.Selector.Src.Bits() + b.Selector.Dst.Bits()) - (a.Selector.Src.Bits() + a.Selector.Dst.Bits())
	})
	d.snap.Store(&ps)
	return nil
}

// Del removes the policy with the selector and direction.
func (d *SPD) Del(sel Selector, dir Direction) error {
	sel.Src, sel.Dst = sel.Src.Masked(), sel.Dst.Masked()
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.load()
	i := slices.IndexFunc(old, func(p Policy) bool { return p.Selector == sel && p.Dir == dir })
	if i < 0 {
		return fmt.Errorf("SPD: no policy %v %v", sel, dir)
	}
	ps := slices.Delete(slices.Clone(old), i, i+1)
	d.snap.Store(&ps)
	return nil
}

// Lookup returns the policy that applies to a flow in a direction, or nil.
func (d *SPD) Lookup(dir Direction, f *Flow) *Policy {
	ps := d.load()
	for i := range ps {
		if ps[i].Dir == dir && ps[i].Selector.Match(f) {
			return &ps[i]
		}
	}
	return nil
}

// List returns the policies in the order they are matched.
func (d *SPD) List() []Policy { return slices.Clone(d.load()) }
