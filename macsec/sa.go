package macsec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/secylab/secylab/internal/fingerprint"
)

// Key is the keying material of one SA.
type Key struct {
	SAK []byte // 16 octets for the -128 suites, 32 for the -256 suites
	// SSCI and Salt are used by the XPN suites only. A transmit SA uses the
	// SecY's own SSCI, a receive SA the SSCI of the peer that sends on it.
	SSCI SSCI
	Salt Salt
}

// saCrypto is what the transmit and receive SAs share: the AEAD and the
// inputs of the IV.
type saCrypto struct {
	aead cipher.AEAD
	xpn  bool
	ssci SSCI
	// ivHi and ivLo are the XPN IV's parts, worked out once per SA: the
	// SSCI XOR the salt's first 4 octets, and the salt's last 8, which
	// the PN is XORed with.
	ivHi        uint32
	ivLo        uint64
	fingerprint string
}

func newSACrypto(suite CipherSuite, k Key) (saCrypto, error) {
	if len(k.SAK) != suite.KeyLen() {
		return saCrypto{}, fmt.Errorf("SAK is %d octets; %s needs %d", len(k.SAK), suite, suite.KeyLen())
	}
	block, err := aes.NewCipher(k.SAK)
	if err != nil {
		return saCrypto{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return saCrypto{}, err
	}
	return saCrypto{
		aead: aead, xpn: suite.XPN(), ssci: k.SSCI,
		ivHi:        uint32(k.SSCI) ^ binary.BigEndian.Uint32(k.Salt[:4]),
		ivLo:        binary.BigEndian.Uint64(k.Salt[4:]),
		fingerprint: fingerprint.Of(fingerprint.SAK, k.SAK),
	}, nil
}

// iv fills the 96-bit GCM IV: SCI || PN32 for the original suites,
// (SSCI || PN64) XOR Salt for the XPN suites (802.1AE-2018 14.5, 14.7).
//
// It writes the 12 octets as two overlapping 8-octet stores, octets 0..7
// and 4..11: the AEAD copies the nonce with the two 8-octet loads of a
// 12-octet memmove, and each then reads one store back whole from the
// store buffer, where a load spanning two stores would wait for both to
// reach the cache.
func (c *saCrypto) iv(iv *[12]byte, sci SCI, pn uint64) {
	lo := uint64(uint32(sci))<<32 | uint64(uint32(pn)) // SCI[4:8] || PN
	if c.xpn {
		lo = pn ^ c.ivLo
	}
	hi := uint64(sci) // SCI
	if c.xpn {
		hi = uint64(c.ivHi)<<32 | lo>>32
	}
	binary.BigEndian.PutUint64(iv[:8], hi)
	binary.BigEndian.PutUint64(iv[4:], lo)
}

// txSA is a transmit secure association.
type txSA struct {
	saCrypto
	an        uint8
	maxPN     uint64
	threshold uint64
	nextPN    atomic.Uint64 // 0 once the PN space wrapped (XPN)
	active    atomic.Bool
	warned    atomic.Bool // the PN threshold event was raised
	stats     txSACounters
}

// takePNs assigns up to want consecutive packet numbers, first..first+k-1,
// with one atomic operation. It never hands out a wrapped PN: fewer than
// want are left only at the end of the PN space, and the SA goes inactive
// with its last PN, after which every call gets none.
func (sa *txSA) takePNs(want int) (first uint64, k int) {
	for {
		pn := sa.nextPN.Load()
		if pn == 0 || pn > sa.maxPN {
			return 0, 0
		}
		n := min(uint64(want), sa.maxPN-pn+1) // pn ≥ 1: no overflow
		// pn+n is 0 after the last XPN PN, maxPN+1 after the last 32-bit
		// one: either is exhausted.
		if sa.nextPN.CompareAndSwap(pn, pn+n) {
			if pn+n-1 == sa.maxPN {
				sa.active.Store(false) // the SA's last frames
			}
			return pn, int(n)
		}
	}
}

func (sa *txSA) exhausted() bool {
	pn := sa.nextPN.Load()
	return pn == 0 || pn > sa.maxPN
}

// rxSA is a receive secure association.
type rxSA struct {
	saCrypto
	an     uint8
	nextPN atomic.Uint64
	active atomic.Bool
	stats  rxSACounters
}

// nextAfter is the next PN expected after a valid frame with pn.
func nextAfter(pn uint64) uint64 {
	if pn+1 == 0 { // the last XPN packet number: nothing can follow it
		return pn
	}
	return pn + 1
}

// advance raises nextPN to follow pn unless it is already beyond.
func (sa *rxSA) advance(pn uint64) { sa.raise(nextAfter(pn)) }

// raise raises nextPN to next unless it is already there or beyond.
func (sa *rxSA) raise(next uint64) {
	for {
		cur := sa.nextPN.Load()
		if cur >= next || sa.nextPN.CompareAndSwap(cur, next) {
			return
		}
	}
}

// lowestPN is the lowest acceptable PN for a given next PN and window.
func lowestPN(next uint64, window uint32) uint64 {
	if next <= uint64(window) {
		return 0
	}
	return next - uint64(window)
}

// recoverPN rebuilds a 64-bit XPN packet number from its lower 32 bits
// carried in the SecTAG: the upper half is that of the lowest acceptable PN,
// plus one if the lowest acceptable PN is in the upper half of its 2^32
// range and the received PN in the lower half (802.1AE-2018 10.6.2, as
// quoted in Intel's MACsec IP guide 6.5.1).
func recoverPN(lowest uint64, low uint32) uint64 {
	hi := lowest >> 32
	if uint32(lowest)&0x80000000 != 0 && low&0x80000000 == 0 {
		hi++
	}
	return hi<<32 | uint64(low)
}
