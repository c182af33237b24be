package azure

import (
	"maps"
	"slices"
	"strings"

	"github.com/secylab/secylab/macsec"
)

// The api-versions of Microsoft.Network the emulator serves for
// expressRoutePorts. Up to LegacyCipherVersion, macSecConfig's cipher was
// spelled gcm-aes-128 | gcm-aes-256 and had no sciState; the service
// answered with the later spelling anyway. azure-cli 2.45 pins 2022-01-01,
// Terraform's azurerm 2024-05-01, armnetwork v6 2024-05-01.
var networkAPIVersions = []string{
	"2018-08-01", "2018-10-01", "2018-11-01", "2018-12-01", "2019-02-01", "2019-04-01", "2019-06-01",
	"2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01", "2019-12-01", "2020-03-01", "2020-04-01",
	"2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01", "2021-02-01", "2021-03-01",
	"2021-05-01", "2021-08-01", "2022-01-01", "2022-05-01", "2022-07-01", "2022-09-01", "2022-11-01",
	"2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01",
	"2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01",
}

const (
	// LegacyCipherVersion is the last api-version with the old cipher
	// spellings and no sciState.
	LegacyCipherVersion = "2020-11-01"
	// BillingTypeVersion is the first api-version with billingType.
	BillingTypeVersion = "2023-09-01"
)

// apiVersion is an api-version the emulator serves (ISO dates compare as
// strings).
type apiVersion string

func (v apiVersion) legacyCipher() bool { return v <= LegacyCipherVersion }
func (v apiVersion) billingType() bool  { return v >= BillingTypeVersion }

func knownNetworkVersion(v string) bool { return slices.Contains(networkAPIVersions, v) }

// cipherName parses a macSecConfig cipher as api-version v spells it.
func (v apiVersion) parseCipher(s string) (macsec.CipherSuite, bool) {
	if v.legacyCipher() {
		switch strings.ToLower(s) {
		case "gcm-aes-128":
			return macsec.GCMAES128, true
		case "gcm-aes-256":
			return macsec.GCMAES256, true
		}
	}
	for _, cs := range macsec.Suites {
		if strings.EqualFold(s, cs.AzureName()) {
			return cs, true
		}
	}
	return 0, false
}

func (v apiVersion) cipherNames() string {
	if v.legacyCipher() {
		return "gcm-aes-128, gcm-aes-256 (" + LegacyCipherVersion + " and earlier; later: GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256)"
	}
	return "GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256"
}

// Port is an expressRoutePorts resource as the emulator keeps it.
type Port struct {
	Name, ResourceGroup, Location string
	Tags                          map[string]string
	// Identity is the resource id of the port's user-assigned identity,
	// "" none.
	Identity           string
	PeeringLocation    string
	BandwidthInGbps    int
	Encapsulation      string // Dot1Q | QinQ
	BillingType        string
	Links              []*Link
	Circuits           []string // resource ids
	ProvisionedGbps    float64  // the circuits' bandwidth
	ProvisioningState  string
	ResourceGUID, Etag string
	AllocationDate     string
	MTU, EtherType     string
	edge               Edge // nil: a port not bound to a lab
	busy               bool // an asynchronous operation runs
}

// Link is one of a port's two links.
type Link struct {
	Name              string
	AdminState        string // Enabled | Disabled
	MACsec            MacSecConfig
	RouterName        string
	InterfaceName     string
	PatchPanelID      string
	RackID            string
	ColoLocation      string
	ConnectorType     string
	ProvisioningState string
	Etag              string
}

// MacSecConfig is a link's macSecConfig as Azure shows it.
type MacSecConfig struct {
	CKNSecretIdentifier string `json:"cknSecretIdentifier,omitempty"`
	CAKSecretIdentifier string `json:"cakSecretIdentifier,omitempty"`
	Cipher              string `json:"cipher,omitempty"`
	SCIState            string `json:"sciState,omitempty"`
}

// Enabled reports whether MACsec is configured: both secrets named.
func (m MacSecConfig) Enabled() bool {
	return m.CKNSecretIdentifier != "" || m.CAKSecretIdentifier != ""
}

func (p *Port) link(name string) *Link {
	for _, l := range p.Links {
		if strings.EqualFold(l.Name, name) {
			return l
		}
	}
	return nil
}

func (p *Port) clone() *Port {
	c := *p
	c.Tags = maps.Clone(p.Tags)
	c.Links = nil
	for _, l := range p.Links {
		lc := *l
		c.Links = append(c.Links, &lc)
	}
	c.Circuits = slices.Clone(p.Circuits)
	return &c
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The JSON of a port, as api-version v shows it.

type portJSON struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Identity   *identityJSON     `json:"identity,omitempty"`
	Properties *portPropsJSON    `json:"properties,omitempty"`
}

