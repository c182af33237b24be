package lab

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/topology"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/edgeconfig")

// edgeTopologies are the topologies the golden files describe.
var edgeTopologies = map[string]func(t *testing.T) *topology.Topology{
	"builtin": func(t *testing.T) *topology.Topology {
		topo, err := topology.Builtin("expressroute-direct")
		if err != nil {
			t.Fatal(err)
		}
		return topo
	},
	"qinq": func(t *testing.T) *topology.Topology {
		topo, err := topology.Builtin("expressroute-qinq")
		if err != nil {
			t.Fatal(err)
		}
		return topo
	},
	"gcmaes128": func(t *testing.T) *topology.Topology {
		topo, err := topology.Load("testdata/edgeconfig/gcmaes128.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return topo
	},
}

func edgeNodeOf(t *testing.T, topo string, node string) *edgeconfig.Node {
	t.Helper()
	n, err := EdgeConfig(edgeTopologies[topo](t), EdgeOptions{Node: node}, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func render(n *edgeconfig.Node, format string) (string, error) {
	var b bytes.Buffer
	err := edgeconfig.Render(&b, format, n)
	return b.String(), err
}

// TestEdgeConfigGolden compares every format's export of ce1 and ce2 of
// both topologies (or the refusal) with its golden file.
func TestEdgeConfigGolden(t *testing.T) {
	for topo := range edgeTopologies {
		for _, node := range []string{"ce1", "ce2"} {
			n := edgeNodeOf(t, topo, node)
			for _, f := range edgeconfig.Names() {
				got, err := render(n, f)
				if err != nil {
					got = "error: " + err.Error() + "\n"
				}
				golden := filepath.Join("testdata", "edgeconfig", topo+"-"+node+"."+f)
				if *updateGolden {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./lab -run TestEdgeConfigGolden -update)", err)
				}
				if got != string(want) {
					t.Errorf("%s: the export differs from the golden file (go test ./lab -run TestEdgeConfigGolden -update, then review the diff):\n%s", golden, got)
				}
			}
		}
	}
}

// TestEdgeConfigRefusals: the errors name the node, format and the reason.
func TestEdgeConfigRefusals(t *testing.T) {
	topo := edgeTopologies["builtin"](t)
	for _, c := range []struct {
		opts EdgeOptions
		want string
	}{
		{EdgeOptions{Node: "nope"}, `no node "nope" in lab er: the customer routers of lab er are ce1, ce2`},
		{EdgeOptions{Node: "onprem-host"}, "onprem-host is a host"},
		{EdgeOptions{Node: "msee1"}, "msee1 is the Microsoft edge (profile microsoft-edge)"},
		{EdgeOptions{Node: "ce1", Link: "vnet1"}, `"vnet1" is not a link of ce1: want one of link1, onprem1, ce-lan`},
		{EdgeOptions{Node: "ce1", Secrets: true}, "link link1: its secret is generated when the lab starts"},
	} {
		_, err := EdgeConfig(topo, c.opts, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.opts, err, c.want)
		}
	}
	n := edgeNodeOf(t, "builtin", "ce1")
	if _, err := render(n, "cisco"); err == nil || !strings.Contains(err.Error(), `unknown format "cisco": want one of wpa_supplicant`) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := render(n, "wpa_supplicant"); err == nil || !strings.Contains(err.Error(), "link link1 runs GcmAesXpn256 and wpa_supplicant 2.10 (Debian 12) has no XPN") {
		t.Errorf("wpa_supplicant on XPN: %v", err)
	}
	n.Links[0].MACsec.Suite = macsec.GCMAES256
	if _, err := render(n, "wpa_supplicant"); err == nil || !strings.Contains(err.Error(), "GcmAes256") {
		t.Errorf("wpa_supplicant on GcmAes256: %v", err)
	}
	n.Links[0].MACsec.Suite, n.Links[0].MACsec.LifeTime = macsec.GCMAES128, expressroute.LabMKAHelloTime*2
	if _, err := render(n, "wpa_supplicant"); err == nil || !strings.Contains(err.Error(), "MKA life time 2s is not more than") {
		t.Errorf("wpa_supplicant with a 2 s life time: %v", err)
	}
	host := &edgeconfig.Node{Name: "x"}
	for _, f := range edgeconfig.Names() {
		if _, err := render(host, f); err == nil || !strings.Contains(err.Error(), "--format "+f+" does not apply to x: it ") {
			t.Errorf("%s on a node with nothing to export: %v", f, err)
		}
	}
}

// withKeyFile writes the gcmaes128 topology with a key file (0600) of
// known values in a temporary directory and returns the topology's path.
func withKeyFile(t *testing.T, ckn, cak string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/edgeconfig/gcmaes128.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "link.key"), []byte("CKN="+ckn+"\nCAK="+cak+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "topo.yaml")
	if err := os.WriteFile(topo, bytes.ReplaceAll(data, []byte("secret: generate"), []byte("secret: link.key")), 0o644); err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestEdgeConfigSecrets: the values only when asked, placeholders else.
func TestEdgeConfigSecrets(t *testing.T) {
	const ckn, cak = "00112233445566778899AABBCCDDEEFF", "0123456789abcdef0123456789abcdef"
	topo, err := topology.Load(withKeyFile(t, ckn, cak))
	if err != nil {
		t.Fatal(err)
	}
	for _, secrets := range []bool{false, true} {
		n, err := EdgeConfig(topo, EdgeOptions{Node: "ce1", Secrets: secrets}, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range edgeconfig.Formats() {
			out, err := render(n, f.Name)
			var na *edgeconfig.NotApplicableError
			if errors.As(err, &na) {
				continue // the IPsec formats: ce1 ends no tunnel
			}
			if err != nil {
				t.Fatal(err)
			}
			if has := strings.Contains(strings.ToLower(out), cak); has != (secrets && f.Keys) {
				t.Errorf("%s with secrets %v: CAK in the output %v", f.Name, secrets, has)
			}
			if has := strings.Contains(out, "<CAK: 32 hex digits>"); has != (!secrets && f.Keys) {
				t.Errorf("%s with secrets %v: CAK placeholder in the output %v", f.Name, secrets, has)
			}
		}
	}
}

// TestEdgeConfigWPASupplicant runs Debian's wpa_supplicant on the export:
// it must parse every field and take the values the Microsoft edge
// expects (its debug output echoes them), up to the driver, which needs
// a macsec-capable kernel and an interface (not here). The export with
// placeholders must not parse.
func TestEdgeConfigWPASupplicant(t *testing.T) {
	wpa, err := exec.LookPath("wpa_supplicant")
	if err != nil {
		t.Skip("wpa_supplicant is not installed (.ci/setup --tests installs it)")
	}
	const ckn, cak = "00112233445566778899AABBCCDDEEFF", "0123456789abcdef0123456789abcdef"
	topo, err := topology.Load(withKeyFile(t, ckn, cak))
	if err != nil {
		t.Fatal(err)
	}
	run := func(secrets bool) string {
		n, err := EdgeConfig(topo, EdgeOptions{Node: "ce1", Secrets: secrets}, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := render(n, "wpa_supplicant")
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "ce1.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		// An interface that does not exist: wpa_supplicant stops at the
		// driver, after the configuration.
		out, _ := exec.Command(wpa, "-dd", "-D", "macsec_linux", "-i", "sl-noiface0", "-c", file).CombinedOutput()
		return string(out)
	}
	out := run(true)
	m := edgeTopologies["gcmaes128"](t).Link("link1").MACsec
	for _, want := range []string{
		"macsec_policy=1 (0x1)",
		"macsec_replay_protect=1 (0x1)",
		"macsec_replay_window=" + strconv.Itoa(int(m.ReplayWindow)) + " ",
		"macsec_port=1 (0x1)",
		"mka_priority=" + strconv.Itoa(int(m.KeyServerPriority)) + " ",
		"MKA-CKN - hexdump(len=16)",
		"MKA-CAK - hexdump(len=16)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("wpa_supplicant did not take %q:\n%s", want, out)
		}
	}
	if bad := regexp.MustCompile(`(?m)^Line \d+: .*`).FindString(out); bad != "" || strings.Contains(out, "Failed to read or parse configuration") {
		t.Errorf("wpa_supplicant refused the export: %s\n%s", bad, out)
	}
	if out := run(false); !strings.Contains(out, "failed to parse mka_cak") {
		t.Errorf("the export with placeholders parsed:\n%s", out)
	}
}

// TestEdgeConfigIProute2 runs the iproute2 export in a namespace of its
// own, on a veth named as the lab's port: iproute2 must take every
// argument (a wrong one prints its usage); the kernel then makes the
// macsec device with the export's parameters or, without macsec (these
// machines), says "Unknown device type".
func TestEdgeConfigIProute2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	n := edgeNodeOf(t, "gcmaes128", "ce1")
	script, err := render(n, "iproute2")
	if err != nil {
		t.Fatal(err)
	}
	ns := "sl-edgecfg-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "er1", "type", "veth", "peer", "name", "er1peer").CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	out, _ := exec.Command("ip", "netns", "exec", ns, "sh", "-c", script).CombinedOutput()
	if bytes.Contains(out, []byte("Usage:")) || bytes.Contains(out, []byte("unknown command")) || bytes.Contains(out, []byte("is wrong")) {
		t.Fatalf("iproute2 refused the export:\n%s", out)
	}
	show, err := exec.Command("ip", "-n", ns, "-d", "link", "show", "macsec0").CombinedOutput()
	if err != nil {
		if !bytes.Contains(out, []byte("Unknown device type")) {
			t.Fatalf("no macsec device and no kernel refusal:\n%s", out)
		}
		t.Logf("iproute2 took every argument; this kernel has no macsec (%s)", bytes.TrimSpace(out))
		return
	}
	m := n.Links[0].MACsec
	for _, want := range []string{"cipher " + m.Suite.String(), "send_sci off", "replay on window " + strconv.Itoa(int(m.ReplayWindow))} {
		if !bytes.Contains(show, []byte(want)) {
			t.Errorf("macsec0 lacks %q:\n%s", want, show)
		}
	}
}

// vendorCipher is each format's name of each suite, as its documentation
// spells it (the test's own table, not the generators').
var vendorCipher = map[string]map[macsec.CipherSuite]string{
	"iproute2": {macsec.GCMAES128: "cipher gcm-aes-128", macsec.GCMAES256: "cipher gcm-aes-256", macsec.GCMAESXPN128: "cipher gcm-aes-xpn-128", macsec.GCMAESXPN256: "cipher gcm-aes-xpn-256"},
	"junos":    {macsec.GCMAES128: "cipher-suite gcm-aes-128", macsec.GCMAES256: "cipher-suite gcm-aes-256", macsec.GCMAESXPN128: "cipher-suite gcm-aes-xpn-128", macsec.GCMAESXPN256: "cipher-suite gcm-aes-xpn-256"},
	"iosxr":    {macsec.GCMAES128: "cipher-suite GCM-AES-128", macsec.GCMAES256: "cipher-suite GCM-AES-256", macsec.GCMAESXPN128: "cipher-suite GCM-AES-XPN-128", macsec.GCMAESXPN256: "cipher-suite GCM-AES-XPN-256"},
	"nxos":     {macsec.GCMAES128: "cipher-suite GCM-AES-128", macsec.GCMAES256: "cipher-suite GCM-AES-256", macsec.GCMAESXPN128: "cipher-suite GCM-AES-XPN-128", macsec.GCMAESXPN256: "cipher-suite GCM-AES-XPN-256"},
	"eos":      {macsec.GCMAES128: "cipher aes128-gcm\n", macsec.GCMAES256: "cipher aes256-gcm\n", macsec.GCMAESXPN128: "cipher aes128-gcm-xpn", macsec.GCMAESXPN256: "cipher aes256-gcm-xpn"},
}

// profileLines are the lines each format must carry for the values the
// Microsoft edge runs (m) and the node's BGP towards it.
func profileLines(format string, m *edgeconfig.MACsec, n *edgeconfig.Node) []string {
	var want []string
	if c, ok := vendorCipher[format]; ok {
		want = append(want, c[m.Suite])
	}
	b := n.BGP
	nb := b.Neighbors[0] // the Microsoft edge (the iBGP sibling is second)
	bfd, mult := b.BFDInterval.Milliseconds(), b.BFDMult
	ka, hold := int(b.Keepalive.Seconds()), int(b.HoldTime.Seconds())
	f := fmt.Sprintf
	switch format {
	case "wpa_supplicant":
		want = append(want, f("macsec_replay_protect=%d\n", b2i(m.ReplayProtect)), f("macsec_replay_window=%d\n", m.ReplayWindow), f("mka_priority=%d\n", m.KeyServerPriority),
			"send_sci "+map[bool]string{true: "on", false: "off"}[m.IncludeSCI])
	case "iproute2":
		want = append(want, "send_sci "+map[bool]string{true: "on", false: "off"}[m.IncludeSCI], f("replay on window %d ", m.ReplayWindow))
	case "frr":
		want = append(want, f("neighbor %s remote-as %d\n", nb.Peer, expressroute.MicrosoftASN), f("receive-interval %d\n", bfd), f("transmit-interval %d\n", bfd),
			f("detect-multiplier %d\n", mult), f("neighbor %s timers %d %d\n", nb.Peer, ka, hold), f("neighbor %s bfd profile", nb.Peer))
	case "bird":
		want = append(want, f("neighbor %s as %d;", nb.Peer, expressroute.MicrosoftASN), f("min rx interval %d ms; min tx interval %d ms; multiplier %d;", bfd, bfd, mult),
			f("hold time %d;", hold), f("keepalive time %d;", ka), "bfd on;")
	case "junos":
		want = append(want, f("mka key-server-priority %d\n", m.KeyServerPriority), f("replay-protect replay-window-size %d\n", m.ReplayWindow),
			f("neighbor %s peer-as %d\n", nb.Peer, expressroute.MicrosoftASN), f("bfd-liveness-detection minimum-interval %d\n", bfd), f("bfd-liveness-detection multiplier %d\n", mult),
			f("hold-time %d\n", hold), "pre-shared-key cak ", "security-mode static-cak")
	case "iosxr":
		want = append(want, f(" key-server-priority %d\n", m.KeyServerPriority), f(" window-size %d\n", m.ReplayWindow), f(" neighbor %s\n  remote-as %d\n", nb.Peer, expressroute.MicrosoftASN),
			"bfd fast-detect\n", f("bfd minimum-interval %d\n", bfd), f("bfd multiplier %d\n", mult), f("timers %d %d\n", ka, hold), "macsec psk-keychain ")
	case "nxos":
		want = append(want, f(" key-server-priority %d\n", m.KeyServerPriority), f(" window-size %d\n", m.ReplayWindow), f("neighbor %s\n    remote-as %d\n", nb.Peer, expressroute.MicrosoftASN),
			f("bfd interval %d min_rx %d multiplier %d\n", bfd, bfd, mult), f("timers %d %d\n", ka, hold), "macsec keychain ")
	case "eos":
		want = append(want, f("mka key-server priority %d\n", m.KeyServerPriority), f("neighbor %s remote-as %d\n", nb.Peer, expressroute.MicrosoftASN),
			f("bfd interval %d min-rx %d multiplier %d\n", bfd, bfd, mult), f("neighbor %s timers %d %d\n", nb.Peer, ka, hold), f("neighbor %s bfd\n", nb.Peer))
	}
	return want
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestEdgeConfigMatchesProfile: every format carries the values of the
// lab's Microsoft edge profile and of the link (BFD 300 ms x 3 and AS
// 12076 from package expressroute, the cipher, SCI, replay window and key
// server priority the far end runs, the lab's BGP timers), each in the
// vendor's spelling; and when those values change, every export follows
// (a generator that wrote a number of its own would fail the second
// round).
func TestEdgeConfigMatchesProfile(t *testing.T) {
	n := edgeNodeOf(t, "gcmaes128", "ce1")
	m := n.Links[0].MACsec
	if n.BGP.BFDInterval != expressroute.BFDInterval || n.BGP.BFDMult != expressroute.BFDMultiplier || n.BGP.Neighbors[0].PeerASN != expressroute.MicrosoftASN {
		t.Fatalf("the node's BGP is not the Microsoft edge profile's: %+v", n.BGP)
	}
	msee := edgeTopologies["gcmaes128"](t).Link("link1")
	if m.Suite != msee.Ends[1].Cipher || m.ReplayWindow != msee.MACsec.ReplayWindow || m.KeyServerPriority != msee.MACsec.KeyServerPriority || m.IncludeSCI != msee.MACsec.IncludeSCI {
		t.Fatalf("the node's MACsec %+v is not the far end's %+v", m, msee.MACsec)
	}
	check := func(round string) {
		t.Helper()
		for _, f := range edgeconfig.Names() {
			if ipsecFormat(f) {
				continue // no MACsec or BGP in them: TestEdgeConfigIPsecGolden
			}
			out, err := render(n, f)
			if err != nil {
				if f == "wpa_supplicant" && m.Suite != macsec.GCMAES128 {
					continue
				}
				t.Fatalf("%s %s: %v", round, f, err)
			}
			lines := profileLines(f, m, n)
			if len(lines) == 0 {
				t.Fatalf("format %s: say in profileLines which of its lines carry the Microsoft edge's values", f)
			}
			if f == "wpa_supplicant" {
				lines = lines[:len(lines)-1] // send_sci is in its comment only
			}
			for _, want := range lines {
				if !strings.Contains(out, want) {
					t.Errorf("%s: %s lacks %q:\n%s", round, f, want, out)
				}
			}
			if sci := strings.Contains(out, "\n      sci\n") || strings.Contains(out, " include-sci\n"); sci && !m.IncludeSCI {
				t.Errorf("%s: %s sends the SCI, the Microsoft edge omits it", round, f)
			}
		}
	}
	check("the lab's profile")
	m.IncludeSCI, m.ReplayWindow, m.KeyServerPriority = true, 77, 33
	n.BGP.BFDInterval, n.BGP.BFDMult, n.BGP.HoldTime, n.BGP.Keepalive = 250*time.Millisecond, 5, 30*time.Second, 10*time.Second
	check("changed values")
	for _, s := range []macsec.CipherSuite{macsec.GCMAES256, macsec.GCMAESXPN128, macsec.GCMAESXPN256} {
		m.Suite = s
		check(s.AzureName())
	}
}

// TestEdgeConfigREADME: the README shows each format's output as it is
// (the golden files, but for the line naming the topology's path).
func TestEdgeConfigREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range edgeconfig.Names() {
		topo := "builtin"
		if f == "wpa_supplicant" || f == "iproute2" {
			topo = "gcmaes128"
		}
		node := "ce1"
		if ipsecFormat(f) {
			topo, node = "vpngw", "onprem-vpngw"
		}
		golden, err := os.ReadFile(filepath.Join("testdata", "edgeconfig", topo+"-"+node+"."+f))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := bytes.Cut(golden, []byte("\n"))
		_, body, _ := bytes.Cut(rest, []byte("\n"))
		if !bytes.Contains(readme, body) {
			t.Errorf("README.md does not show the current %s export of %s (%s): update its section \"Exporting the customer side\"", f, node, topo)
		}
	}
}

// TestEdgeConfigIProute2VLANs runs the VLAN device commands of the QinQ
// export (an 802.1ad S-tag device, 802.1Q C-tag devices) with iproute2 in a
// namespace of its own, each on a veth standing for its parent (the macsec
// device, which this kernel cannot make): iproute2 must take every
// argument; the kernel then makes the device or, without 8021q (these
// machines), says "Unknown device type".
func TestEdgeConfigIProute2VLANs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	script, err := render(edgeNodeOf(t, "qinq", "ce1"), "iproute2")
	if err != nil {
		t.Fatal(err)
	}
	ns := "sl-edgevlan-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "parent0", "type", "veth", "peer", "name", "parent1").CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	parent := regexp.MustCompile(`^ip link add link \S+ `)
	var ran []string
	for _, line := range strings.Split(script, "\n") {
		if !strings.Contains(line, " type vlan ") {
			continue
		}
		args := strings.Fields(parent.ReplaceAllString(line, "ip link add link parent0 "))
		out, err := exec.Command("ip", append([]string{"-n", ns}, args[1:]...)...).CombinedOutput()
		if bytes.Contains(out, []byte("Usage:")) || bytes.Contains(out, []byte("unknown command")) || bytes.Contains(out, []byte("is wrong")) {
			t.Fatalf("iproute2 refused %q:\n%s", line, out)
		}
		if err != nil && !bytes.Contains(out, []byte("Unknown device type")) {
			t.Fatalf("%q: %v: %s", line, err, out)
		}
		ran = append(ran, line)
	}
	if len(ran) != 3 {
		t.Fatalf("want the S-tag device and two C-tag devices, ran %q", ran)
	}
	if !strings.Contains(ran[0], "type vlan protocol 802.1ad id 10") {
		t.Errorf("the first device is not the 802.1ad S-tag 10: %q", ran[0])
	}
}

// ipsecFormat reports whether format f describes tunnels to an Azure VPN
// gateway (it carries a secrets file), not MACsec links and BGP.
func ipsecFormat(f string) bool {
	format, _ := edgeconfig.Lookup(f)
	return format.Secrets != nil
}
