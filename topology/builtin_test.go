package topology

import (
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

func TestBuiltinExpressRouteDirect(t *testing.T) {
	assert.Contains(t, Builtins(), "expressroute-direct")
	topo, err := Builtin("expressroute-direct")
	require.NoError(t, err)
	assert.Equal(t, ProfileExpressRoute, topo.Profile)

	// The Azure addressing: customer first host address, MSEE second, on
	// each peering's sub-interface of the Direct port (private peering on
	// VLAN 100, Microsoft peering on VLAN 200); the port itself has none.
	addr := func(node, port string) string {
		return topo.Node(node).Port(port).Addresses[0].String()
	}
	vlan := func(node, port, name string) string {
		v := topo.Node(node).Port(port).VLAN(name)
		require.NotNil(t, v, "%s:%s has %s", node, port, name)
		return v.Tags() + " " + string(v.Peering) + " " + v.Addresses[0].String()
	}
	for _, tt := range []struct{ node, port, vlan, want string }{
		{"ce1", "er1", "er1.100", "VLAN 100 AzurePrivatePeering 192.168.100.129/30"},
		{"msee1", "er1", "er1.100", "VLAN 100 AzurePrivatePeering 192.168.100.130/30"},
		{"ce2", "er2", "er2.100", "VLAN 100 AzurePrivatePeering 192.168.100.133/30"},
		{"msee2", "er2", "er2.100", "VLAN 100 AzurePrivatePeering 192.168.100.134/30"},
		{"ce1", "er1", "er1.200", "VLAN 200 MicrosoftPeering 203.0.113.1/30"},
		{"msee1", "er1", "er1.200", "VLAN 200 MicrosoftPeering 203.0.113.2/30"},
		{"ce2", "er2", "er2.200", "VLAN 200 MicrosoftPeering 203.0.113.5/30"},
		{"msee2", "er2", "er2.200", "VLAN 200 MicrosoftPeering 203.0.113.6/30"},
	} {
		assert.Equal(t, tt.want, vlan(tt.node, tt.port, tt.vlan))
		assert.Empty(t, topo.Node(tt.node).Port(tt.port).Addresses, "%s:%s carries only tagged frames", tt.node, tt.port)
		assert.Len(t, topo.Node(tt.node).Port(tt.port).VLANs, 2)
	}
	assert.Equal(t, "10.1.0.10/24", addr("onprem-host", "lan1"))
	assert.Equal(t, "10.50.0.10/24", addr("vnet-host", "vnet1"))

	for _, name := range []string{"link1", "link2"} {
		l := topo.Link(name)
		require.NotNil(t, l, name)
		assert.True(t, l.MACsec.Enabled, name)
		assert.Equal(t, macsec.GCMAESXPN256, l.MACsec.Cipher, name)
		assert.False(t, l.MACsec.IncludeSCI, name)
		assert.True(t, l.MACsec.Secret.Generate, name)
		for _, e := range l.Ends {
			p := topo.Node(e.Node).Port(e.Port)
			assert.Equal(t, PortDirect, p.Kind)
			assert.True(t, p.Controlled)
			assert.Equal(t, name, p.Wire)
		}
	}

	// onprem-host → vnet-host goes ce1 – link1 – msee1 and back: the hosts
	// by static routes, the routers by BGP (TestBGPBuiltin).
	hop := func(node string, dst string) (string, string) {
		d := netip.MustParseAddr(dst)
		for _, r := range topo.Node(node).Routes {
			if r.Prefix.Contains(d) {
				return r.Via.String(), r.Port
			}
		}
		return "", ""
	}
	for _, tt := range []struct{ node, dst, via, port string }{
		{"onprem-host", "10.50.0.10", "10.1.0.1", "lan1"},
		{"ce1", "10.50.0.10", "", ""},
		{"msee1", "10.1.0.10", "", ""},
		{"vnet-host", "10.1.0.10", "10.50.0.1", "vnet1"},
	} {
		via, port := hop(tt.node, tt.dst)
		assert.Equal(t, tt.via, via, "%s → %s", tt.node, tt.dst)
		assert.Equal(t, tt.port, port, "%s → %s", tt.node, tt.dst)
	}
	assert.Equal(t, KindHost, topo.Node("onprem-host").Kind)
	assert.True(t, topo.Node("ce1").Forwards())
}

func TestBuiltinUnknown(t *testing.T) {
	_, err := Builtin("nope")
	assert.ErrorContains(t, err, `no built-in topology "nope": want one of expressroute-direct, expressroute-ipsec`)
}

func TestAllBuiltinsValid(t *testing.T) {
	for _, name := range Builtins() {
		_, err := Builtin(name)
		assert.NoError(t, err, name)
	}
}

// TestParseFSCompanion: a built-in topology's node config: is a companion
// file of its file system, read into ConfigData and named by its path
// there; one that is missing is refused with the field; a topology on disk
// has none.
func TestParseFSCompanion(t *testing.T) {
	const src = `name: c
nodes:
  gw:
    kind: strongswan
    config: gw.conf
    ports:
      wan: {kind: ethernet, addresses: [172.16.1.1/30]}
  peer:
    kind: router
    ports:
      wan: {kind: ethernet, addresses: [172.16.1.2/30]}
links:
  - {name: wan, endpoints: ["gw:wan", "peer:wan"]}
`
	fsys := fstest.MapFS{"builtin/topologies/gw.conf": {Data: []byte("connections {}\n")}}
	topo, err := ParseFS(fsys, "builtin/topologies/c.yaml", []byte(src))
	require.NoError(t, err)
	gw := topo.Node("gw")
	assert.Equal(t, "builtin/topologies/gw.conf", gw.Config)
	assert.Equal(t, "connections {}\n", string(gw.ConfigData))
	assert.Equal(t, "builtin/topologies/c.yaml", topo.Source)

	_, err = ParseFS(fstest.MapFS{}, "builtin/topologies/c.yaml", []byte(src))
	require.ErrorContains(t, err, "builtin/topologies/c.yaml:5: nodes.gw.config: open builtin/topologies/gw.conf: file does not exist")
	_, err = ParseFS(fsys, "builtin/topologies/c.yaml", []byte(strings.Replace(src, "kind: router", "kind: router\n    config: gw.conf", 1)))
	require.ErrorContains(t, err, "nodes.peer.config: only a bird, frr or strongswan node runs a configuration file of its own")
}
