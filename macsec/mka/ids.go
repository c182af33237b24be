package mka

import (
	"encoding/hex"
	"strings"
)

// MI is a Member Identifier: 96 random bits that name one instance of a
// participant. A restarted participant picks a new MI.
type MI [12]byte

func (mi MI) String() string { return strings.ToUpper(hex.EncodeToString(mi[:])) }

// KI is a Key Identifier: the MI of the key server that generated a SAK and
// the Key Number (KN) it gave it.
type KI struct {
	MI MI
	KN uint32
}

// IsZero reports whether ki identifies no key (KN 0 is never used).
func (ki KI) IsZero() bool { return ki.KN == 0 && ki.MI == MI{} }
