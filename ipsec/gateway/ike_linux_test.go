package gateway

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/ipsec/strongswan"
)

// The IKE lab: strongSwan's charon (kernel-libipsec: userspace ESP on a
// TUN, ESP in UDP) on premises in one namespace, secylab's IKE gateway
// (Azure's side) in the other, joined by a veth "wan".
var (
	swOuter = netip.MustParseAddr("10.77.0.1")
	azOuter = netip.MustParseAddr("10.77.0.2")
	swHost  = netip.MustParseAddr("172.31.1.1")
	azHost  = netip.MustParseAddr("172.31.2.1")
	swNet   = netip.MustParsePrefix("172.31.1.0/24")
	azNet   = netip.MustParsePrefix("172.31.2.0/24")
)

const testPSK = "ike-lab-test-psk"

type charon struct{ *strongswan.Daemon }

// swanctl runs swanctl against the charon.
func (c charon) swanctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return c.Ctl(args...)
}

func (c charon) log() string {
	b, _ := os.ReadFile(c.Log)
	return string(b)
}

// startCharon runs charon (kernel-libipsec) in ns with a connection
// "azure" to the secylab gateway: IKE and ESP proposals as strongSwan
// writes them.
func startCharon(t *testing.T, ns, ikeProposals, espProposals, psk string) charon {
	t.Helper()
	if _, err := os.Stat(strongswan.Charon); err != nil {
		t.Skip("strongSwan's charon is not installed (.ci/setup --tests installs it)")
	}
	dir := t.TempDir()
	swan := strongswan.PSKConn{Name: "azure", Local: swOuter.String(), Remote: azOuter.String(), Proposals: ikeProposals, DPDDelay: "0",
		LocalTS: swNet.String(), RemoteTS: azNet.String(), Mode: "tunnel", ESPProposals: espProposals, PSK: []byte(psk), SecretBothIDs: true}.Swanctl()
	conf := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(conf, []byte(swan), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := strongswan.Start(strongswan.Config{Namespace: ns, Dir: dir, Log: filepath.Join(dir, "charon.log"), Swanctl: conf, Retransmit: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := charon{d}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("charon log:\n%s", c.log())
		}
	})
	return c
}

type ikeLab struct {
	sw, az string
	c      charon      // strongSwan on premises, or
	onprem *IKEGateway // secylab on premises
	g      *IKEGateway
}

// newIKELab builds the namespaces, charon and secylab's gateway (which
// initiates when initiate is set), with Azure's default policy on
// secylab's side.
func newIKELab(t *testing.T, initiate bool, ikeProposals, espProposals, psk string) *ikeLab {
	return newIKELabPolicy(t, initiate, ikeProposals, espProposals, psk, nil)
}

// newIKELabPolicy is newIKELab with a custom Azure policy on secylab's
// side (nil: Azure's default policy), its suites as the lab's topology
// makes them.
func newIKELabPolicy(t *testing.T, initiate bool, ikeProposals, espProposals, psk string, policy *ike.AzurePolicy) *ikeLab {
	t.Helper()
	nettest.NeedRoot(t)
	l := &ikeLab{sw: nettest.Namespace(t, "iksw"), az: nettest.Namespace(t, "ikaz")}
	nettest.Wire(t, l.sw, l.az, "wan", 1500)
	nettest.Run(t, "ip", "-n", l.sw, "addr", "add", swOuter.String()+"/24", "dev", "wan")
	nettest.Run(t, "ip", "-n", l.az, "addr", "add", azOuter.String()+"/24", "dev", "wan")
	nettest.Run(t, "ip", "-n", l.sw, "addr", "add", swHost.String()+"/32", "dev", "lo")
	nettest.Run(t, "ip", "-n", l.az, "addr", "add", azHost.String()+"/32", "dev", "lo")
	if ikeProposals != "" {
		l.c = startCharon(t, l.sw, ikeProposals, espProposals, psk)
	}
	cfg := ikeConfig(l.az, azOuter, swOuter, azNet, swNet, azHost, initiate)
	usePolicy(t, &cfg, policy)
	l.g = startIKE(t, cfg)
	return l
}

// usePolicy gives cfg policy's suites (nil: Azure's default, unchanged)
// and DPD every second of silence, the peer dead after 3 s.
func usePolicy(t *testing.T, cfg *IKEConfig, policy *ike.AzurePolicy) {
	t.Helper()
	if policy != nil {
		is, es, errs := policy.Suites()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		cfg.IKE.IKE, cfg.IKE.ESP = []ike.Suite{is}, []ike.Suite{es}
	}
	cfg.DeadAfter, cfg.DPD = 3*time.Second, time.Second
}

