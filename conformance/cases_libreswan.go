package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/secylab/secylab/ipsec/gateway"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// The libreswan cases: Debian's libreswan (pluto, its ESP the kernel's
// xfrm) in namespace "k" runs what `secylab lab config onprem-vpngw
// --format libreswan --psk-file …` exports for the topology below, against
// secylab's IKE gateway in "u" configured as the lab runs Azure's VPN
// gateway for that topology (lab.IKEGatewayConfig). connectionMode picks
// who initiates: ResponderOnly, the export's auto=start (libreswan starts
// the IKE SA when pluto loads it); InitiatorOnly, its auto=add (libreswan
// answers secylab). The policy is a custom one (DH group 14): Debian's
// libreswan 4 has no modp1024, Azure's default.
func libreswanCases() []testCase {
	return []testCase{
		{SuiteIPsec, "ikev2-libreswan-lab-config-export-initiates-vs-secylab", func(e *env) (string, error) {
			return libreswanCase(e, topology.ModeResponderOnly)
		}},
		{SuiteIPsec, "ikev2-secylab-initiates-vs-libreswan-lab-config-export", func(e *env) (string, error) {
			return libreswanCase(e, topology.ModeInitiatorOnly)
		}},
	}
}

// libreswanTopology is the lab whose export libreswan runs: the IPsec
// suite's addresses (onprem-vpngw is namespace k, vnet-vpngw u).
const libreswanTopology = `name: cfswan
nodes:
  onprem-host:
    kind: host
    ports:
      lan: {kind: ethernet, addresses: [10.2.0.10/24]}
  onprem-vpngw:
    kind: router
    ports:
      wan: {kind: ethernet, addresses: [%[1]s/24]}
      lan: {kind: ethernet, addresses: [%[3]s/24]}
  vnet-vpngw:
    kind: vpngateway
    ports:
      wan: {kind: ethernet, addresses: [%[2]s/24]}
      vnet: {kind: ethernet, addresses: [%[4]s/24]}
  vnet-host:
    kind: host
    ports:
      vnet: {kind: ethernet, addresses: [10.1.0.10/24]}
links:
  - name: wan
    endpoints: [onprem-vpngw:wan, vnet-vpngw:wan]
  - name: onprem
    endpoints: [onprem-host:lan, onprem-vpngw:lan]
  - name: vnet
    endpoints: [vnet-vpngw:vnet, vnet-host:vnet]
tunnels:
  - name: s2s
    ends:
      - {node: onprem-vpngw, outer: %[1]s, protects: [%[5]s]}
      - {node: vnet-vpngw, outer: %[2]s, protects: [%[6]s]}
    sharedKey: s2s.psk
    connectionMode: %[7]s
    dpdTimeoutSeconds: 9
    ipsecPolicies:
      - {saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400000, ipsecEncryption: GCMAES256, ipsecIntegrity: GCMAES256, ikeEncryption: AES256, ikeIntegrity: SHA256, dhGroup: DHGroup14, pfsGroup: None}
`

