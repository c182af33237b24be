package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/ipsec/strongswan"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// swanTopology: two strongswan nodes, each with its own swanctl.conf,
// hold a tunnel for the hosts behind them (10.61/16 ↔ 10.62/16).
const swanTopology = `name: sw
nodes:
  ha:
    kind: host
    ports:
      lan: {kind: ethernet, addresses: [10.61.0.10/24]}
    routes:
      - {prefix: 10.62.0.0/16, via: 10.61.0.1}
  swa:
    kind: strongswan
    config: swa.conf
    ports:
      lan: {kind: ethernet, addresses: [10.61.0.1/24]}
      wan: {kind: ethernet, addresses: [172.30.0.1/30]}
  swb:
    kind: strongswan
    config: swb.conf
    ports:
      wan: {kind: ethernet, addresses: [172.30.0.2/30]}
      lan: {kind: ethernet, addresses: [10.62.0.1/24]}
  hb:
    kind: host
    ports:
      lan: {kind: ethernet, addresses: [10.62.0.10/24]}
    routes:
      - {prefix: 10.61.0.0/16, via: 10.62.0.1}
links:
  - {name: lana, endpoints: ["ha:lan", "swa:lan"]}
  - {name: wan, endpoints: ["swa:wan", "swb:wan"]}
  - {name: lanb, endpoints: ["swb:lan", "hb:lan"]}
`

const swanPSK = "swan-lab-psk-never-printed"

// swanConf is a swanctl.conf of one end; start initiates at once.
func swanConf(local, remote, localTS, remoteTS, proposals string, start bool) string {
	c := strongswan.PSKConn{Name: "peer", Local: local, Remote: remote, Proposals: proposals, LocalTS: localTS, RemoteTS: remoteTS,
		ESPProposals: "aes256gcm16-modp2048", PSK: []byte(swanPSK)}
	if start {
		c.StartAction = "start"
	}
	return c.Swanctl()
}

func writeSwanLab(t *testing.T, proposalsA string) (topo, confA string) {
	t.Helper()
	dir := t.TempDir()
	topo = filepath.Join(dir, "sw.yaml")
	confA = filepath.Join(dir, "swa.conf")
	require.NoError(t, os.WriteFile(topo, []byte(swanTopology), 0o600))
	require.NoError(t, os.WriteFile(confA, []byte(swanConf("172.30.0.1", "172.30.0.2", "10.61.0.0/16", "10.62.0.0/16", proposalsA, true)), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "swb.conf"), []byte(swanConf("172.30.0.2", "172.30.0.1", "10.62.0.0/16", "10.61.0.0/16", "aes256-sha256-modp2048", false)), 0o600))
	return topo, confA
}

func needCharon(t *testing.T) {
	t.Helper()
	nettest.NeedRoot(t)
	if _, err := os.Stat(strongswan.Charon); err != nil {
		t.Skip("strongSwan's charon is not installed (.ci/setup --tests installs it)")
	}
}