// runIKE runs a secylab IKE gateway with Azure's default policy in ns
// until the test ends.
func runIKE(t *testing.T, ns string, local, remote netip.Addr, localNet, remoteNet netip.Prefix, host netip.Addr, initiate bool) *IKEGateway {
	t.Helper()
	return startIKE(t, ikeConfig(ns, local, remote, localNet, remoteNet, host, initiate))
}

func ikeConfig(ns string, local, remote netip.Addr, localNet, remoteNet netip.Prefix, host netip.Addr, initiate bool) IKEConfig {
	return IKEConfig{
		Gateway: Config{Namespace: ns, Local: local, Remote: remote, LocalPrefixes: []netip.Prefix{localNet},
			RemotePrefixes: []netip.Prefix{remoteNet}, RouteSrc: host, Logger: quiet},
		IKE:      ike.Config{PSK: []byte(testPSK), IKE: ike.AzureDefaultIKE(), ESP: ike.AzureDefaultESP(), ForceEncap: true},
		Initiate: initiate, Retransmit: 300 * time.Millisecond, Retries: 3,
	}
}

// startIKE runs a secylab IKE gateway until the test ends.
func startIKE(t *testing.T, cfg IKEConfig) *IKEGateway {
	t.Helper()
	g, err := NewIKE(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("IKE gateway: %v", err)
		}
	})
	return g
}

func waitFor(t *testing.T, g *IKEGateway, what string, cond func(s *ike.Session, evs []ike.Event) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Wait(ctx, 0, cond); err != nil {
		t.Fatalf("waiting for %s: %v; events %v", what, err, g.Events())
	}
}

func childUp(s *ike.Session, _ []ike.Event) bool {
	return s != nil && s.State() == ike.StateEstablished && len(s.Children()) == 1
}

// probes sends a numbered UDP datagram every 2 ms each way through the
// tunnel until stop is called, which returns how many were sent and how
// many arrived, each way.
func probes(t *testing.T, l *ikeLab) (stop func() (sent, got [2]int64)) {
	t.Helper()
	var sent, got [2]atomic.Int64
	var conns []*net.UDPConn
	open := func(ns string, local netip.Addr) *net.UDPConn {
		var c *net.UDPConn
		if err := netnsx.Do(ns, func() (err error) {
			c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 7000)))
			return
		}); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		return c
	}
	cs, ca := open(l.sw, swHost), open(l.az, azHost)
	var wg sync.WaitGroup
	quit := make(chan struct{})
	for i, p := range []struct {
		from, to *net.UDPConn
		dst      netip.Addr
	}{{cs, ca, azHost}, {ca, cs, swHost}} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for {
				if _, err := p.to.Read(buf); err != nil {
					return
				}
				got[i].Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			var seq uint64
			for {
				select {
				case <-quit:
					return
				case <-tick.C:
				}
				seq++
				b := binary.BigEndian.AppendUint64(nil, seq)
				if _, err := p.from.WriteToUDPAddrPort(b, netip.AddrPortFrom(p.dst, 7000)); err == nil {
					sent[i].Add(1)
				}
			}
		}()
	}
	return func() (s, g [2]int64) {
		close(quit)
		time.Sleep(300 * time.Millisecond) // the last probes arrive
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
		return [2]int64{sent[0].Load(), sent[1].Load()}, [2]int64{got[0].Load(), got[1].Load()}
	}
}

// Two custom Azure policies of issue 15, in Azure's names (the lab's
// topology makes them so): GCMAES256/SHA256/DHGroup24/PFS24 and
// AES256/SHA256/ECP384 with PFS ECP384.
var (
	gcm24Policy = &ike.AzurePolicy{SALifeTimeSeconds: 3600, SADataSizeKilobytes: 102400000, IPsecEncryption: "GCMAES256", IPsecIntegrity: "GCMAES256",
		IKEEncryption: "AES256", IKEIntegrity: "SHA256", DHGroup: "DHGroup24", PFSGroup: "PFS24"}
	ecp384Policy = &ike.AzurePolicy{SALifeTimeSeconds: 3600, SADataSizeKilobytes: 102400000, IPsecEncryption: "AES256", IPsecIntegrity: "SHA256",
		IKEEncryption: "AES256", IKEIntegrity: "SHA256", DHGroup: "ECP384", PFSGroup: "ECP384"}
)

