package topology

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/ipsec/ike"
)

func TestVPNGatewayBuiltin(t *testing.T) {
	topo, err := Builtin("expressroute-vpngw")
	require.NoError(t, err)
	az := topo.Node("vnet-vpngw")
	require.NotNil(t, az.VPNGateway)
	assert.True(t, az.VPNGateway.ActiveActive)
	assert.True(t, az.Forwards())
	require.NotNil(t, az.BGP)
	assert.Equal(t, uint32(65515), az.BGP.ASN)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.50.0.0/16")}, az.BGP.Networks)
	require.Len(t, topo.Tunnels, 2)
	s0 := topo.Tunnels[0]
	require.NotNil(t, s0.IKE)
	assert.True(t, s0.IKE.SharedKey.Generate)
	assert.Equal(t, ModeDefault, s0.IKE.Mode)
	assert.Equal(t, 9, s0.IKE.DPDTimeoutSeconds)
	assert.Nil(t, s0.IKE.Policy, "Azure's default policy sets")
	l, p := s0.BGPAddresses(0)
	assert.Equal(t, "169.254.21.2", l.String())
	assert.Equal(t, "169.254.21.1", p.String())
	nb := az.BGP.Neighbor("s2s1")
	require.NotNil(t, nb)
	assert.Equal(t, BGPNeighbor{Name: "s2s1", Tunnel: "s2s1", Iface: "s2s1", Local: netip.MustParseAddr("169.254.22.1"),
		Peer: netip.MustParseAddr("169.254.22.2"), PeerNode: "onprem-vpngw", PeerASN: 65010}, *nb)
	on := topo.Node("onprem-vpngw").BGP
	assert.Len(t, on.Neighbors, 2)
	assert.Equal(t, uint32(65515), on.Neighbor("s2s0").PeerASN)
	assert.Empty(t, topo.Warnings)
}

func TestVPNGatewayCustomPolicy(t *testing.T) {
	src := vpngwSource(t, "    enableBgp: true\n  - name: s2s1", `    enableBgp: true
    ipsecPolicies:
      - {saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400000, ipsecEncryption: GCMAES256, ipsecIntegrity: GCMAES256,
         ikeEncryption: GCMAES256, ikeIntegrity: GCMAES256, dhGroup: DHGroup24, pfsGroup: PFS24}
  - name: s2s1`)
	topo, err := Parse("lab.yaml", []byte(src))
	require.NoError(t, err)
	k := topo.Tunnels[0].IKE
	require.NotNil(t, k.Policy)
	assert.Equal(t, []ike.Suite{{Encr: ike.ENCR_AES_GCM_16, KeyBits: 256, PRF: ike.PRF_HMAC_SHA2_256, DH: ike.MODP2048S256}}, k.IKESuites)
	assert.Equal(t, []ike.Suite{{Encr: ike.ENCR_AES_GCM_16, KeyBits: 256, DH: ike.MODP2048S256}}, k.ESPSuites)
}

