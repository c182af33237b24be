package dataplane

import (
	"encoding/binary"
	"fmt"

	"github.com/secylab/secylab/internal/frameio"
)

// TPIDs of the VLAN tags a port adds: 802.1Q's C-tag and 802.1ad's S-tag.
const (
	TPIDCTag = 0x8100
	TPIDSTag = 0x88A8
)

// MaxTags is the longest tag stack a port adds: S-tag and C-tag.
const MaxTags = 8

// VLAN is a tagged sub-interface of a port (an ExpressRoute peering): the
// frames its device sends are tagged on the way to the SecY, and the
// frames that arrive with its tags are untagged and delivered to it.
// STag 0 means 802.1Q (one C-tag); otherwise 802.1ad QinQ (S-tag, then
// C-tag).
type VLAN struct {
	STag, CTag uint16
	Dev        frameio.Device
}

// String names the tags as tshark shows them.
func (v VLAN) String() string {
	if v.STag == 0 {
		return fmt.Sprintf("802.1Q VID %d", v.CTag)
	}
	return fmt.Sprintf("802.1ad S-VID %d, 802.1Q VID %d", v.STag, v.CTag)
}

// TagLen is the octets the tags add to a frame.
func (v VLAN) TagLen() int {
	if v.STag == 0 {
		return 4
	}
	return 8
}

// putTags writes the tag stack (TPIDs and TCIs, priority 0) into b.
func (v VLAN) putTags(b []byte) {
	if v.STag != 0 {
		binary.BigEndian.PutUint16(b, TPIDSTag)
		binary.BigEndian.PutUint16(b[2:], v.STag)
		b = b[4:]
	}
	binary.BigEndian.PutUint16(b, TPIDCTag)
	binary.BigEndian.PutUint16(b[2:], v.CTag)
}

// Tag inserts v's tags after the addresses of the frame at
// buf[off:off+n], in place: the frame then starts v.TagLen() octets
// earlier, which off must leave room for. It returns the tagged frame's
// offset and length.
func (v VLAN) Tag(buf []byte, off, n int) (int, int) {
	tl := v.TagLen()
	start := off - tl
	copy(buf[start:start+12], buf[off:off+12])
	v.putTags(buf[start+12 : off+12])
	return start, n + tl
}

// vlanKey identifies a tag stack: S-VID (0 for none) and C-VID.
type vlanKey struct{ s, c uint16 }

// parseTags returns the tag stack of an Ethernet frame and its length: 0
// for an untagged frame, -1 for one whose tags are malformed or cut short,
// or an S-tag without a C-tag behind it.
func parseTags(frame []byte) (vlanKey, int) {
	if len(frame) < 14 {
		return vlanKey{}, -1
	}
	switch binary.BigEndian.Uint16(frame[12:]) {
	case TPIDCTag:
		if len(frame) < 18 {
			return vlanKey{}, -1
		}
		return vlanKey{c: binary.BigEndian.Uint16(frame[14:]) & 0x0fff}, 4
	case TPIDSTag:
		if len(frame) < 22 || binary.BigEndian.Uint16(frame[16:]) != TPIDCTag {
			return vlanKey{}, -1
		}
		return vlanKey{s: binary.BigEndian.Uint16(frame[14:]) & 0x0fff, c: binary.BigEndian.Uint16(frame[18:]) & 0x0fff}, 8
	}
	return vlanKey{}, 0
}

// untag drops the tl octets of tags after the addresses, in place.
func untag(frame []byte, tl int) []byte {
	copy(frame[tl:tl+12], frame[:12])
	return frame[tl:]
}

// sub is a VLAN of a running port with its receive-side batch.
type sub struct {
	VLAN
	key vlanKey
	out [][]byte
}

// SetVLANs gives the port its tagged sub-interfaces. Call it before Run;
// with none, the port passes every frame unchanged (as a port without
// circuits does). With some, a tagged frame from the wire whose tags are
// not one of them is dropped and counted (RxUnknownVLAN); untagged frames
// still go to the port's own controlled device.
func (p *Port) SetVLANs(vs []VLAN) {
	p.subs = make([]*sub, len(vs))
	for i, v := range vs {
		p.subs[i] = &sub{VLAN: v, key: vlanKey{v.STag, v.CTag}, out: make([][]byte, 0, p.wire.BatchSize())}
	}
}

// subFor returns the sub-interface for tags k, or nil. Ports carry a few
// peerings, so a scan beats a map.
func (p *Port) subFor(k vlanKey) *sub {
	for _, s := range p.subs {
		if s.key == k {
			return s
		}
	}
	return nil
}

// vlanTransmit returns the transmit loop of sub-interface s.
func (p *Port) vlanTransmit(s *sub) func() error {
	return func() error { return p.transmitFrom(s.Dev, &s.VLAN) }
}
