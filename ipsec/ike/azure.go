package ike

import (
	"fmt"
	"slices"
	"strings"
)

// Azure VPN gateway's default policy for a route-based gateway with
// IKEv2 (Microsoft's "About cryptographic requirements and Azure VPN
// gateways" and "VPN devices" pages): main mode AES256/AES128 (and 3DES)
// with SHA1/SHA256 and DH group 2; quick mode, as Azure offers it as
// initiator, GCMAES256 without PFS, then AES256-SHA1, 3DES-SHA1,
// AES256-SHA256, AES128-SHA1, 3DES-SHA256, all without ESN. 3DES is left
// out: this package does not implement it.

// AzureDefaultIKE is Azure's default IKE (main mode) proposal set.
func AzureDefaultIKE() []Suite {
	return []Suite{
		{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA1, Integ: AUTH_HMAC_SHA1_96, DH: MODP1024},
		{Encr: ENCR_AES_CBC, KeyBits: 256, PRF: PRF_HMAC_SHA2_256, Integ: AUTH_HMAC_SHA2_256_128, DH: MODP1024},
		{Encr: ENCR_AES_CBC, KeyBits: 128, PRF: PRF_HMAC_SHA1, Integ: AUTH_HMAC_SHA1_96, DH: MODP1024},
		{Encr: ENCR_AES_CBC, KeyBits: 128, PRF: PRF_HMAC_SHA2_256, Integ: AUTH_HMAC_SHA2_256_128, DH: MODP1024},
	}
}

// AzureDefaultESP is Azure's default IPsec (quick mode) proposal set, in
// the order Azure offers it as initiator.
func AzureDefaultESP() []Suite {
	return []Suite{
		{Encr: ENCR_AES_GCM_16, KeyBits: 256},
		{Encr: ENCR_AES_CBC, KeyBits: 256, Integ: AUTH_HMAC_SHA1_96},
		{Encr: ENCR_AES_CBC, KeyBits: 256, Integ: AUTH_HMAC_SHA2_256_128},
		{Encr: ENCR_AES_CBC, KeyBits: 128, Integ: AUTH_HMAC_SHA1_96},
	}
}

// AzureResponderESP is what Azure's gateway accepts as responder with its
// default policy: its initiator offers, each also with PFS groups 2, 14
// and 24 (Azure's responder list has 26 combinations with PFS 1, 2, 14
// and 24; DES, 3DES, MD5 and group 1 are not implemented here).
func AzureResponderESP() []Suite {
	var ss []Suite
	for _, dh := range []DHGroup{0, MODP1024, MODP2048, MODP2048S256} {
		for _, s := range AzureDefaultESP() {
			s.DH = dh
			ss = append(ss, s)
		}
	}
	return ss
}

// Azure's SA lifetimes: the IKE SA's is fixed at 28,800 s; a Child
// SA's defaults to 27,000 s and 102,400,000 KB, at least 300 s and
// 1024 KB in a custom policy.
const (
	AzureIKELifetimeSeconds   = 28800
	AzureChildLifetimeSeconds = 27000
	AzureChildLifetimeKB      = 102400000
	AzureMinLifetimeSeconds   = 300
	AzureMinLifetimeKB        = 1024
)

// AzurePolicy is one ARM IpsecPolicy (a connection's ipsecPolicies[0])
// with Azure's names for the algorithms, e.g. IPsecEncryption
// "GCMAES256", DHGroup "DHGroup24".
type AzurePolicy struct {
	SALifeTimeSeconds   int64
	SADataSizeKilobytes int64
	IPsecEncryption     string
	IPsecIntegrity      string
	IKEEncryption       string
	IKEIntegrity        string
	DHGroup             string
	PFSGroup            string
}

// AzurePolicyError is a field of an AzurePolicy that Azure refuses, or
// that Azure allows but this package does not implement.
type AzurePolicyError struct {
	Field string // Azure's property name, e.g. ipsecIntegrity
	Msg   string
}

func (e *AzurePolicyError) Error() string { return e.Field + ": " + e.Msg }

