package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// base is a valid two-router lab; the cases below edit it and expect one
// error at a given file:line: field. Line numbers are in the comments.
const base = `name: t
profile: expressroute
nodes:
  a:
    kind: router
    ports:
      er1:
        kind: direct
        addresses: [192.168.100.129/30]
  b:
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

// edit replaces the first occurrence of each old string (pairs old, new),
// so a case reads as a diff against base.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i] == "" {
			s += pairs[i+1]
			continue
		}
		require.Contains(t, s, pairs[i], "edit: base has no %q", pairs[i])
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestBaseIsValid(t *testing.T) {
	topo, err := Parse("lab.yaml", []byte(base))
	require.NoError(t, err)
	l := topo.Link("link1")
	require.NotNil(t, l)
	assert.True(t, l.MACsec.Enabled)
	assert.Equal(t, macsec.GCMAESXPN256, l.MACsec.Cipher)
	assert.False(t, l.MACsec.IncludeSCI)
	assert.True(t, l.MACsec.Secret.Generate)
	assert.True(t, l.MACsec.ReplayProtect)
	assert.Equal(t, uint8(16), l.MACsec.KeyServerPriority)
	p := topo.Node("a").Port("er1")
	assert.True(t, p.Controlled)
	assert.Equal(t, "link1", p.Wire)
}

// TestExternalNode: the lab's port facing an external node runs on the
// node's host interface; the external node gets nothing made.
func TestExternalNode(t *testing.T) {
	topo, err := Parse("lab.yaml", []byte(edit(t, "kind: router", "kind: external", "addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: eth1\n        force: true")))
	require.NoError(t, err)
	a, b := topo.Node("a").Port("er1"), topo.Node("b").Port("er1")
	assert.True(t, topo.Node("a").External())
	assert.Equal(t, "eth1", a.Interface)
	assert.True(t, a.Force)
	assert.False(t, a.Controlled)
	assert.True(t, b.Controlled)
	assert.True(t, b.HostWire)
	assert.Equal(t, "eth1", b.Wire)
}

// TestLinuxKernelKaY: a linux node keyed by secylab's KaY on the kernel's
// macsec runs Azure's XPN ciphers, which the same node with wpa_supplicant
// is refused with the reason.
func TestLinuxKernelKaY(t *testing.T) {
	linux := []string{"addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: tap1",
		"  b:\n    kind: router", "  b:\n    kind: router\n    bgp: {asn: 12076, profile: microsoft-edge, neighbors: [{link: link1}]}"}
	for _, kay := range []string{"", "\n    macsec: wpa_supplicant"} {
		_, err := Parse("lab.yaml", []byte(edit(t, append([]string{"kind: router", "kind: linux" + kay + "\n    bgp: {asn: 65001, profile: customer, neighbors: [{link: link1}]}"}, linux...)...)))
		require.ErrorContains(t, err, "no XPN and no macsec_csindex")
		require.ErrorContains(t, err, "or give the node macsec: kernel-kay")
	}
	topo, err := Parse("lab.yaml", []byte(edit(t, append([]string{"kind: router", "kind: linux\n    macsec: kernel-kay\n    bgp: {asn: 65001, profile: customer, neighbors: [{link: link1}]}"}, linux...)...)))
	require.NoError(t, err)
	assert.Equal(t, LinuxKernelKaY, topo.Node("a").KaY)
	assert.Equal(t, macsec.GCMAESXPN256, topo.Link("link1").MACsec.Cipher)
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		edits []string // pairs of old, new; old "" appends new
		want  string
	}{
		// Lab.
		{"lab name too long", []string{"name: t", "name: averylongname"}, `lab.yaml:1: name: "averylongname" is 13 bytes, longer than 10`},
		{"lab name upper case", []string{"name: t", "name: Lab"}, `lab.yaml:1: name: "Lab" must start with a lower-case letter`},
		{"lab name bad char", []string{"name: t", "name: a_b"}, `lab.yaml:1: name: "a_b" has '_'`},
		{"profile", []string{"profile: expressroute", "profile: azure"}, `lab.yaml:2: profile: "azure" is not a profile: want expressroute or nothing`},
		// Strict YAML.
		{"unknown field", []string{"addresses: [192.168.100.129/30]", "adresses: [192.168.100.129/30]"}, `lab.yaml:9: nodes.a.ports.er1.adresses: unknown field`},
		{"unknown top-level field", []string{"", "labels: {}\n"}, `lab.yaml:23: labels: unknown field`},
		{"wrong type", []string{"", "      replayWindow: abc\n"}, `lab.yaml:23: links[0].macsec.replayWindow: "abc" is not an integer`},
		{"wrong type bool", []string{"enabled: true", "enabled: maybe"}, `lab.yaml:20: links[0].macsec.enabled: "maybe" is not true or false`},
		// Nodes.
		{"node kind bird without bgp", []string{"kind: router", "kind: bird"}, `lab.yaml:5: nodes.a.kind: a bird node is a BGP customer router: give it a bgp block`},
		{"node kind frr without bgp", []string{"kind: router", "kind: frr"}, `lab.yaml:5: nodes.a.kind: a frr node is a BGP customer router: give it a bgp block`},
		{"node kind unknown", []string{"kind: router", "kind: switch"}, `lab.yaml:5: nodes.a.kind: "switch" is not a node kind: want router, host, bird (BIRD 2), frr (FRR), strongswan (charon with your swanctl.conf), external (a device on a host interface), linux`},
		{"node kind missing", []string{"    kind: router\n", ""}, `lab.yaml:4: nodes.a.kind: missing: want router, host, bird, frr, strongswan, external, linux`},
		{"strongswan without config", []string{"kind: router", "kind: strongswan"}, `lab.yaml:4: nodes.a.config: missing: a strongswan node runs your own swanctl.conf (config: FILE, relative to the topology file)`},
		{"strongswan config missing file", []string{"kind: router", "kind: strongswan\n    config: nowhere/swanctl.conf"}, `lab.yaml:6: nodes.a.config: stat nowhere/swanctl.conf: no such file or directory`},
		{"config on a router", []string{"kind: router", "kind: router\n    config: lab.yaml"}, `lab.yaml:6: nodes.a.config: only a bird, frr or strongswan node runs a configuration file of its own`},
		{"linux without interface", []string{"kind: router", "kind: linux\n    bgp: {asn: 65001, profile: customer, neighbors: [{link: link1}]}"},
			`lab.yaml:8: nodes.a.ports.er1.interface: missing: this kernel has no macsec, so a linux node runs where one has`},
		{"linux with XPN", []string{"kind: router", "kind: linux\n    bgp: {asn: 65001, profile: customer, neighbors: [{link: link1}]}", "addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: tap1"},
			`links[0].macsec.cipher: a is a linux node, whose wpa_supplicant (2.10, Debian 12) has no XPN and no macsec_csindex`},
		{"linux macsec unknown", []string{"kind: router", "kind: linux\n    macsec: openmka\n    bgp: {asn: 65001, profile: customer, neighbors: [{link: link1}]}", "addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: tap1"},
			`lab.yaml:6: nodes.a.macsec: "openmka": want wpa_supplicant (the default; GcmAes128 only) or kernel-kay`},
		{"macsec on a router node", []string{"kind: router", "kind: router\n    macsec: kernel-kay"},
			`lab.yaml:6: nodes.a.macsec: only a node of kind linux chooses what keys its macsec`},
		// External nodes.
		{"external without interface", []string{"kind: router\n    ports:\n      er1:\n        kind: direct\n        addresses: [192.168.100.130/30]", "kind: external\n    ports:\n      er1:\n        kind: direct\n        addresses: [192.168.100.130/30]"},
			`lab.yaml:13: nodes.b.ports.er1.interface: missing: name the host interface that leads to b`},
		{"interface on a lab node", []string{"addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: eth1"},
			`lab.yaml:10: nodes.a.ports.er1.interface: only a port of a node of kind external names a host interface`},
		{"both ends external", []string{"kind: router", "kind: external", "kind: router", "kind: external", "addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: eth1", "addresses: [192.168.100.130/30]", "addresses: [192.168.100.130/30]\n        interface: eth2"},
			`lab.yaml:20: links[0].endpoints: both ends (a:er1, b:er1) are external`},
		{"external interface twice", []string{"kind: router", "kind: external", "addresses: [192.168.100.129/30]", "addresses: [192.168.100.129/30]\n        interface: eth1\n      er2: {kind: direct, interface: eth1}"},
			`lab.yaml:11: nodes.a.ports.er2.interface: host interface eth1 is already used by nodes.a.ports.er1`},
		{"node name too long", []string{"  a:", "  averyveryverylongnode:", "[a:er1", "[averyveryverylongnode:er1"}, `lab.yaml:4: nodes.averyveryverylongnode: node name "averyveryverylongnode" is 21 bytes`},
		// Ports.
		{"port kind", []string{"kind: direct", "kind: fiber"}, `lab.yaml:8: nodes.a.ports.er1.kind: "fiber" is not a port kind`},
		{"port name too long", []string{"      er1:", "      averyverylongport1:", "[a:er1", "[a:averyverylongport1"}, `lab.yaml:7: nodes.a.ports.averyverylongport1: port name "averyverylongport1" is 18 bytes, longer than 15`},
		{"address syntax", []string{"192.168.100.129/30", "192.168.100.300/30"}, `lab.yaml:9: nodes.a.ports.er1.addresses[0]: "192.168.100.300/30" is not an address with a prefix length`},
		{"address without length", []string{"192.168.100.129/30", "192.168.100.129"}, `lab.yaml:9: nodes.a.ports.er1.addresses[0]: "192.168.100.129" is not an address with a prefix length`},
		{"network address", []string{"192.168.100.129/30", "192.168.100.128/30"}, `lab.yaml:9: nodes.a.ports.er1.addresses[0]: 192.168.100.128 is the network or broadcast address of 192.168.100.128/30`},
		{"duplicate address", []string{"192.168.100.130/30", "192.168.100.129/30"}, `lab.yaml:15: nodes.b.ports.er1.addresses[0]: 192.168.100.129 is already used by nodes.a.ports.er1.addresses[0]`},
		{"no common subnet", []string{"192.168.100.130/30", "192.168.100.134/30"}, `lab.yaml:18: links[0].endpoints: a:er1 and b:er1 have no subnet in common`},
		{"unknown nested field", []string{"", "      lan: {kind: ethernet}\n"}, `lab.yaml:23: links[0].macsec.lan: unknown field`},
		{"port not on any link", []string{"    ports:\n", "    ports:\n      lan: {kind: ethernet}\n"}, `lab.yaml:7: nodes.a.ports.lan: port a:lan is not on any link`},
		// Links.
		{"endpoint node missing", []string{"[a:er1, b:er1]", "[a:er1, c:er1]"}, `lab.yaml:18: links[0].endpoints[1]: node "c" does not exist`},
		{"endpoint port missing", []string{"[a:er1, b:er1]", "[a:er1, b:er9]"}, `lab.yaml:18: links[0].endpoints[1]: node b has no port "er9" (ports: er1)`},
		{"colon in flow mapping", []string{"", "  - {name: link2, endpoints: [a:er1, b:er1]}\n"}, `lab.yaml:23: links[1].endpoints[0]: ":" is not a string; inside {…} quote values that hold a colon`},
		{"endpoint syntax", []string{"[a:er1, b:er1]", "[a:er1, b-er1]"}, `lab.yaml:18: links[0].endpoints[1]: "b-er1" is not an endpoint: want "node:port"`},
		{"three endpoints", []string{"[a:er1, b:er1]", "[a:er1, b:er1, a:er1]"}, `lab.yaml:18: links[0].endpoints: want exactly two endpoints "node:port", found 3`},
		{"same node", []string{"[a:er1, b:er1]", "[a:er1, a:er1]"}, `lab.yaml:18: links[0].endpoints: both ends are on node a`},
		{"port on two links", []string{"", "  - name: link2\n    endpoints: [b:er1, a:er1]\n"}, `lab.yaml:24: links[1].endpoints[0]: port b:er1 is already on link link1; a port joins at most one link`},
		{"duplicate link name", []string{"", "  - name: link1\n    endpoints: [b:er1, a:er1]\n"}, `lab.yaml:23: links[1].name: "link1" is already the name of links[0]`},
		{"link name too long", []string{"name: link1", "name: averyverylonglink"}, `lab.yaml:17: links[0].name: link name "averyverylonglink" is 17 bytes`},
		{"wire name clash", []string{"name: link1", "name: er1"}, `lab.yaml:17: links[0].name: link er1 names the wire interface of a:er1, but node a already has port er1`},
		// MACsec.
		{"cipher unknown", []string{"cipher: GcmAesXpn256", "cipher: GcmAes512"}, `lab.yaml:21: links[0].macsec.cipher: "GcmAes512": want GcmAes128, GcmAes256, GcmAesXpn128 or GcmAesXpn256`},
		{"cipher missing", []string{"      cipher: GcmAesXpn256\n", ""}, `lab.yaml:19: links[0].macsec.cipher: missing: want one of GcmAes128`},
		{"sciState", []string{"", "      sciState: Enabeld\n"}, `lab.yaml:23: links[0].macsec.sciState: "Enabeld": want Enabled or Disabled (on or off)`},
		{"keyServerPriority", []string{"", "      keyServerPriority: 256\n"}, `lab.yaml:23: links[0].macsec.keyServerPriority: 256 is out of range: want 0 to 255`},
		{"replayWindow negative", []string{"", "      replayWindow: -1\n"}, `lab.yaml:23: links[0].macsec.replayWindow: -1 is out of range`},
		{"replayWindow without replayProtect", []string{"", "      replayProtect: false\n      replayWindow: 64\n"}, `lab.yaml:24: links[0].macsec.replayWindow: a replay window needs replayProtect: true`},
		{"macsec on provider circuit", []string{"      er1:\n        kind: direct\n        addresses: [192.168.100.130/30]", "      er1:\n        kind: provider\n        addresses: [192.168.100.130/30]"},
			`lab.yaml:20: links[0].macsec.enabled: b:er1 is a provider circuit (kind provider): MACsec is available only on ExpressRoute Direct ports (kind direct)`},
		{"macsec on ethernet with expressroute", []string{"      er1:\n        kind: direct\n        addresses: [192.168.100.130/30]", "      er1:\n        kind: ethernet\n        addresses: [192.168.100.130/30]"},
			`lab.yaml:20: links[0].macsec.enabled: b:er1 is kind ethernet: profile expressroute allows MACsec only on ExpressRoute Direct ports`},
		{"cipher mismatch", []string{"", "      overrides:\n        b:er1: {cipher: GcmAes128}\n"}, `lab.yaml:23: links[0].macsec.overrides: the ends differ in cipher (a:er1 GcmAesXpn256, b:er1 GcmAes128); both ends of a link must agree unless allowMismatch: true`},
		{"secret mismatch", []string{"", "      overrides:\n        b:er1: {secret: generate}\n"}, `lab.yaml:23: links[0].macsec.overrides: the ends use different secrets`},
		{"override not an end", []string{"", "      overrides:\n        c:er1: {cipher: GcmAes128}\n"}, `lab.yaml:24: links[0].macsec.overrides.c:er1: "c:er1" is not an end of this link: want a:er1 or b:er1`},
		{"override cipher unknown", []string{"", "      allowMismatch: true\n      overrides:\n        b:er1: {cipher: des}\n"}, `lab.yaml:25: links[0].macsec.overrides.b:er1.cipher: "des": want GcmAes128`},
		// Impairments.
		{"delay", []string{"", "    impairments: {delay: 5 ms}\n"}, `lab.yaml:23: links[0].impairments.delay: "5 ms" is not a duration`},
		{"jitter negative", []string{"", "    impairments: {jitter: -1ms}\n"}, `lab.yaml:23: links[0].impairments.jitter: "-1ms" is not a duration`},
		{"loss without percent", []string{"", "    impairments: {loss: \"1\"}\n"}, `lab.yaml:23: links[0].impairments.loss: "1" is not a loss percentage: want 0% to 100%`},
		{"loss above 100", []string{"", "    impairments: {loss: 150%}\n"}, `lab.yaml:23: links[0].impairments.loss: "150%" is not a loss percentage`},
		{"rate unit", []string{"", "    impairments: {rate: 100MB}\n"}, `lab.yaml:23: links[0].impairments.rate: "100MB" is not a rate`},
		{"down type", []string{"", "    impairments: {down: 1%}\n"}, `lab.yaml:23: links[0].impairments.down: "1%" is not true or false`},
		// Routes.
		{"route via unreachable", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.0/16, via: 192.168.1.1}\n"},
			`lab.yaml:7: nodes.a.routes[0].via: next hop 192.168.1.1 is not on a connected subnet of a (er1 192.168.100.129/30)`},
		{"route host bits", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.1/16, via: 192.168.100.130}\n"},
			`lab.yaml:7: nodes.a.routes[0].prefix: 10.50.0.1/16 has host bits set: did you mean 10.50.0.0/16?`},
		{"route bad prefix", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: default, via: 192.168.100.130}\n"},
			`lab.yaml:7: nodes.a.routes[0].prefix: "default" is not a prefix`},
		{"route bad via", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.0/16, via: msee1}\n"},
			`lab.yaml:7: nodes.a.routes[0].via: "msee1" is not a next-hop address`},
		{"route via own address", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.0/16, via: 192.168.100.129}\n"},
			`lab.yaml:7: nodes.a.routes[0].via: next hop 192.168.100.129 is a's own address on er1`},
		{"route family", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 2001:db8::/32, via: 192.168.100.130}\n"},
			`lab.yaml:7: nodes.a.routes[0].via: next hop 192.168.100.130 is not of the same address family as 2001:db8::/32`},
		{"route duplicate", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.0/16, via: 192.168.100.130}\n      - {prefix: 10.50.0.0/16, via: 192.168.100.130}\n"},
			`lab.yaml:8: nodes.a.routes[1].prefix: 10.50.0.0/16 is already routed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(edit(t, tt.edits...)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var e *Error
			require.True(t, errors.As(err, &e), "error is not a *topology.Error: %T", err)
		})
	}
}

func TestValidVariants(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		check func(t *testing.T, topo *Topology)
	}{
		{"802.1AE cipher name", []string{"cipher: GcmAesXpn256", "cipher: GCM-AES-128"}, func(t *testing.T, topo *Topology) {
			assert.Equal(t, macsec.GCMAES128, topo.Links[0].MACsec.Cipher)
		}},
		{"mismatch allowed", []string{"", "      allowMismatch: true\n      overrides:\n        b:er1: {cipher: GcmAes128, secret: generate}\n"}, func(t *testing.T, topo *Topology) {
			l := topo.Links[0]
			assert.Equal(t, macsec.GCMAESXPN256, l.Ends[0].Cipher)
			assert.Equal(t, macsec.GCMAES128, l.Ends[1].Cipher)
			assert.False(t, l.Ends[0].OwnSecret)
			assert.True(t, l.Ends[1].OwnSecret)
		}},
		{"macsec on ethernet without profile", []string{"profile: expressroute\n", "", "kind: direct", "kind: ethernet", "kind: direct", "kind: ethernet"}, func(t *testing.T, topo *Topology) {
			assert.True(t, topo.Node("a").Port("er1").Controlled)
		}},
		{"direct port without macsec is still controlled", []string{"enabled: true", "enabled: false"}, func(t *testing.T, topo *Topology) {
			assert.False(t, topo.Links[0].MACsec.Enabled)
			assert.True(t, topo.Node("b").Port("er1").Controlled)
		}},
		{"ethernet link is plain", []string{"    macsec:\n      enabled: true\n      cipher: GcmAesXpn256\n      secret: generate\n", "", "kind: direct", "kind: ethernet", "kind: direct", "kind: ethernet"}, func(t *testing.T, topo *Topology) {
			p := topo.Node("a").Port("er1")
			assert.False(t, p.Controlled)
			assert.Equal(t, "er1", p.Wire)
		}},
		{"impairments", []string{"", "    impairments: {delay: 5ms, jitter: 1ms, loss: 0.5%, rate: 100Mbit, down: true}\n"}, func(t *testing.T, topo *Topology) {
			assert.Equal(t, Impairments{Delay: 5 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.005, Rate: 100e6, Down: true}, topo.Links[0].Impairments)
		}},
		{"impaired plain link goes through the forwarder", []string{"    macsec:\n      enabled: true\n      cipher: GcmAesXpn256\n      secret: generate\n", "    impairments: {loss: 1%}\n", "kind: direct", "kind: ethernet", "kind: direct", "kind: ethernet"}, func(t *testing.T, topo *Topology) {
			p := topo.Node("a").Port("er1")
			assert.True(t, p.Controlled)
			assert.Equal(t, "link1", p.Wire)
		}},
		{"sci and replay", []string{"", "      sciState: Enabled\n      replayWindow: 64\n      keyServerPriority: 0\n"}, func(t *testing.T, topo *Topology) {
			m := topo.Links[0].MACsec
			assert.True(t, m.IncludeSCI)
			assert.Equal(t, uint32(64), m.ReplayWindow)
			assert.Equal(t, uint8(0), m.KeyServerPriority)
		}},
		{"routes resolve their port", []string{"    kind: router\n", "    kind: router\n    routes:\n      - {prefix: 10.50.0.0/16, via: 192.168.100.130}\n"}, func(t *testing.T, topo *Topology) {
			rs := topo.Node("a").RoutesVia("er1")
			require.Len(t, rs, 1)
			assert.Equal(t, "10.50.0.0/16", rs[0].Prefix.String())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := Parse("lab.yaml", []byte(edit(t, tt.edits...)))
			require.NoError(t, err)
			tt.check(t, topo)
		})
	}
}

func TestSeveralErrorsInFileOrder(t *testing.T) {
	_, err := Parse("lab.yaml", []byte(edit(t, "name: t", "name: T", "cipher: GcmAesXpn256", "cipher: x")))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2)
	assert.True(t, strings.HasPrefix(lines[0], "lab.yaml:1: name:"), lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "lab.yaml:21: links[0].macsec.cipher:"), lines[1])
}

func TestNotOneDocument(t *testing.T) {
	for src, want := range map[string]string{
		"":                    "lab.yaml:1: want exactly one YAML document, found 0",
		"# only a comment\n":  "lab.yaml:1: want exactly one YAML document, found 0",
		base + "---\n" + base: "lab.yaml:23: want exactly one YAML document, found 2", // the second's ---
	} {
		_, err := Parse("lab.yaml", []byte(src))
		assert.ErrorContains(t, err, want)
	}
	_, err := Parse("lab.yaml", []byte("name: [unclosed\n"))
	assert.ErrorContains(t, err, "lab.yaml:")
}

func TestLoadResolvesSecretPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(file, []byte(edit(t, "secret: generate", "secret: keys/link1.key")), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "keys"), 0o700))
	key := "CKN=" + strings.Repeat("ab", 32) + "\nCAK=" + strings.Repeat("12", 32) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keys/link1.key"), []byte(key), 0o600))
	topo, err := Load(file)
	require.NoError(t, err)
	assert.Equal(t, Secret{Path: filepath.Join(dir, "keys/link1.key")}, topo.Links[0].MACsec.Secret)
	assert.Equal(t, file, topo.Source)

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "missing.yaml")
}