// TestLabStrongswan: two strongswan nodes run their own swanctl.conf;
// lab up says what secylab adds; lab exec NODE -- swanctl --list-sas shows
// the SA, the hosts behind them ping each other through it, charon logs in
// the lab's directory, and lab down leaves no charon running.
func TestLabStrongswan(t *testing.T) {
	needCharon(t)
	topo, _ := writeSwanLab(t, "aes256-sha256-modp2048")
	l := &testLab{t: t, name: fmt.Sprintf("s%d%d", os.Getpid()%10000, labSeq.Add(1)), state: t.TempDir()}
	t.Cleanup(func() { l.run("lab", "down", "--all") })
	out, errOut, status := l.run("lab", "up", topo, "--name", l.name)
	require.Zero(t, status, "lab up: %s%s", out, errOut)
	t.Logf("lab up:\n%s", out)
	require.Contains(t, out, "swa (strongswan) runs charon with "+filepath.Join(filepath.Dir(topo), "swa.conf"))
	require.Contains(t, out, strongswan.Adds)
	require.Contains(t, out, "lab exec swa -- swanctl --list-sas")
	require.NotContains(t, out+errOut, swanPSK)

	var sas string
	l.eventually("swa's Child SA installed", 20*time.Second, func() bool {
		sas, _, _ = l.exec("swa", "swanctl", "--list-sas")
		return strings.Contains(sas, "ESTABLISHED") && strings.Contains(sas, "INSTALLED")
	})
	t.Logf("lab exec swa -- swanctl --list-sas:\n%s", sas)
	require.Regexp(t, `peer: #\d+, ESTABLISHED, IKEv2`, sas)
	require.Contains(t, sas, "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048")
	require.Regexp(t, `local\s+10\.61\.0\.0/16\s+remote\s+10\.62\.0\.0/16`, sas)

	require.NoError(t, nettest.Ping(l.ns("ha"), "10.62.0.10", 3), "ha → hb through the tunnel")
	sas = l.mustExec("swb", "swanctl", "--list-sas")
	require.Regexp(t, regexp.MustCompile(`in\s+\S+,\s+[1-9]\d* bytes,\s+[1-9]\d* packets`), sas, "swb decrypted the pings")

	st := l.status()
	require.Len(t, st.Strongswan, 2)
	for _, s := range st.Strongswan {
		require.Equal(t, filepath.Join(topology.LabDir(l.state, l.name), s.Node+".charon.log"), s.Log)
		log, err := os.ReadFile(s.Log)
		require.NoError(t, err)
		require.Contains(t, string(log), "CHILD_SA net{")
		require.NotContains(t, string(log), swanPSK)
		t.Logf("%s: ESP %s (%s)", s.Node, s.Backend, s.Why)
	}
	_, err := os.Stat("/run/charon.pid")
	require.True(t, os.IsNotExist(err), "the host's /run/charon.pid")
	pid := st.Strongswan[0].PID
	require.Zero(t, func() int { _, _, s := l.run("lab", "down"); return s }())
	require.Error(t, exec.Command("kill", "-0", fmt.Sprint(pid)).Run(), "charon %d still runs after lab down", pid)
}

// TestLabStrongswanRejected: a swanctl.conf charon refuses fails lab up
// with swanctl's message and the file's name, and nothing is left.
func TestLabStrongswanRejected(t *testing.T) {
	needCharon(t)
	topo, conf := writeSwanLab(t, "aes256-sha256-modp1023")
	state := t.TempDir()
	name := fmt.Sprintf("r%d%d", os.Getpid()%10000, labSeq.Add(1))
	env := []string{"SECYLAB_STATE_DIR=" + state}
	t.Cleanup(func() { runBin(t, env, "lab", "down", "--all") })
	out, errOut, status := runBin(t, env, "lab", "up", topo, "--name", name)
	require.NotZero(t, status, "%s%s", out, errOut)
	t.Logf("lab up: %s", errOut)
	require.Contains(t, errOut, "swa's own configuration: swanctl rejects "+conf)
	require.Contains(t, errOut, "loading connection 'peer' failed: invalid value for: proposals")
	require.NotContains(t, out+errOut, swanPSK)
	nss, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	require.NotContains(t, string(nss), topology.NamespaceName(name, ""))
	_, err = os.Stat(filepath.Join(state, name))
	require.ErrorIs(t, err, os.ErrNotExist, "no state directory")
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "secylab-swanctl-check-*"))
	require.Empty(t, left, "no scratch charon directory")
}

