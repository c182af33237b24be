package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/topology"
)

// TestMain lets this test binary be the lab process of the labs its tests
// bring up.
func TestMain(m *testing.M) {
	lab.ProcessMain()
	os.Exit(m.Run())
}

// transferSize is each direction's TCP transfer: enough for many
// full-size frames, little for TCG.
const transferSize = 1 << 20

// TestVMLinuxRouter: a node of kind linux, the customer's router as a
// Linux edge does it (the kernel's macsec keyed by wpa_supplicant,
// GcmAes128 with the SCI omitted, BIRD on the macsec interface), runs in
// the conformance VM, since this kernel has no macsec, and meets secylab's
// Microsoft edge over the VM's NIC, whose host side is a TAP that the lab
// uses as the node's external end. The guest runs exactly what secylab
// lab config ce1 prints for iproute2, wpa_supplicant and BIRD. Checked:
// MKA secured (GcmAes128, send_sci off in the guest, SC=0 on the TAP),
// BGP Established with BFD Up at both ends, pings both ways, also over the
// routes BGP carried, a SHA-256-checked TCP transfer each way, and after a
// CAK change at the Microsoft edge only: MKA and BGP down, no traffic, and
// nothing in clear on the TAP as the host captures it.
func TestVMLinuxRouter(t *testing.T) { testLinuxRouter(t, "GcmAes128", false) }

// TestVMLinuxRouterKernelKaY is TestVMLinuxRouter with the node's macsec
// keyed by secylab's own KaY (secylab mka run --kernel, the node's
// "macsec: kernel-kay") programming the guest kernel's macsec over generic
// netlink: Azure's GcmAesXpn256 with the SCI omitted, which wpa_supplicant
// 2.10 cannot run. The same checks hold.
func TestVMLinuxRouterKernelKaY(t *testing.T) { testLinuxRouter(t, "GcmAesXpn256", true) }

