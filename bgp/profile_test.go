package bgp

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestCustomerProfilePrefersLink1(t *testing.T) {
	cfg := Customer(65001, addr("9.9.9.1"), []netip.Prefix{onprem4},
		Link{Name: "link1", Local: ce1Addr, Peer: msee1Addr}, Link{Name: "link2", Local: ce2Addr, Peer: msee2Addr})
	cfg.Networks = append(cfg.Networks, pfx("192.0.2.0/24")) // originated but not on-premises: not exported
	_, ce, m1, m2 := dualHomed(t, cfg)
	eventually(t, "VNet via link1", 2*time.Second, func() bool {
		r, ok := ce.fib.get(vnet4)
		return ok && slices.Equal(r.NextHops, []netip.Addr{msee1Addr})
	})
	eventually(t, "routes at both MSEEs", 2*time.Second, func() bool { return len(m1.best(t, onprem4)) == 1 && len(m2.best(t, onprem4)) == 1 })
	if got := m2.best(t, onprem4)[0].ASPath.Len(); got != 4 {
		t.Errorf("link2 AS path length %d, want 4 (prepend ×3)", got)
	}
	if m1.best(t, pfx("192.0.2.0/24")) != nil {
		t.Error("a prefix outside the on-premises list was exported")
	}
	if st := ce.neighbor(t, msee1Addr); st.HoldTime != 180*time.Second {
		t.Errorf("hold %v, want 180s", st.HoldTime)
	}
}

func TestMicrosoftEdgeProfile(t *testing.T) {
	cfg := MicrosoftEdge(addr("1.1.1.1"), []netip.Prefix{vnet4, vnet6}, Link{Name: "link1", Local: msee1Addr, Peer: ce1Addr, PeerASN: 65001})
	n := cfg.Neighbors[0]
	if cfg.ASN != 12076 || cfg.HoldTime != 180*time.Second || cfg.KeepaliveTime != 60*time.Second ||
		n.MaxPrefix.IPv4 != 4000 || n.MaxPrefix.IPv6 != 100 || n.MaxPrefix.Restart != 0 || !n.Export.Prefixes.Permit(vnet6) || n.Export.Prefixes.Permit(onprem4) {
		t.Errorf("profile %+v", cfg)
	}
}
