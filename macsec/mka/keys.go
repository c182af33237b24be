package mka

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/secylab/secylab/internal/fingerprint"
)

// CKN length limits: 802.1X allows 1 to 32 octets. (Azure's rule for the
// CKN and CAK secrets is expressroute's: ParseKey.)
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
