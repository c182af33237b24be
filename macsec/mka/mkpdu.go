package mka

import (
	"errors"
	"fmt"

	"github.com/secylab/secylab/macsec"
)

// EAPOL transport of MKPDUs (IEEE 802.1X-2020 11.3, 11.11).
const (
	EtherTypeEAPOL = 0x888E
	EAPOLVersion   = 3 // 802.1X-2010 and later
	EAPOLTypeMKA   = 5 // EAPOL-MKA

	// MKAVersion is the MKA Version Identifier this package sends
	// (3: 802.1Xck-2018 / 802.1X-2020, which defines the XPN parameter set).
	MKAVersion = 3

	// AlgorithmAgility is the only defined value: AES-CMAC-128/256 with the
	// 802.1X KDF (802.1X-2020 Table 11-1).
	AlgorithmAgility uint32 = 0x0080C201

	// ICVLen is the length of the MKPDU ICV (AES-CMAC).
	ICVLen = 16

	ethHeaderLen   = 14
	eapolHeaderLen = 4
	frameHeaderLen = ethHeaderLen + eapolHeaderLen
)

// PAEGroupAddress is the destination of MKPDUs: the Nearest non-TPMR Bridge
// group address 01-80-C2-00-00-03 (802.1X-2020 Table 11-1).
var PAEGroupAddress = [6]byte{0x01, 0x80, 0xC2, 0x00, 0x00, 0x03}

// Parameter set types (802.1X-2020 Table 11-7). The Basic Parameter Set has
// no type: it is always first.
const (
	paramLivePeerList      = 1
	paramPotentialPeerList = 2
	paramSAKUse            = 3
	paramDistributedSAK    = 4
	paramDistributedCAK    = 5
	paramKMD               = 6
	paramAnnouncement      = 7
	paramXPN               = 8
	paramICVIndicator      = 255
)

const (
	basicBodyMin = 28 // body octets before the CKN
	sakUseLen    = 40
	xpnLen       = 8
	peerEntryLen = 16

	tlvMACsecCipherSuites = 112 // Announcement TLV type (802.1X-2020 11.12.2)
	cipherSuiteEntryLen   = 10  // 2 octets capability, 8 octets identifier
	maxAnnouncedSuites    = 8
)

// MACsec Capability values of the Basic Parameter Set.
const (
	CapabilityNone               = 0
	CapabilityIntegrity          = 1
	CapabilityConfidentiality    = 2 // integrity with or without confidentiality, offset 0
	CapabilityConfidentialityOff = 3 // also confidentiality offsets 30 and 50
)

// Peer is one entry of a Live or Potential Peer List: the peer's MI and
// the latest MN received from it.
type Peer struct {
	MI MI
	MN uint32
}

// SAKUse is the MACsec SAK Use parameter set (802.1X-2020 11.11.1,
// Figure 11-10): which keys the sender receives and transmits with.
// Latest and Old LPN are the low 32 bits of the lowest acceptable PN; for
// the XPN suites the XPN parameter set carries the high 32 bits.
type SAKUse struct {
	LatestAN           uint8
	LatestTx, LatestRx bool
	OldAN              uint8
	OldTx, OldRx       bool
	PlainTx, PlainRx   bool
	DelayProtect       bool
	Latest             KI
	LatestLPN          uint32
	Old                KI
	OldLPN             uint32
}

// DistributedSAK is the Distributed SAK parameter set (802.1X-2020
// 11.11.1, Figures 11-11 and 11-12). The set for the default suite,
// GCM-AES-128, has no Cipher Suite field (body: KN and a 24-octet wrapped
// SAK); the set for any other suite has one (KN, suite, wrapped SAK). The
// wrapped SAK is the suite's key length + 8 octets (AES Key Wrap). The
// encoder takes CipherSuite 0 for GCM-AES-128; the decoder always fills it
// in. A set with KN 0 and no WrappedSAK distributes "no key" (plain text).
// Encoder and decoder enforce the same rules (checkDistributedSAK).
type DistributedSAK struct {
	AN                    uint8
	ConfidentialityOffset uint8
	KN                    uint32
	CipherSuite           macsec.CipherSuite
	WrappedSAK            []byte // AES Key Wrap of the SAK: key length + 8 octets
}

// suite is the cipher suite the set distributes a key for.
func (d *DistributedSAK) suite() macsec.CipherSuite {
	if d.CipherSuite == 0 {
		return macsec.GCMAES128
	}
	return d.CipherSuite
}

// plainText reports whether the set distributes no key.
func (d *DistributedSAK) plainText() bool { return d.KN == 0 && len(d.WrappedSAK) == 0 }

// checkDistributedSAK is the one rule for a wrapped SAK of suite, on encode
// and on decode: a known suite's key length + 8 octets; for a suite this
// package does not know, the wrap of a 128- or 256-bit key (24 or 40).
func checkDistributedSAK(suite macsec.CipherSuite, wrapped int) error {
	if suite.Valid() {
		if want := suite.KeyLen() + 8; wrapped != want {
			return fmt.Errorf("wrapped SAK of the Distributed SAK: a %s SAK wraps to %d octets, got %d", suite, want, wrapped)
		}
		return nil
	}
	if wrapped != 16+8 && wrapped != 32+8 {
		return fmt.Errorf("wrapped SAK of the Distributed SAK: cipher suite %#016x: a wrapped SAK is 24 or 40 octets, got %d", uint64(suite), wrapped)
	}
	return nil
}

// XPN is the XPN parameter set (802.1X-2020 11.11.1, Figure 11-13b): the
// high 32 bits of the lowest acceptable PNs of the SAK Use set.
type XPN struct {
	SuspensionTime uint8
	LatestLPNHigh  uint32
	OldLPNHigh     uint32
}

// AnnouncedSuite is one entry of the MACsec Cipher Suites announcement TLV.
type AnnouncedSuite struct {
	Capability uint8
	Suite      macsec.CipherSuite
}

// MKPDU is an MKA PDU (802.1X-2020 11.11). Decode fills one in place,
// reusing its slices, and leaves CKN and DistributedSAK.WrappedSAK pointing
// into the frame.
type MKPDU struct {
	// Basic Parameter Set.
	Version           uint8
	KeyServerPriority uint8
	KeyServer         bool // the sender is willing to be key server
	MACsecDesired     bool
	MACsecCapability  uint8
	SCI               macsec.SCI
	MI                MI
	MN                uint32
	AlgorithmAgility  uint32
	CKN               CKN

	LivePeers []Peer
	// KeyServerSSCI is the key server's SSCI, carried (MKA version 3) in the
	// Live Peer List header of an MKPDU with an XPN Distributed SAK.
	KeyServerSSCI  uint8
	PotentialPeers []Peer

	HasSAKUse         bool
	SAKUse            SAKUse
	HasDistributedSAK bool
	DistributedSAK    DistributedSAK
	HasXPN            bool
	XPN               XPN
	// HasAnnouncement adds an Announcement with the MACsec Cipher Suites TLV.
	HasAnnouncement bool
	CipherSuites    []AnnouncedSuite
	// ICVIndicator adds the ICV Indicator parameter set before the ICV; a
	// 16-octet ICV does not need it, but it is legal.
	ICVIndicator bool
}

// Errors of DecodeFrame; wrapped with the detail.
var (
	// ErrNotMKPDU: the frame is not EAPOL-MKA (other EtherType or EAPOL
	// packet type); not an MKA error.
	ErrNotMKPDU = errors.New("not an EAPOL-MKA frame")
	// ErrMalformed: a length or field does not fit the MKPDU format.
	ErrMalformed = errors.New("malformed MKPDU")
)