// azureSwanTopology: an on-premises strongswan node and the lab's Azure
// VPN gateway, one IKE-keyed tunnel with Azure's default policy.
const azureSwanTopology = `name: sa
nodes:
  onprem-host:
    kind: host
    ports:
      lan: {kind: ethernet, addresses: [10.1.0.10/24]}
    routes:
      - {prefix: 10.50.0.0/16, via: 10.1.0.1}
  onprem:
    kind: strongswan
    config: onprem.conf
    ports:
      lan: {kind: ethernet, addresses: [10.1.0.1/24]}
      wan: {kind: ethernet, addresses: [172.16.1.1/30]}
  vnet-vpngw:
    kind: vpngateway
    ports:
      wan: {kind: ethernet, addresses: [172.16.1.2/30]}
      vnet: {kind: ethernet, addresses: [10.50.0.1/24]}
  vnet-host:
    kind: host
    ports:
      vnet: {kind: ethernet, addresses: [10.50.0.10/24]}
    routes:
      - {prefix: 10.1.0.0/16, via: 10.50.0.1}
links:
  - {name: onprem, endpoints: ["onprem-host:lan", "onprem:lan"]}
  - {name: wan, endpoints: ["onprem:wan", "vnet-vpngw:wan"]}
  - {name: vnetlan, endpoints: ["vnet-vpngw:vnet", "vnet-host:vnet"]}
tunnels:
  - name: s2s
    ends:
      - {node: onprem, outer: 172.16.1.1, protects: [10.1.0.0/16]}
      - {node: vnet-vpngw, outer: 172.16.1.2, protects: [10.50.0.0/16]}
    sharedKey: psk.key
    dpdTimeoutSeconds: 9
`

// TestLabStrongswanAzureExport: the swanctl.conf that lab config exports
// for the on-premises side, loaded as it is into a strongswan node, comes
// up against the lab's Azure VPN gateway with Azure's default policy, and
// the hosts behind them ping each other through it.
func TestLabStrongswanAzureExport(t *testing.T) {
	needCharon(t)
	dir := t.TempDir()
	const key = "swan-azure-export-key"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "psk.key"), []byte(key+"\n"), 0o600))
	topo, conf, secrets := filepath.Join(dir, "sa.yaml"), filepath.Join(dir, "onprem.conf"), filepath.Join(dir, "azure.secrets")
	require.NoError(t, os.WriteFile(topo, []byte(azureSwanTopology), 0o600))
	require.NoError(t, os.WriteFile(conf, nil, 0o600)) // the topology names it; the export fills it
	out, errOut, status := runBin(t, nil, "lab", "config", "onprem", "--format", "swanctl", "--topology", topo, "--psk-file", secrets)
	require.Zero(t, status, "%s%s", out, errOut)
	require.NotContains(t, out, key)
	require.NoError(t, os.WriteFile(conf, []byte(out), 0o600))

	l := &testLab{t: t, name: fmt.Sprintf("a%d%d", os.Getpid()%10000, labSeq.Add(1)), state: t.TempDir()}
	t.Cleanup(func() { l.run("lab", "down", "--all") })
	upOut, upErr, status := l.run("lab", "up", topo, "--name", l.name)
	require.Zero(t, status, "lab up: %s%s", upOut, upErr)
	require.NotContains(t, upOut+upErr, key)
	var sas string
	start := time.Now()
	l.eventually("the exported connection's Child SA installed", 30*time.Second, func() bool {
		sas, _, _ = l.exec("onprem", "swanctl", "--list-sas")
		return strings.Contains(sas, "ESTABLISHED") && strings.Contains(sas, "INSTALLED")
	})
	t.Logf("up %v after lab up; lab exec onprem -- swanctl --list-sas:\n%s", time.Since(start).Round(time.Millisecond), sas)
	require.Contains(t, sas, "s2s: #")
	require.Regexp(t, `AES_CBC-(256|128)/HMAC_SHA(1_96|2_256_128)/PRF_HMAC_SHA(1|2_256)/MODP_1024`, sas, "Azure's default main mode")
	require.Regexp(t, `local\s+10\.1\.0\.0/16\s+remote\s+10\.50\.0\.0/16`, sas)
	require.NoError(t, nettest.Ping(l.ns("onprem-host"), "10.50.0.10", 3), "onprem-host → vnet-host through the tunnel")
	require.NoError(t, nettest.Ping(l.ns("vnet-host"), "10.1.0.10", 3), "vnet-host → onprem-host through the tunnel")
	sas = l.mustExec("onprem", "swanctl", "--list-sas")
	require.Regexp(t, `in\s+\S+,\s+[1-9]\d* bytes,\s+[1-9]\d* packets`, sas, "charon decrypted the pings")
	log, err := os.ReadFile(filepath.Join(topology.LabDir(l.state, l.name), "onprem.charon.log"))
	require.NoError(t, err)
	require.NotContains(t, string(log), key)
	checkListSAs(t, l, key)

	// The running lab exports the same, its key into the file only.
	live := filepath.Join(dir, "live.secrets")
	liveOut, liveErr, status := l.run("lab", "config", "onprem", "--format", "swanctl", "--psk-file", live)
	require.Zero(t, status, "%s%s", liveOut, liveErr)
	require.NotContains(t, liveOut+liveErr, key)
	want, _ := os.ReadFile(secrets)
	got, err := os.ReadFile(live)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

