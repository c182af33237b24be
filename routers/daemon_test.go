package routers

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/secylab/secylab/expressroute"
)

func customerDaemon() DaemonConfig {
	return CustomerDaemon(65001, addr("192.168.100.129"), []netip.Prefix{onprem4, onprem6},
		expressroute.Link{Name: "link1", Local: ce1Addr, Peer: msee1Addr}, expressroute.Link{Name: "link2", Local: ce2Addr, Peer: msee2Addr}, true)
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
