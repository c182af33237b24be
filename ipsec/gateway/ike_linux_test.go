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
	swan := fmt.Sprintf(`connections {
  azure {
    version = 2
    local_addrs = %[1]s
    remote_addrs = %[2]s
    proposals = %[3]s
    dpd_delay = 0
    local {
      auth = psk
      id = %[1]s
    }
    remote {
      auth = psk
      id = %[2]s
    }
    children {
      net {
        local_ts = %[4]s
        remote_ts = %[5]s
        mode = tunnel
        esp_proposals = %[6]s
      }
    }
  }
}
secrets {
  ike-azure {
    id-1 = %[1]s
    id-2 = %[2]s
    secret = "%[7]s"
  }
}
`, swOuter, azOuter, ikeProposals, swNet, azNet, espProposals, psk)
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
	c      charon
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
	if policy != nil {
		is, es, errs := policy.Suites()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		cfg.IKE.IKE, cfg.IKE.ESP = []ike.Suite{is}, []ike.Suite{es}
	}
	cfg.DeadAfter, cfg.DPD = 3*time.Second, time.Second
	l.g = startIKE(t, cfg)
	return l
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

// TestIKEStrongSwan: strongSwan (kernel-libipsec) on premises and
// secylab's gateway with Azure's default policy (AES256-SHA1-MODP1024,
// then AES-256-GCM-16 or AES-256-CBC/SHA1 for ESP) and with two custom
// Azure policies (GCMAES256/SHA256/DHGroup24/PFS24 and
// AES256/SHA256/ECP384/PFS ECP384, made from Azure's names as the lab's
// topology makes them), each side initiating; pings and SHA-256-checked
// TCP transfers go both ways; the Child SA is rekeyed from each side and
// the IKE SA from each side while probes run: no probe is lost and every
// rekey brings new SPIs on both sides. Then the wire is cut: DPD declares
// strongSwan dead within secylab's DeadAfter (3 s) and removes the SAs.
func TestIKEStrongSwan(t *testing.T) {
	gcm24 := &ike.AzurePolicy{SALifeTimeSeconds: 3600, SADataSizeKilobytes: 102400000, IPsecEncryption: "GCMAES256", IPsecIntegrity: "GCMAES256",
		IKEEncryption: "AES256", IKEIntegrity: "SHA256", DHGroup: "DHGroup24", PFSGroup: "PFS24"}
	ecp384 := &ike.AzurePolicy{SALifeTimeSeconds: 3600, SADataSizeKilobytes: 102400000, IPsecEncryption: "AES256", IPsecIntegrity: "SHA256",
		IKEEncryption: "AES256", IKEIntegrity: "SHA256", DHGroup: "ECP384", PFSGroup: "ECP384"}
	for _, c := range []struct {
		name, ike, esp, list string
		policy               *ike.AzurePolicy
		initiate             bool
	}{
		{"strongswan initiates, ESP AES-GCM-16-256", "aes256-sha1-modp1024", "aes256gcm16", "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024", nil, false},
		{"secylab initiates, ESP AES-CBC-256 HMAC-SHA1-96", "aes256-sha1-modp1024", "aes256-sha1", "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024", nil, true},
		{"custom GCMAES256 SHA256 DHGroup24 PFS24, strongswan initiates", "aes256-sha256-modp2048s256", "aes256gcm16-modp2048s256",
			"AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048_256", gcm24, false},
		{"custom GCMAES256 SHA256 DHGroup24 PFS24, secylab initiates", "aes256-sha256-modp2048s256", "aes256gcm16-modp2048s256",
			"AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048_256", gcm24, true},
		{"custom AES256 SHA256 ECP384, strongswan initiates", "aes256-sha256-ecp384", "aes256-sha256-ecp384",
			"AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_384", ecp384, false},
		{"custom AES256 SHA256 ECP384, secylab initiates", "aes256-sha256-ecp384", "aes256-sha256-ecp384",
			"AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_384", ecp384, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newIKELabPolicy(t, c.initiate, c.ike, c.esp, testPSK, c.policy)
			if !c.initiate {
				if out, err := l.c.swanctl(t, "--initiate", "--child", "net", "--timeout", "10"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
			}
			waitFor(t, l.g, "the Child SA", childUp)
			sas, _ := l.c.swanctl(t, "--list-sas")
			if !strings.Contains(sas, "ESTABLISHED") || !strings.Contains(sas, "INSTALLED") || !strings.Contains(sas, c.list) {
				t.Fatalf("swanctl --list-sas:\n%s", sas)
			}
			child := l.g.Children()[0]
			if !strings.Contains(sas, fmt.Sprintf("in  %08x", child.OutSPI)) || !strings.Contains(sas, fmt.Sprintf("out %08x", child.InSPI)) {
				t.Fatalf("SPIs %08x/%08x not in\n%s", child.InSPI, child.OutSPI, sas)
			}
			if err := nettest.Ping(l.sw, azHost.String(), 3); err != nil {
				t.Fatalf("ping on premises → Azure: %v", err)
			}
			if err := nettest.Ping(l.az, swHost.String(), 3); err != nil {
				t.Fatalf("ping Azure → on premises: %v", err)
			}
			transferBetween(t, l.sw, swHost, l.az, azHost, 2<<20)
			transferBetween(t, l.az, azHost, l.sw, swHost, 2<<20)

			stop := probes(t, l)
			time.Sleep(100 * time.Millisecond)
			seen := map[uint32]bool{child.InSPI: true}
			newChild := func(what string) {
				t.Helper()
				waitFor(t, l.g, what, func(s *ike.Session, _ []ike.Event) bool {
					cs := s.Children()
					return len(cs) == 1 && !seen[cs[0].InSPI] && s.Pending() == nil
				})
				c := l.g.Children()[0]
				seen[c.InSPI] = true
				time.Sleep(150 * time.Millisecond)
			}
			if out, err := l.c.swanctl(t, "--rekey", "--child", "net"); err != nil {
				t.Fatalf("swanctl --rekey --child: %v\n%s", err, out)
			}
			newChild("strongSwan's Child SA rekey")
			if err := l.g.RekeyChild(); err != nil {
				t.Fatal(err)
			}
			newChild("our Child SA rekey")
			spi := l.g.SPIi()
			if out, err := l.c.swanctl(t, "--rekey", "--ike", "azure"); err != nil {
				t.Fatalf("swanctl --rekey --ike: %v\n%s", err, out)
			}
			waitFor(t, l.g, "strongSwan's IKE SA rekey", func(s *ike.Session, _ []ike.Event) bool { return spii(s) != spi && s.Pending() == nil })
			time.Sleep(300 * time.Millisecond)
			spi = l.g.SPIi()
			if err := l.g.RekeyIKE(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, l.g, "our IKE SA rekey", func(s *ike.Session, _ []ike.Event) bool { return spii(s) != spi && s.Pending() == nil })
			time.Sleep(300 * time.Millisecond)
			// A Child SA rekey on the new IKE SA: keyed from its SK_d.
			if err := l.g.RekeyChild(); err != nil {
				t.Fatal(err)
			}
			newChild("a Child SA rekey on the rekeyed IKE SA")
			sent, got := stop()
			t.Logf("probes on premises → Azure %d sent %d received, Azure → on premises %d sent %d received", sent[0], got[0], sent[1], got[1])
			if sent[0] < 100 || sent[1] < 100 || got != sent {
				t.Fatalf("probes lost across the rekeys: sent %v received %v", sent, got)
			}
			sas, _ = l.c.swanctl(t, "--list-sas")
			c := l.g.Children()[0]
			if !strings.Contains(sas, fmt.Sprintf("in  %08x", c.OutSPI)) || strings.Count(sas, "INSTALLED") != 1 || c.Rekeys != 3 {
				t.Fatalf("after the rekeys (ours %08x/%08x, %d rekeys):\n%s", c.InSPI, c.OutSPI, c.Rekeys, sas)
			}
			if err := nettest.Ping(l.az, swHost.String(), 2); err != nil {
				t.Fatalf("ping after the rekeys: %v", err)
			}
			// A cut: strongSwan goes silent; DPD (every second of silence)
			// finds it dead after DeadAfter.
			cut := time.Now()
			nettest.Run(t, "ip", "-n", l.sw, "link", "set", "wan", "down")
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
			defer cancel()
			if err := l.g.Wait(ctx, 0, func(s *ike.Session, _ []ike.Event) bool { return s.State() == ike.StateClosed }); err != nil {
				t.Fatalf("DPD did not declare the peer dead: %v", err)
			}
			dead := time.Since(cut)
			t.Logf("DPD: peer dead %.2fs after the cut (DeadAfter 3s)", dead.Seconds())
			time.Sleep(inboundGrace + 100*time.Millisecond) // the inbound SA outlives its Child SA a little
			if dead > 4*time.Second || len(l.g.Gateway().Userspace().SAD().List()) != 0 {
				t.Fatalf("dead after %v, SAs left %d", dead, len(l.g.Gateway().Userspace().SAD().List()))
			}
		})
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
			waitFor(t, l.g, c.notify.String(), func(_ *ike.Session, evs []ike.Event) bool {
				for _, e := range evs {
					if e.Kind == ike.EvFailed && e.Notify == c.notify {
						return true
					}
				}
				return false
			})
			if !strings.Contains(l.c.log(), c.log) {
				t.Fatalf("charon did not log %q", c.log)
			}
			nettest.Ping(l.az, swHost.String(), 1) // refused: no SA
			frames := wire()
			for _, f := range frames {
				if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
					continue
				}
				ip := f[14:]
				if ip[9] != 17 || (binary.BigEndian.Uint16(ip[22:]) != 500 && binary.BigEndian.Uint16(ip[22:]) != 4500) {
					t.Fatalf("a frame that is not IKE on the wire: %x", ip[:min(40, len(ip))])
				}
			}
			st := l.g.Gateway().Userspace().Stats()
			if sas := l.g.Gateway().Userspace().SAD().List(); len(sas) != 0 || st.TxPackets != 0 || st.NoSA == 0 {
				t.Fatalf("SAs %d, sent %d, no-SA drops %d", len(sas), st.TxPackets, st.NoSA)
			}
			if sas, _ := l.c.swanctl(t, "--list-sas"); strings.Contains(sas, "INSTALLED") {
				t.Fatalf("strongSwan installed a Child SA:\n%s", sas)
			}
		})
	}
}

