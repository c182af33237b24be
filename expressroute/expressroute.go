// Package expressroute is the one place for the Azure ExpressRoute
// product profile a lab models: Microsoft's AS, the private-peering
// prefix limits, BGP and BFD timers, the active-passive and drain
// preferences, the MKA timers, and the constants Azure's validation of
// an ExpressRoute Direct port uses (lab-anchors §1.5). The BGP profiles
// of the Microsoft edge and the customer router (MicrosoftEdge,
// Customer) are built from them.
//
// It sits between the protocol packages, which it configures and which
// never import it, and the edges (topology, routers, lab, cmd), which
// refer to expressroute.X instead of repeating a number.
package expressroute

import (
	"time"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// BGP on private peering.
const (
	// MicrosoftASN is the AS of Microsoft's edge (MSEE) in every peering.
	MicrosoftASN = 12076
	// HoldTime and KeepaliveTime are the MSEE's BGP timers (the lower
	// hold time offered wins).
	HoldTime      = 180 * time.Second
	KeepaliveTime = 60 * time.Second
	// Private-peering prefix limits per session: exceeding one drops the
	// session (Cease / Maximum Number of Prefixes Reached).
	MaxPrefixIPv4        = 4000
	MaxPrefixIPv4Premium = 10000 // with the Premium add-on
	MaxPrefixIPv6        = 100
	// MaxPrefixMicrosoftPeering is Microsoft peering's limit per session
	// (IPv4 and IPv6 each).
	MaxPrefixMicrosoftPeering = 200
)

// BFD as the MSEE runs it on every private peering: 300 ms × 3.
const (
	BFDInterval   = 300 * time.Millisecond
	BFDMultiplier = 3
)

// Active-passive over the two links of a port pair, as Azure recommends:
// the backup link's export is prepended BackupPrepend times and what is
// learned there gets BackupLocalPref against the primary's
// PrimaryLocalPref. Draining a link for maintenance prepends DrainPrepend
// times (longer than the backup's path) and lowers the local preference
// to DrainLocalPref (below the backup's).
const (
	BackupPrepend    = 3
	PrimaryLocalPref = 100
	BackupLocalPref  = 90
	DrainPrepend     = BackupPrepend + 3
	DrainLocalPref   = 50
)

// MKA timers: production (the 802.1X defaults Azure uses) and the lab's
// shortened defaults, so that an exercise takes seconds.
const (
	MKAHelloTime    = mka.DefaultHelloTime // 2 s
	MKALifeTime     = mka.DefaultLifeTime  // 6 s
	LabMKAHelloTime = time.Second
	LabMKALifeTime  = 3 * time.Second
)

// The lab's BGP timers (production: HoldTime / KeepaliveTime).
const (
	LabHoldTime      = 9 * time.Second
	LabKeepaliveTime = 3 * time.Second
)

// Azure's validation of MACsec on an ExpressRoute Direct port.
const (
	// Ciphers lists the cipher names Azure accepts (macsec.CipherSuite's
	// AzureName), for messages.
	Ciphers = "GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256"
	// Enabled and Disabled are Azure's spellings of a switch: sciState,
	// and a link's adminState.
	Enabled  = "Enabled"
	Disabled = "Disabled"
	// MaxCKNHexDigits bounds the CKN secret: an even number of hex
	// digits, at most 64 (32 octets, 802.1X's maximum).
	MaxCKNHexDigits = 2 * mka.MaxCKNLen
	// NoXPNPortGbps is the port bandwidth on which Azure refuses the XPN
	// ciphers.
	NoXPNPortGbps = 10
	// LinkPrefixBits is the prefix length of each link's subnet on
	// private peering: a /30 per link.
	LinkPrefixBits = 30
)

// CAKHexDigits is the length of the CAK secret for suite: 32 hex digits
// for GcmAes128 and GcmAesXpn128, 64 for GcmAes256 and GcmAesXpn256.
func CAKHexDigits(suite macsec.CipherSuite) int { return 2 * suite.KeyLen() }

// NoXPNReason says why port (10 Gbps) refuses an XPN cipher, as
// Microsoft's documentation does.
func NoXPNReason(port string) string {
	return "Azure does not support the XPN ciphers (GcmAesXpn128, GcmAesXpn256) on 10 Gbps ExpressRoute Direct ports " +
		"(port " + port + " is bandwidthInGbps 10; Microsoft's MACsec documentation, following Cisco's and Juniper's): use GcmAes128 or GcmAes256, or a 100 Gbps port"
}
