package ike

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PRF computes prf(key, data) with the suite's PRF (RFC 7296 §2.13).
func PRF(id uint16, key []byte, data ...[]byte) []byte {
	h := prfHash(id)
	if h == nil {
		panic(fmt.Sprintf("ike: PRF %d is not supported", id))
	}
	m := hmac.New(h, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// PRFPlus computes n octets of prf+(key, seed) = T1 | T2 | ...,
// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n) (RFC 7296 §2.13).
func PRFPlus(id uint16, key, seed []byte, n int) []byte {
	out := make([]byte, 0, n+64)
	var t []byte
	for i := 1; len(out) < n; i++ {
		if i > 255 {
			panic("ike: prf+ asked for more than 255 blocks")
		}
		t = PRF(id, key, t, seed, []byte{byte(i)})
		out = append(out, t...)
	}
	return out[:n]
}

// Keys are the keys of an IKE SA (RFC 7296 §2.14).
type Keys struct {
	SKEYSEED               []byte
	SKd, SKai, SKar        []byte
	SKei, SKer, SKpi, SKpr []byte
	Suite                  Suite
	SPIi, SPIr             uint64
}

// Zero overwrites the keys.
func (k *Keys) Zero() {
	for _, b := range [][]byte{k.SKEYSEED, k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		clear(b)
	}
}

func spiBytes(spii, spir uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	return b
}

// DeriveIKEKeys computes SKEYSEED = prf(Ni | Nr, g^ir) and
// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) for a new IKE SA. The PRFs of
// this package are HMACs, which take the whole of Ni | Nr as the key.
func DeriveIKEKeys(s Suite, ni, nr, gir []byte, spii, spir uint64) *Keys {
	seed := PRF(s.PRF, append(append([]byte(nil), ni...), nr...), gir)
	return expandIKEKeys(s, seed, ni, nr, spii, spir)
}

// DeriveRekeyedIKEKeys computes the keys of an IKE SA that replaces one
// whose SK_d is oldSKd: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr),
// with the old SA's PRF (RFC 7296 §2.18).
func DeriveRekeyedIKEKeys(s Suite, oldPRF uint16, oldSKd, gir, ni, nr []byte, spii, spir uint64) *Keys {
	seed := PRF(oldPRF, oldSKd, gir, ni, nr)
	return expandIKEKeys(s, seed, ni, nr, spii, spir)
}

func expandIKEKeys(s Suite, seed, ni, nr []byte, spii, spir uint64) *Keys {
	prfLen := len(PRF(s.PRF, nil))
	ea, ee := s.IntegKeyLen(), s.EncrKeyLen()
	if s.AEAD() {
		ea = 0
	}
	km := PRFPlus(s.PRF, seed, append(append(append([]byte(nil), ni...), nr...), spiBytes(spii, spir)...), 3*prfLen+2*ea+2*ee)
	k := &Keys{SKEYSEED: seed, Suite: s, SPIi: spii, SPIr: spir}
	take := func(n int) []byte { b := km[:n:n]; km = km[n:]; return b }
	k.SKd, k.SKai, k.SKar = take(prfLen), take(ea), take(ea)
	k.SKei, k.SKer = take(ee), take(ee)
	k.SKpi, k.SKpr = take(prfLen), take(prfLen)
	return k
}

// ChildKeys are the keys of a Child SA pair: for each direction the
// encryption key (with the salt for AES-GCM) and the integrity key.
type ChildKeys struct {
	EncrI, IntegI []byte // initiator → responder
	EncrR, IntegR []byte // responder → initiator
}

// DeriveChildKeys computes KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)
// and splits it: initiator-to-responder keys first, encryption before
// integrity (RFC 7296 §2.17). gir is nil without PFS.
func DeriveChildKeys(prf uint16, skd []byte, child Suite, gir, ni, nr []byte) ChildKeys {
	ee, ea := child.EncrKeyLen(), child.IntegKeyLen()
	if child.AEAD() {
		ea = 0
	}
	seed := append(append(append([]byte(nil), gir...), ni...), nr...)
	km := PRFPlus(prf, skd, seed, 2*(ee+ea))
	return ChildKeys{EncrI: km[:ee:ee], IntegI: km[ee : ee+ea : ee+ea],
		EncrR: km[ee+ea : 2*ee+ea : 2*ee+ea], IntegR: km[2*ee+ea : 2*(ee+ea) : 2*(ee+ea)]}
}

// keyPad is the constant of the shared-key AUTH (RFC 7296 §2.15).
var keyPad = []byte("Key Pad for IKEv2")

// PSKAuth computes the AUTH of a pre-shared key:
// prf(prf(PSK, "Key Pad for IKEv2"), message | peer's nonce | prf(SK_p, ID body)),
// where message is the sender's IKE_SA_INIT message as sent, nonce the
// other side's nonce data, skp the sender's SK_pi or SK_pr and id the
// sender's ID payload (RFC 7296 §2.15).
func PSKAuth(prf uint16, psk, message, nonce, skp []byte, id *ID) []byte {
	maced := PRF(prf, skp, id.Body())
	return PRF(prf, PRF(prf, psk, keyPad), message, nonce, maced)
}

// NATHash is the data of NAT_DETECTION_SOURCE_IP and _DESTINATION_IP:
// SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23).
func NATHash(spii, spir uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	h.Write(spiBytes(spii, spir))
	h.Write(ap.Addr().AsSlice())
	h.Write([]byte{byte(ap.Port() >> 8), byte(ap.Port())})
	return h.Sum(nil)
}