// vpngwSource is the expressroute-vpngw built-in with edits (old, new).
func vpngwSource(t *testing.T, pairs ...string) string {
	t.Helper()
	b, err := BuiltinSource("expressroute-vpngw")
	require.NoError(t, err)
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		require.Contains(t, s, pairs[i])
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestVPNGatewayRefusals(t *testing.T) {
	const pol = "    enableBgp: true\n  - name: s2s1"
	policy := func(fields string) []string {
		return []string{pol, "    enableBgp: true\n    ipsecPolicies:\n      - {" + fields + "}\n  - name: s2s1"}
	}
	full := "saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400000, ipsecEncryption: AES256, ipsecIntegrity: SHA256, ikeEncryption: AES256, ikeIntegrity: SHA256, dhGroup: ECP384, pfsGroup: None"
	tests := []struct {
		name  string
		edits []string
		want  string
	}{
		{"policy incomplete", policy("saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400000, ipsecEncryption: AES256, ipsecIntegrity: SHA256, ikeEncryption: AES256, ikeIntegrity: SHA256, dhGroup: ECP384"),
			"lab.yaml:107: tunnels[0].ipsecPolicies[0].pfsGroup: missing: Azure requires every field of an IPsec policy (None, PFS1, PFS2, PFS2048, ECP256, ECP384, PFS24, PFS14, PFSMM)"},
		{"value not allowed", policy(strings.Replace(full, "dhGroup: ECP384", "dhGroup: ECP521", 1)),
			`lab.yaml:107: tunnels[0].ipsecPolicies[0].dhGroup: "ECP521" is not allowed: Azure allows None, DHGroup1, DHGroup2, DHGroup14, DHGroup2048, ECP256, ECP384, DHGroup24`},
		{"gcm integrity", policy(strings.Replace(full, "ipsecEncryption: AES256", "ipsecEncryption: GCMAES256", 1)),
			`tunnels[0].ipsecPolicies[0].ipsecIntegrity: "SHA256" with ipsecEncryption "GCMAES256": if GCMAES is used for IPsec encryption, the same GCMAES algorithm and key length must be chosen for IPsec integrity`},
		{"lifetime", policy(strings.Replace(full, "saLifeTimeSeconds: 3600", "saLifeTimeSeconds: 60", 1)),
			"tunnels[0].ipsecPolicies[0].saLifeTimeSeconds: 60: Azure allows 300 to 172799 seconds"},
		{"kilobytes", policy(strings.Replace(full, "saDataSizeKilobytes: 102400000", "saDataSizeKilobytes: 100", 1)),
			"tunnels[0].ipsecPolicies[0].saDataSizeKilobytes: 100: Azure allows 1024 to 2147483647 kilobytes"},
		{"3des", policy(strings.Replace(full, "ikeEncryption: AES256", "ikeEncryption: DES3", 1)),
			`tunnels[0].ipsecPolicies[0].ikeEncryption: "DES3" is allowed by Azure but not implemented here`},
		{"two policies", []string{pol, "    enableBgp: true\n    ipsecPolicies: [{" + full + "}, {" + full + "}]\n  - name: s2s1"},
			"tunnels[0].ipsecPolicies: 2 policies: Azure takes one IPsec/IKE policy per connection"},
		{"connection mode", []string{"connectionMode: Default", "connectionMode: Passive"}, `lab.yaml:103: tunnels[0].connectionMode: "Passive": Azure allows Default, ResponderOnly or InitiatorOnly`},
		{"dpd", []string{"dpdTimeoutSeconds: 9", "dpdTimeoutSeconds: 5"}, "lab.yaml:104: tunnels[0].dpdTimeoutSeconds: 5: Azure allows 9 to 3600 seconds"},
		{"apipa", []string{"customBgpIpAddresses: [169.254.21.1]", "customBgpIpAddresses: [169.254.23.1]"},
			`nodes.vnet-vpngw.bgpSettings.bgpPeeringAddresses[0].customBgpIpAddresses[0]: "169.254.23.1": a custom BGP address must be an APIPA address from 169.254.21.0 to 169.254.22.255`},
		{"reserved asn", []string{"asn: 65515", "asn: 65517"}, "nodes.vnet-vpngw.bgpSettings.asn: 65517 is reserved by Azure"},
		{"no bgp address", []string{", bgpPeeringAddress: 169.254.21.2}", "}"}, "lab.yaml:100: tunnels[0].ends[0].bgpPeeringAddress: missing: enableBgp needs this gateway's BGP address"},
		{"device key file", []string{", bgpPeeringAddress: 169.254.21.2}", ", bgpPeeringAddress: 169.254.21.2, device: {sharedKey: psk.txt}}"},
			`tunnels[0].ends[0].device.sharedKey: "psk.txt": a device's own shared key is generate (one other than the connection's)`},
		{"device on azure", []string{"{node: vnet-vpngw, outer: 172.16.2.1, protects: [10.50.0.0/16]}", "{node: vnet-vpngw, outer: 172.16.2.1, protects: [10.50.0.0/16], device: {sharedKey: generate}}"},
			"tunnels[0].ends[1].device: a device block describes an on-premises gateway the lab keys (not vnet-vpngw, a vpngateway)"},
		{"device policy incomplete", []string{", bgpPeeringAddress: 169.254.21.2}", ", bgpPeeringAddress: 169.254.21.2, device: {ipsecPolicy: {dhGroup: DHGroup14}}}"},
			"tunnels[0].ends[0].device.ipsecPolicy.ikeEncryption: missing"},
		{"manual with ike field", []string{"    sharedKey: generate\n    connectionMode: Default\n    dpdTimeoutSeconds: 9\n    enableBgp: true\n  - name: s2s1", "    enableBgp: true\n  - name: s2s1"},
			"tunnels[0].enableBgp: an IKE setting on a manually keyed tunnel: give the tunnel a sharedKey"},
		{"cipher with ike", []string{"    sharedKey: generate\n    connectionMode", "    sharedKey: generate\n    cipher: aes128gcm16\n    connectionMode"},
			"tunnels[0].cipher: IKE negotiates the ESP transforms of a tunnel with a sharedKey"},
		{"same outer", []string{"outer: 203.0.113.1", "outer: 172.16.1.1"}, "tunnels[1].ends[0].outer: 172.16.1.1 is also the outer address of s2s0 on onprem-vpngw"},
		{"activeActive elsewhere", []string{"  ce1:\n    kind: router\n", "  ce1:\n    kind: router\n    activeActive: true\n"}, "nodes.ce1.activeActive: only a vpngateway node"},
		{"bgp block on vpngateway", []string{"    activeActive: true\n", "    activeActive: true\n    bgp: {asn: 65515}\n"}, "nodes.vnet-vpngw.bgp: a vpngateway's BGP is Azure's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(vpngwSource(t, tt.edits...)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestVPNGatewaySharedKeyFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "s2s.psk")
	require.NoError(t, os.WriteFile(key, []byte("not-a-real-key-0123\n"), 0o600))
	src := vpngwSource(t, "sharedKey: generate", "sharedKey: s2s.psk")
	topo, err := Parse(filepath.Join(dir, "lab.yaml"), []byte(src))
	require.NoError(t, err)
	k, err := topo.Tunnels[0].IKE.ReadSharedKey()
	require.NoError(t, err)
	assert.Equal(t, "not-a-real-key-0123", string(k))

	require.NoError(t, os.Chmod(key, 0o644))
	_, err = Parse(filepath.Join(dir, "lab.yaml"), []byte(src))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tunnels[0].sharedKey:")
	assert.NotContains(t, err.Error(), "not-a-real-key")
	require.NoError(t, os.WriteFile(key, []byte("bad\x01key"), 0o600))
	require.NoError(t, os.Chmod(key, 0o600))
	_, err = Parse(filepath.Join(dir, "lab.yaml"), []byte(src))
	require.ErrorContains(t, err, "Azure's shared key is printable ASCII only")
}
