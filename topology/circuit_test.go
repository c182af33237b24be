package topology

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// circuitBase is a Direct port pair of one link with a circuit of two
// peerings; line numbers are in the comments of the cases.
const circuitBase = `name: c
profile: expressroute
nodes:
  ce:
    kind: router
    bgp:
      asn: 65001
      neighbors:
        - {link: link1, peering: AzurePrivatePeering}
        - {link: link1, peering: MicrosoftPeering}
    ports:
      er1: {kind: direct}
  msee:
    kind: router
    bgp:
      profile: microsoft-edge
      neighbors:
        - {link: link1, peering: AzurePrivatePeering}
        - {link: link1, peering: MicrosoftPeering}
    ports:
      er1: {kind: direct}
links:
  - name: link1
    endpoints: [ce:er1, msee:er1]
    macsec: {enabled: true, cipher: GcmAesXpn256, secret: generate}
expressRoutePorts:
  - name: port
    bandwidthInGbps: 100
    encapsulation: Dot1Q
    links: [link1]
    circuits:
      - name: c1
        bandwidthInGbps: 10
        peerings:
          - peeringType: AzurePrivatePeering
            vlanId: 100
            peerASN: 65001
            primaryPeerAddressPrefix: 192.168.100.128/30
          - peeringType: MicrosoftPeering
            vlanId: 200
            peerASN: 65001
            primaryPeerAddressPrefix: 203.0.113.0/30
            microsoftPeeringConfig:
              advertisedPublicPrefixes: [198.51.100.0/24]
`

