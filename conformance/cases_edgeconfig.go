package conformance

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// mkaLabConfig runs secylab lab config's Linux exports as an engineer
// would on a Linux edge: the iproute2 commands make the SecY (send_sci
// off, which wpa_supplicant 2.10 cannot set), then wpa_supplicant with the
// exported .conf takes that device over and keys it by MKA with the static
// CAK, against secylab's participant configured as Azure's edge (SCI
// omitted, replay protection with a window). The link must be secured,
// the kernel must send no SCI, and traffic must pass both ways.
func mkaLabConfig(e *env) (string, error) {
	if e.wpa == "" {
		return "", errSkip{"wpa_supplicant is not installed (apt-get install wpasupplicant; .ci/setup-vm does)"}
	}
	const window, priority = 64, 16
	suite := macsec.GCMAES128
	psk, err := mka.GeneratePSK(rand.Reader, suite)
	if err != nil {
		return "", err
	}
	edge := &lab.MACsecConfig{Suite: suite, ReplayProtect: true, ReplayWindow: window, KeyServerPriority: priority, PSK: psk}
	l, err := newMKALink(e, edge)
	if err != nil {
		return "", err
	}
	tags := &tagRecorder{}
	l.port.Dataplane().SetMirror(dataplane.Wire, tags)
	ourMAC := l.port.SCI().MAC().String()

	node := &edgeconfig.Node{Lab: "conformance", Name: "ce", Kind: "linux", Source: "the conformance case", Links: []edgeconfig.Link{{
		Name: "link1", Port: "wire", Interface: "wire", Addresses: []netip.Prefix{netip.MustParsePrefix(kernIP + "/24")},
		Peer: "msee", PeerPort: "wire", MicrosoftEdge: true,
		MACsec: &edgeconfig.MACsec{Suite: suite, ReplayProtect: true, ReplayWindow: window, KeyServerPriority: priority,
			HelloTime: mka.DefaultHelloTime, LifeTime: mka.DefaultLifeTime, CKN: psk.CKN.String(), CAK: hex.EncodeToString(psk.CAK.Bytes())},
	}}}
	var script, conf bytes.Buffer
	if err := edgeconfig.Render(&script, "iproute2", node); err != nil {
		return "", err
	}
	if err := edgeconfig.Render(&conf, "wpa_supplicant", node); err != nil {
		return "", err
	}
	if out, err := e.shell(l.nsK, script.String()); err != nil {
		return "", fmt.Errorf("the iproute2 export: %w\n%s", err, out)
	}
	if l.wpa, err = e.startWPAText(l.nsK, "wire", conf.String()); err != nil {
		return "", err
	}
	if _, err := e.in(l.nsK, "neigh", "replace", userIP, "lladdr", ourMAC, "dev", "macsec0", "nud", "permanent"); err != nil {
		return "", err
	}
	up, err := l.waitSecured(40 * time.Second)
	if err != nil {
		return "", err
	}
	log, _ := os.ReadFile(l.wpa.log)
	if !bytes.Contains(log, []byte("link already exists, using it")) {
		return "", l.explain(errors.New("wpa_supplicant made a macsec device of its own instead of the iproute2 export's"))
	}
	dev, err := e.in(l.nsK, "-d", "link", "show", "macsec0")
	if err != nil {
		return "", err
	}
	for _, want := range []string{"cipher GCM-AES-128", "send_sci off", fmt.Sprintf("replay on window %d", window), "encrypt on"} {
		if !strings.Contains(dev, want) {
			return "", l.explain(fmt.Errorf("macsec0 under wpa_supplicant lacks %q:\n%s", want, dev))
		}
	}
	if err := pingBoth(l.nsU, userIP, l.nsK, kernIP, 3); err != nil {
		return "", l.explain(err)
	}
	if err := (exchange{n: e.opts.Transfer}).run(e.ctx, l.nsK, kernIP, l.nsU); err != nil {
		return "", l.explain(err)
	}
	with, without := tags.counts(kernMAC)
	if with != 0 || without == 0 {
		return "", fmt.Errorf("the kernel's SecTAGs under the exported configuration: %d with SCI, %d without; want none with", with, without)
	}
	return fmt.Sprintf("iproute2 export's SecY taken over by wpa_supplicant with the exported .conf: secured in %.1fs, send_sci off, replay window %d; no SCI in any of the kernel's %d SecTAGs; ping 3+3, TCP %d KiB each way sha256 ok",
		up.Seconds(), window, without, e.opts.Transfer>>10), nil
}

// shell runs a script of ip commands in ns as sh would, without one: each
// line that is not a comment is "ip ARGS", "|| true" tolerating its
// failure (the guest has no shell to spare).
func (e *env) shell(ns, script string) (string, error) {
	var out strings.Builder
	for line := range strings.Lines(script) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, tolerate := strings.CutSuffix(line, " 2>/dev/null || true")
		f := strings.Fields(cmd)
		if f[0] != "ip" {
			return out.String(), fmt.Errorf("not an ip command: %s", line)
		}
		o, err := e.in(ns, f[1:]...)
		out.WriteString(o)
		if err != nil && !tolerate {
			return out.String(), err
		}
	}
	return out.String(), nil
}
