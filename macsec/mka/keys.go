package mka

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/macsec"
)

// CKN length limits: 802.1X allows 1..32 octets; Azure takes an even number
// of hex digits, at most 64.
const (
	MinCKNLen = 1
	MaxCKNLen = 32
)

// CAK is a Connectivity Association Key: 16 octets for the -128 cipher
// suites, 32 for the -256 suites. It prints as a fingerprint only.
type CAK struct{ secret }

// NewCAK wraps key (16 or 32 octets) as a CAK. The slice is kept, not copied.
func NewCAK(key []byte) (CAK, error) {
	if len(key) != 16 && len(key) != 32 {
		return CAK{}, fmt.Errorf("CAK: must be 16 or 32 octets, got %d", len(key))
	}
	return CAK{secret{key: key, label: fingerprint.CAK}}, nil
}

// Equal reports whether two CAKs are the same key.
func (k CAK) Equal(o CAK) bool { return k.equal(o.secret) }

// CKN is a CAK Name: 1 to 32 octets that identify the CAK on the wire, where
// it travels in clear. It is a name, not a secret, and prints as hex.
type CKN []byte

func (n CKN) String() string { return strings.ToUpper(hex.EncodeToString(n)) }

// Equal reports whether two CKNs are the same name.
func (n CKN) Equal(o CKN) bool { return string(n) == string(o) }

// ParseCKN parses a CKN as Azure accepts it: an even number of hex digits,
// 2 to 64 of them.
func ParseCKN(s string) (CKN, error) {
	s = strings.TrimSpace(s)
	if err := checkHex("CKN", s); err != nil {
		return nil, err
	}
	switch {
	case len(s) < 2*MinCKNLen || len(s) > 2*MaxCKNLen:
		return nil, fmt.Errorf("CKN: must be 2 to 64 hex digits, got %d", len(s))
	case len(s)%2 != 0:
		return nil, fmt.Errorf("CKN: must have an even number of hex digits, got %d", len(s))
	}
	b, _ := hex.DecodeString(s)
	return CKN(b), nil
}

// ParseCAK parses a CAK for suite as Azure accepts it: 32 hex digits for
// the -128 suites, 64 for the -256 suites; a shorter value is padded on the
// right with '0' digits to the full length, as Azure does.
func ParseCAK(s string, suite macsec.CipherSuite) (CAK, error) {
	if !suite.Valid() {
		return CAK{}, fmt.Errorf("CAK: unknown cipher suite %#016x", uint64(suite))
	}
	cak, err := ParseCAKHex(s, suite.KeyLen())
	if err != nil {
		return CAK{}, fmt.Errorf("%w (%s)", err, suite)
	}
	return cak, nil
}

// ParseCAKHex parses a CAK of keyLen octets (16 or 32) as Azure accepts it:
// up to 2*keyLen hex digits; a shorter value is padded on the right with '0'
// digits to the full length, as Azure does.
func ParseCAKHex(s string, keyLen int) (CAK, error) {
	if keyLen != 16 && keyLen != 32 {
		return CAK{}, fmt.Errorf("CAK: key length must be 16 or 32 octets, got %d", keyLen)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return CAK{}, fmt.Errorf("CAK: must not be empty (up to %d hex digits)", 2*keyLen)
	}
	if err := checkHex("CAK", s); err != nil {
		return CAK{}, err
	}
	if len(s) > 2*keyLen {
		return CAK{}, fmt.Errorf("CAK: must be at most %d hex digits for a %d-bit cipher suite, got %d", 2*keyLen, 8*keyLen, len(s))
	}
	digits := make([]byte, 2*keyLen)
	copy(digits, s)
	for i := len(s); i < len(digits); i++ {
		digits[i] = '0'
	}
	key := make([]byte, keyLen)
	_, err := hex.Decode(key, digits)
	clear(digits)
	if err != nil {
		return CAK{}, fmt.Errorf("CAK: %w", err)
	}
	return NewCAK(key)
}

// checkHex reports the first character that is not a hex digit, with its
// 1-based position. Showing it leaks nothing: it is not a key digit.
func checkHex(field, s string) error {
	for i, r := range s {
		if isHex(r) {
			continue
		}
		return fmt.Errorf("%s: must be hex digits (0-9, a-f), got %q at position %d", field, r, i+1)
	}
	return nil
}

func isHex(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
}