// testLinuxRouter runs the linux node in the VM with cipher, keyed by
// wpa_supplicant or (kernelKaY) secylab's KaY on the kernel's macsec.
func testLinuxRouter(t *testing.T, cipher string, kernelKaY bool) {
	needVM(t)
	nettest.NeedRoot(t)
	tools := []string{"bird", "birdc", "tshark"}
	if !kernelKaY {
		tools = append(tools, "wpa_supplicant")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/setup --tests installs it)", tool)
		}
	}
	bin := staticSecylab(t)
	id := nettest.UniqueID()
	tap, name := "sltap"+id, "lx"+id
	if len(name) > topology.MaxLabName {
		name = name[:topology.MaxLabName]
	}
	nettest.Run(t, "ip", "tuntap", "add", "dev", tap, "mode", "tap")
	t.Cleanup(func() { exec.Command("ip", "link", "del", tap).Run() })
	nettest.Run(t, "sysctl", "-qw", "net.ipv6.conf."+tap+".disable_ipv6=1")

	dir := t.TempDir()
	key := filepath.Join(dir, "link1.key")
	suite, err := macsec.ParseCipherSuite(cipher)
	require.NoError(t, err)
	cak, ckn := make([]byte, suite.KeyLen()), make([]byte, 32)
	rand.Read(cak)
	rand.Read(ckn)
	keyText := []byte("CKN=" + hex.EncodeToString(ckn) + "\nCAK=" + hex.EncodeToString(cak) + "\n")
	require.NoError(t, os.WriteFile(key, keyText, 0o600))
	data, err := os.ReadFile("testdata/linux-router.yaml")
	require.NoError(t, err)
	if kernelKaY {
		data = bytes.Replace(data, []byte("kind: linux"), []byte("kind: linux\n    macsec: kernel-kay"), 1)
	}
	data = bytes.Replace(data, []byte("cipher: GcmAes128"), []byte("cipher: "+cipher), 1)
	topoFile := filepath.Join(dir, "linux-router.yaml")
	require.NoError(t, os.WriteFile(topoFile, []byte(strings.NewReplacer("interface: TAP", "interface: "+tap, "secret: KEY", "secret: "+key).Replace(string(data))), 0o600))
	topo, err := topology.Load(topoFile)
	require.NoError(t, err)
	require.NoError(t, topo.Rename(name))

	if !kernelKaY {
		// A wpa_supplicant linux node cannot run Azure's XPN ciphers:
		// refused at validation, with the reason.
		_, err = topology.Parse("xpn.yaml", bytes.Replace(data, []byte("cipher: GcmAes128"), []byte("cipher: GcmAesXpn256"), 1))
		require.ErrorContains(t, err, "no XPN and no macsec_csindex")
	}

	state := t.TempDir()
	ctx := context.Background()
	// wpa_supplicant 2.10's MKA timers are fixed at 2 s / 6 s: the edge
	// runs Azure's.
	c, err := lab.Up(ctx, lab.Spec{Topology: topo, HelloTime: 2 * time.Second, LifeTime: 6 * time.Second}, lab.UpOptions{StateDir: state})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lab.Down(state, name) })

	config := func(format string) []byte {
		cmd := exec.Command(bin, "lab", "config", "ce1", "--format", format, "--interface", "eth0", "--show-secrets", "--lab", name, "--state-dir", state)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "lab config --format %s: %s", format, stderr.String())
		return out
	}
	// lab status says where the node runs and what keys its macsec.
	status, err := exec.Command(bin, "lab", "status", "--lab", name, "--state-dir", state).CombinedOutput()
	require.NoError(t, err, "%s", status)
	kay := "wpa_supplicant"
	if kernelKaY {
		kay = "secylab's KaY (secylab mka run --kernel)"
	}
	assert.Contains(t, string(status), "link link1 runs on host interface "+tap+" to ce1 (kind linux, KaY ")
	assert.Contains(t, string(status), "kernel macsec keyed by "+kay+", run where a kernel has macsec")
	rcfg := LinuxRouterConfig{
		TAP: tap, MAC: "52:54:00:00:01:29", Files: map[string][]byte{"bird.conf": config("bird")},
		Setup: []string{"ip addr add 10.1.0.1/32 dev lo"},
	}
	rcfg.Files["iproute2.sh"] = config("iproute2")
	kayLog := "/tmp/wpa.log"
	if kernelKaY {
		// The iproute2 export of a kernel-kay node starts secylab's KaY,
		// which creates the macsec device itself (rtnetlink) and reads the
		// key file the export names, put in 0600.
		kayLog = "/var/log/secylab-mka-macsec0.log"
		require.Contains(t, string(rcfg.Files["iproute2.sh"]), "secylab mka run --kernel --interface eth0 --device macsec0 --cipher "+cipher+" --key-file /etc/secylab/link1.key")
		rcfg.Secylab = bin
		rcfg.Files["link1.key"] = keyText
		rcfg.Setup = append(rcfg.Setup, "mkdir -p /var/log")
		rcfg.KaY = []string{
			"i=0; while ! ip -4 addr show dev macsec0 2>/dev/null | grep -q inet && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done",
		}
	} else {
		rcfg.Files["wpa_supplicant.conf"] = config("wpa_supplicant")
		assert.Contains(t, string(rcfg.Files["wpa_supplicant.conf"]), "mka_cak="+hex.EncodeToString(cak))
	}
	var console bytes.Buffer
	rcfg.Console = &console
	start := time.Now()
	vm, err := StartLinuxRouter(ctx, rcfg)
	require.NoError(t, err, "console:\n%s", console.String())
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", console.String())
		}
	}()
	t.Cleanup(func() { vm.Close() })
	t.Logf("router VM (guest %s) ready in %v", vm.Kernel, vm.Boot.Round(100*time.Millisecond))
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out, _, _ := vm.Run(dctx, "ls -l /tmp; ip -s link show eth0; ip -s macsec show; ip route; netstat -tn 2>/dev/null | head")
		t.Logf("guest:\n%s", out)
		if st, err := c.Status(); err == nil {
			t.Logf("lab port: %+v\nsecy: %+v", st.Ports[0].Dataplane, st.Ports[0].SecY)
		}
	})
	run := func(line string) (string, int) {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, rc, err := vm.Run(rctx, line)
		require.NoError(t, err)
		return out, rc
	}

	require.NoError(t, c.WaitSecured(ctx, 60*time.Second), "%s", first(run("tail -30 "+kayLog)))
	_, err = c.WaitBGP(ctx, 60*time.Second)
	require.NoError(t, err, "%s", first(run("birdc -s /run/bird/bird.ctl show protocols all")))
	t.Logf("MKA secured and BGP Established %v after boot began", time.Since(start).Round(100*time.Millisecond))
	st, err := c.Status()
	require.NoError(t, err)
	require.Len(t, st.Ports, 1)
	p := st.Ports[0]
	assert.True(t, p.HostWire)
	assert.Equal(t, tap, p.Wire)
	assert.Equal(t, cipher, p.Suite.AzureName())
	for _, r := range st.BGP {
		for _, n := range r.Status.Neighbors {
			assert.Equal(t, "Established", n.State.String())
			require.NotNil(t, n.BFD)
			assert.Equal(t, "Up", n.BFD.State.String(), "BFD with BIRD")
		}
	}
	out, _ := run("ip macsec show macsec0")
	assert.Contains(t, out, "cipher suite: "+suite.String())
	assert.Contains(t, out, "send_sci off")
	if kernelKaY {
		// The SAs the KaY installed over genetlink: one TX SA in use and
		// the lab's RX SC, each with a 64-bit PN; the KaY's log names the
		// CKN and fingerprints only.
		t.Logf("guest ip macsec show:\n%s", out)
		assert.Regexp(t, `TXSC: [0-9a-f]{16} on SA \d\n\s+\d: PN \d+, ?SSCI 0000000[12] state on`, out)
		assert.Regexp(t, `RXSC: `+p.SCI.String()+`, state on\n\s+\d: PN \d+, ?SSCI 0000000[12] state on`, out)
		log, _ := run("cat " + kayLog)
		assert.NotContains(t, strings.ToLower(log), hex.EncodeToString(cak), "the CAK in the KaY's log")
		assert.Contains(t, log, strings.ToUpper(hex.EncodeToString(ckn)))
	}
	out, _ = run("birdc -s /run/bird/bird.ctl show protocols")
	assert.Regexp(t, `n_link1\s+BGP\s+---\s+up\s+.*Established`, out)

	// Ping both ways, over BGP's routes too (the guest's 10.1.0.1 from the
	// VNet host, which reaches it by what BIRD advertised).
	msee1, vnetHost := topology.NamespaceName(name, "msee1"), topology.NamespaceName(name, "vnet-host")
	require.NoError(t, nettest.Ping(msee1, "192.168.100.129", 3))
	require.NoError(t, nettest.Ping(vnetHost, "10.1.0.1", 3))
	out, rc := run("ping -c 3 -W 2 192.168.100.130")
	require.Zero(t, rc, "%s", out)
	out, rc = run("ping -c 3 -W 2 -I 10.1.0.1 10.50.0.10")
	require.Zero(t, rc, "%s", out)

	// TCP both ways, SHA-256 checked: the VNet host sends to the guest's
	// 10.1.0.1, the guest to the VNet host.
	_, rc = run("nc -l -p 5001 > /tmp/rx 2>/dev/null </dev/null &")
	require.Zero(t, rc)
	payload := make([]byte, transferSize)
	rand.Read(payload)
	var conn net.Conn
	require.NoError(t, netnsx.Do(vnetHost, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		for range 20 {
			if conn, err = d.Dial("tcp", "10.1.0.1:5001"); err == nil {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return err
	}))
	tx := time.Now()
	_, err = conn.Write(payload)
	require.NoError(t, err)
	conn.Close()
	sum := sha256.Sum256(payload)
	out, _ = run(fmt.Sprintf("i=0; while [ $(stat -c %%s /tmp/rx) -lt %d ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; sha256sum /tmp/rx; ls -l /tmp/rx", transferSize))
	assert.Equal(t, hex.EncodeToString(sum[:]), strings.Fields(out + " x")[0], "host → guest")
	t.Logf("host → guest: %d octets in %v", transferSize, time.Since(tx).Round(time.Millisecond))

	var ln net.Listener
	require.NoError(t, netnsx.Do(vnetHost, func() (err error) { ln, err = net.Listen("tcp", "10.50.0.10:5002"); return err }))
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		h := sha256.New()
		io.CopyN(h, c, transferSize)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		got <- s
	}()
	out, rc = run(fmt.Sprintf("head -c %d /dev/urandom > /tmp/tx && sha256sum /tmp/tx && nc 10.50.0.10 5002 < /tmp/tx", transferSize))
	require.Zero(t, rc, "%s", out)
	select {
	case s := <-got:
		assert.Equal(t, strings.Fields(out)[0], hex.EncodeToString(s[:]), "guest → host")
	case <-time.After(30 * time.Second):
		t.Fatal("guest → host transfer did not arrive")
	}

	// The TAP carries MACsec with the SCI omitted, and MKA, only.
	frames := tsharkTAP(t, tap, 3*time.Second, func() { run("ping -c 5 -i 0.2 -W 1 192.168.100.130") })
	checkOnlyMACsec(t, frames)

	// A one-sided CAK change: a new CAK at the Microsoft edge only. MKA
	// and BGP go down; the guest's pings fail; nothing in clear on the TAP
	// meanwhile, as the host captures it.
	require.NoError(t, c.Do(ctx, &lab.MACsecOp{Link: "link1", Node: "msee1", NewCAK: true}))
	frames = tsharkTAP(t, tap, 8*time.Second, func() { run("ping -c 30 -i 0.2 -W 1 192.168.100.130") })
	checkOnlyMACsec(t, frames)
	st, err = c.Status()
	require.NoError(t, err)
	assert.False(t, st.Ports[0].MKA.Secured, "the CAKs differ")
	for _, r := range st.BGP {
		for _, n := range r.Status.Neighbors {
			assert.NotEqual(t, "Established", n.State.String(), "BGP down over the broken link")
		}
	}
	out, rc = run("ping -c 3 -W 1 192.168.100.130")
	assert.NotZero(t, rc, "no traffic across a CAK mismatch: %s", out)
}