// ikeCase is one policy on Azure's side (nil: Azure's default) and who
// initiates, with the suites it must negotiate, in strongSwan's names:
// the IKE SA's, the first Child SA's (IKE_AUTH carries no KE, so no PFS
// group) and a rekeyed Child SA's (with the PFS group, if any).
type ikeCase struct {
	name                      string
	policy                    *ike.AzurePolicy
	initiate                  bool // secylab's Azure side initiates
	ikeSuite, esp, espRekeyed string
}

const (
	defaultIKE = "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
	gcm24IKE   = "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048_256"
	ecp384IKE  = "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_384"
	gcmESP     = "AES_GCM_16-256"
	cbc256ESP  = "AES_CBC-256/HMAC_SHA2_256_128"
)

// checkSuites fails unless the gateway's status shows the IKE SA and its
// one Child SA with the suites named.
func checkSuites(t *testing.T, g *IKEGateway, ikeSuite, esp string) {
	t.Helper()
	if st := g.SAs(); st.Proposal != ikeSuite || len(st.Children) != 1 || st.Children[0].Proposal != esp {
		t.Fatalf("negotiated %q, Child SAs %+v; want %q and %q", st.Proposal, st.Children, ikeSuite, esp)
	}
}

// checkTraffic pings both ways and sends 2 MB over TCP each way, checked
// by SHA-256.
func checkTraffic(t *testing.T, l *ikeLab) {
	t.Helper()
	if err := nettest.Ping(l.sw, azHost.String(), 3); err != nil {
		t.Fatalf("ping on premises → Azure: %v", err)
	}
	if err := nettest.Ping(l.az, swHost.String(), 3); err != nil {
		t.Fatalf("ping Azure → on premises: %v", err)
	}
	transferBetween(t, l.sw, swHost, l.az, azHost, 2<<20)
	transferBetween(t, l.az, azHost, l.sw, swHost, 2<<20)
}

// peerRekey has the on-premises side (strongSwan or secylab) rekey its
// Child SA or the IKE SA.
func (l *ikeLab) peerRekey(t *testing.T, ikeSA bool) {
	t.Helper()
	if l.onprem != nil {
		rekey := l.onprem.RekeyChild
		if ikeSA {
			rekey = l.onprem.RekeyIKE
		}
		if err := rekey(); err != nil {
			t.Fatalf("on premises rekey (IKE SA %v): %v", ikeSA, err)
		}
		return
	}
	args := []string{"--rekey", "--child", "net"}
	if ikeSA {
		args = []string{"--rekey", "--ike", "azure"}
	}
	if out, err := l.c.swanctl(t, args...); err != nil {
		t.Fatalf("swanctl %v: %v\n%s", args, err, out)
	}
}

// rekeyUnderProbes rekeys, while probes run both ways, the Child SA from
// each side, the IKE SA from each side and then the Child SA on the new
// IKE SA (keyed from its SK_d): every Child SA rekey must bring new SPIs
// both ways, every IKE SA rekey new IKE SPIs, and no probe may be lost.
func rekeyUnderProbes(t *testing.T, l *ikeLab) {
	t.Helper()
	stop := probes(t, l)
	time.Sleep(100 * time.Millisecond)
	seen := map[uint32]bool{}
	for _, c := range l.g.Children() {
		seen[c.InSPI], seen[c.OutSPI] = true, true
	}
	for _, step := range []struct {
		what  string
		ikeSA bool
		ours  bool
	}{
		{"the peer's Child SA rekey", false, false}, {"our Child SA rekey", false, true},
		{"the peer's IKE SA rekey", true, false}, {"our IKE SA rekey", true, true},
		{"a Child SA rekey on the rekeyed IKE SA", false, true},
	} {
		spi := l.g.SPIi()
		switch {
		case !step.ours:
			l.peerRekey(t, step.ikeSA)
		case step.ikeSA:
			if err := l.g.RekeyIKE(); err != nil {
				t.Fatal(err)
			}
		default:
			if err := l.g.RekeyChild(); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, l.g, step.what, func(s *ike.Session, _ []ike.Event) bool {
			if step.ikeSA {
				return spii(s) != spi && s.Pending() == nil
			}
			cs := s.Children()
			return len(cs) == 1 && !seen[cs[0].InSPI] && !seen[cs[0].OutSPI] && s.Pending() == nil
		})
		c, ikeSPI := l.g.Children()[0], l.g.SPIi()
		if l.onprem != nil {
			waitFor(t, l.onprem, "the peer's side of "+step.what, func(s *ike.Session, _ []ike.Event) bool {
				pc := s.Children()
				return s.Pending() == nil && spii(s) == ikeSPI && len(pc) == 1 && pc[0].InSPI == c.OutSPI && pc[0].OutSPI == c.InSPI
			})
		}
		seen[c.InSPI], seen[c.OutSPI] = true, true
		time.Sleep(150 * time.Millisecond)
		if step.ikeSA {
			time.Sleep(150 * time.Millisecond)
		}
	}
	sent, got := stop()
	t.Logf("probes on premises → Azure %d sent %d received, Azure → on premises %d sent %d received", sent[0], got[0], sent[1], got[1])
	if sent[0] < 100 || sent[1] < 100 || got != sent {
		t.Fatalf("probes lost across the rekeys: sent %v received %v", sent, got)
	}
	if c := l.g.Children()[0]; c.Rekeys != 3 || l.g.SAs().Rekeys != 2 {
		t.Fatalf("after the rekeys: Child SA %d rekeys, IKE SA %d rekeys; want 3 and 2", c.Rekeys, l.g.SAs().Rekeys)
	}
	if err := nettest.Ping(l.az, swHost.String(), 2); err != nil {
		t.Fatalf("ping after the rekeys: %v", err)
	}
}

