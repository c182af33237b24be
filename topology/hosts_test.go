package topology

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func twoHosts(t *testing.T, edit func(string) string) ([]byte, string) {
	t.Helper()
	data, err := os.ReadFile("../lab/testdata/er-two-hosts.yaml")
	require.NoError(t, err)
	s := strings.ReplaceAll(string(data), "secret: KEY", "secret: generate")
	if edit != nil {
		s = edit(s)
	}
	return []byte(s), "er-two-hosts.yaml"
}

func TestHostsHalves(t *testing.T) {
	data, file := twoHosts(t, nil)
	whole, err := ParseHost(file, data, "")
	require.NoError(t, err)
	assert.Len(t, whole.Nodes, 6, "without --host the whole lab runs here")
	assert.Equal(t, uint32(101), whole.Link("link1").VNI)
	assert.Nil(t, whole.Link("link1").VXLAN)

	ms, err := ParseHost(file, data, "ms")
	require.NoError(t, err)
	assert.Equal(t, "ms", ms.Host)
	var names []string
	for _, n := range ms.Nodes {
		names = append(names, n.Name+"/"+string(n.Kind))
	}
	assert.Equal(t, []string{"ce1/external", "ce2/external", "msee1/router", "msee2/router", "vnet-host/host"}, names)
	l1 := ms.Link("link1")
	require.NotNil(t, l1.VXLAN)
	assert.Equal(t, "slvx101", l1.VXLAN.Device)
	assert.Equal(t, "cust", l1.VXLAN.Remote.Name)
	assert.Equal(t, "10.77.0.2", l1.VXLAN.Remote.Address.String())
	p := ms.Node("msee1").Port("er1")
	assert.True(t, p.HostWire)
	assert.Equal(t, "slvx101", p.Wire)
	assert.Nil(t, ms.Link("ce-lan"), "the other host's own links are its half's")
	ce1 := ms.Node("ce1")
	require.NotNil(t, ce1.BGP, "the far router's BGP still describes it")
	assert.Equal(t, uint32(65001), ce1.BGP.ASN)

	cust, err := ParseHost(file, data, "cust")
	require.NoError(t, err)
	assert.Equal(t, "external", string(cust.Node("msee2").Kind))
	assert.Equal(t, "slvx102", cust.Node("ce2").Port("er2").Wire)

	_, err = ParseHost(file, data, "nope")
	assert.ErrorContains(t, err, "--host nope: not a host of the topology (cust, ms)")
}

func TestHostsRules(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"mtu: 1600}\n  cust", "mtu: 1300}\n  cust", "hosts.ms.mtu: 1300 cannot carry a 1280-octet IPv6 packet over VXLAN with MACsec: the underlay needs at least 1362"},
		{"    vni: 101\n", "", "links[0].vni: missing: ce1 runs on host cust and msee1 on ms"},
		{"    vni: 102\n", "    vni: 101\n", "links[1].vni: VNI 101 is already link link1's"},
		{"    vni: 102\n", "    vni: 16777216\n", "links[1].vni: 16777216 is not a VNI"},
		{"    host: ms\n    kind: host", "    kind: host", "nodes.vnet-host.host: missing"},
		{"address: 10.77.0.1,", "address: banana,", "hosts.ms.address: \"banana\" is not an IPv4 address"},
		{"    endpoints: [onprem-host:lan1, ce1:lan]\n", "    endpoints: [onprem-host:lan1, ce1:lan]\n    vni: 7\n", "links[2].vni: only a link whose ends run on two hosts"},
	} {
		data, file := twoHosts(t, func(s string) string {
			require.Contains(t, s, tc.from)
			return strings.Replace(s, tc.from, tc.to, 1)
		})
		_, err := Parse(file, data)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.Regexp(t, `er-two-hosts.yaml:\d+`, err.Error())
	}
	data, file := twoHosts(t, func(s string) string { return strings.Replace(s, "mtu: 1600}\n  cust", "mtu: 1500}\n  cust", 1) })
	topo, err := Parse(file, data)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(topo.Warnings, "\n"), "host ms's underlay MTU 1500 carries packets of 1418 octets at most")
}
