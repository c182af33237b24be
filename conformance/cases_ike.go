package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/gateway"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/ipsec/strongswan"
)

// The IKEv2 cases: secylab's IKE (Azure's default policy, userspace ESP)
// in namespace "u" against strongSwan's charon in "k", whose ESP is the
// kernel's xfrm (kernel-netlink): each side initiates in turn. Addresses
// as the IPsec suite's.
func ikeCases() []testCase {
	return []testCase{
		{SuiteIPsec, "ikev2-secylab-initiates-vs-strongswan-kernel-xfrm", func(e *env) (string, error) { return ikeCase(e, true) }},
		{SuiteIPsec, "ikev2-strongswan-initiates-vs-secylab", func(e *env) (string, error) { return ikeCase(e, false) }},
	}
}

const ikePSK = "conformance-ike-psk"

// charonConf is the swanctl.conf of charon's side: Azure's default IKE
// proposal (AES-256, SHA-256, MODP-1024) and AES-GCM-16-256 ESP.
func charonConf(start bool) string {
	c := strongswan.PSKConn{Name: "secylab", Local: gwK.String(), Remote: gwU.String(), Proposals: "aes256-sha256-modp1024",
		LocalTS: netK.String(), RemoteTS: netU.String(), ESPProposals: "aes256gcm16", PSK: []byte(ikePSK)}
	if start {
		c.StartAction = "start"
	}
	return c.Swanctl()
}

func ikeCase(e *env, secylabInitiates bool) (string, error) {
	if _, err := os.Stat(strongswan.Charon); err != nil {
		return "", errSkip{"strongSwan's charon is not in this system (apt-get install strongswan-charon strongswan-swanctl)"}
	}
	nsU, nsK, err := e.tunnelPair(false)
	if err != nil {
		return "", err
	}
	dir, err := e.tempDir("secylab-cf-charon-")
	if err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(conf, []byte(charonConf(!secylabInitiates)), 0o600); err != nil {
		return "", err
	}
	// secylab answers first, so that charon's first IKE_SA_INIT finds it.
	g, err := gateway.NewIKE(gateway.IKEConfig{
		Gateway: gateway.Config{Namespace: nsU, Backend: ipsec.BackendUserspace, Local: gwU, Remote: gwK,
			LocalPrefixes: []netip.Prefix{netU}, RemotePrefixes: []netip.Prefix{netK}, RouteSrc: hostU, Logger: slog.New(slog.DiscardHandler)},
		IKE:      ike.Config{PSK: []byte(ikePSK), IKE: ike.AzureDefaultIKE(), ESP: ike.AzureDefaultESP(), ForceEncap: true},
		Initiate: secylabInitiates, Retransmit: time.Second, Retries: 5,
	})
	if err != nil {
		return "", fmt.Errorf("secylab's IKE gateway: %w", err)
	}
	runIKEGateway(e, g)
	d, err := strongswan.Start(strongswan.Config{Namespace: nsK, Dir: dir, Log: filepath.Join(dir, "charon.log"), Swanctl: conf, Kernel: true})
	if err != nil {
		return "", err
	}
	e.onClose(d.Stop)
	explain := func(err error) error {
		sas, _ := d.Ctl("--list-sas")
		st, _ := e.in(nsK, "xfrm", "state")
		log, _ := os.ReadFile(d.Log)
		if len(log) > 3000 {
			log = log[len(log)-3000:]
		}
		return fmt.Errorf("%w\n  secylab events: %v\n  swanctl --list-sas:\n%s\n  kernel xfrm:\n%s\n  charon log:\n%s", err, g.Events(), sas, st, log)
	}
	wctx, wcancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer wcancel()
	if err := g.Wait(wctx, 0, func(s *ike.Session, _ []ike.Event) bool {
		return s != nil && s.State() == ike.StateEstablished && len(s.Children()) == 1
	}); err != nil {
		return "", explain(fmt.Errorf("the IKE SA and Child SA did not come up: %w", err))
	}
	// The responder is up when it sends IKE_AUTH's answer; charon as the
	// initiator installs its kernel SAs only once it has that answer.
	for i := 0; ; i++ {
		if sas, _ := d.Ctl("--list-sas"); strings.Contains(sas, "INSTALLED") {
			break
		}
		if i == 100 {
			return "", explain(fmt.Errorf("charon installed no Child SA"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.kernelTunnelTraffic(nsU, nsK, "charon"); err != nil {
		return "", explain(err)
	}
	sas, err := d.Ctl("--list-sas")
	if err != nil || !strings.Contains(sas, "ESTABLISHED") || !strings.Contains(sas, "INSTALLED") {
		return "", explain(fmt.Errorf("swanctl --list-sas: %v", err))
	}
	who := "secylab"
	if !secylabInitiates {
		who = "charon"
	}
	return fmt.Sprintf("%s initiated; IKEv2 with Azure's default policy (MODP-1024 IKE SA, AES-GCM-16-256 Child SA), ESP in UDP in the kernel's xfrm on charon's side: ping 3+3, TCP %d KiB each way sha256 ok",
		who, e.opts.Transfer>>10), nil
}

// kernelTunnelTraffic pings both ways between the protected hosts, moves
// the transfer through the tunnel both ways and checks that the peer's
// SAs in nsK are the kernel's AES-GCM ESP-in-UDP states.
func (e *env) kernelTunnelTraffic(nsU, nsK, peer string) error {
	if err := pingBoth(nsU, hostU.String(), nsK, hostK.String(), 3); err != nil {
		return err
	}
	if err := (exchange{n: e.opts.Transfer}).run(e.ctx, nsK, hostK.String(), nsU); err != nil {
		return err
	}
	st, err := e.in(nsK, "-s", "xfrm", "state")
	if err != nil {
		return err
	}
	if !strings.Contains(st, "rfc4106(gcm(aes))") || !strings.Contains(st, "espinudp") {
		return fmt.Errorf("%s's SAs are not AES-GCM ESP-in-UDP states of the kernel", peer)
	}
	return nil
}

// runIKEGateway runs g until the case ends.
func runIKEGateway(e *env, g *gateway.IKEGateway) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	e.onClose(func() { cancel(); <-done })
}

// tempDir makes a directory removed when the case ends.
func (e *env) tempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		e.onClose(func() { os.RemoveAll(dir) })
	}
	return dir, err
}
