// Package fingerprint is the one way secylab identifies a secret without
// revealing it — a SAK, CAK, ICK, KEK or ESP KEYMAT — in status, logs,
// reports and kernel state. Secrets are never printed; their fingerprints
// are, so two ends holding the same key show the same fingerprint and a
// mismatch is visible.
package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
)

// Kind is what a secret is; it separates the fingerprint domains, so the
// same bytes used as two kinds of key do not show the same fingerprint.
type Kind string

// The kinds of secret secylab fingerprints.
const (
	SAK       Kind = "SAK"        // MACsec Secure Association Key
	CAK       Kind = "CAK"        // MKA Connectivity Association Key
	CKN       Kind = "CKN"        // its name: not secret, but as long as a key and kept in Key Vault beside it
	ICK       Kind = "ICK"        // MKA ICV Key
	KEK       Kind = "KEK"        // MKA Key Encrypting Key
	ESPKeymat Kind = "ESP KEYMAT" // ESP keying material (key and salt)
	IKESKd    Kind = "IKE SK_d"   // an IKE SA's key for deriving Child SA keys (RFC 7296 §2.14)
)

// None is the fingerprint of an empty key.
const None = "none"

// Of returns the fingerprint of key as kind: the first 8 hex digits of
// SHA-256("secylab <kind> fingerprint" || 0x00 || key), or None for an
// empty key. It does not allocate beyond the returned string.
func Of(kind Kind, key []byte) string {
	if len(key) == 0 {
		return None
	}
	h := sha256.New()
	h.Write([]byte("secylab " + string(kind) + " fingerprint\x00"))
	h.Write(key)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:4])
}