// TestIKESecylab: secylab's IKEv2 on both ends, Azure's default policy:
// the tunnel comes up, pings go both ways, and Child SA and IKE SA rekeys
// from each side lose no probe.
func TestIKESecylab(t *testing.T) {
	l := newIKELab(t, false, "", "", "")
	onprem := runIKE(t, l.sw, swOuter, azOuter, swNet, azNet, swHost, true)
	waitFor(t, l.g, "the Child SA", childUp)
	waitFor(t, onprem, "the Child SA", childUp)
	if a, b := l.g.Children()[0], onprem.Children()[0]; a.InSPI != b.OutSPI || a.OutSPI != b.InSPI || a.Suite.Encr != ike.ENCR_AES_GCM_16 {
		t.Fatalf("Child SAs %+v / %+v", a, b)
	}
	if err := nettest.Ping(l.sw, azHost.String(), 2); err != nil {
		t.Fatal(err)
	}
	if err := nettest.Ping(l.az, swHost.String(), 2); err != nil {
		t.Fatal(err)
	}
	stop := probes(t, l)
	time.Sleep(100 * time.Millisecond)
	for i, step := range []func() error{onprem.RekeyChild, l.g.RekeyChild, onprem.RekeyIKE, l.g.RekeyIKE, onprem.RekeyChild} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, onprem, fmt.Sprintf("rekey %d", i), func(s *ike.Session, _ []ike.Event) bool {
			return s.Pending() == nil && len(s.Children()) == 1 && s.Children()[0].Rekeys+s.IKERekeys == i+1
		})
		time.Sleep(150 * time.Millisecond)
	}
	sent, got := stop()
	t.Logf("probes %d/%d sent, %d/%d received", sent[0], sent[1], got[0], got[1])
	if sent[0] < 100 || got != sent {
		t.Fatalf("probes lost across the rekeys: sent %v received %v", sent, got)
	}
	if a, b := l.g.Children()[0], onprem.Children()[0]; a.InSPI != b.OutSPI || a.Rekeys != 3 || b.Rekeys != 3 {
		t.Fatalf("after the rekeys: %+v / %+v", a, b)
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
