package macsec

import (
	"encoding/binary"
	"errors"
)

// EtherType is the MACsec EtherType that opens every SecTAG.
const EtherType = 0x88E5

// TCI bits of the TCI/AN octet (802.1AE-2018 9.5).
const (
	TCIV   = 0x80 // version, must be 0
	TCIES  = 0x40 // end station: SCI = MAC SA || 0x0001
	TCISC  = 0x20 // SCI present in the SecTAG
	TCISCB = 0x10 // single copy broadcast
	TCIE   = 0x08 // encryption
	TCIC   = 0x04 // changed text
	ANMask = 0x03
)

// Lengths of the parts of a protected frame.
const (
	addrLen        = 12 // DA || SA
	sectagLen      = 8  // EtherType, TCI/AN, SL, PN
	sectagLenSCI   = 16 // the same followed by the SCI
	ICVLen         = 16
	minNonShortLen = 48 // secure data below this length is announced in SL

	// Headroom is the space Protect owns before the cleartext frame: the
	// longest SecTAG, and 12 octets of IV scratch (a [12]byte on the stack
	// would escape through the cipher.AEAD interface and cost an
	// allocation per frame).
	Headroom = sectagLenSCI + ivLen
	// MinHeadroom is the least Protect accepts; below Headroom it takes
	// its IV scratch from a pool, which costs a little per frame.
	MinHeadroom = sectagLenSCI
	// RxHeadroom is what Validate uses before a received frame, when the
	// caller leaves it free, for the same IV scratch.
	RxHeadroom = ivLen
	ivLen      = 12
	// MaxOverhead is what protection adds to a frame at most.
	MaxOverhead = sectagLenSCI + ICVLen
)

// SecTAG is the decoded MACsec security tag.
type SecTAG struct {
	TCI uint8 // TCI bits without the AN
	AN  uint8
	SL  uint8  // short length
	PN  uint32 // the packet number, lower 32 bits for XPN suites
	SCI SCI    // only when TCI has SC
}

// HasSCI reports whether the SCI is carried in the tag.
func (t SecTAG) HasSCI() bool { return t.TCI&TCISC != 0 }

// Len is the SecTAG length in octets, EtherType included.
func (t SecTAG) Len() int {
	if t.HasSCI() {
		return sectagLenSCI
	}
	return sectagLen
}

// Errors of SecTAG decoding; each is a reason for InPktsBadTag.
var (
	ErrNotMACsec   = errors.New("not a MACsec frame: EtherType is not 0x88E5")
	ErrTruncated   = errors.New("frame too short for its SecTAG and ICV")
	ErrVersion     = errors.New("SecTAG V bit set")
	ErrSCWithESSCB = errors.New("SecTAG SC bit set together with ES or SCB")
	ErrSLHighBits  = errors.New("SecTAG SL octet has its two high bits set")
	ErrZeroPN      = errors.New("SecTAG PN is zero")
	ErrShortLength = errors.New("SecTAG SL does not match the secure data length")
)

// ParseSecTAG decodes the SecTAG of frame (DA|SA|SecTAG|...) without
// checking its validity.
func ParseSecTAG(frame []byte) (SecTAG, error) {
	if len(frame) < addrLen+2 || binary.BigEndian.Uint16(frame[addrLen:]) != EtherType {
		if len(frame) < addrLen+2 {
			return SecTAG{}, ErrTruncated
		}
		return SecTAG{}, ErrNotMACsec
	}
	if len(frame) < addrLen+sectagLen {
		return SecTAG{}, ErrTruncated
	}
	t := SecTAG{
		TCI: frame[addrLen+2] &^ ANMask,
		AN:  frame[addrLen+2] & ANMask,
		SL:  frame[addrLen+3],
		PN:  binary.BigEndian.Uint32(frame[addrLen+4:]),
	}
	if t.HasSCI() {
		if len(frame) < addrLen+sectagLenSCI {
			return SecTAG{}, ErrTruncated
		}
		t.SCI = SCI(binary.BigEndian.Uint64(frame[addrLen+sectagLen:]))
	}
	return t, nil
}

// Check applies the validity checks of 802.1AE-2018 9.12 to a tag decoded
// from a frame of frameLen octets. xpn allows PN 0, which is legal for the
// lower half of an extended packet number.
func (t SecTAG) Check(frameLen int, xpn bool) error {
	return checkTag(t.TCI, t.SL, t.PN, frameLen, xpn)
}

// tagValid is checkTag's verdict alone, small enough to inline into the
// receive path.
func tagValid(tci, sl uint8, pn uint32, frameLen int, xpn bool) bool {
	secure := frameLen - addrLen - sectagLen - ICVLen
	if tci&TCISC != 0 {
		secure -= sectagLenSCI - sectagLen
	}
	return tci&TCIV == 0 && (tci&TCISC == 0 || tci&(TCIES|TCISCB) == 0) &&
		sl&0xC0 == 0 && (pn != 0 || xpn) &&
		(sl == 0 && secure >= minNonShortLen || sl != 0 && secure == int(sl))
}

// checkTag is Check on the raw fields.
func checkTag(tci, sl uint8, pn uint32, frameLen int, xpn bool) error {
	if tci&TCIV != 0 {
		return ErrVersion
	}
	tagLen := sectagLen
	if tci&TCISC != 0 {
		if tci&(TCIES|TCISCB) != 0 {
			return ErrSCWithESSCB
		}
		tagLen = sectagLenSCI
	}
	if sl&0xC0 != 0 {
		return ErrSLHighBits
	}
	if pn == 0 && !xpn {
		return ErrZeroPN
	}
	secure := frameLen - addrLen - tagLen - ICVLen
	if sl != 0 {
		if secure != int(sl) {
			return ErrShortLength
		}
	} else if secure < minNonShortLen {
		if secure < 0 {
			return ErrTruncated
		}
		return ErrShortLength
	}
	return nil
}

// shortLen is the SL value for secure data of n octets.
func shortLen(n int) uint8 {
	if n < minNonShortLen {
		return uint8(n)
	}
	return 0
}
