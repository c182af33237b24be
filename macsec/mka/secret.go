package mka

import (
	"fmt"
	"log/slog"

	"github.com/secylab/secylab/internal/fingerprint"
)

// secret is key material that is never printed: every formatting path
// (fmt verbs, %#v, slog) shows a fingerprint instead of the key.
type secret struct {
	key   []byte
	label fingerprint.Kind // the key's kind, e.g. CAK; also the fingerprint's domain
}

// Fingerprint identifies the key without revealing it (fingerprint.Of
// with the key's kind). Two ends with the same key show the same
// fingerprint, so a mismatch is visible in logs.
func (s secret) Fingerprint() string { return fingerprint.Of(s.label, s.key) }

// Bytes returns the key itself. The slice is shared, not copied: callers
// must not keep it past Zero and must never print it.
func (s secret) Bytes() []byte { return s.key }

// Len returns the key length in octets.
func (s secret) Len() int { return len(s.key) }

// IsZero reports whether the key is empty or has been zeroed.
func (s secret) IsZero() bool {
	for _, b := range s.key {
		if b != 0 {
			return false
		}
	}
	return true
}

// Equal reports whether two keys are the same, in constant time for keys of
// equal length.
func (s secret) equal(o secret) bool {
	if len(s.key) != len(o.key) {
		return false
	}
	var v byte
	for i := range s.key {
		v |= s.key[i] ^ o.key[i]
	}
	return v == 0
}

// Zero overwrites the key material. Copies of the value share the bytes, so
// they are zeroed too.
func (s *secret) Zero() { clear(s.key) }

func (s secret) String() string {
	return string(s.label) + "(fp:" + s.Fingerprint() + ")"
}

// GoString keeps %#v from dumping the struct fields.
func (s secret) GoString() string { return s.String() }

// Format makes every verb (%s, %v, %x, %q, ...) print the fingerprint only.
func (s secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// LogValue makes slog record the fingerprint only.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
