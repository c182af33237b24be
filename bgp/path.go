package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Origin is the ORIGIN path attribute (RFC 4271 §5.1.1); lower is preferred.
type Origin uint8

// ORIGIN values.
const (
	OriginIGP Origin = iota
	OriginEGP
	OriginIncomplete
)

func (o Origin) String() string {
	switch o {
	case OriginIGP:
		return "i"
	case OriginEGP:
		return "e"
	}
	return "?"
}

// ASSegment is one AS_PATH segment (RFC 4271 §4.3).
type ASSegment struct {
	Set  bool // AS_SET rather than AS_SEQUENCE
	ASNs []uint32
}

// ASPath is an AS_PATH of 4-octet AS numbers.
type ASPath []ASSegment

// Len is the path length used by best-path selection: each AS in a
// sequence counts one, a whole AS_SET counts one (RFC 4271 §9.1.2.2).
func (p ASPath) Len() int {
	n := 0
	for _, s := range p {
		if s.Set {
			n++
		} else {
			n += len(s.ASNs)
		}
	}
	return n
}

// First is the neighbouring AS, the leftmost in the path, or 0.
func (p ASPath) First() uint32 {
	if len(p) == 0 || len(p[0].ASNs) == 0 || p[0].Set {
		return 0
	}
	return p[0].ASNs[0]
}

// Contains reports whether asn appears anywhere in the path.
func (p ASPath) Contains(asn uint32) bool {
	for _, s := range p {
		if slices.Contains(s.ASNs, asn) {
			return true
		}
	}
	return false
}

// Prepend returns a new path with asn added n times at the front.
func (p ASPath) Prepend(asn uint32, n int) ASPath {
	if n <= 0 {
		return p
	}
	front := slices.Repeat([]uint32{asn}, n)
	out := make(ASPath, 0, len(p)+1)
	if len(p) > 0 && !p[0].Set && len(p[0].ASNs)+n <= 255 {
		out = append(out, ASSegment{ASNs: append(front, p[0].ASNs...)})
		return append(out, p[1:]...)
	}
	out = append(out, ASSegment{ASNs: front})
	return append(out, p...)
}

func (p ASPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		strs := make([]string, len(s.ASNs))
		for j, a := range s.ASNs {
			strs[j] = fmt.Sprint(a)
		}
		if s.Set {
			b.WriteString("{" + strings.Join(strs, ",") + "}")
		} else {
			b.WriteString(strings.Join(strs, " "))
		}
	}
	return b.String()
}

// Path is one route to a prefix with its attributes and where it came from.
type Path struct {
	Prefix    netip.Prefix
	NextHop   netip.Addr
	ASPath    ASPath
	Origin    Origin
	MED       uint32
	HasMED    bool
	LocalPref uint32
	// Communities (RFC 1997), each AS<<16 | value, as received: optional
	// transitive, so passed on unchanged.
	Communities []uint32

	// Source. Peer is invalid for a locally originated path.
	Peer     netip.Addr
	PeerASN  uint32
	PeerID   netip.Addr // the neighbour's BGP Identifier
	EBGP     bool
	Received int64 // monotonic order of arrival, for stable output only
}

// Local reports whether this speaker originated the path.
func (p *Path) Local() bool { return !p.Peer.IsValid() }

func (p *Path) clone() *Path {
	c := *p
	c.ASPath = slices.Clone(p.ASPath)
	c.Communities = slices.Clone(p.Communities)
	return &c
}

// sameAttrs reports whether two paths would be announced identically.
func sameAttrs(a, b *Path) bool {
	if a.NextHop != b.NextHop || a.Origin != b.Origin || a.HasMED != b.HasMED || a.MED != b.MED ||
		a.LocalPref != b.LocalPref || len(a.ASPath) != len(b.ASPath) || !slices.Equal(a.Communities, b.Communities) {
		return false
	}
	for i := range a.ASPath {
		if a.ASPath[i].Set != b.ASPath[i].Set || !slices.Equal(a.ASPath[i].ASNs, b.ASPath[i].ASNs) {
			return false
		}
	}
	return true
}
