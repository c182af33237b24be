package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ExchangeType is the exchange a message belongs to (RFC 7296 §3.1).
type ExchangeType uint8

const (
	IKE_SA_INIT     ExchangeType = 34
	IKE_AUTH        ExchangeType = 35
	CREATE_CHILD_SA ExchangeType = 36
	INFORMATIONAL   ExchangeType = 37
)

func (e ExchangeType) String() string {
	switch e {
	case IKE_SA_INIT:
		return "IKE_SA_INIT"
	case IKE_AUTH:
		return "IKE_AUTH"
	case CREATE_CHILD_SA:
		return "CREATE_CHILD_SA"
	case INFORMATIONAL:
		return "INFORMATIONAL"
	}
	return fmt.Sprintf("exchange(%d)", uint8(e))
}

// Flags of the IKE header (RFC 7296 §3.1).
type Flags uint8

const (
	FlagInitiator Flags = 0x08 // sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // the sender can speak a higher major version
	FlagResponse  Flags = 0x20 // the message is a response
)

// PayloadType is the type of a payload (RFC 7296 §3.2, IANA).
type PayloadType uint8

const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53
)

var payloadNames = map[PayloadType]string{
	PayloadSA: "SA", PayloadKE: "KE", PayloadIDi: "IDi", PayloadIDr: "IDr", PayloadCERT: "CERT",
	PayloadCERTREQ: "CERTREQ", PayloadAUTH: "AUTH", PayloadNonce: "No", PayloadNotify: "N",
	PayloadDelete: "D", PayloadVendorID: "V", PayloadTSi: "TSi", PayloadTSr: "TSr", PayloadSK: "SK",
	PayloadCP: "CP", PayloadEAP: "EAP", PayloadSKF: "SKF",
}

func (p PayloadType) String() string {
	if s, ok := payloadNames[p]; ok {
		return s
	}
	return fmt.Sprintf("payload(%d)", uint8(p))
}

// Sizes of the fixed parts (RFC 7296 §3.1, §3.2).
const (
	HeaderLen        = 28
	PayloadHeaderLen = 4
	// MaxMessageLen bounds what Parse accepts: an IKE message travels in
	// one UDP datagram.
	MaxMessageLen = 65535
)

// Version is the version octet of IKEv2: major 2, minor 0.
const Version = 0x20

// Header is the IKE header.
type Header struct {
	SPIi, SPIr  uint64
	NextPayload PayloadType
	Version     uint8
	Exchange    ExchangeType
	Flags       Flags
	MessageID   uint32
	Length      uint32
}

// IsResponse reports whether the message is a response.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// FromInitiator reports whether the original initiator sent the message.
func (h *Header) FromInitiator() bool { return h.Flags&FlagInitiator != 0 }

func (h *Header) put(b []byte) {
	binary.BigEndian.PutUint64(b[0:], h.SPIi)
	binary.BigEndian.PutUint64(b[8:], h.SPIr)
	b[16] = byte(h.NextPayload)
	b[17] = h.Version
	b[18] = byte(h.Exchange)
	b[19] = byte(h.Flags)
	binary.BigEndian.PutUint32(b[20:], h.MessageID)
	binary.BigEndian.PutUint32(b[24:], h.Length)
}

// ParseHeader reads the IKE header of b and checks its length against b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: %d octets, the IKE header alone is %d", ErrMalformed, len(b), HeaderLen)
	}
	h := Header{
		SPIi:        binary.BigEndian.Uint64(b[0:]),
		SPIr:        binary.BigEndian.Uint64(b[8:]),
		NextPayload: PayloadType(b[16]),
		Version:     b[17],
		Exchange:    ExchangeType(b[18]),
		Flags:       Flags(b[19]),
		MessageID:   binary.BigEndian.Uint32(b[20:]),
		Length:      binary.BigEndian.Uint32(b[24:]),
	}
	if h.Version>>4 != 2 {
		return h, fmt.Errorf("%w: major version %d", ErrVersion, h.Version>>4)
	}
	if h.Length < HeaderLen || int64(h.Length) > int64(len(b)) || h.Length > MaxMessageLen {
		return h, fmt.Errorf("%w: header length %d, datagram %d octets", ErrMalformed, h.Length, len(b))
	}
	return h, nil
}

// Errors of the codec. Each names what RFC 7296 says to answer.
var (
	ErrMalformed           = errors.New("ike: malformed message (INVALID_SYNTAX)")
	ErrVersion             = errors.New("ike: not IKEv2 (INVALID_MAJOR_VERSION)")
	ErrUnsupportedCritical = errors.New("ike: unsupported critical payload (UNSUPPORTED_CRITICAL_PAYLOAD)")
)

