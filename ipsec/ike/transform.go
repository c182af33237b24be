package ike

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strings"
)

// TransformType is the type of a transform (RFC 7296 §3.3.2).
type TransformType uint8

const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4
	TransformESN   TransformType = 5
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("transform(%d)", uint8(t))
}

// Encryption transform IDs (IANA "Transform Type 1").
const (
	ENCR_3DES       = 3
	ENCR_AES_CBC    = 12
	ENCR_AES_GCM_8  = 18
	ENCR_AES_GCM_12 = 19
	ENCR_AES_GCM_16 = 20
)

// PRF transform IDs (IANA "Transform Type 2").
const (
	PRF_HMAC_SHA1     = 2
	PRF_HMAC_SHA2_256 = 5
	PRF_HMAC_SHA2_384 = 6
	PRF_HMAC_SHA2_512 = 7
)

// Integrity transform IDs (IANA "Transform Type 3").
const (
	AUTH_NONE              = 0
	AUTH_HMAC_SHA1_96      = 2
	AUTH_HMAC_SHA2_256_128 = 12
	AUTH_HMAC_SHA2_384_192 = 13
	AUTH_HMAC_SHA2_512_256 = 14
)

// Diffie-Hellman groups (IANA "Transform Type 4").
const (
	MODP1024     DHGroup = 2
	MODP2048     DHGroup = 14
	MODP2048S256 DHGroup = 24
	ECP256       DHGroup = 19
	ECP384       DHGroup = 20
)

// ESN transform IDs.
const (
	ESNNone = 0
	ESNOn   = 1
)

// Suite is a chosen set of transforms: one of each type the protocol uses.
// KeyBits is the AES key length.
type Suite struct {
	Encr    uint16
	KeyBits int
	PRF     uint16 // IKE SAs only
	Integ   uint16 // AUTH_NONE with AES-GCM
	DH      DHGroup
	ESN     bool // Child SAs only
}

// AEAD reports whether the suite's cipher is AES-GCM, which integrity
// protects on its own (RFC 5282).
func (s Suite) AEAD() bool {
	return s.Encr == ENCR_AES_GCM_8 || s.Encr == ENCR_AES_GCM_12 || s.Encr == ENCR_AES_GCM_16
}

// EncrKeyLen is the length of an encryption key in octets: the AES key,
// and for AES-GCM the 4-octet salt after it (RFC 5282 §7.1, RFC 4106 §8.1).
func (s Suite) EncrKeyLen() int {
	if s.AEAD() {
		return s.KeyBits/8 + 4
	}
	return s.KeyBits / 8
}

// IntegKeyLen is the length of an integrity key: the HMAC's output size
// (RFC 4868 §2.1.1, RFC 2404).
func (s Suite) IntegKeyLen() int {
	switch s.Integ {
	case AUTH_HMAC_SHA1_96:
		return 20
	case AUTH_HMAC_SHA2_256_128:
		return 32
	case AUTH_HMAC_SHA2_384_192:
		return 48
	case AUTH_HMAC_SHA2_512_256:
		return 64
	}
	return 0
}

// ICVLen is the length of the integrity check value the suite appends.
func (s Suite) ICVLen() int {
	switch {
	case s.Encr == ENCR_AES_GCM_8:
		return 8
	case s.Encr == ENCR_AES_GCM_12:
		return 12
	case s.AEAD():
		return 16
	}
	return integICVLen(s.Integ)
}

// integICVLen is the truncated HMAC length of RFC 2404 (96 bits) and
// RFC 4868 (half the hash).
func integICVLen(id uint16) int {
	switch id {
	case AUTH_HMAC_SHA1_96:
		return 12
	case AUTH_HMAC_SHA2_256_128:
		return 16
	case AUTH_HMAC_SHA2_384_192:
		return 24
	case AUTH_HMAC_SHA2_512_256:
		return 32
	}
	return 0
}