// The values ARM's IpsecPolicy allows, per field (Microsoft.Network's
// IpsecEncryption, IpsecIntegrity, IkeEncryption, IkeIntegrity, DhGroup and
// PfsGroup enums).
var azureAllowed = map[string][]string{
	"ipsecEncryption": {"None", "DES", "DES3", "AES128", "AES192", "AES256", "GCMAES128", "GCMAES192", "GCMAES256"},
	"ipsecIntegrity":  {"MD5", "SHA1", "SHA256", "GCMAES128", "GCMAES192", "GCMAES256"},
	"ikeEncryption":   {"DES", "DES3", "AES128", "AES192", "AES256", "GCMAES128", "GCMAES256"},
	"ikeIntegrity":    {"MD5", "SHA1", "SHA256", "SHA384", "GCMAES128", "GCMAES256"},
	"dhGroup":         {"None", "DHGroup1", "DHGroup2", "DHGroup14", "DHGroup2048", "ECP256", "ECP384", "DHGroup24"},
	"pfsGroup":        {"None", "PFS1", "PFS2", "PFS2048", "ECP256", "ECP384", "PFS24", "PFS14", "PFSMM"},
}

// AzureAllowed lists the values Azure allows for an IpsecPolicy field.
func AzureAllowed(field string) []string { return azureAllowed[field] }

var azureEncr = map[string]Suite{
	"AES128": {Encr: ENCR_AES_CBC, KeyBits: 128}, "AES192": {Encr: ENCR_AES_CBC, KeyBits: 192}, "AES256": {Encr: ENCR_AES_CBC, KeyBits: 256},
	"GCMAES128": {Encr: ENCR_AES_GCM_16, KeyBits: 128}, "GCMAES256": {Encr: ENCR_AES_GCM_16, KeyBits: 256},
}

var azureInteg = map[string]uint16{"SHA1": AUTH_HMAC_SHA1_96, "SHA256": AUTH_HMAC_SHA2_256_128, "SHA384": AUTH_HMAC_SHA2_384_192}

var azurePRF = map[string]uint16{"SHA1": PRF_HMAC_SHA1, "SHA256": PRF_HMAC_SHA2_256, "SHA384": PRF_HMAC_SHA2_384}

var azureDH = map[string]DHGroup{"DHGroup2": MODP1024, "DHGroup14": MODP2048, "DHGroup2048": MODP2048, "DHGroup24": MODP2048S256,
	"ECP256": ECP256, "ECP384": ECP384, "PFS2": MODP1024, "PFS14": MODP2048, "PFS2048": MODP2048, "PFS24": MODP2048S256}

