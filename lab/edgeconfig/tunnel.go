package edgeconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/secylab/secylab/ipsec/ike"
)

// Tunnel is an IKE-keyed tunnel of the node to the lab's Azure VPN
// gateway, as the on-premises side must configure it to come up.
type Tunnel struct {
	Name string `json:"name"`
	// Gateway is the Azure VPN gateway node at the far end.
	Gateway string `json:"gateway"`
	// Local and Remote are the outer addresses, also the IKE identities
	// (Azure identifies itself and expects its peer by IP address).
	Local  netip.Addr `json:"local"`
	Remote netip.Addr `json:"remote"`
	// LocalNets and RemoteNets are what the Child SA carries.
	LocalNets  []netip.Prefix `json:"localNets"`
	RemoteNets []netip.Prefix `json:"remoteNets"`
	// SourceIP is the node's own address inside LocalNets, if it has one:
	// the source of what it sends into the tunnel itself.
	SourceIP netip.Addr `json:"sourceIP,omitzero"`
	// PolicyBased is Azure's usePolicyBasedTrafficSelectors.
	PolicyBased bool `json:"policyBased"`
	// IKE and ESP are the proposals Azure's gateway accepts (its default
	// sets, or the connection's custom policy).
	IKE    []ike.Suite `json:"ike"`
	ESP    []ike.Suite `json:"esp"`
	Custom bool        `json:"customPolicy"`
	// Lifetimes as Azure runs them.
	IKELifetime   time.Duration `json:"ikeLifetime"`
	ChildLifetime time.Duration `json:"childLifetime"`
	ChildKB       int64         `json:"childKilobytes"`
	// DPDTimeout is the connection's dpdTimeoutSeconds.
	DPDTimeout time.Duration `json:"dpdTimeout"`
	// Mode is Azure's connectionMode: Default, ResponderOnly (so the
	// on-premises side must initiate) or InitiatorOnly (it must not).
	Mode string `json:"connectionMode"`
	// PSK is the shared key, set only when a secrets file is to be
	// written (never printed); PSKFile is that file, which the exported
	// configuration includes.
	PSK     string `json:"psk,omitempty"`
	PSKFile string `json:"pskFile,omitempty"`
}

// Initiates reports whether the on-premises side starts the IKE SA.
func (t *Tunnel) Initiates() bool { return t.Mode != "InitiatorOnly" }

// errNoTunnel refuses a node with no IKE-keyed tunnel.
var errNoTunnel = errors.New("it ends no IKE-keyed tunnel to an Azure VPN gateway (a tunnels entry with a sharedKey)")

func needTunnel(n *Node) error {
	if len(n.Tunnels) == 0 {
		return errNoTunnel
	}
	return nil
}

// swanName is a suite in strongSwan's proposal keywords: aes256-sha1-modp1024,
// aes256gcm16-prfsha256-ecp384, aes256gcm16 (ESP without PFS).
func swanName(s ike.Suite, esp bool) string {
	var parts []string
	switch {
	case s.Encr == ike.ENCR_AES_GCM_16:
		parts = append(parts, fmt.Sprintf("aes%dgcm16", s.KeyBits))
	default:
		parts = append(parts, fmt.Sprintf("aes%d", s.KeyBits))
	}
	if !s.AEAD() {
		parts = append(parts, integName[s.Integ])
	} else if !esp {
		parts = append(parts, "prf"+prfName[s.PRF])
	}
	if s.DH != 0 {
		parts = append(parts, dhName[s.DH])
	}
	return strings.Join(parts, "-")
}

// Integrity and PRF algorithms by their hash, the DH groups by
// strongSwan's and libreswan's names.
var (
	integName = map[uint16]string{ike.AUTH_HMAC_SHA1_96: "sha1", ike.AUTH_HMAC_SHA2_256_128: "sha256", ike.AUTH_HMAC_SHA2_384_192: "sha384"}
	prfName   = map[uint16]string{ike.PRF_HMAC_SHA1: "sha1", ike.PRF_HMAC_SHA2_256: "sha256", ike.PRF_HMAC_SHA2_384: "sha384"}
)

var dhName = map[ike.DHGroup]string{ike.MODP1024: "modp1024", ike.MODP2048: "modp2048", ike.MODP2048S256: "modp2048s256", ike.ECP256: "ecp256", ike.ECP384: "ecp384"}

// proposals joins the suites' names.
func proposals(ss []ike.Suite, esp bool, name func(ike.Suite, bool) string) string {
	var out []string
	for _, s := range ss {
		out = append(out, name(s, esp))
	}
	return strings.Join(out, ",")
}

func prefixes(ps []netip.Prefix) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}

// tunnelSummary is the comment block that says where each value comes
// from.
func tunnelSummary(c string, t Tunnel) string {
	var b strings.Builder
	policy := "Azure's default policy sets (what its gateway accepts as responder and offers as initiator)"
	if t.Custom {
		policy = "the connection's custom ipsecPolicies"
	}
	fmt.Fprintf(&b, "%s tunnel %s to the Azure VPN gateway %s (%s): proposals from %s;\n", c, t.Name, t.Gateway, t.Remote, policy)
	fmt.Fprintf(&b, "%s connectionMode %s, dpdTimeoutSeconds %d, IKE SA lifetime %d s, Child SA %d s / %d KB.\n",
		c, t.Mode, int(t.DPDTimeout/time.Second), int(t.IKELifetime/time.Second), int(t.ChildLifetime/time.Second), t.ChildKB)
	if !t.PolicyBased {
		fmt.Fprintf(&b, "%s Azure's route-based gateway offers 0.0.0.0/0 both ways; the selectors below are the prefixes the lab's\n", c)
		fmt.Fprintf(&b, "%s topology protects (Azure narrows to them, RFC 7296 2.9): a 0/0 selector would route charon's own IKE\n", c)
		fmt.Fprintf(&b, "%s into the tunnel on kernel-libipsec; with kernel xfrm use an XFRM interface (if_id_in/if_id_out) for 0/0.\n", c)
	}
	return b.String()
}

// eachSecret walks n's tunnels for an export's secrets section: include
// once per distinct PSK file (--psk-file), placeholder for each tunnel
// whose key the export does not carry.
func eachSecret(n *Node, include func(file string), placeholder func(t Tunnel)) {
	included := map[string]bool{}
	for _, t := range n.Tunnels {
		switch {
		case t.PSKFile == "":
			placeholder(t)
		case !included[t.PSKFile]:
			include(t.PSKFile)
			included[t.PSKFile] = true
		}
	}
}