// checkDPD cuts the wire on premises: DPD (every second of silence)
// must declare the peer dead within DeadAfter (3 s) on secylab's side,
// and on a secylab peer's, and remove the SAs.
func checkDPD(t *testing.T, l *ikeLab) {
	t.Helper()
	gws := []*IKEGateway{l.g}
	if l.onprem != nil {
		gws = append(gws, l.onprem)
	}
	cut := time.Now()
	nettest.Run(t, "ip", "-n", l.sw, "link", "set", "wan", "down")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	for i, g := range gws {
		if err := g.Wait(ctx, 0, func(s *ike.Session, _ []ike.Event) bool { return s.State() == ike.StateClosed }); err != nil {
			t.Fatalf("DPD did not declare the peer of gateway %d dead: %v", i, err)
		}
		dead := time.Since(cut)
		t.Logf("DPD: gateway %d found its peer dead %.2fs after the cut (DeadAfter 3s)", i, dead.Seconds())
		if dead > 4*time.Second {
			t.Fatalf("dead after %v", dead)
		}
	}
	time.Sleep(inboundGrace + 100*time.Millisecond) // the inbound SA outlives its Child SA a little
	for i, g := range gws {
		if n := len(g.Gateway().Userspace().SAD().List()); n != 0 {
			t.Fatalf("gateway %d: %d SAs left after DPD", i, n)
		}
	}
}

