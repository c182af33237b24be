package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Payload is one IKE payload. appendBody writes what follows the generic
// payload header.
type Payload interface {
	Type() PayloadType
	appendBody(b []byte) []byte
}

// decodePayload decodes the body of a payload of a known type, or returns
// nil, nil for a type it does not know.
func decodePayload(t PayloadType, b []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return parseSA(b)
	case PayloadKE:
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: KE payload of %d octets", ErrMalformed, len(b))
		}
		return &KE{Group: DHGroup(binary.BigEndian.Uint16(b)), Data: clone(b[4:])}, nil
	case PayloadIDi, PayloadIDr:
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: ID payload of %d octets", ErrMalformed, len(b))
		}
		return &ID{PType: t, IDType: IDType(b[0]), Data: clone(b[4:])}, nil
	case PayloadAUTH:
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: AUTH payload of %d octets", ErrMalformed, len(b))
		}
		return &Auth{Method: AuthMethod(b[0]), Data: clone(b[4:])}, nil
	case PayloadNonce:
		// 16 to 256 octets (RFC 7296 §3.9).
		if len(b) < 16 || len(b) > 256 {
			return nil, fmt.Errorf("%w: nonce of %d octets (16..256)", ErrMalformed, len(b))
		}
		return &Nonce{Data: clone(b)}, nil
	case PayloadNotify:
		return parseNotify(b)
	case PayloadDelete:
		return parseDelete(b)
	case PayloadVendorID:
		return &VendorID{Data: clone(b)}, nil
	case PayloadTSi, PayloadTSr:
		return parseTS(t, b)
	}
	return nil, nil
}

// ProtocolID names the protocol of a proposal, notify or delete
// (RFC 7296 §3.3.1).
type ProtocolID uint8

