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
	aead        cipher.AEAD
	xpn         bool
	ssci        SSCI
	salt        Salt
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
	return saCrypto{aead: aead, xpn: suite.XPN(), ssci: k.SSCI, salt: k.Salt, fingerprint: fingerprint.Of(fingerprint.SAK, k.SAK)}, nil
}

// iv fills the 96-bit GCM IV: SCI || PN32 for the original suites,
// (SSCI || PN64) XOR Salt for the XPN suites (802.1AE-2018 14.5, 14.7).
func (c *saCrypto) iv(iv *[12]byte, sci SCI, pn uint64) {
	if !c.xpn {
		binary.BigEndian.PutUint64(iv[:8], uint64(sci))
		binary.BigEndian.PutUint32(iv[8:], uint32(pn))
		return
	}
	binary.BigEndian.PutUint32(iv[:4], uint32(c.ssci)^binary.BigEndian.Uint32(c.salt[:4]))
	binary.BigEndian.PutUint64(iv[4:], pn^binary.BigEndian.Uint64(c.salt[4:]))
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

// takePN assigns the next packet number. It never hands out a wrapped PN:
// after maxPN the SA goes inactive and every later call fails.
func (sa *txSA) takePN() (uint64, bool) {
	for {
		pn := sa.nextPN.Load()
		if pn == 0 || pn > sa.maxPN {
			return 0, false
		}
		if sa.nextPN.CompareAndSwap(pn, pn+1) {
			if pn == sa.maxPN {
				sa.active.Store(false) // this was the last frame of the SA
			}
			return pn, true
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

// advance raises nextPN to pn+1 unless it is already beyond.
func (sa *rxSA) advance(pn uint64) {
	next := pn + 1
	if next == 0 { // the last XPN packet number: nothing can follow it
		next = pn
	}
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