func integHash(id uint16) func() hash.Hash {
	switch id {
	case AUTH_HMAC_SHA1_96:
		return sha1.New
	case AUTH_HMAC_SHA2_256_128:
		return sha256.New
	case AUTH_HMAC_SHA2_384_192:
		return sha512.New384
	case AUTH_HMAC_SHA2_512_256:
		return sha512.New
	}
	return nil
}

func prfHash(id uint16) func() hash.Hash {
	switch id {
	case PRF_HMAC_SHA1:
		return sha1.New
	case PRF_HMAC_SHA2_256:
		return sha256.New
	case PRF_HMAC_SHA2_384:
		return sha512.New384
	case PRF_HMAC_SHA2_512:
		return sha512.New
	}
	return nil
}

// supported reports whether this package implements a transform.
func supported(t Transform) bool {
	if t.Unknown {
		return false
	}
	switch t.Type {
	case TransformENCR:
		switch t.ID {
		case ENCR_AES_CBC, ENCR_AES_GCM_8, ENCR_AES_GCM_12, ENCR_AES_GCM_16:
			return t.KeyLength == 128 || t.KeyLength == 192 || t.KeyLength == 256
		}
	case TransformPRF:
		return prfHash(t.ID) != nil
	case TransformINTEG:
		return t.ID == AUTH_NONE || integHash(t.ID) != nil
	case TransformDH:
		return DHGroup(t.ID) == 0 || dhKnown(DHGroup(t.ID))
	case TransformESN:
		return t.ID == ESNNone || t.ID == ESNOn
	}
	return false
}

// Transforms returns the suite as the transforms of a proposal for
// protocol p (IKE: ENCR, PRF, INTEG unless AEAD, DH; ESP: ENCR, INTEG
// unless AEAD, DH if PFS, ESN).
func (s Suite) Transforms(p ProtocolID) []Transform {
	ts := []Transform{{Type: TransformENCR, ID: s.Encr, KeyLength: uint16(s.KeyBits)}}
	if p == ProtoIKE {
		ts = append(ts, Transform{Type: TransformPRF, ID: s.PRF})
	}
	if !s.AEAD() {
		ts = append(ts, Transform{Type: TransformINTEG, ID: s.Integ})
	}
	if s.DH != 0 {
		ts = append(ts, Transform{Type: TransformDH, ID: uint16(s.DH)})
	}
	if p == ProtoESP {
		esn := uint16(ESNNone)
		if s.ESN {
			esn = ESNOn
		}
		ts = append(ts, Transform{Type: TransformESN, ID: esn})
	}
	return ts
}

var encrNames = map[uint16]string{ENCR_3DES: "3DES", ENCR_AES_CBC: "AES_CBC", ENCR_AES_GCM_8: "AES_GCM_8",
	ENCR_AES_GCM_12: "AES_GCM_12", ENCR_AES_GCM_16: "AES_GCM_16"}
var prfNames = map[uint16]string{PRF_HMAC_SHA1: "PRF_HMAC_SHA1", PRF_HMAC_SHA2_256: "PRF_HMAC_SHA2_256",
	PRF_HMAC_SHA2_384: "PRF_HMAC_SHA2_384", PRF_HMAC_SHA2_512: "PRF_HMAC_SHA2_512"}
var integNames = map[uint16]string{AUTH_HMAC_SHA1_96: "HMAC_SHA1_96", AUTH_HMAC_SHA2_256_128: "HMAC_SHA2_256_128",
	AUTH_HMAC_SHA2_384_192: "HMAC_SHA2_384_192", AUTH_HMAC_SHA2_512_256: "HMAC_SHA2_512_256"}
var dhNames = map[DHGroup]string{MODP1024: "MODP_1024", MODP2048: "MODP_2048", MODP2048S256: "MODP_2048_256",
	ECP256: "ECP_256", ECP384: "ECP_384"}

func (g DHGroup) String() string {
	if s, ok := dhNames[g]; ok {
		return s
	}
	return fmt.Sprintf("DH(%d)", uint16(g))
}