// Message is an IKE message: its header and its payloads in order. A
// message with an Encrypted payload carries it last, as *Encrypted, until
// it is decrypted (Decrypt puts the inner payloads in its place).
type Message struct {
	Header
	Payloads []Payload
}

// Parse decodes an IKE message (without the non-ESP marker of port 4500).
// It decodes the payloads up to and including an Encrypted payload, which
// must be the last (RFC 7296 §3.14). A payload of an unknown type is kept
// as *Unknown unless its critical bit is set.
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: h}
	m.Payloads, err = parsePayloads(h.NextPayload, b[HeaderLen:h.Length], true)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parsePayloads decodes a chain of payloads starting with type first.
func parsePayloads(first PayloadType, b []byte, outer bool) ([]Payload, error) {
	var ps []Payload
	next := first
	for next != PayloadNone {
		if len(b) < PayloadHeaderLen {
			return nil, fmt.Errorf("%w: %v payload header truncated", ErrMalformed, next)
		}
		typ := next
		next = PayloadType(b[0])
		critical := b[1]&0x80 != 0
		l := int(binary.BigEndian.Uint16(b[2:]))
		if l < PayloadHeaderLen || l > len(b) {
			return nil, fmt.Errorf("%w: %v payload length %d, %d octets left", ErrMalformed, typ, l, len(b))
		}
		body := b[PayloadHeaderLen:l]
		if typ == PayloadSK {
			if !outer || l != len(b) {
				return nil, fmt.Errorf("%w: the Encrypted payload must be the last payload", ErrMalformed)
			}
			return append(ps, &Encrypted{First: next, Data: clone(body)}), nil
		}
		p, err := decodePayload(typ, body)
		if err != nil {
			return nil, err
		}
		if p == nil {
			if critical {
				return nil, fmt.Errorf("%w: type %d", ErrUnsupportedCritical, uint8(typ))
			}
			p = &Unknown{PType: typ, Data: clone(body)}
		}
		ps = append(ps, p)
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d octets after the last payload", ErrMalformed, len(b))
	}
	return ps, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// appendPayloads encodes ps, each with its generic header; the next
// payload field of each names the following one.
func appendPayloads(b []byte, ps []Payload) []byte {
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		if e, ok := p.(*Encrypted); ok {
			next = e.First
		}
		start := len(b)
		b = append(b, byte(next), 0, 0, 0)
		b = p.appendBody(b)
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

// Marshal encodes the message in clear, its Length and NextPayload filled
// in. An *Encrypted payload is written as it is (see Seal).
func (m *Message) Marshal() []byte {
	b := make([]byte, HeaderLen, 512)
	b = appendPayloads(b, m.Payloads)
	h := m.Header
	h.Version = Version
	h.NextPayload = PayloadNone
	if len(m.Payloads) > 0 {
		h.NextPayload = m.Payloads[0].Type()
	}
	h.Length = uint32(len(b))
	h.put(b)
	return b
}

// Get returns the first payload of type T in the message, or nil.
func Get[T Payload](m *Message) T {
	for _, p := range m.Payloads {
		if t, ok := p.(T); ok {
			return t
		}
	}
	var zero T
	return zero
}

// Notifies returns the message's Notify payloads.
func (m *Message) Notifies() []*Notify {
	var ns []*Notify
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// Notify returns the message's first Notify of type t, or nil.
func (m *Message) Notify(t NotifyType) *Notify {
	for _, n := range m.Notifies() {
		if n.NType == t {
			return n
		}
	}
	return nil
}

// ID returns the message's IDi or IDr payload.
func (m *Message) ID(t PayloadType) *ID {
	for _, p := range m.Payloads {
		if id, ok := p.(*ID); ok && id.PType == t {
			return id
		}
	}
	return nil
}

// TS returns the message's TSi or TSr payload.
func (m *Message) TS(t PayloadType) *TS {
	for _, p := range m.Payloads {
		if ts, ok := p.(*TS); ok && ts.PType == t {
			return ts
		}
	}
	return nil
}

// String is a summary like strongSwan's: "IKE_AUTH request 1 [ IDi AUTH SA TSi TSr N(INIT_CONTACT) ]".
func (m *Message) String() string {
	kind := "request"
	if m.IsResponse() {
		kind = "response"
	}
	s := fmt.Sprintf("%v %s %d [", m.Exchange, kind, m.MessageID)
	for _, p := range m.Payloads {
		switch p := p.(type) {
		case *Notify:
			s += " N(" + p.NType.String() + ")"
		case *ID:
			s += " " + p.PType.String()
		case *TS:
			s += " " + p.PType.String()
		default:
			s += " " + p.Type().String()
		}
	}
	return s + " ]"
}
