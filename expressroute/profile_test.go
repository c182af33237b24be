package expressroute

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/macsec"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr

	vnet4   = pfx("10.50.0.0/16")
	vnet6   = pfx("2001:db8:50::/48")
	onprem4 = pfx("10.1.0.0/16")
)

// The customer profile prefers link1 both ways: link2's export is
// prepended ×3 and its imports get local preference 90 against 100; only
// the on-premises prefixes are exported. (bgp's speaker tests show the
// knobs doing that on the wire.)
func TestCustomerProfilePrefersLink1(t *testing.T) {
	cfg := Customer(65001, addr("9.9.9.1"), []netip.Prefix{onprem4},
		Link{Name: "link1", Local: addr("192.168.100.129"), Peer: addr("192.168.100.130")},
		Link{Name: "link2", Local: addr("192.168.100.133"), Peer: addr("192.168.100.134")})
	if cfg.HoldTime != 180*time.Second || len(cfg.Neighbors) != 2 {
		t.Fatalf("profile %+v", cfg)
	}
	l1, l2 := cfg.Neighbors[0], cfg.Neighbors[1]
	if l1.ASN != 12076 || l2.ASN != 12076 {
		t.Errorf("peer AS %d, %d: want 12076 by default", l1.ASN, l2.ASN)
	}
	if l1.Import.LocalPref != 100 || l2.Import.LocalPref != 90 || l1.Export.Prepend != 0 || l2.Export.Prepend != 3 {
		t.Errorf("link1 %+v / link2 %+v: want local preference 100/90 and prepend 0/3", l1, l2)
	}
	for _, n := range cfg.Neighbors {
		if !n.Export.Prefixes.Permit(onprem4) || n.Export.Prefixes.Permit(pfx("192.0.2.0/24")) {
			t.Errorf("%s exports more or less than the on-premises prefixes", n.Name)
		}
	}
	if DrainPrepend <= BackupPrepend || DrainLocalPref >= BackupLocalPref {
		t.Errorf("a drained link (prepend %d, local preference %d) must lose to the backup (%d, %d)", DrainPrepend, DrainLocalPref, BackupPrepend, BackupLocalPref)
	}
}

func TestMicrosoftEdgeProfile(t *testing.T) {
	cfg := MicrosoftEdge(addr("1.1.1.1"), []netip.Prefix{vnet4, vnet6}, Link{Name: "link1", Local: addr("192.168.100.130"), Peer: addr("192.168.100.129"), PeerASN: 65001})
	n := cfg.Neighbors[0]
	if cfg.ASN != 12076 || cfg.HoldTime != 180*time.Second || cfg.KeepaliveTime != 60*time.Second ||
		n.MaxPrefix.IPv4 != 4000 || n.MaxPrefix.IPv6 != 100 || n.MaxPrefix.Restart != 0 || !n.Export.Prefixes.Permit(vnet6) || n.Export.Prefixes.Permit(onprem4) {
		t.Errorf("profile %+v", cfg)
	}
}

// The validation constants agree with the packages that implement them.
func TestValidationConstants(t *testing.T) {
	var names []string
	for _, s := range macsec.Suites {
		names = append(names, s.AzureName())
	}
	if got := strings.Join(names, ", "); got != Ciphers {
		t.Errorf("Ciphers = %q, macsec's Azure names are %q", Ciphers, got)
	}
	for _, s := range macsec.Suites {
		if want := map[bool]int{false: 32, true: 64}[s.KeyLen() == 32]; CAKHexDigits(s) != want {
			t.Errorf("CAKHexDigits(%s) = %d, want %d", s.AzureName(), CAKHexDigits(s), want)
		}
	}
	if MaxCKNHexDigits != 64 || LinkPrefixBits != 30 || MaxPrefixIPv4Premium != 10000 {
		t.Errorf("CKN ≤ %d hex digits, /%d links, %d Premium prefixes: want 64, /30, 10,000", MaxCKNHexDigits, LinkPrefixBits, MaxPrefixIPv4Premium)
	}
}
