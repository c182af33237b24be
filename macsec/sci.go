package macsec

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
)

// SCI is a Secure Channel Identifier: a 48-bit MAC address (the system
// identifier) followed by a 16-bit port identifier, as on the wire.
type SCI uint64

// Port identifiers with a fixed meaning (802.1AE-2018 9.9).
const (
	PortES  = 0x0001 // SCI of an end station: MAC SA || 0x0001
	PortSCB = 0x0000 // single copy broadcast
)

// NewSCI builds an SCI from a MAC address and a port identifier.
func NewSCI(mac net.HardwareAddr, port uint16) SCI {
	var b [8]byte
	copy(b[:6], mac)
	binary.BigEndian.PutUint16(b[6:], port)
	return SCI(binary.BigEndian.Uint64(b[:]))
}

// MAC returns the system identifier part.
func (s SCI) MAC() net.HardwareAddr {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s))
	return net.HardwareAddr(b[:6:6])
}

// Port returns the port identifier part.
func (s SCI) Port() uint16 { return uint16(s) }

// String formats the SCI as iproute2 does: 16 hex digits.
func (s SCI) String() string { return fmt.Sprintf("%016x", uint64(s)) }

// ParseSCI accepts 16 hex digits (optionally 0x-prefixed, with ':' or '-'
// separators) or "MAC/port", e.g. "02:00:00:00:00:01/1".
func ParseSCI(text string) (SCI, error) {
	if mac, port, ok := strings.Cut(text, "/"); ok {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return 0, fmt.Errorf("SCI %q: the MAC part must be a 48-bit MAC address", text)
		}
		var p uint16
		if _, err := fmt.Sscanf(port, "%d", &p); err != nil {
			return 0, fmt.Errorf("SCI %q: the port part must be a number 0..65535", text)
		}
		return NewSCI(hw, p), nil
	}
	b, err := decodeHex(text)
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("SCI %q: must be 16 hex digits (MAC || port) or MAC/port", text)
	}
	return SCI(binary.BigEndian.Uint64(b)), nil
}

// SSCI is the 32-bit Short Secure Channel Identifier of the XPN suites.
type SSCI uint32

// Salt is the 96-bit salt of an XPN SA, XORed into the IV.
type Salt [12]byte

// String formats the salt as 24 hex digits.
func (s Salt) String() string { return hex.EncodeToString(s[:]) }

// decodeHex decodes hex with an optional 0x prefix and ':', '-' or space
// separators.
func decodeHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	s = strings.NewReplacer(":", "", "-", "", " ", "").Replace(s)
	return hex.DecodeString(s)
}
