// Package bfd is Bidirectional Forwarding Detection (RFC 5880) for single
// IP hops (RFC 5881) in asynchronous mode: the state machine of a
// session, its timers and Poll/Final sequence, and a UDP endpoint that
// carries the Control packets.
//
// The state machine is pure: time comes from a clock.Clock and packets go
// out through the Endpoint, which takes net.PacketConns the caller opens
// (Listen, in a namespace, on Linux). A Session tells subscribers about
// every state change; the bgp package drops a neighbour's session when its
// BFD session goes from Up to Down.
package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Ports of RFC 5881 §4.
const (
	Port         = 3784
	MinSrcPort   = 49152
	MaxSrcPort   = 65535
	RequiredTTL  = 255 // RFC 5881 §5: GTSM, sent and checked
	controlLen   = 24
	protoVersion = 1
)

// State is bfd.SessionState (RFC 5880 §4.1), with its wire values.
type State uint8

// Session states.
const (
	AdminDown State = iota
	Down
	Init
	Up
)

func (s State) String() string {
	switch s {
	case AdminDown:
		return "AdminDown"
	case Down:
		return "Down"
	case Init:
		return "Init"
	case Up:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is the diagnostic code (RFC 5880 §4.1).
type Diag uint8

// Diagnostic codes.
const (
	DiagNone Diag = iota
	DiagControlDetectionTimeExpired
	DiagEchoFailed
	DiagNeighborSignaledDown
	DiagForwardingPlaneReset
	DiagPathDown
	DiagConcatenatedPathDown
	DiagAdministrativelyDown
	DiagReverseConcatenatedPathDown
)

var diagNames = [...]string{"No Diagnostic", "Control Detection Time Expired", "Echo Function Failed",
	"Neighbor Signaled Session Down", "Forwarding Plane Reset", "Path Down", "Concatenated Path Down",
	"Administratively Down", "Reverse Concatenated Path Down"}

func (d Diag) String() string {
	if int(d) < len(diagNames) {
		return diagNames[d]
	}
	return fmt.Sprintf("Diag(%d)", uint8(d))
}

// Control is a BFD Control packet without authentication (RFC 5880 §4.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//	|                       My Discriminator                        |
//	|                      Your Discriminator                       |
//	|                    Desired Min TX Interval                    |
//	|                   Required Min RX Interval                    |
//	|                 Required Min Echo RX Interval                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Control struct {
	Version           uint8
	Diag              Diag
	State             State
	Poll, Final       bool
	CPI, Auth, Demand bool
	Multipoint        bool
	DetectMult        uint8
	Length            uint8
	MyDiscr           uint32
	YourDiscr         uint32
	DesiredMinTx      time.Duration // carried in microseconds
	RequiredMinRx     time.Duration
	RequiredMinEchoRx time.Duration
}

func us(d time.Duration) uint32 { return uint32(d / time.Microsecond) }

// Append encodes c after b.
func (c *Control) Append(b []byte) []byte {
	flags := byte(c.State) << 6
	for i, f := range []bool{c.Poll, c.Final, c.CPI, c.Auth, c.Demand, c.Multipoint} {
		if f {
			flags |= 1 << (5 - i)
		}
	}
	b = append(b, protoVersion<<5|byte(c.Diag)&0x1f, flags, c.DetectMult, controlLen)
	b = binary.BigEndian.AppendUint32(b, c.MyDiscr)
	b = binary.BigEndian.AppendUint32(b, c.YourDiscr)
	b = binary.BigEndian.AppendUint32(b, us(c.DesiredMinTx))
	b = binary.BigEndian.AppendUint32(b, us(c.RequiredMinRx))
	return binary.BigEndian.AppendUint32(b, us(c.RequiredMinEchoRx))
}

// Errors of the reception checks of RFC 5880 §6.8.6.
var (
	ErrShort      = errors.New("bfd: packet shorter than its Length or 24 bytes")
	ErrVersion    = errors.New("bfd: version is not 1")
	ErrInvalid    = errors.New("bfd: invalid field (Detect Mult 0, Multipoint set or My Discriminator 0)")
	ErrAuth       = errors.New("bfd: authentication present but not configured")
	ErrYourDiscr0 = errors.New("bfd: Your Discriminator 0 in state other than Down or AdminDown")
)

// Parse decodes and validates a Control packet (RFC 5880 §6.8.6).
func Parse(b []byte) (*Control, error) {
	if len(b) < controlLen {
		return nil, ErrShort
	}
	c := &Control{
		Version:           b[0] >> 5,
		Diag:              Diag(b[0] & 0x1f),
		State:             State(b[1] >> 6),
		Poll:              b[1]&0x20 != 0,
		Final:             b[1]&0x10 != 0,
		CPI:               b[1]&0x08 != 0,
		Auth:              b[1]&0x04 != 0,
		Demand:            b[1]&0x02 != 0,
		Multipoint:        b[1]&0x01 != 0,
		DetectMult:        b[2],
		Length:            b[3],
		MyDiscr:           binary.BigEndian.Uint32(b[4:]),
		YourDiscr:         binary.BigEndian.Uint32(b[8:]),
		DesiredMinTx:      time.Duration(binary.BigEndian.Uint32(b[12:])) * time.Microsecond,
		RequiredMinRx:     time.Duration(binary.BigEndian.Uint32(b[16:])) * time.Microsecond,
		RequiredMinEchoRx: time.Duration(binary.BigEndian.Uint32(b[20:])) * time.Microsecond,
	}
	switch {
	case c.Version != protoVersion:
		return nil, ErrVersion
	case int(c.Length) < controlLen || int(c.Length) > len(b):
		return nil, ErrShort
	case c.DetectMult == 0 || c.Multipoint || c.MyDiscr == 0:
		return nil, ErrInvalid
	case c.Auth:
		return nil, ErrAuth
	case c.YourDiscr == 0 && c.State != Down && c.State != AdminDown:
		return nil, ErrYourDiscr0
	}
	return c, nil
}
