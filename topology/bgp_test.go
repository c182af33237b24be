package topology

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/expressroute"
)

// bgpBase is base with a customer router a (AS 65001) and an MSEE b.
// Line numbers: a's bgp block is lines 5-6, b's lines 12-13.
const bgpBase = `name: t
profile: expressroute
nodes:
  a:
    bgp: {asn: 65001, profile: customer, networks: [10.1.0.0/16], bfd: true,
      neighbors: [{link: link1, prefer: true}]}
    kind: router
    ports:
      er1:
        kind: direct
        addresses: [192.168.100.129/30]
  b:
    bgp: {profile: microsoft-edge, networks: [10.50.0.0/16], bfd: true,
      neighbors: [{link: link1}]}
    kind: router
    ports:
      er1:
        kind: direct
        addresses: [192.168.100.130/30]
links:
  - name: link1
    endpoints: [a:er1, b:er1]
    macsec:
      enabled: true
      cipher: GcmAesXpn256
      secret: generate
`

func TestBGPValid(t *testing.T) {
	topo, err := Parse("lab.yaml", []byte(bgpBase))
	require.NoError(t, err)
	a, b := topo.Node("a").BGP, topo.Node("b").BGP
	require.NotNil(t, a)
	require.NotNil(t, b)
	assert.Equal(t, uint32(65001), a.ASN)
	assert.Equal(t, uint32(12076), b.ASN, "the Microsoft edge defaults to AS 12076")
	assert.Equal(t, netip.MustParseAddr("192.168.100.129"), a.RouterID, "router ID from the first neighbour's link")
	assert.Equal(t, expressroute.LabHoldTime, a.HoldTime)
	assert.Equal(t, expressroute.LabKeepaliveTime, a.Keepalive)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, a.Networks)
	require.Len(t, a.Neighbors, 1)
	n := a.Neighbors[0]
	assert.Equal(t, BGPNeighbor{Name: "link1", Link: "link1", Port: "er1", Iface: "er1", Local: netip.MustParseAddr("192.168.100.129"),
		Peer: netip.MustParseAddr("192.168.100.130"), PeerNode: "b", PeerASN: 12076, Prefer: true, BFD: true}, n)
	assert.False(t, n.IBGP(a.ASN))
	assert.Empty(t, topo.Warnings)
}

func TestBGPValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		want  string
	}{
		{"asn range", []string{"asn: 65001", "asn: 0"}, `lab.yaml:5: nodes.a.bgp.asn: 0 is out of range: want 1 to 4294967294`},
		{"asn too big", []string{"asn: 65001", "asn: 4294967295"}, `lab.yaml:5: nodes.a.bgp.asn: 4294967295 is out of range`},
		{"asn trans", []string{"asn: 65001", "asn: 23456"}, `lab.yaml:5: nodes.a.bgp.asn: 23456 is reserved`},
		{"asn missing", []string{"asn: 65001, ", ""}, `lab.yaml:5: nodes.a.bgp.asn: missing`},
		{"12076 for a customer", []string{"asn: 65001", "asn: 12076"}, `lab.yaml:5: nodes.a.bgp.asn: 12076 is Microsoft's AS: only a node with profile microsoft-edge may use it`},
		{"msee not 12076", []string{"{profile: microsoft-edge", "{asn: 8075, profile: microsoft-edge"}, `lab.yaml:13: nodes.b.bgp.asn: 8075: the Microsoft edge is always AS 12076`},
		{"profile", []string{"profile: customer", "profile: cust"}, `lab.yaml:5: nodes.a.bgp.profile: "cust" is not a BGP profile`},
		{"network syntax", []string{"[10.1.0.0/16]", "[10.1.0.0]"}, `lab.yaml:5: nodes.a.bgp.networks[0]: "10.1.0.0" is not a prefix`},
		{"network host bits", []string{"[10.1.0.0/16]", "[10.1.0.1/16]"}, `lab.yaml:5: nodes.a.bgp.networks[0]: 10.1.0.1/16 has host bits set: did you mean 10.1.0.0/16?`},
		{"network twice", []string{"[10.1.0.0/16]", "[10.1.0.0/16, 10.1.0.0/16]"}, `lab.yaml:5: nodes.a.bgp.networks[1]: 10.1.0.0/16 is listed twice`},
		{"router id syntax", []string{"asn: 65001,", "asn: 65001, routerID: 1.2.3,"}, `lab.yaml:5: nodes.a.bgp.routerID: "1.2.3" is not a router ID`},
		{"router id duplicate", []string{"asn: 65001,", "asn: 65001, routerID: 9.9.9.9,", "{profile: microsoft-edge,", "{profile: microsoft-edge, routerID: 9.9.9.9,"},
			`lab.yaml:13: nodes.b.bgp.routerID: router ID 9.9.9.9 is also a's; router IDs must be unique`},
		{"link missing", []string{"[{link: link1, prefer: true}]", "[{link: link9}]"}, `lab.yaml:6: nodes.a.bgp.neighbors[0].link: link "link9" does not exist (links: link1)`},
		{"no link", []string{"[{link: link1, prefer: true}]", "[{prefer: true}]"}, `lab.yaml:6: nodes.a.bgp.neighbors[0].link: missing`},
		{"no neighbours", []string{"[{link: link1, prefer: true}]", "[]"}, `lab.yaml:6: nodes.a.bgp.neighbors: missing`},
		{"other end without bgp", []string{"    bgp: {profile: microsoft-edge, networks: [10.50.0.0/16], bfd: true,\n      neighbors: [{link: link1}]}\n", ""},
			`lab.yaml:6: nodes.a.bgp.neighbors[0].link: b at the other end of link1 runs no BGP`},
		{"one-sided session", []string{"      neighbors: [{link: link1}]}", "      neighbors: [{link: link1}]}\n    routes: []", "[{link: link1, prefer: true}]", "[{link: link1, prefer: true}, {link: link1}]"},
			`lab.yaml:6: nodes.a.bgp.neighbors[1].link: link link1 already has a neighbour of this node`},
		{"prefer on msee", []string{"      neighbors: [{link: link1}]}", "      neighbors: [{link: link1, prefer: true}]}"}, `lab.yaml:14: nodes.b.bgp.neighbors[0].prefer: prefer is a customer router's choice`},
		{"hold time", []string{"bfd: true,\n      neighbors: [{link: link1, prefer", "bfd: true, holdTime: 2s,\n      neighbors: [{link: link1, prefer"}, `lab.yaml:5: nodes.a.bgp.holdTime: 2s: want 0 (no keepalives) or whole seconds from 3s to 65535s`},
		{"keepalive over hold", []string{"bfd: true,\n      neighbors: [{link: link1, prefer", "bfd: true, holdTime: 9s, keepalive: 10s,\n      neighbors: [{link: link1, prefer"}, `lab.yaml:5: nodes.a.bgp.keepalive: keepalive 10s must be shorter than the hold time 9s`},
		{"unknown field", []string{"bfd: true,\n      neighbors: [{link: link1, prefer", "bfd: true, md5: x,\n      neighbors: [{link: link1, prefer"}, `lab.yaml:5: nodes.a.bgp.md5: unknown field`},
		{"bird needs customer", []string{"    kind: router\n    ports:\n      er1:\n        kind: direct\n        addresses: [192.168.100.130/30]", "    kind: bird\n    ports:\n      er1:\n        kind: direct\n        addresses: [192.168.100.130/30]"},
			`lab.yaml:13: nodes.b.bgp.profile: a bird node runs the customer profile`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := bgpBase
			for i := 0; i < len(tt.edits); i += 2 {
				require.Contains(t, s, tt.edits[i])
				s = strings.Replace(s, tt.edits[i], tt.edits[i+1], 1)
			}
			_, err := Parse("lab.yaml", []byte(s))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestBGPHostRefused(t *testing.T) {
	s := strings.Replace(bgpBase, "    kind: router\n    ports:\n      er1:\n        kind: direct\n        addresses: [192.168.100.129/30]", "    kind: host\n    ports:\n      er1:\n        kind: direct\n        addresses: [192.168.100.129/30]", 1)
	_, err := Parse("lab.yaml", []byte(s))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lab.yaml:5: nodes.a.bgp: a host does not route")
}

func TestBGPBuiltin(t *testing.T) {
	topo, err := Builtin("expressroute-direct")
	require.NoError(t, err)
	ce1, ce2, m1, m2 := topo.Node("ce1").BGP, topo.Node("ce2").BGP, topo.Node("msee1").BGP, topo.Node("msee2").BGP
	for _, b := range []*BGP{ce1, ce2, m1, m2} {
		require.NotNil(t, b)
		assert.True(t, b.BFD)
		assert.Equal(t, 9*time.Second, b.HoldTime)
	}
	assert.Equal(t, uint32(65001), ce1.ASN)
	assert.Equal(t, uint32(65001), ce2.ASN)
	assert.Equal(t, uint32(12076), m1.ASN)
	// One session per peering: private (VLAN 100) and Microsoft (VLAN 200).
	for _, b := range []*BGP{ce1, m1} {
		assert.NotNil(t, b.Neighbor("link1.100"))
		assert.NotNil(t, b.Neighbor("link1.200"))
		assert.Nil(t, b.Neighbor("link2.100"))
	}
	for _, b := range []*BGP{ce2, m2} {
		assert.NotNil(t, b.Neighbor("link2.100"))
		assert.NotNil(t, b.Neighbor("link2.200"))
		assert.Nil(t, b.Neighbor("link1.100"))
	}
	assert.Nil(t, ce1.Neighbor("link1"), "no untagged session")
	assert.True(t, ce1.Neighbor("link1.100").Prefer)
	assert.True(t, ce1.Neighbor("link1.200").Prefer)
	assert.False(t, ce2.Neighbor("link2.100").Prefer)
	assert.Equal(t, "192.168.100.130", ce1.Neighbor("link1.100").Peer.String())
	assert.Equal(t, "203.0.113.2", ce1.Neighbor("link1.200").Peer.String())
	assert.Equal(t, "192.168.100.133", m2.Neighbor("link2.100").Peer.String())
	assert.Equal(t, "203.0.113.5", m2.Neighbor("link2.200").Peer.String())
	assert.True(t, ce1.Neighbor("ce-lan").IBGP(ce1.ASN), "ce1 and ce2 run iBGP")
	assert.True(t, m1.Neighbor("msee-lan").IBGP(m1.ASN), "msee1 and msee2 run iBGP")
	assert.Empty(t, topo.Warnings)
}
