package topology

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAlone: each router of the built-in lab as a lab of its own is a
// valid topology: the node as it was (addresses, peering interfaces,
// routes, BGP), its neighbours external on the interfaces given, MACsec
// with the link's cipher and the key file given; ce2, on the secondary
// link of the port pair, keeps the secondary /30s.
func TestAlone(t *testing.T) {
	whole, err := Builtin("expressroute-direct")
	require.NoError(t, err)
	for _, node := range []string{"ce1", "ce2", "msee1", "msee2"} {
		t.Run(node, func(t *testing.T) {
			n := whole.Node(node)
			ifaces, secrets := map[string]string{}, map[string]string{}
			for i, p := range n.Ports {
				ifaces[p.Link] = "eth" + string(rune('1'+i))
				if whole.Link(p.Link).MACsec.Enabled {
					secrets[p.Link] = "../keys/" + p.Link + ".key"
				}
			}
			data, err := whole.Alone(node, ifaces, secrets)
			require.NoError(t, err)
			alone, err := Parse("/x/"+node+"/topology.yaml", []byte(replaceSecrets(string(data))))
			require.NoError(t, err, "%s", data)
			assert.Equal(t, whole.Name, alone.Name)
			an := alone.Node(node)
			require.NotNil(t, an)
			assert.Equal(t, n.Kind, an.Kind)
			assert.Equal(t, n.Routes, an.Routes)
			assert.Equal(t, n.BGP, an.BGP)
			require.Len(t, an.Ports, len(n.Ports))
			for i, p := range an.Ports {
				assert.Equal(t, n.Ports[i].Addresses, p.Addresses, p.Name)
				assert.Equal(t, n.Ports[i].VLANs, p.VLANs, p.Name)
				assert.True(t, p.HostWire, p.Name)
				assert.Equal(t, ifaces[p.Link], p.Wire, p.Name)
			}
			assert.Len(t, alone.Nodes, 1+len(n.Ports), "the node and one external per link")
			for _, on := range alone.Nodes {
				if on.Name != node {
					assert.Equal(t, KindExternal, on.Kind, on.Name)
				}
			}
			for _, l := range alone.Links {
				wl := whole.Link(l.Name)
				assert.Equal(t, wl.MACsec.Enabled, l.MACsec.Enabled, l.Name)
				if l.MACsec.Enabled {
					assert.Equal(t, wl.MACsec.Cipher, l.MACsec.Cipher)
					assert.Equal(t, wl.MACsec.IncludeSCI, l.MACsec.IncludeSCI)
					assert.Equal(t, wl.MACsec.ReplayWindow, l.MACsec.ReplayWindow)
				}
			}
			assert.Empty(t, alone.Tunnels)
			assert.Nil(t, alone.Azure)
		})
	}
	ce2, err := whole.Alone("ce2", map[string]string{"link2": "eth1", "onprem2": "eth2", "ce-lan": "eth3"}, map[string]string{"link2": "k"})
	require.NoError(t, err)
	assert.Contains(t, string(ce2), "primaryPeerAddressPrefix: 192.168.100.132/30", "link2 alone keeps its secondary /30")

	_, err = whole.Alone("ce1", map[string]string{"link1": "eth1"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "link onprem1: no local interface for it")
	assert.Contains(t, err.Error(), "link link1 runs MACsec: no key file for it")
	_, err = whole.Alone("nope", nil, nil)
	assert.ErrorContains(t, err, `no node "nope"`)
}

// replaceSecrets makes the key files of an Alone topology generated ones,
// so that it parses without them.
func replaceSecrets(s string) string {
	return secretLine.ReplaceAllString(s, "${1}secret: generate")
}

var secretLine = regexp.MustCompile(`(?m)^(\s*)secret: \S+`)
