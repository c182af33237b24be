package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

const edgeTopology = "../../lab/testdata/edgeconfig/gcmaes128.yaml"

// TestLabConfigErrors: bad input exits 2 and says what is valid; no root.
func TestLabConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nope", "--format", "iproute2"}, `no node "nope" in lab er: the customer routers of lab er are ce1, ce2`},
		{[]string{"ce1", "--format", "cisco"}, `--format: unknown format "cisco": want one of wpa_supplicant, iproute2`},
		{[]string{"ce1"}, "give --format: one of wpa_supplicant, iproute2"},
		{[]string{"ce1", "--format", "wpa_supplicant"}, "--format wpa_supplicant does not apply to ce1: link link1 runs GcmAesXpn256 and wpa_supplicant 2.10 (Debian 12) has no XPN"},
		{[]string{"onprem-host", "--format", "iproute2"}, "onprem-host is a host"},
		{[]string{"ce1", "--format", "iproute2", "--link", "vnet1"}, `"vnet1" is not a link of ce1: want one of link1, onprem1, ce-lan`},
	} {
		out, errOut, status := runBin(t, nil, append([]string{"lab", "config", "--topology", "expressroute-direct"}, c.args...)...)
		require.Equal(t, 2, status, "%v: %s%s", c.args, out, errOut)
		require.Empty(t, out, c.args)
		require.Contains(t, errOut, c.want, c.args)
	}
	out, _, status := runBin(t, nil, "lab", "config", "--help")
	require.Zero(t, status)
	require.Contains(t, out, "wpa_supplicant  a complete wpa_supplicant.conf")
	for _, f := range []string{"junos", "iosxr", "nxos", "eos"} {
		require.Regexp(t, `(?m)^  `+f+` .*\(checked against documentation only\)$`, out)
	}
}

// TestLabConfigRunningLab: the running lab answers with what its
// Microsoft edge runs (the same as the topology says while nothing
// changed), placeholders unless --show-secrets, and then the CAK the
// link runs (as lab keys exports it), with a warning on stderr.
func TestLabConfigRunningLab(t *testing.T) {
	l := startLab(t, edgeTopology)
	fromFile, errOut, status := runBin(t, nil, "lab", "config", "ce1", "--format", "wpa_supplicant", "--topology", edgeTopology)
	require.Zero(t, status, errOut)
	live := l.mustRun("lab", "config", "ce1", "--format", "wpa_supplicant")
	body := func(s string) string { _, b, _ := strings.Cut(s, "\n# wpa_supplicant 2.10"); return b }
	require.Contains(t, live, "# from the running lab "+l.name+", as its Microsoft edge runs now")
	require.Equal(t, body(fromFile), body(live))
	require.Contains(t, live, "mka_cak=<CAK: 32 hex digits>")

	keys := filepath.Join(t.TempDir(), "keys.json")
	l.mustRun("lab", "keys", "link1", "-o", keys)
	kf, err := lab.ReadKeysFile(keys)
	require.NoError(t, err)
	var cak, ckn string
	for _, p := range kf.Links[0].PSKs {
		if p.Node == "msee1" {
			cak, ckn = p.CAK, p.CKN
		}
	}
	require.NotEmpty(t, cak)
	require.NotContains(t, live, cak)
	out, errOut, status := l.run("lab", "config", "ce1", "--format", "wpa_supplicant", "--show-secrets")
	require.Zero(t, status, errOut)
	require.Contains(t, out, "\tmka_cak="+cak+"\n")
	require.Contains(t, out, "\tmka_ckn="+ckn+"\n")
	require.Contains(t, errOut, "warning: --show-secrets")

	// Refusals come from the lab too, with status 2.
	_, errOut, status = l.run("lab", "config", "nope", "--format", "frr")
	require.Equal(t, 2, status, errOut)
	require.Contains(t, errOut, `no node "nope" in lab `+l.name)

	// The export follows what the Microsoft edge runs now: msee1's end of
	// link1 with the SCI and an XPN cipher.
	l.mustRun("lab", "macsec", "set", "link1", "--node", "msee1", "--sci", "enabled", "--cipher", "GcmAesXpn128")
	out = l.mustRun("lab", "config", "ce1", "--format", "iproute2")
	require.Contains(t, out, "cipher gcm-aes-xpn-128 icvlen 16 encrypt on send_sci on")
	_, errOut, status = l.run("lab", "config", "ce1", "--format", "wpa_supplicant")
	require.Equal(t, 2, status, errOut)
	require.Contains(t, errOut, "link link1 runs GcmAesXpn128 and wpa_supplicant 2.10 (Debian 12) has no XPN")
}

