package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// ErrIntegrity is an Encrypted payload whose ICV does not verify: the
// message is dropped without an answer (RFC 7296 §2.21.2).
var ErrIntegrity = errors.New("ike: integrity check of the Encrypted payload failed")

// Crypter protects the Encrypted (SK) payloads of one direction of an IKE
// SA: AES-CBC with an HMAC (RFC 7296 §3.14) or AES-GCM (RFC 5282).
type Crypter struct {
	suite Suite
	block cipher.Block
	aead  cipher.AEAD
	salt  []byte
	integ func() hash.Hash
	ikey  []byte
	icv   int
	rand  io.Reader

	mu sync.Mutex
	iv uint64 // the AES-GCM IV counter: an IV never repeats under a key (RFC 5282 §3.1)
}

// NewCrypter keys one direction: encr is SK_ei or SK_er (with the salt for
// AES-GCM), integ SK_ai or SK_ar (none for AES-GCM).
func NewCrypter(s Suite, encr, integ []byte) (*Crypter, error) {
	if len(encr) != s.EncrKeyLen() || len(integ) != s.IntegKeyLen() {
		return nil, fmt.Errorf("ike: %v needs keys of %d and %d octets", s, s.EncrKeyLen(), s.IntegKeyLen())
	}
	c := &Crypter{suite: s, icv: s.ICVLen(), rand: rand.Reader}
	key := encr
	if s.AEAD() {
		key, c.salt = encr[:len(encr)-4], clone(encr[len(encr)-4:])
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	c.block = b
	if s.AEAD() {
		if c.aead, err = cipher.NewGCMWithTagSize(b, c.icv); err != nil {
			return nil, err
		}
		return c, nil
	}
	c.integ, c.ikey = integHash(s.Integ), clone(integ)
	if c.integ == nil {
		return nil, fmt.Errorf("ike: integrity algorithm %d is not supported", s.Integ)
	}
	return c, nil
}

// ivLen is the length of the IV in each Encrypted payload.
func (c *Crypter) ivLen() int {
	if c.aead != nil {
		return 8
	}
	return aes.BlockSize
}

// Seal encodes a message whose payloads all go inside one Encrypted
// payload, with h's SPIs, exchange, flags and message ID.
func (c *Crypter) Seal(h Header, inner []Payload) ([]byte, error) {
	first := PayloadNone
	if len(inner) > 0 {
		first = inner[0].Type()
	}
	pt := appendPayloads(nil, inner)
	bs := 1
	if c.aead == nil {
		bs = aes.BlockSize
	}
	pad := (bs - (len(pt)+1)%bs) % bs
	pt = append(pt, make([]byte, pad+1)...)
	pt[len(pt)-1] = byte(pad)

	ivl := c.ivLen()
	total := HeaderLen + PayloadHeaderLen + ivl + len(pt) + c.icv
	b := make([]byte, HeaderLen+PayloadHeaderLen+ivl, total)
	h.Version, h.NextPayload, h.Length = Version, PayloadSK, uint32(total)
	h.put(b)
	b[HeaderLen] = byte(first)
	binary.BigEndian.PutUint16(b[HeaderLen+2:], uint16(total-HeaderLen))
	iv := b[HeaderLen+PayloadHeaderLen:]
	if c.aead != nil {
		c.mu.Lock()
		c.iv++
		binary.BigEndian.PutUint64(iv, c.iv)
		c.mu.Unlock()
		nonce := append(clone(c.salt), iv...)
		return c.aead.Seal(b, nonce, pt, b[:HeaderLen+PayloadHeaderLen]), nil
	}
	if _, err := io.ReadFull(c.rand, iv); err != nil {
		return nil, err
	}
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(pt, pt)
	b = append(b, pt...)
	m := hmac.New(c.integ, c.ikey)
	m.Write(b)
	return append(b, m.Sum(nil)[:c.icv]...), nil
}

// Open verifies and decrypts the Encrypted payload of m, parsed from raw,
// and puts the inner payloads in its place.
func (c *Crypter) Open(m *Message, raw []byte) error {
	if len(m.Payloads) == 0 {
		return fmt.Errorf("%w: no Encrypted payload", ErrMalformed)
	}
	e, ok := m.Payloads[len(m.Payloads)-1].(*Encrypted)
	if !ok {
		return fmt.Errorf("%w: no Encrypted payload", ErrMalformed)
	}
	end := int(m.Length)
	if end > len(raw) {
		return fmt.Errorf("%w: message shorter than its header says", ErrMalformed)
	}
	skStart := end - PayloadHeaderLen - len(e.Data)
	ivl := c.ivLen()
	if skStart < HeaderLen || len(e.Data) < ivl+c.icv+1 {
		return fmt.Errorf("%w: Encrypted payload of %d octets", ErrMalformed, len(e.Data))
	}
	iv := e.Data[:ivl]
	var pt []byte
	if c.aead != nil {
		nonce := append(clone(c.salt), iv...)
		var err error
		if pt, err = c.aead.Open(nil, nonce, e.Data[ivl:], raw[:skStart+PayloadHeaderLen]); err != nil {
			return ErrIntegrity
		}
	} else {
		mac := hmac.New(c.integ, c.ikey)
		mac.Write(raw[:end-c.icv])
		if !hmac.Equal(mac.Sum(nil)[:c.icv], raw[end-c.icv:end]) {
			return ErrIntegrity
		}
		ct := e.Data[ivl : len(e.Data)-c.icv]
		if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
			return fmt.Errorf("%w: ciphertext of %d octets is not whole blocks", ErrMalformed, len(ct))
		}
		pt = make([]byte, len(ct))
		cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(pt, ct)
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return fmt.Errorf("%w: pad length %d of %d octets", ErrMalformed, pad, len(pt))
	}
	inner, err := parsePayloads(e.First, pt[:len(pt)-1-pad], false)
	if err != nil {
		return err
	}
	m.Payloads = append(m.Payloads[:len(m.Payloads)-1], inner...)
	return nil
}