type identityJSON struct {
	Type                   string                       `json:"type"`
	PrincipalID            string                       `json:"principalId,omitempty"`
	TenantID               string                       `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*userIdentityJSON `json:"userAssignedIdentities,omitempty"`
}

type userIdentityJSON struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

type portPropsJSON struct {
	PeeringLocation            string        `json:"peeringLocation,omitempty"`
	BandwidthInGbps            *int          `json:"bandwidthInGbps,omitempty"`
	ProvisionedBandwidthInGbps *float64      `json:"provisionedBandwidthInGbps,omitempty"`
	Mtu                        string        `json:"mtu,omitempty"`
	Encapsulation              string        `json:"encapsulation,omitempty"`
	EtherType                  string        `json:"etherType,omitempty"`
	AllocationDate             string        `json:"allocationDate,omitempty"`
	BillingType                string        `json:"billingType,omitempty"`
	Links                      []*linkJSON   `json:"links"`
	Circuits                   []subResource `json:"circuits,omitempty"`
	ProvisioningState          string        `json:"provisioningState,omitempty"`
	ResourceGUID               string        `json:"resourceGuid,omitempty"`
}

type subResource struct {
	ID string `json:"id"`
}

type linkJSON struct {
	ID         string         `json:"id,omitempty"`
	Name       string         `json:"name,omitempty"`
	Etag       string         `json:"etag,omitempty"`
	Properties *linkPropsJSON `json:"properties,omitempty"`
}

type linkPropsJSON struct {
	RouterName        string      `json:"routerName,omitempty"`
	InterfaceName     string      `json:"interfaceName,omitempty"`
	PatchPanelID      string      `json:"patchPanelId,omitempty"`
	RackID            string      `json:"rackId,omitempty"`
	ConnectorType     string      `json:"connectorType,omitempty"`
	AdminState        *string     `json:"adminState,omitempty"`
	ProvisioningState string      `json:"provisioningState,omitempty"`
	MacSecConfig      *macSecJSON `json:"macSecConfig,omitempty"`
	ColoLocation      string      `json:"coloLocation,omitempty"`
}

// macSecJSON keeps null and absent apart from "": a null or empty secret
// identifier turns MACsec off, as PowerShell's $null does.
type macSecJSON struct {
	CknSecretIdentifier *string `json:"cknSecretIdentifier,omitempty"`
	CakSecretIdentifier *string `json:"cakSecretIdentifier,omitempty"`
	Cipher              *string `json:"cipher,omitempty"`
	SciState            *string `json:"sciState,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (e *Emulator) portID(p *Port) string {
	return "/subscriptions/" + e.subscription + "/resourceGroups/" + p.ResourceGroup + "/providers/Microsoft.Network/expressRoutePorts/" + p.Name
}

func (e *Emulator) portJSON(p *Port, v apiVersion) *portJSON {
	out := &portJSON{ID: e.portID(p), Name: p.Name, Type: "Microsoft.Network/expressRoutePorts", Location: p.Location, Etag: p.Etag, Tags: p.Tags}
	if p.Identity != "" {
		ui := &userIdentityJSON{}
		if id := e.identities[strings.ToLower(p.Identity)]; id != nil {
			ui.PrincipalID, ui.ClientID = id.ObjectID, id.ClientID
		}
		out.Identity = &identityJSON{Type: "UserAssigned", UserAssignedIdentities: map[string]*userIdentityJSON{p.Identity: ui}}
	}
	bw := p.BandwidthInGbps
	pbw := p.ProvisionedGbps
	props := &portPropsJSON{PeeringLocation: p.PeeringLocation, BandwidthInGbps: &bw, ProvisionedBandwidthInGbps: &pbw,
		Mtu: p.MTU, Encapsulation: p.Encapsulation, EtherType: p.EtherType, AllocationDate: p.AllocationDate,
		ProvisioningState: p.ProvisioningState, ResourceGUID: p.ResourceGUID, Links: []*linkJSON{}}
	if v.billingType() {
		props.BillingType = p.BillingType
	}
	for _, c := range p.Circuits {
		props.Circuits = append(props.Circuits, subResource{ID: c})
	}
	for _, l := range p.Links {
		props.Links = append(props.Links, e.linkJSON(p, l, v))
	}
	out.Properties = props
	return out
}

func (e *Emulator) linkJSON(p *Port, l *Link, v apiVersion) *linkJSON {
	lp := &linkPropsJSON{RouterName: l.RouterName, InterfaceName: l.InterfaceName, PatchPanelID: l.PatchPanelID, RackID: l.RackID,
		ConnectorType: l.ConnectorType, AdminState: ptr(l.AdminState), ProvisioningState: l.ProvisioningState, ColoLocation: l.ColoLocation}
	m := l.MACsec
	mj := &macSecJSON{Cipher: ptr(m.Cipher)}
	if m.CKNSecretIdentifier != "" {
		mj.CknSecretIdentifier = ptr(m.CKNSecretIdentifier)
	}
	if m.CAKSecretIdentifier != "" {
		mj.CakSecretIdentifier = ptr(m.CAKSecretIdentifier)
	}
	if !v.legacyCipher() {
		mj.SciState = ptr(m.SCIState)
	}
	lp.MacSecConfig = mj
	return &linkJSON{ID: e.portID(p) + "/links/" + l.Name, Name: l.Name, Etag: l.Etag, Properties: lp}
}