// listSAs is secylab ipsec list-sas --json, decoded strictly: a field the
// type does not name (a key, say) fails.
func listSAs(t *testing.T, l *testLab) (string, []lab.IKETunnelSAs) {
	t.Helper()
	out := l.mustRun("ipsec", "list-sas", "--json")
	var sas []lab.IKETunnelSAs
	d := json.NewDecoder(strings.NewReader(out))
	d.DisallowUnknownFields()
	require.NoError(t, d.Decode(&sas), "%s", out)
	return out, sas
}

// keyish is a run of hex digits longer than an IKE SPI (16): an ESP or
// IKE key printed in hex would be one.
var keyish = regexp.MustCompile(`[0-9a-fA-F]{17,}`)

var fingerprintRe = regexp.MustCompile(`^[0-9a-f]{8}$`)

// checkListSAs: secylab ipsec list-sas, as text and as JSON, shows
// Azure's side of the running tunnel s2s as swanctl --list-sas shows
// strongSwan's: the IKE SA and Child SA established and installed, the
// proposals, SPIs that mirror strongSwan's, lifetimes and rekey counts
// (which a rekey from the command line moves on, with new SPIs and key
// fingerprints); keys only as fingerprints, never the key material or
// the pre-shared key.
func checkListSAs(t *testing.T, l *testLab, psk string) {
	t.Helper()
	text := l.mustRun("ipsec", "list-sas")
	raw, sas := listSAs(t, l)
	swan := l.mustExec("onprem", "swanctl", "--list-sas")
	t.Logf("secylab ipsec list-sas:\n%s", text)
	require.Len(t, sas, 1, raw)
	s := sas[0]
	require.Equal(t, []string{"s2s", "vnet-vpngw", "onprem", "ESTABLISHED", "172.16.1.2:500", "172.16.1.1:500"},
		[]string{s.Tunnel, s.Node, s.Peer, s.State, s.Local, s.Remote})
	require.Regexp(t, `^AES_CBC-(256|128)/HMAC_SHA(1_96|2_256_128)/PRF_HMAC_SHA(1|2_256)/MODP_1024$`, s.Proposal)
	require.Contains(t, swan, s.Proposal, "strongSwan shows the same IKE proposal")
	require.Contains(t, swan, s.SPIi+"_i")
	require.Contains(t, swan, s.SPIr+"_r")
	require.Zero(t, s.Rekeys)
	require.True(t, s.NAT, "ESP in UDP, forced")
	// Azure's IKE SA lifetime is 28,800 s; the original initiator rekeys at 90 %.
	require.Greater(t, s.RekeyInSeconds, int64(28800*9/10-120))
	require.LessOrEqual(t, s.RekeyInSeconds, int64(28800))
	require.Len(t, s.Children, 1)
	c := s.Children[0]
	require.Contains(t, swan, "ESP:"+c.Proposal+"\n", "strongSwan shows the same ESP proposal")
	require.Contains(t, swan, "in  "+c.OutSPI+",", "strongSwan's inbound SPI is our outbound one")
	require.Contains(t, swan, "out "+c.InSPI+",", "strongSwan's outbound SPI is our inbound one")
	require.Equal(t, []string{"10.50.0.0/16"}, c.LocalTS)
	require.Equal(t, []string{"10.1.0.0/16"}, c.RemoteTS)
	require.Greater(t, c.RekeyInSeconds, int64(27000*9/10-120))
	require.LessOrEqual(t, c.RekeyInSeconds, int64(27000))
	require.Zero(t, c.Rekeys)
	require.Equal(t, int64(102400000), c.LifetimeKilobytes, "Azure's default Child SA lifetime in kilobytes")
	require.Positive(t, c.PacketsIn, "the pings came in through the Child SA")
	require.Positive(t, c.PacketsOut)
	for _, fp := range []string{s.KeyFingerprint, c.InKey, c.OutKey} {
		require.Regexp(t, fingerprintRe, fp, "a key shows as its fingerprint only")
	}
	require.NotEqual(t, c.InKey, c.OutKey)

	role := "responder"
	if s.Initiator {
		role = "initiator"
	}
	for _, want := range []string{
		"s2s: ESTABLISHED (gateway vnet-vpngw, peer onprem), IKEv2, " + role + "\n",
		"  local  172.16.1.2:500\n  remote 172.16.1.1:500\n",
		fmt.Sprintf("  SPIs %s_i %s_r, NAT-T true\n", s.SPIi, s.SPIr),
		"  " + s.Proposal + "\n",
		"  s2s: INSTALLED, TUNNEL, ESP in UDP, " + c.Proposal + "\n",
		"    local  10.50.0.0/16\n    remote 10.1.0.0/16\n",
		"    data: 0 of 102400000 KB used",
	} {
		require.Contains(t, text, want)
	}
	require.Regexp(t, `established \d+s ago, rekeying in \d+s, rekeys 0, SK_d `+s.KeyFingerprint+"\n", text)
	require.Regexp(t, `installed \d+s ago, rekeying in \d+s, rekeys 0\n`, text)
	require.Regexp(t, `in  `+c.InSPI+`, [1-9]\d* bytes, [1-9]\d* packets, key `+c.InKey+"\n", text)
	require.Regexp(t, `out `+c.OutSPI+`, [1-9]\d* bytes, [1-9]\d* packets, key `+c.OutKey+"\n", text)

	// A Child SA rekey and an IKE SA rekey from the command line: new
	// SPIs, new fingerprints, the counts moved on, strongSwan agreeing.
	l.mustRun("ipsec", "rekey", "s2s")
	l.mustRun("ipsec", "rekey", "s2s", "--ike")
	text2 := l.mustRun("ipsec", "list-sas")
	raw2, sas2 := listSAs(t, l)
	swan = l.mustExec("onprem", "swanctl", "--list-sas")
	require.Len(t, sas2, 1, raw2)
	s2 := sas2[0]
	require.Len(t, s2.Children, 1, raw2)
	c2 := s2.Children[0]
	require.Equal(t, 1, s2.Rekeys)
	require.Equal(t, 1, c2.Rekeys)
	require.NotEqual(t, []string{s.SPIi, s.SPIr, s.KeyFingerprint}, []string{s2.SPIi, s2.SPIr, s2.KeyFingerprint}, "the IKE SA rekey")
	require.NotEqual(t, c.InSPI, c2.InSPI)
	require.NotEqual(t, c.OutSPI, c2.OutSPI)
	require.NotEqual(t, c.InKey, c2.InKey)
	require.NotEqual(t, c.OutKey, c2.OutKey)
	require.Contains(t, swan, s2.SPIi+"_i")
	require.Contains(t, swan, "in  "+c2.OutSPI+",")
	require.Contains(t, text2, fmt.Sprintf("SPIs %s_i %s_r", s2.SPIi, s2.SPIr))
	require.Regexp(t, `rekeying in \d+s, rekeys 1, SK_d `+s2.KeyFingerprint+"\n", text2)
	require.Regexp(t, `installed \d+s ago, rekeying in \d+s, rekeys 1\n`, text2)
	for _, out := range []string{text, raw, text2, raw2} {
		require.NotContains(t, out, psk)
		require.Empty(t, keyish.FindAllString(out, -1), "key material in\n%s", out)
	}
}