const (
	ProtoIKE ProtocolID = 1
	ProtoAH  ProtocolID = 2
	ProtoESP ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case 0:
		return "none"
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// SA is the Security Association payload: proposals in order of
// preference (RFC 7296 §3.3).
type SA struct {
	Proposals []Proposal
}

// Proposal is one proposal: a protocol, the sender's SPI for it and its
// transforms.
type Proposal struct {
	Num        uint8
	Protocol   ProtocolID
	SPI        []byte // 8 octets for an IKE SA rekey, 4 for ESP, none in IKE_SA_INIT
	Transforms []Transform
}

// Transform is one transform; KeyLength is the Key Length attribute in
// bits (0: none). A transform with an attribute this package does not
// know is kept with Unknown set, and is never chosen (RFC 7296 §3.3.6).
type Transform struct {
	Type      TransformType
	ID        uint16
	KeyLength uint16
	Unknown   bool
}

// AttrKeyLength is the Key Length attribute type (RFC 7296 §3.3.5).
const AttrKeyLength = 14

func (*SA) Type() PayloadType { return PayloadSA }

func (s *SA) appendBody(b []byte) []byte {
	for i, p := range s.Proposals {
		start := len(b)
		last := byte(2)
		if i == len(s.Proposals)-1 {
			last = 0
		}
		num := p.Num
		if num == 0 {
			num = uint8(i + 1)
		}
		b = append(b, last, 0, 0, 0, num, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j, t := range p.Transforms {
			ts := len(b)
			last := byte(3)
			if j == len(p.Transforms)-1 {
				last = 0
			}
			b = append(b, last, 0, 0, 0, byte(t.Type), 0, byte(t.ID>>8), byte(t.ID))
			if t.KeyLength != 0 {
				b = append(b, 0x80|AttrKeyLength>>8, AttrKeyLength&0xff, byte(t.KeyLength>>8), byte(t.KeyLength))
			}
			binary.BigEndian.PutUint16(b[ts+2:], uint16(len(b)-ts))
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

func parseSA(b []byte) (*SA, error) {
	s := &SA{}
	for more := true; more; {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: proposal truncated", ErrMalformed)
		}
		last, l := b[0], int(binary.BigEndian.Uint16(b[2:]))
		if (last != 0 && last != 2) || l < 8 || l > len(b) {
			return nil, fmt.Errorf("%w: proposal (last %d, length %d of %d)", ErrMalformed, last, l, len(b))
		}
		more = last == 2
		p := Proposal{Num: b[4], Protocol: ProtocolID(b[5])}
		spiLen, nt := int(b[6]), int(b[7])
		body := b[8:l]
		if spiLen > len(body) {
			return nil, fmt.Errorf("%w: proposal SPI of %d octets", ErrMalformed, spiLen)
		}
		p.SPI = clone(body[:spiLen])
		body = body[spiLen:]
		for i := 0; i < nt; i++ {
			t, n, err := parseTransform(body, i == nt-1)
			if err != nil {
				return nil, err
			}
			p.Transforms = append(p.Transforms, t)
			body = body[n:]
		}
		if len(body) != 0 {
			return nil, fmt.Errorf("%w: proposal %d: %d octets after its transforms", ErrMalformed, p.Num, len(body))
		}
		s.Proposals = append(s.Proposals, p)
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d octets after the last proposal", ErrMalformed, len(b))
	}
	return s, nil
}

func parseTransform(b []byte, lastExpected bool) (Transform, int, error) {
	if len(b) < 8 {
		return Transform{}, 0, fmt.Errorf("%w: transform truncated", ErrMalformed)
	}
	last, l := b[0], int(binary.BigEndian.Uint16(b[2:]))
	if l < 8 || l > len(b) || (last == 0) != lastExpected || (last != 0 && last != 3) {
		return Transform{}, 0, fmt.Errorf("%w: transform (last %d, length %d of %d)", ErrMalformed, last, l, len(b))
	}
	t := Transform{Type: TransformType(b[4]), ID: binary.BigEndian.Uint16(b[6:])}
	attrs := b[8:l]
	for len(attrs) > 0 {
		if len(attrs) < 4 {
			return Transform{}, 0, fmt.Errorf("%w: transform attribute truncated", ErrMalformed)
		}
		at := binary.BigEndian.Uint16(attrs)
		if at&0x8000 == 0 { // TLV
			n := 4 + int(binary.BigEndian.Uint16(attrs[2:]))
			if n > len(attrs) {
				return Transform{}, 0, fmt.Errorf("%w: transform attribute length", ErrMalformed)
			}
			t.Unknown = true
			attrs = attrs[n:]
			continue
		}
		if at&0x7fff == AttrKeyLength {
			t.KeyLength = binary.BigEndian.Uint16(attrs[2:])
		} else {
			t.Unknown = true
		}
		attrs = attrs[4:]
	}
	return t, l, nil
}

// DHGroup is a Diffie-Hellman group (transform type 4).
type DHGroup uint16

// KE is the Key Exchange payload.
type KE struct {
	Group DHGroup
	Data  []byte
}

func (*KE) Type() PayloadType { return PayloadKE }
func (k *KE) appendBody(b []byte) []byte {
	return append(append(b, byte(k.Group>>8), byte(k.Group), 0, 0), k.Data...)
}

// IDType is the type of an identification (RFC 7296 §3.5).
type IDType uint8

const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDERASN1DN  IDType = 9
	IDKeyID      IDType = 11
)

// ID is the Identification payload, IDi or IDr.
type ID struct {
	PType  PayloadType // PayloadIDi or PayloadIDr
	IDType IDType
	Data   []byte
}

func (id *ID) Type() PayloadType { return id.PType }
func (id *ID) appendBody(b []byte) []byte {
	return append(append(b, byte(id.IDType), 0, 0, 0), id.Data...)
}

// Body is what the AUTH of its sender covers: the ID payload without its
// generic header (RFC 7296 §2.15, RestOfInitIDPayload).
func (id *ID) Body() []byte { return id.appendBody(nil) }

// IPID is the identity of a gateway known by its address, as Azure's
// gateways are.
func IPID(t PayloadType, a netip.Addr) *ID {
	if a.Is4() {
		b := a.As4()
		return &ID{PType: t, IDType: IDIPv4Addr, Data: b[:]}
	}
	b := a.As16()
	return &ID{PType: t, IDType: IDIPv6Addr, Data: b[:]}
}

func (id *ID) String() string {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr:
		return string(id.Data)
	}
	return fmt.Sprintf("id(%d):%x", uint8(id.IDType), id.Data)
}

// AuthMethod is the method of an AUTH payload (RFC 7296 §3.8).
type AuthMethod uint8

const (
	AuthRSA           AuthMethod = 1
	AuthSharedKey     AuthMethod = 2 // Shared Key Message Integrity Code
	AuthDSS           AuthMethod = 3
	AuthDigitalSigned AuthMethod = 14
)

// Auth is the Authentication payload.
type Auth struct {
	Method AuthMethod
	Data   []byte
}

func (*Auth) Type() PayloadType { return PayloadAUTH }
func (a *Auth) appendBody(b []byte) []byte {
	return append(append(b, byte(a.Method), 0, 0, 0), a.Data...)
}

// Nonce is the Nonce payload.
type Nonce struct{ Data []byte }

func (*Nonce) Type() PayloadType            { return PayloadNonce }
func (n *Nonce) appendBody(b []byte) []byte { return append(b, n.Data...) }

// Notify is the Notify payload (RFC 7296 §3.10).
type Notify struct {
	Protocol ProtocolID
	SPI      []byte
	NType    NotifyType
	Data     []byte
}

func (*Notify) Type() PayloadType { return PayloadNotify }
func (n *Notify) appendBody(b []byte) []byte {
	b = append(b, byte(n.Protocol), byte(len(n.SPI)), byte(n.NType>>8), byte(n.NType))
	return append(append(b, n.SPI...), n.Data...)
}

func parseNotify(b []byte) (*Notify, error) {
	if len(b) < 4 || 4+int(b[1]) > len(b) {
		return nil, fmt.Errorf("%w: Notify payload of %d octets", ErrMalformed, len(b))
	}
	spi := int(b[1])
	return &Notify{Protocol: ProtocolID(b[0]), NType: NotifyType(binary.BigEndian.Uint16(b[2:])),
		SPI: clone(b[4 : 4+spi]), Data: clone(b[4+spi:])}, nil
}

// Delete is the Delete payload: SPIs of the sender's inbound SAs, or none
// for the IKE SA itself (RFC 7296 §3.11).
type Delete struct {
	Protocol ProtocolID
	SPIs     [][]byte
}

func (*Delete) Type() PayloadType { return PayloadDelete }
func (d *Delete) appendBody(b []byte) []byte {
	size := 0
	if len(d.SPIs) > 0 {
		size = len(d.SPIs[0])
	}
	b = append(b, byte(d.Protocol), byte(size), byte(len(d.SPIs)>>8), byte(len(d.SPIs)))
	for _, s := range d.SPIs {
		b = append(b, s...)
	}
	return b
}

func parseDelete(b []byte) (*Delete, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: Delete payload of %d octets", ErrMalformed, len(b))
	}
	d := &Delete{Protocol: ProtocolID(b[0])}
	size, n := int(b[1]), int(binary.BigEndian.Uint16(b[2:]))
	if len(b)-4 != size*n || (size == 0 && n != 0) {
		return nil, fmt.Errorf("%w: Delete of %d SPIs of %d octets in %d octets", ErrMalformed, n, size, len(b)-4)
	}
	for i := range n {
		d.SPIs = append(d.SPIs, clone(b[4+i*size:4+(i+1)*size]))
	}
	return d, nil
}

// VendorID is the Vendor ID payload.
type VendorID struct{ Data []byte }

func (*VendorID) Type() PayloadType            { return PayloadVendorID }
func (v *VendorID) appendBody(b []byte) []byte { return append(b, v.Data...) }

// Unknown is a payload this package does not decode, kept as it came.
type Unknown struct {
	PType PayloadType
	Data  []byte
}

func (u *Unknown) Type() PayloadType          { return u.PType }
func (u *Unknown) appendBody(b []byte) []byte { return append(b, u.Data...) }

// Traffic selector types (RFC 7296 §3.13.1).
const (
	TSIPv4AddrRange = 7
	TSIPv6AddrRange = 8
)

// TrafficSelector is one traffic selector: an address range, an IP
// protocol (0: any) and a port range.
type TrafficSelector struct {
	Protocol           uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr // both IPv4 or both IPv6
}

// TS is a Traffic Selector payload, TSi or TSr.
type TS struct {
	PType     PayloadType // PayloadTSi or PayloadTSr
	Selectors []TrafficSelector
}

func (ts *TS) Type() PayloadType { return ts.PType }
func (ts *TS) appendBody(b []byte) []byte {
	b = append(b, byte(len(ts.Selectors)), 0, 0, 0)
	for _, s := range ts.Selectors {
		typ, l := byte(TSIPv4AddrRange), 16
		if s.Start.Is6() {
			typ, l = TSIPv6AddrRange, 40
		}
		b = append(b, typ, s.Protocol, 0, byte(l), byte(s.StartPort>>8), byte(s.StartPort), byte(s.EndPort>>8), byte(s.EndPort))
		b = append(b, s.Start.AsSlice()...)
		b = append(b, s.End.AsSlice()...)
	}
	return b
}

func parseTS(t PayloadType, b []byte) (*TS, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: TS payload of %d octets", ErrMalformed, len(b))
	}
	ts := &TS{PType: t}
	n := int(b[0])
	b = b[4:]
	for range n {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: traffic selector truncated", ErrMalformed)
		}
		typ, l := b[0], int(binary.BigEndian.Uint16(b[2:]))
		alen := 4
		if typ == TSIPv6AddrRange {
			alen = 16
		} else if typ != TSIPv4AddrRange {
			return nil, fmt.Errorf("%w: traffic selector type %d", ErrMalformed, typ)
		}
		if l != 8+2*alen || l > len(b) {
			return nil, fmt.Errorf("%w: traffic selector length %d", ErrMalformed, l)
		}
		start, _ := netip.AddrFromSlice(b[8 : 8+alen])
		end, _ := netip.AddrFromSlice(b[8+alen : 8+2*alen])
		ts.Selectors = append(ts.Selectors, TrafficSelector{Protocol: b[1],
			StartPort: binary.BigEndian.Uint16(b[4:]), EndPort: binary.BigEndian.Uint16(b[6:]), Start: start, End: end})
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d octets after the traffic selectors", ErrMalformed, len(b))
	}
	return ts, nil
}

// Encrypted is the Encrypted (SK) payload before it is opened: IV,
// ciphertext and ICV in Data, First the type of the first inner payload.
type Encrypted struct {
	First PayloadType
	Data  []byte
}

func (*Encrypted) Type() PayloadType            { return PayloadSK }
func (e *Encrypted) appendBody(b []byte) []byte { return append(b, e.Data...) }
