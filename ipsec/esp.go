package ipsec

import (
	"crypto/aes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
)

// Sizes of ESP (RFC 4303 §2) with AES-GCM-16 (RFC 4106 §3, §6) and with
// AES-CBC (RFC 3602 §3) and an HMAC (RFC 2404, RFC 4868).
const (
	HeaderLen = 8  // SPI and the low 32 bits of the SN
	IVLen     = 8  // the explicit IV of AES-GCM carried in each packet
	ICVLen    = 16 // the GCM tag
	CBCIVLen  = 16 // the IV of AES-CBC: one block
	// ScratchLen is where an SA builds the GCM nonce (salt||IV, 12
	// octets) and the ESN AAD (SPI||SN-high||SN-low, 12 octets): in the
	// headroom, so that a packet costs no allocation and no pool. Open
	// needs (and overwrites) ScratchLen octets before the ESP packet.
	ScratchLen = 24
	// Headroom is what Seal needs before the inner packet and Open
	// before the ESP packet, for any cipher.
	Headroom = ScratchLen + HeaderLen + CBCIVLen
	// Tailroom is what Seal needs after the inner packet: padding (to a
	// 4-octet boundary with GCM, to a block with CBC), pad length, next
	// header and ICV.
	Tailroom = 15 + 2 + ICVLen
	// Overhead is the most ESP adds to an inner packet.
	Overhead = HeaderLen + CBCIVLen + Tailroom
	// minESP is the shortest ESP packet of any cipher (AES-GCM's).
	minESP = HeaderLen + IVLen + 2 + ICVLen
)

// Next header values (IANA protocol numbers) in tunnel mode.
const (
	NextHeaderIPv4  = 4
	NextHeaderIPv6  = 41
	NextHeaderDummy = 59
)

// Seal errors. The packet is not sent.
var (
	ErrSNOverflow   = errors.New("ipsec: SA exhausted its sequence numbers; a new SA is needed (RFC 4303 §3.3.3)")
	ErrSAExpired    = errors.New("ipsec: SA expired")
	ErrBufferLayout = errors.New("ipsec: packet needs Headroom octets before it and Tailroom after it")
	ErrNotOutbound  = errors.New("ipsec: Seal needs an outbound SA")
)

// Seal protects, in place, the inner packet buf[off:off+n] whose IP
// protocol is nh (NextHeaderIPv4, NextHeaderIPv6, or NextHeaderDummy) and
// returns the ESP packet SPI | SN | IV | ciphertext | ICV, a slice of buf
// that starts HeaderLen and the IV before off. buf must have Headroom
// octets before off (Seal owns them) and Tailroom after the packet.
// AES-GCM's IV is the 64-bit SN, which never repeats under one key
// (RFC 4106 §3.1). Seal allocates nothing.
func (sa *SA) Seal(buf []byte, off, n int, nh byte) ([]byte, error) {
	if sa.cfg.Dir != DirOut {
		return nil, ErrNotOutbound
	}
	if sa.dead.Load() {
		sa.stats.expired.Add(1)
		return nil, ErrSAExpired
	}
	sn := sa.sn.Add(1)
	if sn > sa.maxSN || sn == 0 {
		// Stop rather than wrap: a wrapped SN would let the receiver's
		// window reject everything, or worse, repeat an IV.
		sa.sn.Store(sa.maxSN)
		sa.dead.Store(true)
		sa.stats.expired.Add(1)
		return nil, ErrSNOverflow
	}
	if sa.maxSN-sn < snSoftMargin {
		sa.softExpire()
	}
	pad := (sa.blockLen - (n+2)%sa.blockLen) % sa.blockLen
	out, err := sa.seal(buf, off, n, nh, sn, nil, pad)
	if err != nil {
		return nil, err
	}
	sa.account(n)
	return out, nil
}

// seal is Seal with the SN and padding given, and the IV (nil: the SA's
// own: the SN for GCM, the encrypted masked SN for CBC).
func (sa *SA) seal(buf []byte, off, n int, nh byte, sn uint64, iv []byte, pad int) ([]byte, error) {
	end := off + n
	if off < Headroom || n < 0 || end+pad+2+sa.icvLen > len(buf) || (sa.cfg.Cipher.CBC() && (n+2+pad)%sa.blockLen != 0) {
		return nil, ErrBufferLayout
	}
	for i := range pad {
		buf[end+i] = byte(i + 1)
	}
	buf[end+pad] = byte(pad)
	buf[end+pad+1] = nh
	pt := buf[off : end+pad+2]

	h := off - HeaderLen - sa.ivLen
	binary.BigEndian.PutUint32(buf[h:], sa.cfg.SPI)
	binary.BigEndian.PutUint32(buf[h+4:], uint32(sn))
	ivb := buf[h+HeaderLen : off]
	if sa.cfg.Cipher.CBC() {
		return sa.sealCBC(buf, h, pt, ivb, iv, sn), nil
	}
	if iv != nil {
		copy(ivb, iv)
	} else {
		binary.BigEndian.PutUint64(ivb, sn)
	}
	nonce, aad := sa.nonceAAD(buf, h, sn)
	sa.aead.Seal(pt[:0], nonce, pt, aad)
	return buf[h : end+pad+2+ICVLen], nil
}

