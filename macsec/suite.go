package macsec

import (
	"fmt"
	"strconv"
	"strings"
)

// CipherSuite is an 802.1AE cipher suite, identified by its 64-bit
// Cipher Suite Identifier (802.1AE-2018 Table 14-1).
type CipherSuite uint64

// The four GCM cipher suites.
const (
	GCMAES128    CipherSuite = 0x0080C20001000001
	GCMAES256    CipherSuite = 0x0080C20001000002
	GCMAESXPN128 CipherSuite = 0x0080C20001000003
	GCMAESXPN256 CipherSuite = 0x0080C20001000004

	// gcmAES128Legacy is the identifier 802.1AE-2006 and 802.1X-2010
	// printed in error; Linux and Wireshark still accept it.
	gcmAES128Legacy CipherSuite = 0x0080020001000001
)

// Suites lists the supported cipher suites in the order of their identifiers.
var Suites = []CipherSuite{GCMAES128, GCMAES256, GCMAESXPN128, GCMAESXPN256}

type suiteInfo struct {
	name, azure, iproute string
	keyLen               int
	xpn                  bool
}

func (s CipherSuite) info() (suiteInfo, bool) {
	switch s {
	case GCMAES128:
		return suiteInfo{"GCM-AES-128", "GcmAes128", "gcm-aes-128", 16, false}, true
	case GCMAES256:
		return suiteInfo{"GCM-AES-256", "GcmAes256", "gcm-aes-256", 32, false}, true
	case GCMAESXPN128:
		return suiteInfo{"GCM-AES-XPN-128", "GcmAesXpn128", "gcm-aes-xpn-128", 16, true}, true
	case GCMAESXPN256:
		return suiteInfo{"GCM-AES-XPN-256", "GcmAesXpn256", "gcm-aes-xpn-256", 32, true}, true
	}
	return suiteInfo{}, false
}

// Valid reports whether s is one of the four supported suites.
func (s CipherSuite) Valid() bool { _, ok := s.info(); return ok }

// String returns the 802.1AE name, e.g. "GCM-AES-XPN-128".
func (s CipherSuite) String() string {
	if i, ok := s.info(); ok {
		return i.name
	}
	return fmt.Sprintf("CipherSuite(%#016x)", uint64(s))
}

// AzureName returns the name the Azure API uses, e.g. "GcmAesXpn128".
func (s CipherSuite) AzureName() string { i, _ := s.info(); return i.azure }

// KeyLen is the SAK length in octets: 16 or 32.
func (s CipherSuite) KeyLen() int { i, _ := s.info(); return i.keyLen }

// XPN reports whether the suite uses 64-bit extended packet numbers.
func (s CipherSuite) XPN() bool { i, _ := s.info(); return i.xpn }

// MaxPN is the highest packet number an SA of this suite may send.
func (s CipherSuite) MaxPN() uint64 {
	if s.XPN() {
		return 1<<64 - 1
	}
	return 1<<32 - 1
}

// DefaultPNThreshold is the next PN at which the key agreement is told to
// rekey (802.1X-2020 9.8; hostap PENDING_PN_EXHAUSTION).
func (s CipherSuite) DefaultPNThreshold() uint64 {
	if s.XPN() {
		return 0xC000000000000000
	}
	return 0xC0000000
}

// ParseCipherSuite accepts the 802.1AE name (GCM-AES-XPN-128), the Azure name
// (GcmAesXpn128), the iproute2 name (gcm-aes-xpn-128), or the 64-bit
// identifier in hex (0x0080C20001000003). Case does not matter.
func ParseCipherSuite(name string) (CipherSuite, error) {
	n := strings.TrimSpace(name)
	if v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(n), "0x"), 16, 64); err == nil && len(n) >= 16 {
		s := CipherSuite(v)
		if s == gcmAES128Legacy {
			s = GCMAES128
		}
		if s.Valid() {
			return s, nil
		}
	}
	for _, s := range Suites {
		i, _ := s.info()
		if strings.EqualFold(n, i.name) || strings.EqualFold(n, i.azure) || strings.EqualFold(n, i.iproute) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown cipher suite %q: want one of GCM-AES-128, GCM-AES-256, GCM-AES-XPN-128, GCM-AES-XPN-256 (or Azure's GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256)", name)
}