// TestIKEStrongSwan: strongSwan (kernel-libipsec) on premises and
// secylab's gateway with Azure's default policy (AES256-SHA1-MODP1024,
// then AES-256-GCM-16 or AES-256-CBC/SHA1 for ESP) and with two custom
// Azure policies (GCMAES256/SHA256/DHGroup24/PFS24 and
// AES256/SHA256/ECP384/PFS ECP384, made from Azure's names as the lab's
// topology makes them), each side initiating; both ends show the suites
// expected; pings and SHA-256-checked TCP transfers go both ways; the
// Child SA is rekeyed from each side and the IKE SA from each side while
// probes run: no probe is lost and every rekey brings new SPIs on both
// sides. Then the wire is cut: DPD declares strongSwan dead within
// secylab's DeadAfter (3 s) and removes the SAs.
func TestIKEStrongSwan(t *testing.T) {
	for _, c := range []struct {
		ikeCase
		swIKE, swESP string // strongSwan's proposals
	}{
		{ikeCase{"strongswan initiates, ESP AES-GCM-16-256", nil, false, defaultIKE, gcmESP, gcmESP}, "aes256-sha1-modp1024", "aes256gcm16"},
		{ikeCase{"secylab initiates, ESP AES-CBC-256 HMAC-SHA1-96", nil, true, defaultIKE, "AES_CBC-256/HMAC_SHA1_96", "AES_CBC-256/HMAC_SHA1_96"},
			"aes256-sha1-modp1024", "aes256-sha1"},
		{ikeCase{"custom GCMAES256 SHA256 DHGroup24 PFS24, strongswan initiates", gcm24Policy, false, gcm24IKE, gcmESP, gcmESP + "/MODP_2048_256"},
			"aes256-sha256-modp2048s256", "aes256gcm16-modp2048s256"},
		{ikeCase{"custom GCMAES256 SHA256 DHGroup24 PFS24, secylab initiates", gcm24Policy, true, gcm24IKE, gcmESP, gcmESP + "/MODP_2048_256"},
			"aes256-sha256-modp2048s256", "aes256gcm16-modp2048s256"},
		{ikeCase{"custom AES256 SHA256 ECP384, strongswan initiates", ecp384Policy, false, ecp384IKE, cbc256ESP, cbc256ESP + "/ECP_384"},
			"aes256-sha256-ecp384", "aes256-sha256-ecp384"},
		{ikeCase{"custom AES256 SHA256 ECP384, secylab initiates", ecp384Policy, true, ecp384IKE, cbc256ESP, cbc256ESP + "/ECP_384"},
			"aes256-sha256-ecp384", "aes256-sha256-ecp384"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newIKELabPolicy(t, c.initiate, c.swIKE, c.swESP, testPSK, c.policy)
			if !c.initiate {
				if out, err := l.c.swanctl(t, "--initiate", "--child", "net", "--timeout", "10"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
			}
			waitFor(t, l.g, "the Child SA", childUp)
			checkSuites(t, l.g, c.ikeSuite, c.esp)
			sas, _ := l.c.swanctl(t, "--list-sas")
			if !strings.Contains(sas, "ESTABLISHED") || !strings.Contains(sas, "INSTALLED") || !strings.Contains(sas, c.ikeSuite) ||
				!strings.Contains(sas, "ESP:"+c.esp+"\n") {
				t.Fatalf("swanctl --list-sas:\n%s", sas)
			}
			child := l.g.Children()[0]
			if !strings.Contains(sas, fmt.Sprintf("in  %08x", child.OutSPI)) || !strings.Contains(sas, fmt.Sprintf("out %08x", child.InSPI)) {
				t.Fatalf("SPIs %08x/%08x not in\n%s", child.InSPI, child.OutSPI, sas)
			}
			checkTraffic(t, l)
			rekeyUnderProbes(t, l)
			checkSuites(t, l.g, c.ikeSuite, c.espRekeyed)
			sas, _ = l.c.swanctl(t, "--list-sas")
			child = l.g.Children()[0]
			if !strings.Contains(sas, fmt.Sprintf("in  %08x", child.OutSPI)) || strings.Count(sas, "INSTALLED") != 1 || !strings.Contains(sas, "ESP:"+c.espRekeyed+"\n") {
				t.Fatalf("after the rekeys (ours %08x/%08x, %d rekeys):\n%s", child.InSPI, child.OutSPI, child.Rekeys, sas)
			}
			checkDPD(t, l)
		})
	}
}

// checkRefused fails unless nothing but IKE (UDP 500, or 4500 behind the
// non-ESP marker) crossed the wire and neither end holds a Child SA or
// sent ESP, though pings tried both ways.
func checkRefused(t *testing.T, l *ikeLab, wire func() [][]byte) {
	t.Helper()
	nettest.Ping(l.az, swHost.String(), 1) // refused: no SA
	nettest.Ping(l.sw, azHost.String(), 1)
	ikes := 0
	for _, f := range wire() {
		if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			continue
		}
		ip := f[14:]
		port := binary.BigEndian.Uint16(ip[22:])
		if ip[9] != 17 || (port != 500 && port != 4500) || (port == 4500 && ipsec.ClassifyUDP(ipsec.UDPPayload(ip[20:])) != ipsec.UDPIKE) {
			t.Fatalf("a frame that is not IKE on the wire: %x", ip[:min(40, len(ip))])
		}
		ikes++
	}
	if ikes == 0 {
		t.Fatal("no IKE on the wire")
	}
	gws := []*IKEGateway{l.g}
	if l.onprem != nil {
		gws = append(gws, l.onprem)
	} else if sas, _ := l.c.swanctl(t, "--list-sas"); strings.Contains(sas, "INSTALLED") {
		t.Fatalf("strongSwan installed a Child SA:\n%s", sas)
	}
	for i, g := range gws {
		st := g.Gateway().Userspace().Stats()
		if sas := g.Gateway().Userspace().SAD().List(); len(sas) != 0 || st.TxPackets != 0 || st.NoSA == 0 || len(g.SAs().Children) != 0 {
			t.Fatalf("gateway %d: SAs %d, Child SAs %d, sent %d, no-SA drops %d", i, len(sas), len(g.SAs().Children), st.TxPackets, st.NoSA)
		}
	}
}

