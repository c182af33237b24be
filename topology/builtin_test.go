package topology

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

func TestBuiltinExpressRouteDirect(t *testing.T) {
	assert.Contains(t, Builtins(), "expressroute-direct")
	topo, err := Builtin("expressroute-direct")
	require.NoError(t, err)
	assert.Equal(t, ProfileExpressRoute, topo.Profile)

	// The Azure addressing: customer first host address, MSEE second.
	addr := func(node, port string) string {
		return topo.Node(node).Port(port).Addresses[0].String()
	}
	assert.Equal(t, "192.168.100.129/30", addr("ce1", "er1"))
	assert.Equal(t, "192.168.100.130/30", addr("msee1", "er1"))
	assert.Equal(t, "192.168.100.133/30", addr("ce2", "er2"))
	assert.Equal(t, "192.168.100.134/30", addr("msee2", "er2"))
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
	assert.ErrorContains(t, err, `no built-in topology "nope": want one of expressroute-direct`)
}

func TestAllBuiltinsValid(t *testing.T) {
	for _, name := range Builtins() {
		_, err := Builtin(name)
		assert.NoError(t, err, name)
	}
}
