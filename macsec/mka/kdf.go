package mka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/secylab/secylab/internal/fingerprint"
)

// KDF labels of IEEE 802.1X-2010 6.2.
const (
	labelICK = "IEEE8021 ICK"
	labelKEK = "IEEE8021 KEK"
	labelSAK = "IEEE8021 SAK"
)

// KDF is the key derivation function of IEEE 802.1X 6.2.1: NIST SP 800-108
// counter mode with AES-CMAC under key as the PRF. Each 128-bit block i is
// AES-CMAC(key, i || label || 0x00 || context || L), with i one octet and L
// the output length in bits as two octets.
func KDF(key []byte, label string, context []byte, lengthBits int) ([]byte, error) {
	if lengthBits <= 0 || lengthBits%8 != 0 || lengthBits > 0xFFFF {
		return nil, fmt.Errorf("KDF: length must be a positive multiple of 8 bits below 65536, got %d", lengthBits)
	}
	c, err := newCMAC(key)
	if err != nil {
		return nil, fmt.Errorf("KDF: %w", err)
	}
	n := lengthBits / 8
	if (n+CMACSize-1)/CMACSize > 0xFF {
		return nil, fmt.Errorf("KDF: length %d bits needs more than 255 blocks", lengthBits)
	}
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(lengthBits))
	out := make([]byte, 0, n+CMACSize)
	for i := byte(1); len(out) < n; i++ {
		t := c.sum([]byte{i}, []byte(label), []byte{0}, context, l[:])
		out = append(out, t[:]...)
	}
	clear(out[n:cap(out)])
	return out[:n], nil
}

// ICK is the ICV Key that authenticates MKPDUs.
type ICK struct{ secret }

// KEK is the Key Encrypting Key that wraps distributed SAKs.
type KEK struct{ secret }

// SAK is a Secure Association Key, the key a SecY's SAs use.
type SAK struct{ secret }

// NewSAK wraps key (16 or 32 octets) as a SAK. The slice is kept, not copied.
func NewSAK(key []byte) (SAK, error) {
	if len(key) != 16 && len(key) != 32 {
		return SAK{}, fmt.Errorf("SAK: must be 16 or 32 octets, got %d", len(key))
	}
	return SAK{secret{key: key, label: fingerprint.SAK}}, nil
}

// cknContext is the KDF context for the ICK and KEK: the first 16 octets
// of the CKN, zero-padded if shorter.
func cknContext(ckn CKN) []byte {
	var ctx [16]byte
	copy(ctx[:], ckn)
	return ctx[:]
}

// DeriveICK derives the ICK from the CAK and CKN (IEEE 802.1X 9.3.3); it is
// as long as the CAK.
func DeriveICK(cak CAK, ckn CKN) (ICK, error) {
	k, err := KDF(cak.key, labelICK, cknContext(ckn), 8*cak.Len())
	if err != nil {
		return ICK{}, fmt.Errorf("ICK: %w", err)
	}
	return ICK{secret{key: k, label: fingerprint.ICK}}, nil
}

// DeriveKEK derives the KEK from the CAK and CKN (IEEE 802.1X 9.3.3); it is
// as long as the CAK.
func DeriveKEK(cak CAK, ckn CKN) (KEK, error) {
	k, err := KDF(cak.key, labelKEK, cknContext(ckn), 8*cak.Len())
	if err != nil {
		return KEK{}, fmt.Errorf("KEK: %w", err)
	}
	return KEK{secret{key: k, label: fingerprint.KEK}}, nil
}

// DeriveSAK is the KDF form of SAK generation (IEEE 802.1X 9.8.1):
// KDF(CAK, "IEEE8021 SAK", KS-nonce || MI-value list || KN, 8*keyLen). The
// nonce must be fresh random bits as long as the SAK; only the key server
// derives the SAK, so the order of the MI list is its own choice.
func DeriveSAK(cak CAK, ksNonce []byte, mis []MI, kn uint32, keyLen int) (SAK, error) {
	if keyLen != 16 && keyLen != 32 {
		return SAK{}, fmt.Errorf("SAK: length must be 16 or 32 octets, got %d", keyLen)
	}
	ctx := make([]byte, 0, len(ksNonce)+len(mis)*len(MI{})+4)
	ctx = append(ctx, ksNonce...)
	for _, mi := range mis {
		ctx = append(ctx, mi[:]...)
	}
	ctx = binary.BigEndian.AppendUint32(ctx, kn)
	k, err := KDF(cak.key, labelSAK, ctx, 8*keyLen)
	clear(ctx)
	if err != nil {
		return SAK{}, fmt.Errorf("SAK: %w", err)
	}
	return NewSAK(k)
}

// GenerateSAK returns a random SAK of keyLen octets read from rand.
func GenerateSAK(rand io.Reader, keyLen int) (SAK, error) {
	if rand == nil {
		return SAK{}, errors.New("SAK: no random source")
	}
	k := make([]byte, keyLen)
	if _, err := io.ReadFull(rand, k); err != nil {
		return SAK{}, fmt.Errorf("SAK: reading random bits: %w", err)
	}
	return NewSAK(k)
}