// sealCBC encrypts pt (whole blocks) in place after the IV at ivb, and
// appends the ICV: the truncated HMAC of SPI | SN | IV | ciphertext, and
// the high half of the SN with ESN (RFC 4303 §3.3.2.1, §2.2.1).
func (sa *SA) sealCBC(buf []byte, h int, pt, ivb, iv []byte, sn uint64) []byte {
	sa.cbcMu.Lock()
	defer sa.cbcMu.Unlock()
	if iv != nil {
		copy(ivb, iv)
	} else {
		copy(ivb, sa.ivMask[:])
		binary.BigEndian.PutUint64(ivb[8:], binary.BigEndian.Uint64(ivb[8:])^sn)
		sa.block.Encrypt(ivb, ivb)
	}
	sa.cbcEnc.(ivSetter).SetIV(ivb)
	sa.cbcEnc.CryptBlocks(pt, pt)
	end := h + HeaderLen + sa.ivLen + len(pt)
	icv := sa.icv(buf[h:end], sn)
	copy(buf[end:], icv)
	return buf[h : end+sa.icvLen]
}

// icv is the truncated HMAC of an ESP packet up to its ICV. The caller
// holds cbcMu; the result is valid until the next call.
func (sa *SA) icv(b []byte, sn uint64) []byte {
	sa.mac.Reset()
	sa.mac.Write(b)
	if sa.cfg.ESN {
		binary.BigEndian.PutUint32(sa.macHi[:], uint32(sn>>32))
		sa.mac.Write(sa.macHi[:])
	}
	return sa.mac.Sum(sa.macSum[:0])[:sa.icvLen]
}

// nonceAAD builds the GCM nonce and AAD of the ESP packet at buf[h:] in
// the scratch before it: nonce = salt || IV (RFC 4106 §4), AAD = SPI || SN
// or SPI || SN-high || SN-low with ESN (§5). Without ESN the AAD is the
// packet's own first 8 octets.
func (sa *SA) nonceAAD(buf []byte, h int, sn uint64) (nonce, aad []byte) {
	s := buf[h-ScratchLen : h]
	copy(s[:4], sa.salt[:])
	copy(s[4:12], buf[h+HeaderLen:h+HeaderLen+IVLen])
	if !sa.cfg.ESN {
		return s[:12], buf[h : h+HeaderLen]
	}
	copy(s[12:16], buf[h:h+4])
	binary.BigEndian.PutUint64(s[16:24], sn)
	return s[:12], s[12:24]
}

// Open authenticates and decrypts, in place, the ESP packet buf[off:off+n]
// received on this inbound SA, and returns the inner IPv4 or IPv6 packet
// (a slice of buf) and OK, or the reason it was dropped, which is counted.
// buf must have ScratchLen octets before off (Headroom is plenty); Open
// owns them. In the order of RFC 4303 §3.4: the replay pre-check, the ICV,
// the replay window update, then the trailer and the inner packet. Open
// allocates nothing.
func (sa *SA) Open(buf []byte, off, n int) ([]byte, Result) {
	inner, nh, r := sa.OpenPayload(buf, off, n)
	if r != OK {
		return nil, r
	}
	switch nh {
	case NextHeaderDummy:
		sa.stats.dummy.Add(1)
		return nil, Dummy
	case NextHeaderIPv4:
		if len(inner) < 20 || inner[0]>>4 != 4 {
			return nil, sa.drop(BadNextHeader)
		}
		// TFC padding may follow the packet (RFC 4303 §2.7).
		l := int(binary.BigEndian.Uint16(inner[2:]))
		if l < 20 || l > len(inner) {
			return nil, sa.drop(BadNextHeader)
		}
		return inner[:l], OK
	case NextHeaderIPv6:
		if len(inner) < 40 || inner[0]>>4 != 6 {
			return nil, sa.drop(BadNextHeader)
		}
		l := 40 + int(binary.BigEndian.Uint16(inner[4:]))
		if l > len(inner) {
			return nil, sa.drop(BadNextHeader)
		}
		return inner[:l], OK
	}
	return nil, sa.drop(BadNextHeader)
}