func editCircuit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := circuitBase
	for i := 0; i < len(pairs); i += 2 {
		require.Contains(t, s, pairs[i], "edit: base has no %q", pairs[i])
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestCircuitPeerings(t *testing.T) {
	topo, err := Parse("lab.yaml", []byte(circuitBase))
	require.NoError(t, err)
	ce, msee := topo.Node("ce").Port("er1"), topo.Node("msee").Port("er1")
	require.Len(t, ce.VLANs, 2)
	assert.Equal(t, VLANIface{Name: "er1.100", CTag: 100, Circuit: "c1", Peering: PrivatePeering,
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.100.129/30")}}, ce.VLANs[0])
	assert.Equal(t, "203.0.113.1/30", ce.VLANs[1].Addresses[0].String(), "the customer takes the first host address")
	assert.Equal(t, "203.0.113.2/30", msee.VLANs[1].Addresses[0].String(), "Microsoft the second")
	assert.True(t, msee.VLANs[1].Microsoft)

	b := topo.Node("msee").BGP
	require.Len(t, b.Neighbors, 2)
	assert.Equal(t, "link1.100", b.Neighbors[0].Name)
	assert.Equal(t, "er1.100", b.Neighbors[0].Iface)
	ms := b.Neighbors[1]
	assert.Equal(t, "link1.200", ms.Name)
	assert.Equal(t, MicrosoftPeering, ms.Peering)
	assert.Equal(t, netip.MustParseAddr("203.0.113.2"), ms.Local)
	assert.Equal(t, netip.MustParseAddr("203.0.113.1"), ms.Peer)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, ms.AcceptOnly, "Microsoft's edge accepts only the advertised public prefixes")
	assert.Nil(t, topo.Node("ce").BGP.Neighbors[1].AcceptOnly)
	assert.Equal(t, "link1", SessionLink(ms.Name))
}

func TestCircuitQinQ(t *testing.T) {
	topo, err := Parse("lab.yaml", []byte(editCircuit(t, "encapsulation: Dot1Q", "encapsulation: QinQ", "bandwidthInGbps: 10\n", "bandwidthInGbps: 10\n        sTag: 7\n")))
	require.NoError(t, err)
	v := topo.Node("ce").Port("er1").VLANs[1]
	assert.Equal(t, "er1.7.200", v.Name)
	assert.Equal(t, uint16(7), v.STag)
	assert.Equal(t, uint16(200), v.CTag)
	assert.Equal(t, "link1.7.200", topo.Node("ce").BGP.Neighbors[1].Name)
}

// TestXPNOn10GbpsPort: the documentation's rule, at the cipher's line; the
// same port at 100 Gbps (the base) is accepted.
func TestXPNOn10GbpsPort(t *testing.T) {
	ten := editCircuit(t, "bandwidthInGbps: 100", "bandwidthInGbps: 10", "bandwidthInGbps: 10\n        peerings", "bandwidthInGbps: 5\n        peerings")
	_, err := Parse("lab.yaml", []byte(ten))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lab.yaml:25: links[0].macsec.cipher: GcmAesXpn256 on ce:er1: Azure does not support the XPN ciphers (GcmAesXpn128, GcmAesXpn256) on 10 Gbps ExpressRoute Direct ports")
	for _, ok := range []string{"GcmAes256", "GcmAes128"} {
		_, err := Parse("lab.yaml", []byte(strings.Replace(ten, "GcmAesXpn256", ok, 1)))
		assert.NoError(t, err, "%s on a 10 Gbps port", ok)
	}
	_, err = Parse("lab.yaml", []byte(strings.Replace(ten, "GcmAesXpn256", "GcmAesXpn128", 1)))
	assert.ErrorContains(t, err, "links[0].macsec.cipher: GcmAesXpn128 on ce:er1")
	_, err = Parse("lab.yaml", []byte(circuitBase))
	assert.NoError(t, err, "GcmAesXpn256 on a 100 Gbps port")
}

func TestCircuitValidationErrors(t *testing.T) {
	secondCircuit := "      - name: c2\n        bandwidthInGbps: 10\n        peerings:\n          - {peeringType: AzurePrivatePeering, vlanId: %s, peerASN: 65001, primaryPeerAddressPrefix: 192.168.100.132/30}\n"
	tests := []struct {
		name  string
		edits []string
		want  string
	}{
		{"vlan range", []string{"vlanId: 100", "vlanId: 4095"}, `lab.yaml:36: expressRoutePorts[0].circuits[0].peerings[0].vlanId: 4095 is not a VLAN ID: want 1 to 4094`},
		{"vlan zero", []string{"vlanId: 100", "vlanId: 0"}, `lab.yaml:36: expressRoutePorts[0].circuits[0].peerings[0].vlanId: 0 is not a VLAN ID`},
		{"vlan unique per port", []string{"vlanId: 200", "vlanId: 100"}, `lab.yaml:40: expressRoutePorts[0].circuits[0].peerings[1].vlanId: VLAN 100 is already used by c1 AzurePrivatePeering: VLAN IDs are unique per port`},
		{"vlan unique across circuits", []string{"              advertisedPublicPrefixes: [198.51.100.0/24]\n", "              advertisedPublicPrefixes: [198.51.100.0/24]\n" + strings.Replace(secondCircuit, "%s", "200", 1)},
			`lab.yaml:48: expressRoutePorts[0].circuits[1].peerings[0].vlanId: VLAN 200 is already used by c1 MicrosoftPeering`},
		{"stag unique per port", []string{"encapsulation: Dot1Q", "encapsulation: QinQ", "bandwidthInGbps: 10\n", "bandwidthInGbps: 10\n        sTag: 7\n",
			"              advertisedPublicPrefixes: [198.51.100.0/24]\n", "              advertisedPublicPrefixes: [198.51.100.0/24]\n      - name: c2\n        bandwidthInGbps: 10\n        sTag: 7\n        peerings:\n          - {peeringType: AzurePrivatePeering, vlanId: 100, peerASN: 65001, primaryPeerAddressPrefix: 192.168.100.132/30}\n"},
			`lab.yaml:48: expressRoutePorts[0].circuits[1].sTag: S-tag 7 is already circuit c1's: S-tags are unique per port`},
		{"stag missing on QinQ", []string{"encapsulation: Dot1Q", "encapsulation: QinQ"}, `lab.yaml:32: expressRoutePorts[0].circuits[0].sTag: 0 is not an S-tag: a circuit on a QinQ port needs one`},
		{"stag on Dot1Q", []string{"bandwidthInGbps: 10\n", "bandwidthInGbps: 10\n        sTag: 7\n"}, `lab.yaml:34: expressRoutePorts[0].circuits[0].sTag: an S-tag needs encapsulation: QinQ`},
		{"encapsulation", []string{"encapsulation: Dot1Q", "encapsulation: dot1q"}, `lab.yaml:29: expressRoutePorts[0].encapsulation: "dot1q" is not an encapsulation: want Dot1Q`},
		{"port bandwidth", []string{"bandwidthInGbps: 100", "bandwidthInGbps: 40"}, `lab.yaml:28: expressRoutePorts[0].bandwidthInGbps: 40: an ExpressRoute Direct port is 10 or 100 Gbps`},
		{"circuit bandwidth offer", []string{"bandwidthInGbps: 10\n", "bandwidthInGbps: 1\n"}, `lab.yaml:33: expressRoutePorts[0].circuits[0].bandwidthInGbps: 1: a circuit on a 100 Gbps Direct port is 5, 10, 40, 100 Gbps`},
		{"circuits exceed the port", []string{"bandwidthInGbps: 10\n", "bandwidthInGbps: 100\n", "              advertisedPublicPrefixes: [198.51.100.0/24]\n", "              advertisedPublicPrefixes: [198.51.100.0/24]\n" + strings.Replace(secondCircuit, "%s", "300", 1)},
			`lab.yaml:46: expressRoutePorts[0].circuits[1].bandwidthInGbps: the circuits of port port add up to 110 Gbps, more than its 100 Gbps`},
		{"not a /30", []string{"192.168.100.128/30", "192.168.100.128/29"}, `lab.yaml:38: expressRoutePorts[0].circuits[0].peerings[0].primaryPeerAddressPrefix: 192.168.100.128/29 is a /29: Azure wants a /30 per link`},
		{"host bits", []string{"192.168.100.128/30", "192.168.100.129/30"}, `primaryPeerAddressPrefix: 192.168.100.129/30 has host bits set`},
		{"microsoft peering private", []string{"203.0.113.0/30", "10.9.0.0/30"}, `lab.yaml:42: expressRoutePorts[0].circuits[0].peerings[1].primaryPeerAddressPrefix: 10.9.0.0/30 is not public: Microsoft peering's sessions use public addresses you own`},
		{"advertised prefix private", []string{"[198.51.100.0/24]", "[10.1.0.0/16]"}, `lab.yaml:44: expressRoutePorts[0].circuits[0].peerings[1].microsoftPeeringConfig.advertisedPublicPrefixes[0]: 10.1.0.0/16 is not public`},
		{"advertised prefixes missing", []string{"            microsoftPeeringConfig:\n              advertisedPublicPrefixes: [198.51.100.0/24]\n", ""}, `peerings[1].microsoftPeeringConfig.advertisedPublicPrefixes: missing`},
		{"peer ASN Microsoft's", []string{"peerASN: 65001", "peerASN: 12076"}, `lab.yaml:37: expressRoutePorts[0].circuits[0].peerings[0].peerASN: 12076 is reserved by Microsoft`},
		{"peer ASN not the router's", []string{"peerASN: 65001", "peerASN: 65002"}, `peerings[0].peerASN: 65002, but ce (the customer end of link1) runs AS 65001`},
		{"peering type", []string{"peeringType: MicrosoftPeering", "peeringType: AzurePublicPeering"}, `lab.yaml:39: expressRoutePorts[0].circuits[0].peerings[1].peeringType: "AzurePublicPeering" is not a peering type`},
		{"peering twice", []string{"peeringType: MicrosoftPeering", "peeringType: AzurePrivatePeering"}, `peerings[1].peeringType: circuit c1 already has AzurePrivatePeering`},
		{"circuit off on encrypted port", []string{"bandwidthInGbps: 10\n", "bandwidthInGbps: 10\n        macsec: \"off\"\n"},
			`lab.yaml:34: expressRoutePorts[0].circuits[0].macsec: circuit "c1" cannot be left in clear: MACsec encrypts the whole port port, and all its circuits share the port's MACsec setting`},
		{"service provider on Direct", []string{"bandwidthInGbps: 10\n", "bandwidthInGbps: 10\n        serviceProviderName: Equinix\n"},
			`lab.yaml:34: expressRoutePorts[0].circuits[0].serviceProviderName: "Equinix": a circuit on an ExpressRoute Direct port has no service provider (none)`},
		{"link missing", []string{"links: [link1]", "links: [link9]"}, `lab.yaml:30: expressRoutePorts[0].links[0]: link "link9" does not exist`},
		{"neighbour peering missing", []string{"        - {link: link1, peering: MicrosoftPeering}\n    ports:\n      er1: {kind: direct}\n  msee", "        - {link: link1, peering: MicrosoftPeerin}\n    ports:\n      er1: {kind: direct}\n  msee"},
			`lab.yaml:10: nodes.ce.bgp.neighbors[1].peering: "MicrosoftPeerin" is not a peering type`},
		{"interface name too long", []string{"er1: {kind: direct}\n  msee", "longportname1: {kind: direct}\n  msee", "[ce:er1, msee:er1]", "[ce:longportname1, msee:er1]"},
			`peerings[0].vlanId: the interface longportname1.100 of ce:longportname1 would be longer than 15 characters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(editCircuit(t, tt.edits...)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
