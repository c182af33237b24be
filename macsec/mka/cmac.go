package mka

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// CMACSize is the length of an AES-CMAC tag in octets.
const CMACSize = aes.BlockSize

// cmac is AES-CMAC (RFC 4493, NIST SP 800-38B) with its subkeys computed
// once and its working blocks kept, so a MAC allocates nothing (buffers
// handed to the cipher.Block interface would escape to the heap). It is not
// safe for concurrent use.
type cmac struct {
	block  cipher.Block
	k1, k2 [aes.BlockSize]byte
	x, m   [aes.BlockSize]byte
}

func newCMAC(key []byte) (*cmac, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES-CMAC: %w", err)
	}
	c := &cmac{block: block}
	var l [aes.BlockSize]byte
	block.Encrypt(l[:], l[:])
	dbl(&c.k1, &l)
	dbl(&c.k2, &c.k1)
	return c, nil
}

// dbl doubles in GF(2^128) (RFC 4493 2.3: shift left, xor Rb on carry).
func dbl(dst, src *[aes.BlockSize]byte) {
	carry := src[0] >> 7
	for i := 0; i < aes.BlockSize-1; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[aes.BlockSize-1] = src[aes.BlockSize-1]<<1 ^ 0x87&-carry
}

// sum returns the tag over the concatenation of parts.
func (c *cmac) sum(parts ...[]byte) [CMACSize]byte {
	x, m := &c.x, &c.m
	clear(x[:])
	n := 0 // bytes buffered in m
	for _, p := range parts {
		for len(p) > 0 {
			// A full buffer is processed only when more input follows: the
			// last block gets the subkey treatment.
			if n == aes.BlockSize {
				subtle.XORBytes(x[:], x[:], m[:])
				c.block.Encrypt(x[:], x[:])
				n = 0
			}
			k := copy(m[n:], p)
			n += k
			p = p[k:]
		}
	}
	if n == aes.BlockSize {
		subtle.XORBytes(m[:], m[:], c.k1[:])
	} else {
		m[n] = 0x80
		clear(m[n+1:])
		subtle.XORBytes(m[:], m[:], c.k2[:])
	}
	subtle.XORBytes(x[:], x[:], m[:])
	c.block.Encrypt(x[:], x[:])
	clear(m[:])
	return *x
}

// CMAC returns AES-CMAC(key, msg) as defined in RFC 4493; key is 16 or 32
// octets (AES-128 or AES-256, as 802.1X uses it).
func CMAC(key, msg []byte) ([]byte, error) {
	c, err := newCMAC(key)
	if err != nil {
		return nil, err
	}
	t := c.sum(msg)
	return t[:], nil
}