// OpenPayload is Open without interpreting the payload: it returns it with
// its next header, whatever that is (the draft-mcgrew vectors carry next
// header 1). It does the same checks up to the trailer.
func (sa *SA) OpenPayload(buf []byte, off, n int) (payload []byte, nh byte, r Result) {
	if off < ScratchLen || n < HeaderLen+sa.ivLen+sa.blockLen+sa.icvLen || off+n > len(buf) || sa.cfg.Dir != DirIn ||
		binary.BigEndian.Uint32(buf[off:]) != sa.cfg.SPI {
		return nil, 0, sa.drop(Malformed)
	}
	if sa.dead.Load() {
		return nil, 0, sa.drop(Expired)
	}
	seql := binary.BigEndian.Uint32(buf[off+4:])
	sa.mu.Lock()
	sn, r := sa.inboundSN(seql)
	sa.mu.Unlock()
	if r != OK {
		return nil, 0, sa.drop(r)
	}
	ct := buf[off+HeaderLen+sa.ivLen : off+n]
	if sa.cfg.Cipher.CBC() {
		if !sa.openCBC(buf[off:off+n], ct, sn) {
			return nil, 0, sa.drop(IntegrityFailed)
		}
	} else {
		nonce, aad := sa.nonceAAD(buf, off, sn)
		if _, err := sa.aead.Open(ct[:0], nonce, ct, aad); err != nil {
			return nil, 0, sa.drop(IntegrityFailed)
		}
	}
	// The window moves only for packets whose ICV verified (§3.4.3).
	sa.mu.Lock()
	r = sa.replay.update(sn)
	sa.mu.Unlock()
	if r != OK {
		return nil, 0, sa.drop(r)
	}
	pt := ct[:len(ct)-sa.icvLen]
	nh = pt[len(pt)-1]
	pad := int(pt[len(pt)-2])
	if pad+2 > len(pt) {
		return nil, 0, sa.drop(BadPadding)
	}
	payload = pt[:len(pt)-2-pad]
	for i, b := range pt[len(payload) : len(pt)-2] {
		if b != byte(i+1) {
			return nil, 0, sa.drop(BadPadding)
		}
	}
	sa.account(len(payload))
	return payload, nh, OK
}

// openCBC checks the ICV of the ESP packet esp (in constant time) and
// then decrypts its ciphertext, which begins ct, in place. A packet that
// is not whole blocks fails as a bad ICV would.
func (sa *SA) openCBC(esp, ct []byte, sn uint64) bool {
	body := len(ct) - sa.icvLen
	if body <= 0 || body%aes.BlockSize != 0 {
		return false
	}
	sa.cbcMu.Lock()
	defer sa.cbcMu.Unlock()
	if !hmac.Equal(sa.icv(esp[:len(esp)-sa.icvLen], sn), esp[len(esp)-sa.icvLen:]) {
		return false
	}
	sa.cbcDec.(ivSetter).SetIV(esp[HeaderLen : HeaderLen+sa.ivLen])
	sa.cbcDec.CryptBlocks(ct[:body], ct[:body])
	return true
}

// inboundSN finds the full SN of a packet and pre-checks it against the
// window. The caller holds sa.mu.
func (sa *SA) inboundSN(seql uint32) (uint64, Result) {
	sn := uint64(seql)
	if sa.cfg.ESN {
		var ok bool
		if sn, ok = inferSN(sa.replay.top, sa.replay.size, seql); !ok {
			return 0, ReplayOld
		}
	}
	if sn == 0 && sa.replay.size > 0 {
		return 0, ReplayOld // the first SN is 1 (RFC 4303 §3.3.3)
	}
	return sn, sa.replay.check(sn)
}

// drop counts a dropped packet under its reason.
func (sa *SA) drop(r Result) Result {
	c := &sa.stats
	switch r {
	case ReplayOld:
		c.replayWindow.Add(1)
	case ReplayDuplicate:
		c.replay.Add(1)
	case IntegrityFailed:
		c.integrityFailed.Add(1)
	case BadPadding:
		c.badPadding.Add(1)
	case BadNextHeader:
		c.badNextHeader.Add(1)
	case Expired:
		c.expired.Add(1)
	case Malformed:
		c.short.Add(1)
	}
	return r
}
