package routers

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secylab/secylab/expressroute"
)

func customerDaemon() DaemonConfig {
	c := customerDaemonEBGP()
	// and ce2, its sibling, over iBGP
	c.Neighbors = append(c.Neighbors, DaemonNeighbor{Name: "ce_lan", Local: addr("10.1.255.1"), Peer: addr("10.1.255.2"), PeerASN: 65001, BFD: true})
	return c
}

func customerDaemonEBGP() DaemonConfig {
	return CustomerDaemon(65001, addr("192.168.100.129"), []netip.Prefix{onprem4, pfx("10.2.0.0/16"), onprem6, pfx("2001:db8:2::/48")},
		expressroute.Link{Name: "link1", Local: ce1Addr, Peer: msee1Addr}, expressroute.Link{Name: "link2", Local: ce2Addr, Peer: msee2Addr}, true)
}

// Every originated prefix of both families is in the generated
// configurations' export policy, each its own entry.
func TestDaemonConfigsEveryPrefix(t *testing.T) {
	c := customerDaemon()
	c.Networks = []netip.Prefix{pfx("10.1.0.0/16"), pfx("10.2.0.0/16"), pfx("fd00:1::/48"), pfx("fd00:2::/48")}
	fc, err := FRRConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ip prefix-list ORIGINATED4 seq 5 permit 10.1.0.0/16\n", "ip prefix-list ORIGINATED4 seq 10 permit 10.2.0.0/16\n",
		"ipv6 prefix-list ORIGINATED6 seq 5 permit fd00:1::/48\n", "ipv6 prefix-list ORIGINATED6 seq 10 permit fd00:2::/48\n",
		"  network 10.1.0.0/16\n", "  network 10.2.0.0/16\n", "  network fd00:1::/48\n", "  network fd00:2::/48\n",
		"route-map TO-link2 permit 20\n match ipv6 address prefix-list ORIGINATED6\n set as-path prepend 65001 65001 65001\n set ipv6 next-hop global ::ffff:192.168.100.133\n",
		"  neighbor 192.168.100.130 activate\n",
		"  neighbor 10.1.255.2 route-map TO6-ce_lan out\n  neighbor 10.1.255.2 next-hop-self\n",
	} {
		if !strings.Contains(fc, want) {
			t.Errorf("FRR config lacks %q:\n%s", want, fc)
		}
	}
	bc, err := BIRDConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"route 10.1.0.0/16 unreachable;", "route 10.2.0.0/16 unreachable;", "route fd00:1::/48 unreachable;", "route fd00:2::/48 unreachable;",
		`if proto = "originated6" then`, "extended next hop on;",
		"neighbor 10.1.255.2 as 65001;\n  bfd on;\n  direct;\n  ipv4 { next hop self; import all; export all; };",
	} {
		if !strings.Contains(bc, want) {
			t.Errorf("BIRD config lacks %q:\n%s", want, bc)
		}
	}
}

// The generated configurations parse: bird -p and vtysh --dryrun, when installed.
func TestDaemonConfigsParse(t *testing.T) {
	dir := t.TempDir()
	bc, err := BIRDConfig(customerDaemon())
	if err != nil {
		t.Fatal(err)
	}
	fc, err := FRRConfig(customerDaemon())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(bc), 0o600)
	os.WriteFile(filepath.Join(dir, "frr.conf"), []byte(fc), 0o600)
	if _, err := exec.LookPath("bird"); err == nil {
		if out, err := exec.Command("bird", "-p", "-c", filepath.Join(dir, "bird.conf")).CombinedOutput(); err != nil {
			t.Errorf("bird -p: %v\n%s\n%s", err, out, bc)
		}
	}
	if _, err := exec.LookPath("vtysh"); err == nil {
		if out, err := exec.Command("vtysh", "--dryrun", "-f", filepath.Join(dir, "frr.conf")).CombinedOutput(); err != nil {
			t.Errorf("vtysh --dryrun: %v\n%s\n%s", err, out, fc)
		}
	}
}