// failedWith reports whether the events hold the IKE SA's failure with
// notify n.
func failedWith(n ike.NotifyType) func(*ike.Session, []ike.Event) bool {
	return func(_ *ike.Session, evs []ike.Event) bool {
		for _, e := range evs {
			if e.Kind == ike.EvFailed && e.Notify == n {
				return true
			}
		}
		return false
	}
}

// TestIKEStrongSwanRefused: a PSK that differs gets AUTHENTICATION_FAILED,
// a strongSwan that no longer offers MODP_1024 gets NO_PROPOSAL_CHOSEN
// from Azure's default policy; no SA is installed on either side and
// nothing for the protected hosts crosses the wire in clear.
func TestIKEStrongSwanRefused(t *testing.T) {
	for _, c := range []struct {
		name, ike, psk string
		notify         ike.NotifyType
		log            string
	}{
		{"psk mismatch", "aes256-sha1-modp1024", "not-the-psk", ike.AUTHENTICATION_FAILED, "received AUTHENTICATION_FAILED notify error"},
		{"proposal mismatch", "aes256-sha256-modp2048", testPSK, ike.NO_PROPOSAL_CHOSEN, "received NO_PROPOSAL_CHOSEN notify error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newIKELab(t, false, c.ike, "aes256gcm16", c.psk)
			wire := capture(t, l.az, "wan")
			out, err := l.c.swanctl(t, "--initiate", "--child", "net", "--timeout", "5")
			if err == nil {
				t.Fatalf("swanctl --initiate succeeded:\n%s", out)
			}
			waitFor(t, l.g, c.notify.String(), failedWith(c.notify))
			if !strings.Contains(l.c.log(), c.log) {
				t.Fatalf("charon did not log %q", c.log)
			}
			checkRefused(t, l, wire)
		})
	}
}

// newSecylabLab is the IKE lab with a second secylab gateway on premises
// in place of strongSwan, both with policy (nil: Azure's default), DPD
// and DeadAfter 3 s; adjust, if set, changes the on-premises side's
// configuration.
func newSecylabLab(t *testing.T, policy *ike.AzurePolicy, azInitiates, onpremInitiates bool, adjust func(*IKEConfig)) *ikeLab {
	t.Helper()
	l := newIKELabPolicy(t, azInitiates, "", "", "", policy)
	cfg := ikeConfig(l.sw, swOuter, azOuter, swNet, azNet, swHost, onpremInitiates)
	usePolicy(t, &cfg, policy)
	if adjust != nil {
		adjust(&cfg)
	}
	l.onprem = startIKE(t, cfg)
	return l
}

// TestIKESecylab: secylab's IKEv2 on both ends, with Azure's default
// policy and the two custom policies of TestIKEStrongSwan, each side
// initiating: both ends negotiate the suites expected and agree on the
// SPIs; pings and SHA-256-checked TCP transfers go both ways; Child SA
// and IKE SA rekeys from each side bring new SPIs and lose no probe;
// after a cut each end's DPD finds the other dead within 3 s.
func TestIKESecylab(t *testing.T) {
	for _, c := range []ikeCase{
		{"default, on premises initiates", nil, false, defaultIKE, gcmESP, gcmESP},
		{"default, Azure initiates", nil, true, defaultIKE, gcmESP, gcmESP},
		{"custom GCMAES256 SHA256 DHGroup24 PFS24, on premises initiates", gcm24Policy, false, gcm24IKE, gcmESP, gcmESP + "/MODP_2048_256"},
		{"custom GCMAES256 SHA256 DHGroup24 PFS24, Azure initiates", gcm24Policy, true, gcm24IKE, gcmESP, gcmESP + "/MODP_2048_256"},
		{"custom AES256 SHA256 ECP384, on premises initiates", ecp384Policy, false, ecp384IKE, cbc256ESP, cbc256ESP + "/ECP_384"},
		{"custom AES256 SHA256 ECP384, Azure initiates", ecp384Policy, true, ecp384IKE, cbc256ESP, cbc256ESP + "/ECP_384"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newSecylabLab(t, c.policy, c.initiate, !c.initiate, nil)
			waitFor(t, l.g, "the Child SA", childUp)
			waitFor(t, l.onprem, "the Child SA", childUp)
			checkSuites(t, l.g, c.ikeSuite, c.esp)
			checkSuites(t, l.onprem, c.ikeSuite, c.esp)
			if a, b := l.g.SAs(), l.onprem.SAs(); a.Initiator != c.initiate || b.Initiator == c.initiate || a.SPIi != b.SPIi || a.SPIr != b.SPIr ||
				a.Children[0].InSPI != b.Children[0].OutSPI || a.Children[0].OutSPI != b.Children[0].InSPI || a.Children[0].InKey != b.Children[0].OutKey {
				t.Fatalf("the two ends disagree: %+v / %+v", a, b)
			}
			checkTraffic(t, l)
			rekeyUnderProbes(t, l)
			checkSuites(t, l.g, c.ikeSuite, c.espRekeyed)
			checkSuites(t, l.onprem, c.ikeSuite, c.espRekeyed)
			if a, b := l.g.SAs(), l.onprem.SAs(); a.Rekeys != 2 || b.Rekeys != 2 || a.Children[0].Rekeys != 3 || b.Children[0].Rekeys != 3 ||
				a.KeyFingerprint != b.KeyFingerprint || a.Children[0].InKey != b.Children[0].OutKey {
				t.Fatalf("after the rekeys: %+v / %+v", a, b)
			}
			checkDPD(t, l)
		})
	}
}

