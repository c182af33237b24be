package edgeconfig

import (
	"fmt"
	"io"
	"strings"
)

// Cisco NX-OS (Nexus 9000). Followed documents:
//   - "Configuring MACsec", Cisco Nexus 9000 Series NX-OS Security
//     Configuration Guide, Release 10.5(x): feature macsec; key chain NAME
//     macsec with the CKN as the key and key-octet-string CAK
//     cryptographic-algorithm AES_128_CMAC / AES_256_CMAC; macsec policy
//     (cipher-suite, key-server-priority, window-size, security-policy
//     must-secure, conf-offset); "macsec keychain KC policy P" on the
//     interface; other switches interoperate with the XPN suites only
//   - the NX-OS MACsec data model (policy: cipher suite, confidentiality
//     offset, key server priority, replay window size, SAK expiry time,
//     must-secure; key chain <name> macsec; macsec keychain ... policy ...)
//     No SCI, ICV Indicator or MKA hello setting is documented there.
//   - BGP neighbour "bfd" with the interface's "bfd interval ... min_rx
//     ... multiplier ...", route-map and prefix-list (NX-OS Unicast
//     Routing Configuration Guide).
var nxosDocs = []Doc{
	{"Configuring MACsec, Nexus 9000 NX-OS Security Configuration Guide 10.5(x)", "https://cisco.com/c/en/us/td/docs/dcn/nx-os/nexus9000/105x/configuration/security/cisco-nexus-9000-series-nx-os-security-configuration-guide-release-105x/m-configuring-macsec.html"},
	{"NX-OS MACsec data model", "https://netascode.cisco.com/docs/data_models/nxos/security/macsec/"},
}

func init() { vendorFormat("nxos", "Cisco NX-OS", "!", nxosDocs, writeNXOS) }

func writeNXOS(w io.Writer, n *Node) error {
	ps := peers(n)
	ls := n.MACsecLinks()
	if len(ls) > 0 {
		fmt.Fprintf(w, "feature macsec\n")
	}
	if len(ps) > 0 {
		fmt.Fprintf(w, "feature bgp\nfeature bfd\n")
	}
	for _, l := range ls {
		m := l.MACsec
		kc, mp := policyName("KC", l), policyName("MP", l)
		macsecSummary(w, "!", n, l)
		if !m.Suite.XPN() {
			fmt.Fprintf(w, "! NX-OS interoperates with other vendors' MACsec with the XPN suites only (see the guide).\n")
		}
		fmt.Fprintf(w, "key chain %s macsec\n", kc)
		fmt.Fprintf(w, "  key %s\n", m.ckn())
		fmt.Fprintf(w, "    key-octet-string %s cryptographic-algorithm %s\n", m.cak(), strings.ToUpper(strings.ReplaceAll(cmacAlgorithm(m.Suite), "-", "_")))
		fmt.Fprintf(w, "macsec policy %s\n", mp)
		fmt.Fprintf(w, "  cipher-suite %s\n", m.Suite)
		fmt.Fprintf(w, "  key-server-priority %d\n", m.KeyServerPriority)
		if m.ReplayProtect {
			fmt.Fprintf(w, "  window-size %d\n", m.ReplayWindow)
		} else {
			fmt.Fprintf(w, "  ! replay protection is off on the Microsoft edge: no window-size\n")
		}
		fmt.Fprintf(w, "  security-policy must-secure\n")
		fmt.Fprintf(w, "  conf-offset CONF-OFFSET-0\n")
		fmt.Fprintf(w, "  ! SCI %s and no ICV Indicator on the Microsoft edge: the policy documents no setting for either\n", sciState(m.IncludeSCI))
		helloNote(w, "  !", "NX-OS", m)
		fmt.Fprintf(w, "interface %s\n  macsec keychain %s policy %s\n", l.Interface, kc, mp)
	}
	writeSubInterfaces(w, n, "  ", func(Link) string { return "  no switchport\n" }, func(v VLAN) string {
		if v.STag != 0 {
			// The routed subinterfaces of the guide take one 802.1Q tag.
			return fmt.Sprintf("! WARNING: S-tag %d (802.1ad) and C-tag %d: NX-OS routed subinterfaces take one 802.1Q tag (encapsulation dot1q); terminate the QinQ circuit on a platform that takes both\n  encapsulation dot1q %d", v.STag, v.CTag, v.CTag)
		}
		return fmt.Sprintf("encapsulation dot1q %d", v.CTag)
	}, ipAddress, "  no shutdown\n")
	if len(ps) == 0 {
		return nil
	}
	bgpSummary(w, "!", n, ps)
	writeRouteMaps(w, n, ps, "  ", "bfd interval %d min_rx %d multiplier %d")
	fmt.Fprintf(w, "router bgp %d\n  router-id %s\n  address-family ipv4 unicast\n", n.BGP.ASN, n.BGP.RouterID)
	for _, p := range networks(n, true) {
		fmt.Fprintf(w, "    network %s\n", p)
	}
	if hasV6(n) {
		fmt.Fprintf(w, "  address-family ipv6 unicast\n")
		for _, p := range networks(n, false) {
			fmt.Fprintf(w, "    network %s\n", p)
		}
	}
	for _, p := range ps {
		nb := p.Neighbor
		fmt.Fprintf(w, "  neighbor %s\n    remote-as %d\n    update-source %s\n", nb.Peer, nb.PeerASN, p.Link.Interface)
		fmt.Fprintf(w, "    timers %d %d\n", secs(p.Keepalive), secs(p.Hold))
		if nb.BFD {
			fmt.Fprintf(w, "    bfd\n")
		}
		fams := []string{"ipv4"}
		if hasV6(n) {
			fams = append(fams, "ipv6")
		}
		for _, fam := range fams {
			fmt.Fprintf(w, "    address-family %s unicast\n      route-map %s in\n      route-map %s out\n", fam, policyName("ER-IN", p.Link), policyName("ER-OUT", p.Link))
		}
	}
	return nil
}
