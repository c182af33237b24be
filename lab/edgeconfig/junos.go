package edgeconfig

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Junos OS, in "set" form (load set terminal). Followed documents:
//   - cipher-suite (MACsec): gcm-aes-128, gcm-aes-256, gcm-aes-xpn-128,
//     gcm-aes-xpn-256 under [edit security macsec connectivity-association]
//   - security-mode static-cak, and that SCI tagging and replay protection
//     need static CAK mode
//   - pre-shared-key ckn / cak
//   - mka transmit-interval (milliseconds; 2000 to 6000 on MX)
//   - replay-protect replay-window-size (0: in order only)
//   - BGP bfd-liveness-detection minimum-interval / multiplier
//
// include-sci, mka key-server-priority, mka must-secure and "security
// macsec interfaces IF connectivity-association CA" are the Junos MACsec
// statements of the same reference, not found in the stored copies.
var junosDocs = []Doc{
	{"cipher-suite (MACsec)", "https://www.juniper.net/documentation/us/en/software/junos/security-services/topics/ref/statement/cipher-suite-edit-security-macsec.html"},
	{"security-mode (MACsec)", "https://juniper.net/documentation/en_US/junos13.2/topics/reference/configuration-statement/security-mode-edit-security-macsec.html"},
	{"cak (pre-shared-key)", "https://juniper.net/documentation/us/en/software/junos/cli-reference/topics/ref/statement/cak-edit-security-macsec.html"},
	{"transmit-interval (MACsec for MX Series)", "https://juniper.net/documentation/us/en/software/junos/cli-reference/topics/ref/statement/transmit-interval-edit-security-macsec-mx-series.html"},
	{"show security mka sessions (MX Series)", "https://www.juniper.net/documentation/us/en/software/junos/security-services/topics/ref/command/show-security-mka-sessions-mx-series.html"},
	{"replay-window-size", "https://www.juniper.net/documentation/us/en/software/junos/cli-reference/topics/ref/statement/replay-window-size-edit-security-macsec.html"},
	{"bfd-liveness-detection (BGP), Junos routing configuration", "https://www.juniper.net/documentation/en_US/release-independent/downloads/juniper-dvd-junos94.tgz"},
}

func init() { vendorFormat("junos", "Juniper Junos OS", "#", junosDocs, writeJunos) }

// junosMinHello is the shortest MKA transmit interval Junos takes on MX.
const junosMinHello = 2 * time.Second

