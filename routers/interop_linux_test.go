package routers

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
)

// interopLab is our Microsoft edge (with BFD) in one namespace and a
// customer router namespace joined to it by link1.
func interopLab(t *testing.T) (ceNS string, msee *node, bfdSess *bfd.Session) {
	t.Helper()
	ceNS, mseeNS := nettest.Namespace(t, "ioce"), nettest.Namespace(t, "ioms")
	nettest.Wire(t, ceNS, mseeNS, "link1", 1500)
	nettest.Run(t, "ip", "-n", ceNS, "addr", "add", "192.168.100.129/30", "dev", "link1")
	nettest.Run(t, "ip", "-n", mseeNS, "addr", "add", "192.168.100.130/30", "dev", "link1")

	var rx, tx net.PacketConn
	if err := netnsx.Do(mseeNS, func() (err error) { rx, tx, err = ListenBFD(msee1Addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close(); tx.Close() })
	ep := bfd.NewEndpoint(rx, tx)
	bfdSess = ep.Add(bfd.Config{Peer: ce1Addr, Local: msee1Addr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ep.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := expressroute.MicrosoftEdge(addr("192.168.100.130"), []netip.Prefix{vnet4},
		expressroute.Link{Name: "link1", Local: msee1Addr, Peer: ce1Addr, PeerASN: 65001, BFD: bfdSess})
	msee = startReal(t, mseeNS, cfg, nil)
	return ceNS, msee, bfdSess
}

func customerOnLink1() DaemonConfig {
	c := CustomerDaemon(65001, addr("192.168.100.129"), []netip.Prefix{onprem4},
		expressroute.Link{Name: "link1", Local: ce1Addr, Peer: msee1Addr}, expressroute.Link{}, true)
	c.Neighbors = c.Neighbors[:1]
	return c
}

func TestInteropBIRD(t *testing.T) {
	nettest.NeedRoot(t)
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird not installed (apt-get install bird2)")
	}
	ceNS, msee, sess := interopLab(t)
	conf, err := BIRDConfig(customerOnLink1())
	if err != nil {
		t.Fatal(err)
	}
	d, err := StartBIRD(ceNS, t.TempDir(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	checkInterop(t, d, msee, sess, "show route 10.50.0.0/16", "show bfd sessions", "Up")
}

func TestInteropFRR(t *testing.T) {
	nettest.NeedRoot(t)
	if _, err := exec.LookPath("/usr/lib/frr/bgpd"); err != nil {
		t.Skip("frr not installed (apt-get install frr)")
	}
	ceNS, msee, sess := interopLab(t)
	conf, err := FRRConfig(customerOnLink1())
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to root and FRR runs as frr.
	dir, err := os.MkdirTemp("", "secylab-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := StartFRR(ceNS, dir, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	checkInterop(t, d, msee, sess, "show bgp ipv4 unicast json", "show bfd peers", "Status: up")
}

func checkInterop(t *testing.T, d *Daemon, msee *node, sess *bfd.Session, showRoute, showBFD, bfdUp string) {
	t.Helper()
	start := time.Now()
	deadline := 40 * time.Second
	eventually(t, d.Kind+" session Established", deadline, func() bool { return msee.neighbor(t, ce1Addr).State == bgp.Established })
	t.Logf("%s: Established after %v", d.Kind, time.Since(start).Round(time.Millisecond))
	eventually(t, d.Kind+"'s own view of the session", 5*time.Second, func() bool {
		nbrs, err := d.Neighbors()
		if err != nil {
			t.Fatal(err)
		}
		return len(nbrs) == 1 && nbrs[0].Address == msee1Addr && nbrs[0].ASN == 12076 && nbrs[0].State == bgp.Established
	})
	eventually(t, "on-premises prefix from "+d.Kind, 10*time.Second, func() bool {
		b := msee.best(t, onprem4)
		return len(b) == 1 && b[0].ASPath.String() == "65001"
	})
	eventually(t, "VNet prefix at "+d.Kind, 10*time.Second, func() bool {
		out, _ := d.Show(showRoute)
		return strings.Contains(out, "10.50.0.0/16") && strings.Contains(out, "12076")
	})
	eventually(t, "BFD Up with "+d.Kind, 20*time.Second, func() bool {
		out, _ := d.Show(showBFD)
		return sess.State() == bfd.Up && strings.Contains(out, bfdUp)
	})
	eventually(t, d.Kind+"'s own view of BFD and the timers", 5*time.Second, func() bool {
		nbrs, err := d.Neighbors()
		if err != nil {
			t.Fatal(err)
		}
		return len(nbrs) == 1 && nbrs[0].BFD != nil && nbrs[0].BFD.State == bfd.Up && nbrs[0].HoldTime == 180*time.Second && nbrs[0].KeepaliveTime == 60*time.Second
	})
	st := msee.neighbor(t, ce1Addr)
	if st.HoldTime != 180*time.Second || st.KeepaliveTime != 60*time.Second {
		t.Errorf("timers %v/%v, want 180s/60s", st.HoldTime, st.KeepaliveTime)
	}
	t.Logf("%s: BFD %v tx %v detect %v", d.Kind, st.BFD.State, st.BFD.TxInterval, st.BFD.DetectTime)
}