// String names the suite as strongSwan does: "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".
func (s Suite) String() string {
	parts := []string{fmt.Sprintf("%s-%d", name(encrNames, s.Encr), s.KeyBits)}
	if !s.AEAD() {
		parts = append(parts, name(integNames, s.Integ))
	}
	if s.PRF != 0 {
		parts = append(parts, name(prfNames, s.PRF))
	}
	if s.DH != 0 {
		parts = append(parts, s.DH.String())
	}
	if s.ESN {
		parts = append(parts, "ESN")
	}
	return strings.Join(parts, "/")
}

func name(m map[uint16]string, id uint16) string {
	if s, ok := m[id]; ok {
		return s
	}
	return fmt.Sprintf("%d", id)
}

// Choose picks, as a responder, the first of our suites (in our order of
// preference) that one of the peer's proposals for protocol p offers, and
// returns it with the number and SPI of that proposal. ok is false when
// nothing matches: answer NO_PROPOSAL_CHOSEN.
func Choose(ours []Suite, peer *SA, p ProtocolID) (s Suite, prop Proposal, ok bool) {
	for _, s := range ours {
		for _, pp := range peer.Proposals {
			if pp.Protocol == p && offers(pp, s, p) {
				return s, pp, true
			}
		}
	}
	return Suite{}, Proposal{}, false
}

// offers reports whether proposal pp offers every transform of s.
func offers(pp Proposal, s Suite, p ProtocolID) bool {
	has := func(t Transform) bool {
		for _, x := range pp.Transforms {
			if x.Type == t.Type && x.ID == t.ID && x.KeyLength == t.KeyLength && supported(x) {
				return true
			}
		}
		return false
	}
	types := map[TransformType]bool{}
	for _, x := range pp.Transforms {
		types[x.Type] = true
	}
	for _, t := range s.Transforms(p) {
		if !has(t) {
			// A proposal that lists no DH transform offers "none" (RFC 7296
			// §3.3.3), as one that lists no ESN offers no ESN... except that
			// ESN must be listed for ESP; be lenient with both.
			if (t.Type == TransformDH && t.ID == 0) || (t.Type == TransformESN && t.ID == ESNNone && !types[TransformESN]) {
				continue
			}
			return false
		}
	}
	// The proposal must not need a transform type the suite lacks
	// (e.g. an integrity algorithm with no INTEG in s), except DH "none".
	for typ := range types {
		switch typ {
		case TransformINTEG:
			if s.AEAD() && !has(Transform{Type: TransformINTEG, ID: AUTH_NONE}) {
				return false
			}
		case TransformDH:
			if s.DH == 0 && !has(Transform{Type: TransformDH, ID: 0}) {
				return false
			}
		case TransformPRF:
			if p != ProtoIKE {
				return false
			}
		}
	}
	return true
}

// SuiteOf reads the suite a responder chose from its one-proposal answer.
func SuiteOf(pp Proposal) (Suite, error) {
	var s Suite
	seen := map[TransformType]bool{}
	for _, t := range pp.Transforms {
		if seen[t.Type] {
			return Suite{}, fmt.Errorf("ike: the chosen proposal has two %v transforms", t.Type)
		}
		seen[t.Type] = true
		if !supported(t) {
			return Suite{}, fmt.Errorf("ike: the chosen proposal has %v %d, which we did not offer", t.Type, t.ID)
		}
		switch t.Type {
		case TransformENCR:
			s.Encr, s.KeyBits = t.ID, int(t.KeyLength)
		case TransformPRF:
			s.PRF = t.ID
		case TransformINTEG:
			s.Integ = t.ID
		case TransformDH:
			s.DH = DHGroup(t.ID)
		case TransformESN:
			s.ESN = t.ID == ESNOn
		}
	}
	if !seen[TransformENCR] || (!s.AEAD() && s.Integ == AUTH_NONE) || (pp.Protocol == ProtoIKE && s.PRF == 0) {
		return Suite{}, fmt.Errorf("ike: the chosen proposal %v lacks a transform", s)
	}
	return s, nil
}