// TestIKESecylabRefused: secylab on both ends, Azure's default policy on
// Azure's side; each side initiating in turn, a PSK that differs fails
// with AUTHENTICATION_FAILED and an on-premises side offering only
// MODP_2048 (which Azure's default policy does not accept) with
// NO_PROPOSAL_CHOSEN: the initiator sees the notify (its events, its
// status), neither end installs a Child SA, and only IKE crosses the
// wire.
func TestIKESecylabRefused(t *testing.T) {
	wrongPSK := func(c *IKEConfig) { c.IKE.PSK = []byte("not-the-psk") }
	modp2048 := func(c *IKEConfig) {
		c.IKE.IKE = []ike.Suite{{Encr: ike.ENCR_AES_CBC, KeyBits: 256, PRF: ike.PRF_HMAC_SHA2_256, Integ: ike.AUTH_HMAC_SHA2_256_128, DH: ike.MODP2048}}
	}
	for _, c := range []struct {
		name        string
		adjust      func(*IKEConfig)
		azInitiates bool
		notify      ike.NotifyType
	}{
		{"psk mismatch, on premises initiates", wrongPSK, false, ike.AUTHENTICATION_FAILED},
		{"psk mismatch, Azure initiates", wrongPSK, true, ike.AUTHENTICATION_FAILED},
		{"proposal mismatch, on premises initiates", modp2048, false, ike.NO_PROPOSAL_CHOSEN},
		{"proposal mismatch, Azure initiates", modp2048, true, ike.NO_PROPOSAL_CHOSEN},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newSecylabLab(t, nil, false, false, c.adjust)
			wire := capture(t, l.az, "wan")
			initiator, responder := l.onprem, l.g
			if c.azInitiates {
				initiator, responder = l.g, l.onprem
			}
			if err := initiator.Initiate(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, initiator, "the initiator's "+c.notify.String(), failedWith(c.notify))
			if st := initiator.SAs(); st.State != "DELETED" || !st.Initiator || !strings.Contains(st.LastError, c.notify.String()) {
				t.Fatalf("the initiator's status: %+v", st)
			} else {
				t.Logf("the initiator's status: %s, last failure: %s", st.State, st.LastError)
			}
			if s := responder.Session(); s != nil && responder.SAs().State == "ESTABLISHED" {
				t.Fatalf("the responder established an IKE SA: %+v", responder.SAs())
			}
			for _, g := range []*IKEGateway{initiator, responder} {
				for _, e := range g.Events() {
					if e.Kind == ike.EvInstallIn || e.Kind == ike.EvInstallOut {
						t.Fatalf("a Child SA was installed: %v", g.Events())
					}
				}
			}
			checkRefused(t, l, wire)
		})
	}
}