// Suites turns the policy into the one IKE suite and the one ESP suite
// (its DH the PFS group) it stands for, or the errors of its fields: a
// field missing (Azure requires every one), a value Azure does not allow,
// a value this package does not implement, Azure's rules that GCMAES
// encryption takes the same GCMAES as integrity, and its minimum
// lifetimes.
func (p AzurePolicy) Suites() (ikeSuite, espSuite Suite, errs []error) {
	bad := func(field, format string, a ...any) {
		errs = append(errs, &AzurePolicyError{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	value := func(field, v string) bool {
		switch {
		case v == "":
			bad(field, "missing: Azure requires every field of an IPsec policy (%s)", strings.Join(azureAllowed[field], ", "))
		case !slices.Contains(azureAllowed[field], v):
			bad(field, "%q is not allowed: Azure allows %s", v, strings.Join(azureAllowed[field], ", "))
		default:
			return true
		}
		return false
	}
	unimpl := func(field, v string) {
		bad(field, "%q is allowed by Azure but not implemented here (DES, 3DES, MD5, group 1, PFSMM, AES-192-GCM and ESP without encryption are not)", v)
	}
	switch {
	case p.SALifeTimeSeconds == 0:
		bad("saLifeTimeSeconds", "missing: the Child SA lifetime in seconds, at least %d (Azure's default %d)", AzureMinLifetimeSeconds, AzureChildLifetimeSeconds)
	case p.SALifeTimeSeconds < AzureMinLifetimeSeconds || p.SALifeTimeSeconds > 172799:
		bad("saLifeTimeSeconds", "%d: Azure allows %d to 172799 seconds", p.SALifeTimeSeconds, AzureMinLifetimeSeconds)
	}
	switch {
	case p.SADataSizeKilobytes == 0:
		bad("saDataSizeKilobytes", "missing: the Child SA lifetime in kilobytes, at least %d (Azure's default %d)", AzureMinLifetimeKB, AzureChildLifetimeKB)
	case p.SADataSizeKilobytes < AzureMinLifetimeKB || p.SADataSizeKilobytes > 2147483647:
		bad("saDataSizeKilobytes", "%d: Azure allows %d to 2147483647 kilobytes", p.SADataSizeKilobytes, AzureMinLifetimeKB)
	}
	if value("ikeEncryption", p.IKEEncryption) {
		if s, ok := azureEncr[p.IKEEncryption]; ok {
			ikeSuite.Encr, ikeSuite.KeyBits = s.Encr, s.KeyBits
		} else {
			unimpl("ikeEncryption", p.IKEEncryption)
		}
	}
	if value("ikeIntegrity", p.IKEIntegrity) {
		switch gcmInteg := strings.HasPrefix(p.IKEIntegrity, "GCMAES"); {
		case gcmMismatch(p.IKEEncryption, p.IKEIntegrity):
			bad("ikeIntegrity", "%q with ikeEncryption %q: GCMAES encryption takes the same GCMAES algorithm and key length as integrity, and GCMAES integrity only with it", p.IKEIntegrity, p.IKEEncryption)
		case gcmInteg:
			ikeSuite.PRF = PRF_HMAC_SHA2_256 // an AEAD IKE SA still needs a PRF
		case azureInteg[p.IKEIntegrity] != 0:
			ikeSuite.Integ, ikeSuite.PRF = azureInteg[p.IKEIntegrity], azurePRF[p.IKEIntegrity]
		default:
			unimpl("ikeIntegrity", p.IKEIntegrity)
		}
	}
	if value("dhGroup", p.DHGroup) {
		switch g, ok := azureDH[p.DHGroup]; {
		case p.DHGroup == "None":
			bad("dhGroup", "None: an IKEv2 SA needs a Diffie-Hellman group")
		case ok && p.DHGroup[:3] != "PFS":
			ikeSuite.DH = g
		default:
			unimpl("dhGroup", p.DHGroup)
		}
	}
	if value("ipsecEncryption", p.IPsecEncryption) {
		if s, ok := azureEncr[p.IPsecEncryption]; ok && s.KeyBits != 192 {
			espSuite.Encr, espSuite.KeyBits = s.Encr, s.KeyBits
		} else {
			unimpl("ipsecEncryption", p.IPsecEncryption)
		}
	}
	if value("ipsecIntegrity", p.IPsecIntegrity) {
		switch gcmInteg := strings.HasPrefix(p.IPsecIntegrity, "GCMAES"); {
		case gcmMismatch(p.IPsecEncryption, p.IPsecIntegrity):
			bad("ipsecIntegrity", "%q with ipsecEncryption %q: if GCMAES is used for IPsec encryption, the same GCMAES algorithm and key length must be chosen for IPsec integrity", p.IPsecIntegrity, p.IPsecEncryption)
		case gcmInteg:
		case p.IPsecIntegrity == "SHA1" || p.IPsecIntegrity == "SHA256":
			espSuite.Integ = azureInteg[p.IPsecIntegrity]
		default:
			unimpl("ipsecIntegrity", p.IPsecIntegrity)
		}
	}
	if value("pfsGroup", p.PFSGroup) {
		switch g, ok := azureDH[p.PFSGroup]; {
		case p.PFSGroup == "None":
		case ok && (p.PFSGroup[:3] == "PFS" || p.PFSGroup[:3] == "ECP"):
			espSuite.DH = g
		default:
			unimpl("pfsGroup", p.PFSGroup)
		}
	}
	return ikeSuite, espSuite, errs
}

// gcmMismatch applies Azure's rule: GCMAES encryption takes the same
// GCMAES (algorithm and key length) as integrity, and GCMAES integrity
// only comes with it.
func gcmMismatch(encr, integ string) bool {
	gcmEncr, gcmInteg := strings.HasPrefix(encr, "GCMAES"), strings.HasPrefix(integ, "GCMAES")
	return gcmEncr != gcmInteg || (gcmEncr && encr != integ)
}