// TestLabConfigDaemonsEstablish loads the frr and bird exports into the
// real daemons of a lab whose ce1 is an frr (then a bird) node, its
// session to msee1 on the private peering's VLAN interface er1.100: first
// the daemon's BGP is removed (the session to the Microsoft edge goes),
// then the exported configuration is loaded with the daemon's own CLI
// (vtysh -f; birdc configure "FILE"), and BGP to msee1 must be
// Established again with BFD up. A syntax check of the export by the
// daemons' own parsers (vtysh -C, bird -p) runs first.
func TestLabConfigDaemonsEstablish(t *testing.T) {
	for _, kind := range []string{"frr", "bird"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			data, err := os.ReadFile(edgeTopology)
			require.NoError(t, err)
			topo := filepath.Join(dir, "topo.yaml")
			yaml := strings.Replace(string(data), "  ce1:\n    kind: router", "  ce1:\n    kind: "+kind, 1)
			require.NoError(t, os.WriteFile(topo, []byte(yaml), 0o644))
			conf := filepath.Join(dir, "exported."+kind)
			out, errOut, status := runBin(t, nil, "lab", "config", "ce1", "--format", kind, "--topology", topo)
			require.Zero(t, status, errOut)
			require.NoError(t, os.WriteFile(conf, []byte(out), 0o644))
			if kind == "frr" {
				check, err := exec.Command("vtysh", "-C", "-f", conf).CombinedOutput()
				require.NoError(t, err, "vtysh -C: %s", check)
			} else {
				check, err := exec.Command("bird", "-p", "-c", conf).CombinedOutput()
				require.NoError(t, err, "bird -p: %s", check)
			}

			l := startLab(t, topo)
			live := l.mustRun("lab", "config", "ce1", "--format", kind)
			_, a, _ := strings.Cut(out, "\n"+commentOf(kind)+" BGP of ce1")
			_, b, _ := strings.Cut(live, "\n"+commentOf(kind)+" BGP of ce1")
			require.Equal(t, a, b, "the running lab exports what the topology says")
			require.NoError(t, os.WriteFile(conf, []byte(live), 0o644))
			const peer = "192.168.100.130"
			established := func() bool {
				if kind == "frr" {
					o, _, _ := l.exec("ce1", "vtysh", "-c", "show bgp neighbor "+peer)
					b, _, _ := l.exec("ce1", "vtysh", "-c", "show bfd peer "+peer)
					return strings.Contains(o, "BGP state = Established") && strings.Contains(b, "Status: up")
				}
				o, _, _ := l.exec("ce1", "birdc", "show", "protocols", "n_link1_100")
				b, _, _ := l.exec("ce1", "birdc", "show", "bfd", "sessions")
				return strings.Contains(o, "Established") && regexp.MustCompile(peer+`\s+\S+\s+Up`).MatchString(b)
			}
			l.eventually("BGP to msee1 Established with BFD up (the lab's configuration)", 20*time.Second, established)

			// Remove BGP, then load the export.
			if kind == "frr" {
				l.mustExec("ce1", "vtysh", "-c", "configure terminal", "-c", "no router bgp 65001")
			} else {
				bare := filepath.Join(dir, "bare.conf")
				require.NoError(t, os.WriteFile(bare, []byte("router id 1.1.1.1;\nprotocol device {}\n"), 0o644))
				l.mustExec("ce1", "birdc", "configure", `"`+bare+`"`)
			}
			l.eventually("BGP to msee1 gone", 10*time.Second, func() bool { return !established() })
			if kind == "frr" {
				o := l.mustExec("ce1", "vtysh", "-f", conf)
				require.NotContains(t, o, "Unknown command")
			} else {
				o := l.mustExec("ce1", "birdc", "configure", `"`+conf+`"`)
				require.Contains(t, o, "Reconfigured")
			}
			took := l.eventually("BGP to msee1 Established with BFD up (the exported configuration)", 30*time.Second, established)
			t.Logf("%s: Established with BFD up %v after loading the export", kind, took.Round(time.Millisecond))
		})
	}
}

func commentOf(kind string) string {
	if kind == "frr" {
		return "!"
	}
	return "#"
}

// exec runs argv in node through lab exec (--lab goes before the command).
func (l *testLab) exec(node string, argv ...string) (string, string, int) {
	return runBin(l.t, []string{"SECYLAB_STATE_DIR=" + l.state}, append([]string{"lab", "--lab", l.name, "exec", node, "--"}, argv...)...)
}

func (l *testLab) mustExec(node string, argv ...string) string {
	l.t.Helper()
	out, errOut, status := l.exec(node, argv...)
	require.Zero(l.t, status, "%s: %s%s", strings.Join(argv, " "), out, errOut)
	return out
}

// TestLabConfigPSKFile: --psk-file writes the tunnels' shared key 0600,
// the printed swanctl.conf includes that file and never holds the key.
func TestLabConfigPSKFile(t *testing.T) {
	dir := t.TempDir()
	src, err := topology.BuiltinSource("expressroute-vpngw")
	require.NoError(t, err)
	const key = "cli-psk-file-test-key"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "psk.key"), []byte(key+"\n"), 0o600))
	topo := filepath.Join(dir, "vpngw.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(strings.ReplaceAll(string(src), "sharedKey: generate", "sharedKey: psk.key")), 0o600))
	pskFile := filepath.Join(dir, "azure.secrets")
	out, errOut, status := runBin(t, nil, "lab", "config", "onprem-vpngw", "--format", "swanctl", "--topology", topo, "--psk-file", pskFile)
	require.Zero(t, status, "%s%s", out, errOut)
	require.NotContains(t, out+errOut, key)
	require.Contains(t, out, "include "+pskFile)
	require.Contains(t, errOut, pskFile+" (0600)")
	fi, err := os.Stat(pskFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(pskFile)
	require.NoError(t, err)
	require.Contains(t, string(b), `secret = "`+key+`"`)

	_, errOut, status = runBin(t, nil, "lab", "config", "ce1", "--format", "frr", "--topology", "expressroute-direct", "--psk-file", pskFile)
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "--psk-file: --format frr carries no shared key")
	_, errOut, status = runBin(t, nil, "lab", "config", "onprem-vpngw", "--format", "swanctl", "--topology", "expressroute-vpngw", "--psk-file", pskFile)
	require.NotZero(t, status)
	require.Contains(t, errOut, "tunnel s2s0: its shared key is generated when the lab starts")
}