func writeJunos(w io.Writer, n *Node) error {
	for _, l := range n.MACsecLinks() {
		m := l.MACsec
		ca := policyName("CA", l)
		set := "set security macsec connectivity-association " + ca
		macsecSummary(w, "#", n, l)
		fmt.Fprintf(w, "%s cipher-suite %s\n", set, strings.ToLower(m.Suite.String()))
		fmt.Fprintf(w, "%s security-mode static-cak\n", set)
		fmt.Fprintf(w, "%s pre-shared-key ckn %s\n", set, m.ckn())
		fmt.Fprintf(w, "%s pre-shared-key cak %s\n", set, m.cak())
		fmt.Fprintf(w, "%s mka key-server-priority %d\n", set, m.KeyServerPriority)
		hello := max(m.HelloTime, junosMinHello)
		if hello != m.HelloTime {
			fmt.Fprintf(w, "# The Microsoft edge's hello is %v; Junos takes %d ms at least.\n", m.HelloTime, ms(junosMinHello))
		}
		helloNote(w, "#", "Junos", &MACsec{LifeTime: m.LifeTime})
		fmt.Fprintf(w, "%s mka transmit-interval %d\n", set, ms(hello))
		fmt.Fprintf(w, "%s mka must-secure\n", set)
		if m.ReplayProtect {
			fmt.Fprintf(w, "%s replay-protect replay-window-size %d\n", set, m.ReplayWindow)
		} else {
			fmt.Fprintf(w, "# replay protection off: no replay-protect statement\n")
		}
		if m.IncludeSCI {
			fmt.Fprintf(w, "%s include-sci\n", set)
		} else {
			fmt.Fprintf(w, "# SCI omitted (sciState Disabled): no include-sci statement\n")
		}
		fmt.Fprintf(w, "# Junos has no ICV Indicator setting; none is needed with the 16-octet ICV.\n")
		fmt.Fprintf(w, "set security macsec interfaces %s connectivity-association %s\n", l.Interface, ca)
	}
	writeJunosUnits(w, n)
	ps := peers(n)
	if len(ps) == 0 {
		return nil
	}
	bgpSummary(w, "#", n, ps)
	fmt.Fprintf(w, "set routing-options autonomous-system %d\n", n.BGP.ASN)
	fmt.Fprintf(w, "set routing-options router-id %s\n", n.BGP.RouterID)
	for _, p := range networks(n, true) {
		fmt.Fprintf(w, "set routing-options static route %s discard\n", p)
		fmt.Fprintf(w, "set policy-options prefix-list ONPREM %s\n", p)
	}
	for _, p := range networks(n, false) {
		fmt.Fprintf(w, "set routing-options rib inet6.0 static route %s discard\n", p)
		fmt.Fprintf(w, "set policy-options prefix-list ONPREM %s\n", p)
	}
	for _, p := range ps {
		nb := p.Neighbor
		out, in := policyName("ER-OUT", p.Link), policyName("ER-IN", p.Link)
		policyNote(w, "#", p)
		fmt.Fprintf(w, "set policy-options policy-statement %s term onprem from prefix-list ONPREM\n", out)
		if nb.Prepend > 0 {
			fmt.Fprintf(w, "set policy-options policy-statement %s term onprem then as-path-prepend \"%s\"\n", out, prepends(n.BGP.ASN, nb.Prepend, " "))
		}
		fmt.Fprintf(w, "set policy-options policy-statement %s term onprem then accept\n", out)
		fmt.Fprintf(w, "set policy-options policy-statement %s term rest then reject\n", out)
		if nb.LocalPref > 0 {
			fmt.Fprintf(w, "set policy-options policy-statement %s then local-preference %d\n", in, nb.LocalPref)
		}
		fmt.Fprintf(w, "set policy-options policy-statement %s then accept\n", in)
		g := "set protocols bgp group " + policyName("AZURE", p.Link)
		fmt.Fprintf(w, "%s type external\n", g)
		fmt.Fprintf(w, "%s hold-time %d\n", g, secs(p.Hold))
		fmt.Fprintf(w, "%s import %s\n", g, in)
		fmt.Fprintf(w, "%s export %s\n", g, out)
		fmt.Fprintf(w, "%s family inet unicast\n", g)
		if hasV6(n) {
			fmt.Fprintf(w, "%s family inet6 unicast\n", g)
		}
		fmt.Fprintf(w, "%s neighbor %s peer-as %d\n", g, nb.Peer, nb.PeerASN)
		fmt.Fprintf(w, "%s neighbor %s local-address %s\n", g, nb.Peer, nb.Local)
		if nb.BFD {
			fmt.Fprintf(w, "%s neighbor %s bfd-liveness-detection minimum-interval %d\n", g, nb.Peer, ms(p.BFDEvery))
			fmt.Fprintf(w, "%s neighbor %s bfd-liveness-detection multiplier %d\n", g, nb.Peer, p.BFDMult)
		}
	}
	fmt.Fprintf(w, "# Junos derives the keepalive from the hold time (a third: %v).\n", ps[0].Hold/3)
	return nil
}

// writeJunosUnits writes each peering as a logical unit of the port:
// vlan-tagging and "unit N vlan-id N" for Dot1Q; stacked-vlan-tagging and
// "vlan-tags outer 0x88a8.S inner C" (the S-tag with its 802.1ad TPID)
// for QinQ. MACsec stays on the physical interface, under the units.
func writeJunosUnits(w io.Writer, n *Node) {
	done := map[string]bool{}
	ls, vs := vlans(n)
	for i, v := range vs {
		l := ls[i]
		if !done[l.Interface] {
			done[l.Interface] = true
			mode := "vlan-tagging"
			if v.STag != 0 {
				mode = "stacked-vlan-tagging"
			}
			fmt.Fprintf(w, "set interfaces %s %s\n", l.Interface, mode)
		}
		vlanSummary(w, "#", l, v)
		unit := fmt.Sprintf("set interfaces %s unit %d", l.Interface, l.SubID(v))
		fmt.Fprintf(w, "%s description \"%s %s\"\n", unit, v.Circuit, v.Peering)
		if v.STag == 0 {
			fmt.Fprintf(w, "%s vlan-id %d\n", unit, v.CTag)
		} else {
			fmt.Fprintf(w, "%s vlan-tags outer 0x88a8.%d inner %d\n", unit, v.STag, v.CTag)
		}
		for _, a := range v.Addresses {
			fam := "inet"
			if a.Addr().Is6() {
				fam = "inet6"
			}
			fmt.Fprintf(w, "%s family %s address %s\n", unit, fam, a)
		}
	}
}
