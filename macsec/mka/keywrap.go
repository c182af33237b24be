package mka

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// keyWrapIV is the default initial value of RFC 3394 2.2.3.1.
var keyWrapIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// ErrUnwrap reports that AES Key Unwrap failed its integrity check: the KEK
// is wrong or the wrapped key was altered.
var ErrUnwrap = errors.New("AES key unwrap: integrity check failed")

// Wrap wraps plaintext (a multiple of 8 octets, at least 16) with kek using
// AES Key Wrap (RFC 3394); the result is 8 octets longer.
func Wrap(kek, plaintext []byte) ([]byte, error) {
	if len(plaintext) < 16 || len(plaintext)%8 != 0 {
		return nil, fmt.Errorf("AES key wrap: key data must be a multiple of 8 octets, at least 16, got %d", len(plaintext))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("AES key wrap: %w", err)
	}
	n := len(plaintext) / 8
	out := make([]byte, 8+len(plaintext))
	copy(out[8:], plaintext)
	var b [aes.BlockSize]byte
	copy(b[:8], keyWrapIV[:])
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			r := out[8*i : 8*i+8]
			copy(b[8:], r)
			block.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(b[:8])^t)
			copy(r, b[8:])
		}
	}
	copy(out[:8], b[:8])
	clear(b[:])
	return out, nil
}

// Unwrap reverses Wrap. It returns ErrUnwrap when the integrity check
// fails; the output is then discarded.
func Unwrap(kek, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 24 || len(ciphertext)%8 != 0 {
		return nil, fmt.Errorf("AES key unwrap: wrapped data must be a multiple of 8 octets, at least 24, got %d", len(ciphertext))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("AES key unwrap: %w", err)
	}
	n := len(ciphertext)/8 - 1
	out := make([]byte, 8*n)
	copy(out, ciphertext[8:])
	var b [aes.BlockSize]byte
	copy(b[:8], ciphertext[:8])
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := out[8*(i-1) : 8*i]
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(b[:8])^t)
			copy(b[8:], r)
			block.Decrypt(b[:], b[:])
			copy(r, b[8:])
		}
	}
	ok := subtle.ConstantTimeCompare(b[:8], keyWrapIV[:]) == 1
	clear(b[:])
	if !ok {
		clear(out)
		return nil, ErrUnwrap
	}
	return out, nil
}