func libreswanCase(e *env, mode topology.ConnectionMode) (string, error) {
	if _, err := os.Stat(plutoPath); err != nil {
		return "", errSkip{"libreswan is not on this system (" + plutoPath + "; .ci/setup-vm unpacks Debian's package for the VM)"}
	}
	nsU, nsK, err := e.tunnelPair(false)
	if err != nil {
		return "", err
	}
	dir, err := e.tempDir("secylab-cf-libreswan-")
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "ipsec.d"), 0o700); err != nil {
		return "", err
	}
	key := make([]byte, 24)
	rand.Read(key)
	psk := base64.RawURLEncoding.EncodeToString(key)
	if err := os.WriteFile(filepath.Join(dir, "s2s.psk"), []byte(psk+"\n"), 0o600); err != nil {
		return "", err
	}
	topoFile := filepath.Join(dir, "cfswan.yaml")
	y := fmt.Sprintf(libreswanTopology, gwK, gwU, hostK, hostU, netK, netU, mode)
	if err := os.WriteFile(topoFile, []byte(y), 0o600); err != nil {
		return "", err
	}
	// The export, by the command an engineer runs, to where Debian's
	// ipsec.conf and ipsec.secrets include it from (dir for /etc).
	conf, err := labConfigExport(topoFile, filepath.Join(dir, "ipsec.d", "azure.secrets"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "ipsec.d", "azure.conf"), conf, 0o600); err != nil {
		return "", err
	}

	t, err := topology.Load(topoFile)
	if err != nil {
		return "", err
	}
	tu := t.Tunnels[0]
	gc := lab.IKEGatewayConfig(t, tu, 1, []byte(psk))
	gc.Gateway.Namespace, gc.Gateway.RouteSrc, gc.Gateway.Logger = nsU, hostU, slog.New(slog.DiscardHandler)
	g, err := gateway.NewIKE(gc)
	if err != nil {
		return "", fmt.Errorf("secylab's IKE gateway: %w", err)
	}
	// On secylab's end (its ESP is a UDP socket and a TUN), from before the first IKE packet.
	wire, err := watchWire(nsU, "wire", netU, netK)
	if err != nil {
		return "", err
	}
	e.onClose(wire.close)
	runIKEGateway(e, g)
	p, err := startPluto(nsK, dir)
	if err != nil {
		return "", err
	}
	e.onClose(p.stop)
	explain := func(err error) error {
		st, _ := p.ipsec("trafficstatus")
		x, _ := e.in(nsK, "-s", "xfrm", "state")
		r, _ := e.in(nsK, "route")
		return fmt.Errorf("%w\n  secylab events: %v\n  ipsec trafficstatus:\n%s\n  kernel xfrm:\n%s\n  routes:\n%s\n  pluto log:\n%s\n  the export:\n%s",
			err, g.Events(), st, x, r, p.tail(3000), conf)
	}
	wctx, wcancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer wcancel()
	var initiator bool
	if err := g.Wait(wctx, 0, func(s *ike.Session, _ []ike.Event) bool {
		if s != nil {
			initiator = s.Initiator()
		}
		return s != nil && s.State() == ike.StateEstablished && len(s.Children()) == 1
	}); err != nil {
		return "", explain(fmt.Errorf("the IKE SA and Child SA did not come up: %w", err))
	}
	if wantInit := mode == topology.ModeInitiatorOnly; initiator != wantInit {
		return "", explain(fmt.Errorf("connectionMode %s: secylab initiated %v, want %v", mode, initiator, wantInit))
	}
	// libreswan as the initiator installs its SAs once it has IKE_AUTH's answer.
	var traffic string
	for i := 0; ; i++ {
		if traffic, _ = p.ipsec("trafficstatus"); strings.Contains(traffic, "type=ESP") {
			break
		}
		if i == 100 {
			return "", explain(fmt.Errorf("libreswan installed no Child SA"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// pluto takes the export as it is: no warning about any of its lines.
	for line := range strings.Lines(p.tail(1 << 20)) {
		if strings.Contains(line, "warning") && strings.Contains(line, `"s2s`) {
			return "", explain(fmt.Errorf("pluto warns about the export: %s", strings.TrimSpace(line)))
		}
	}
	if err := e.kernelTunnelTraffic(nsU, nsK, "libreswan"); err != nil {
		return "", explain(err)
	}
	traffic, err = p.ipsec("trafficstatus")
	if err != nil {
		return "", explain(err)
	}
	in, out := trafficBytes(traffic, "inBytes="), trafficBytes(traffic, "outBytes=")
	if in < int64(e.opts.Transfer) || out < int64(e.opts.Transfer) {
		return "", explain(fmt.Errorf("ipsec trafficstatus counts %d octets in, %d out; the transfer moved %d each way", in, out, e.opts.Transfer))
	}
	if d := wire.drops(); d > 0 {
		return "", explain(fmt.Errorf("the capture on the wire missed %d frames: it cannot vouch that none was in clear", d))
	}
	if n, first := wire.cleartext(); n > 0 {
		return "", explain(fmt.Errorf("%d packets on the wire were neither IKE nor ESP: %s", n, strings.Join(first, "; ")))
	}
	if wb := wire.espBytes.Load(); wb < 2*uint64(e.opts.Transfer) {
		return "", explain(fmt.Errorf("the wire carried %d octets of ESP, less than the %d the transfer moved", wb, 2*e.opts.Transfer))
	}
	who := "libreswan"
	if initiator {
		who = "secylab"
	}
	return fmt.Sprintf("connectionMode %s: %s initiated; the libreswan export (auto=%s) in pluto 4 against secylab as Azure's gateway, AES-256/SHA-256/DH14 IKE SA, AES-GCM-16-256 ESP in UDP in the kernel's xfrm on libreswan's side: ping 3+3, TCP %d KiB each way sha256 ok; ipsec trafficstatus %d/%d octets in/out; on the wire %d ESP (%d octets), %d IKE, 0 cleartext packets (%d other between the outer addresses)",
		mode, who, map[bool]string{true: "add", false: "start"}[initiator], e.opts.Transfer>>10, in, out,
		wire.esp.Load(), wire.espBytes.Load(), wire.ike.Load(), wire.other.Load()), nil
}

// labConfigExport runs `secylab lab config onprem-vpngw --format libreswan
// --topology FILE --psk-file PSK` (this executable is secylab) and returns
// what it prints; the key goes to psk.
func labConfigExport(topoFile, psk string) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "lab", "config", "onprem-vpngw", "--format", "libreswan", "--topology", topoFile, "--psk-file", psk)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("secylab lab config onprem-vpngw --format libreswan: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// trafficBytes sums the counts after key= in ipsec trafficstatus's lines.
func trafficBytes(status, key string) int64 {
	var sum int64
	for f := range strings.FieldsFuncSeq(status, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' }) {
		if v, ok := strings.CutPrefix(f, key); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			sum += n
		}
	}
	return sum
}