// TestIKEKilobyteLifetime: two secylab gateways with a 1024-KB Child SA
// lifetime (on-premises from its configuration, Azure's side lowered
// while running, as the lab's ipsecLifetime op does) carry 4 MB of UDP
// one way at about 1 MB/s while probes run both ways: the Child SA is
// rekeyed by the byte count alone (no lifetime in seconds) at least
// twice, each time with new SPIs, and no probe is lost.
func TestIKEKilobyteLifetime(t *testing.T) {
	l := newIKELab(t, false, "", "", "")
	l.g.SetLifetimeKB(1024)
	cfg := ikeConfig(l.sw, swOuter, azOuter, swNet, azNet, swHost, true)
	cfg.ChildKilobytes = 1024
	onprem := startIKE(t, cfg)
	waitFor(t, l.g, "the Child SA", childUp)
	waitFor(t, onprem, "the Child SA", childUp)
	if err := nettest.Ping(l.sw, azHost.String(), 1); err != nil {
		t.Fatal(err)
	}
	first := onprem.Children()[0].InSPI
	if st := onprem.SAs(); len(st.Children) != 1 || st.Children[0].LifetimeKilobytes != 1024 || st.Children[0].RekeyAtBytes != 1024*1024*9/10 {
		t.Fatalf("status before: %+v", st.Children)
	}

	sink := listenUDP(t, l.az, netip.AddrPortFrom(azHost, 7001))
	src := listenUDP(t, l.sw, netip.AddrPortFrom(swHost, 7001))
	var received atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := sink.Read(buf)
			if err != nil {
				return
			}
			received.Add(int64(n))
		}
	}()

	stop := probes(t, l)
	const total, size = 4 << 20, 1000
	payload := make([]byte, size)
	dst := netip.AddrPortFrom(azHost, 7001)
	tick := time.NewTicker(4 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for sent := 0; sent < total; {
		<-tick.C
		for range 4 {
			if _, err := src.WriteToUDPAddrPort(payload, dst); err != nil {
				t.Fatal(err)
			}
			sent += size
		}
		if time.Now().After(deadline) {
			t.Fatalf("4 MB not sent in 20 s (%d)", sent)
		}
	}
	tick.Stop()
	time.Sleep(200 * time.Millisecond)
	sentP, gotP := stop()

	spis := map[uint32]bool{}
	for _, e := range onprem.Events() {
		if e.Kind == ike.EvInstallIn {
			spis[e.Child.InSPI] = true
		}
	}
	c := onprem.Children()
	t.Logf("%d bytes received of %d; %d Child SAs (rekeys %d); probes %v sent, %v received", received.Load(), total, len(spis), c[0].Rekeys, sentP, gotP)
	if len(c) != 1 || c[0].Rekeys < 2 || len(spis) < 3 || c[0].InSPI == first {
		t.Fatalf("want >= 2 kilobyte-driven rekeys with new SPIs: Child SAs %d, rekeys %d; events %v", len(spis), c[0].Rekeys, onprem.Events())
	}
	if a := l.g.Children(); len(a) != 1 || a[0].InSPI != c[0].OutSPI || a[0].OutSPI != c[0].InSPI {
		t.Fatalf("the two ends disagree: %+v / %+v", a, c)
	}
	if sentP[0] < 100 || gotP != sentP {
		t.Fatalf("probes lost across the rekeys: sent %v received %v", sentP, gotP)
	}
	for _, g := range []*IKEGateway{onprem, l.g} {
		if d := g.Gateway().Userspace().Stats(); d.SealFailed > 0 || d.Drops[ipsec.Expired] > 0 {
			t.Fatalf("SAs reached their hard limit: seal-failed %d, expired drops %d", d.SealFailed, d.Drops[ipsec.Expired])
		}
	}
}

// listenUDP opens a UDP socket in ns, closed when the test ends.
func listenUDP(t *testing.T, ns string, at netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := netnsx.Do(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(at))
		return
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIKEEventsBounded: a gateway keeps its latest events only, and a mark
// taken before older ones went still finds what came after it.
func TestIKEEventsBounded(t *testing.T) {
	g := &IKEGateway{log: slog.New(slog.DiscardHandler), changed: make(chan struct{})}
	g.mu.Lock()
	for i := range 3 * maxEvents {
		g.record(ike.Event{Kind: ike.EvFailed, Notify: ike.NotifyType(i)})
	}
	g.mu.Unlock()
	evs := g.Events()
	if len(evs) > maxEvents || evs[len(evs)-1].Notify != 3*maxEvents-1 {
		t.Fatalf("kept %d events, the last %v", len(evs), evs[len(evs)-1])
	}
	mark := g.EventMark()
	if mark != 3*maxEvents {
		t.Fatalf("mark %d, want %d", mark, 3*maxEvents)
	}
	g.mu.Lock()
	g.record(ike.Event{Kind: ike.EvIKERekeyed})
	g.mu.Unlock()
	if got := g.EventsSince(mark); len(got) != 1 || got[0].Kind != ike.EvIKERekeyed {
		t.Fatalf("since the mark: %v", got)
	}
	if err := g.Wait(context.Background(), 5, func(_ *ike.Session, evs []ike.Event) bool { return len(evs) == len(g.events) }); err != nil {
		t.Fatal(err)
	}
}