func first(s string, _ int) string { return s }

// tsharkTAP captures on the host's TAP for d while fn runs and returns one
// line per frame: EtherType, the SecTAG's SC bit.
func tsharkTAP(t *testing.T, tap string, d time.Duration, fn func()) []string {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "tap.pcap")
	cap := exec.Command("tshark", "-q", "-i", tap, "-a", fmt.Sprintf("duration:%d", int(d.Seconds())), "-w", pcap)
	var stderr bytes.Buffer
	cap.Stderr = &stderr
	require.NoError(t, cap.Start())
	time.Sleep(time.Second) // tshark's start
	fn()
	require.NoError(t, cap.Wait(), "%s", stderr.String())
	rd := exec.Command("tshark", "-r", pcap, "-T", "fields", "-e", "eth.type", "-e", "macsec.TCI.SC")
	rd.Stderr = &stderr // tshark's warnings, not frames
	out, err := rd.Output()
	require.NoError(t, err, "%s", stderr.String())
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

var sectagRe = regexp.MustCompile(`^0x(88e5|888e)\b`)

// checkOnlyMACsec wants every frame MACsec with no SCI, or MKA (EAPOL),
// and some MACsec.
func checkOnlyMACsec(t *testing.T, frames []string) {
	t.Helper()
	macsecFrames := 0
	for _, f := range frames {
		fields := strings.Split(f, "\t")
		require.Regexp(t, sectagRe, fields[0], "a frame in clear on the TAP: %q", f)
		if strings.HasPrefix(fields[0], "0x88e5") {
			macsecFrames++
			if len(fields) > 1 {
				assert.Contains(t, []string{"False", "0"}, fields[1], "SCI omitted: %q", f)
			}
		}
	}
	assert.NotZero(t, macsecFrames, "%v", frames)
}
