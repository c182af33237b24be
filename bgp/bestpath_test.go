package bgp

import (
	"net/netip"
	"testing"
)

func TestBestPathTieBreaks(t *testing.T) {
	base := func(mod func(*Path)) *Path {
		p := &Path{
			Prefix: vnet4, NextHop: addr("192.0.2.1"), LocalPref: 100, Origin: OriginIGP,
			ASPath: ASPath{{ASNs: []uint32{12076}}}, Peer: addr("192.0.2.1"), PeerID: addr("1.1.1.1"), EBGP: true,
		}
		if mod != nil {
			mod(p)
		}
		return p
	}
	for _, tc := range []struct {
		name          string
		better, worse *Path
	}{
		{"local origination", base(func(p *Path) { p.Peer = netip.Addr{}; p.LocalPref = 0 }), base(nil)},
		{"higher local pref", base(func(p *Path) { p.LocalPref = 100 }), base(func(p *Path) { p.LocalPref = 90 })},
		{"local pref beats path length", base(func(p *Path) { p.LocalPref = 150; p.ASPath = p.ASPath.Prepend(12076, 5) }), base(nil)},
		{"shorter AS path", base(nil), base(func(p *Path) { p.ASPath = p.ASPath.Prepend(12076, 3) })},
		{"AS_SET counts one", base(func(p *Path) { p.ASPath = append(p.ASPath, ASSegment{Set: true, ASNs: []uint32{1, 2, 3}}) }),
			base(func(p *Path) { p.ASPath = ASPath{{ASNs: []uint32{12076, 1, 2}}} })},
		{"lower origin", base(nil), base(func(p *Path) { p.Origin = OriginIncomplete })},
		{"IGP over EGP", base(nil), base(func(p *Path) { p.Origin = OriginEGP })},
		{"lower MED same neighbour AS", base(func(p *Path) { p.MED, p.HasMED = 10, true }), base(func(p *Path) { p.MED, p.HasMED = 20, true; p.PeerID = addr("0.0.0.1") })},
		{"missing MED is lowest", base(nil), base(func(p *Path) { p.MED, p.HasMED = 5, true; p.PeerID = addr("0.0.0.1") })},
		{"MED ignored across neighbour ASes", base(func(p *Path) {
			p.ASPath = ASPath{{ASNs: []uint32{65002}}}
			p.MED, p.HasMED = 50, true
			p.PeerID = addr("0.0.0.1")
		}),
			base(func(p *Path) { p.MED, p.HasMED = 10, true })},
		{"eBGP over iBGP", base(nil), base(func(p *Path) { p.EBGP = false; p.PeerID = addr("0.0.0.1") })},
		{"lowest router ID", base(nil), base(func(p *Path) { p.PeerID = addr("2.2.2.2"); p.Peer = addr("192.0.2.0") })},
		{"lowest neighbour address", base(nil), base(func(p *Path) { p.Peer = addr("192.0.2.9") })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := comparePaths(tc.better, tc.worse); c >= 0 {
				t.Errorf("compare(better, worse) = %d, want < 0", c)
			}
			if c := comparePaths(tc.worse, tc.better); c <= 0 {
				t.Errorf("compare(worse, better) = %d, want > 0", c)
			}
			got := selectBest([]*Path{tc.worse, tc.better}, 1)
			if len(got) != 1 || got[0] != tc.better {
				t.Errorf("selectBest picked %+v", got[0])
			}
		})
	}
}

func TestMultipathSet(t *testing.T) {
	mk := func(peer, id string, lp uint32) *Path {
		return &Path{Prefix: vnet4, NextHop: addr(peer), LocalPref: lp, ASPath: ASPath{{ASNs: []uint32{12076}}},
			Peer: addr(peer), PeerID: addr(id), EBGP: true}
	}
	a, b, c, d := mk("10.0.0.3", "3.3.3.3", 100), mk("10.0.0.1", "1.1.1.1", 100), mk("10.0.0.2", "2.2.2.2", 100), mk("10.0.0.4", "0.0.0.4", 90)
	got := selectBest([]*Path{a, b, c, d}, 2)
	if len(got) != 2 || got[0] != b || got[1] != c {
		t.Errorf("max-paths 2: got %v, want the two lowest router IDs among the equal paths", got)
	}
	if got := selectBest([]*Path{a, b, c, d}, 8); len(got) != 3 {
		t.Errorf("max-paths 8: %d paths, want 3 (local pref 90 is not equal cost)", len(got))
	}
	if got := selectBest([]*Path{a, b}, 1); len(got) != 1 {
		t.Errorf("max-paths 1: %d paths", len(got))
	}
}

func TestPrefixList(t *testing.T) {
	for _, tc := range []struct {
		rule PrefixRule
		p    string
		want bool
	}{
		{PrefixRule{Prefix: pfx("10.1.0.0/16")}, "10.1.0.0/16", true},
		{PrefixRule{Prefix: pfx("10.1.0.0/16")}, "10.1.2.0/24", false},
		{PrefixRule{Prefix: pfx("10.0.0.0/8"), LE: 24}, "10.1.2.0/24", true},
		{PrefixRule{Prefix: pfx("10.0.0.0/8"), LE: 24}, "10.1.2.0/25", false},
		{PrefixRule{Prefix: pfx("10.0.0.0/8"), GE: 24}, "10.1.2.0/23", false},
		{PrefixRule{Prefix: pfx("10.0.0.0/8"), GE: 24}, "10.1.2.128/25", true},
		{PrefixRule{Prefix: pfx("10.0.0.0/8"), GE: 16, LE: 20}, "10.1.0.0/16", true},
		{PrefixRule{Prefix: pfx("10.0.0.0/8"), GE: 16, LE: 20}, "11.1.0.0/16", false},
		{PrefixRule{Prefix: pfx("0.0.0.0/0"), LE: 32}, "2001:db8::/32", false},
		{PrefixRule{Prefix: pfx("2001:db8::/32"), LE: 64}, "2001:db8:1::/48", true},
	} {
		if got := (PrefixList{tc.rule}).Permit(pfx(tc.p)); got != tc.want {
			t.Errorf("%v permits %s = %v, want %v", tc.rule, tc.p, got, tc.want)
		}
	}
	l := PrefixList{{Prefix: pfx("10.1.0.0/16"), LE: 32, Deny: true}, {Prefix: pfx("10.0.0.0/8"), LE: 32}}
	if l.Permit(pfx("10.1.1.0/24")) || !l.Permit(pfx("10.2.0.0/16")) || l.Permit(pfx("192.168.0.0/16")) {
		t.Error("first match must decide and no match must deny")
	}
}

func TestPolicyApply(t *testing.T) {
	p := &Path{Prefix: onprem4, ASPath: ASPath{{ASNs: []uint32{65001}}}, LocalPref: 100}
	med := uint32(7)
	out := (&Policy{Prepend: 3, LocalPref: 90, MED: &med}).apply(p, 65001)
	if out.ASPath.String() != "65001 65001 65001 65001" || out.LocalPref != 90 || !out.HasMED || out.MED != 7 {
		t.Errorf("applied: %+v", out)
	}
	if p.ASPath.Len() != 1 || p.LocalPref != 100 {
		t.Error("policy modified its input")
	}
	if (&Policy{Prefixes: Exact(vnet4)}).apply(p, 1) != nil {
		t.Error("filtered path came through")
	}
}
