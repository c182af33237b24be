package edgeconfig

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Cisco IOS XR. Followed documents:
//   - "Configure MACSec", System Security Configuration Guide for NCS 5500,
//     IOS XR 7.1.x: key chain ... macsec with the CKN as the key and the
//     CAK as its key-string with cryptographic-algorithm aes-128-cmac or
//     aes-256-cmac; macsec-policy (cipher-suite GCM-AES-128, GCM-AES-256,
//     GCM-AES-XPN-128, GCM-AES-XPN-256, key-server-priority, default 16,
//     lower wins, window-size, security-policy must-secure); and
//     "macsec psk-keychain KC policy P" on the interface
//   - the macsec-policy leaves of the YANG model Cisco-IOS-XR-crypto-macsec-mka-cfg
//     (cipher-suite, conf-offset, delay-protection, include-icv-indicator,
//     key-server-priority, policy-exception, sak-rekey-interval,
//     security-policy, vlan-tags-in-clear, window-size): there is no SCI
//     and no MKA hello setting to make.
//   - BGP with "bfd fast-detect", "bfd minimum-interval", "bfd multiplier"
//     under the neighbour, route-policy and prefix-set (IOS XR Routing
//     Configuration Guide, BFD for BGP).
var iosxrDocs = []Doc{
	{"Configure MACSec, System Security Configuration Guide for NCS 5500, IOS XR 7.1.x", "https://cisco.com/c/en/us/td/docs/iosxr/ncs5500/security/710x/configuration/guide/b-system-security-cg-ncs5500-710x/implementing-macsec-encryption.html"},
	{"YANG model Cisco-IOS-XR-crypto-macsec-mka-cfg (macsec-policy leaves)", "https://github.com/YangModels/yang/blob/main/vendor/cisco/xr/2411/Cisco-IOS-XR-crypto-macsec-mka-cfg.yang"},
}

// iosxrMaxWindow is the largest window-size (Macsec-mka-window-size in
// the YANG model).
const iosxrMaxWindow = 1024

func init() { vendorFormat("iosxr", "Cisco IOS XR", "!", iosxrDocs, writeIOSXR) }

func writeIOSXR(w io.Writer, n *Node) error {
	for _, l := range n.MACsecLinks() {
		m := l.MACsec
		kc, mp := policyName("KC", l), policyName("MP", l)
		macsecSummary(w, "!", n, l)
		fmt.Fprintf(w, "key chain %s macsec\n", kc)
		fmt.Fprintf(w, " key %s\n", m.ckn())
		fmt.Fprintf(w, "  key-string %s cryptographic-algorithm %s\n", m.cak(), cmacAlgorithm(m.Suite))
		fmt.Fprintf(w, "  lifetime 00:00:00 january 01 2020 infinite\n")
		fmt.Fprintf(w, " !\n!\n")
		fmt.Fprintf(w, "macsec-policy %s\n", mp)
		fmt.Fprintf(w, " cipher-suite %s\n", m.Suite)
		fmt.Fprintf(w, " key-server-priority %d\n", m.KeyServerPriority)
		switch {
		case m.ReplayProtect && m.ReplayWindow > iosxrMaxWindow:
			fmt.Fprintf(w, " ! the Microsoft edge's replay window is %d; IOS XR takes 0 to %d\n", m.ReplayWindow, iosxrMaxWindow)
			fmt.Fprintf(w, " window-size %d\n", iosxrMaxWindow)
		case m.ReplayProtect:
			fmt.Fprintf(w, " window-size %d\n", m.ReplayWindow)
		default:
			fmt.Fprintf(w, " ! replay protection is off on the Microsoft edge: no window-size (the policy has no off switch)\n")
		}
		fmt.Fprintf(w, " security-policy must-secure\n")
		fmt.Fprintf(w, " conf-offset CONF-OFFSET-0\n")
		fmt.Fprintf(w, " ! no include-icv-indicator: the Microsoft edge sends none (16-octet ICV)\n")
		fmt.Fprintf(w, " ! SCI %s on the Microsoft edge: IOS XR has no SCI setting in the policy (it accepts both)\n", sciState(m.IncludeSCI))
		helloNote(w, " !", "IOS XR", m)
		fmt.Fprintf(w, "!\ninterface %s\n macsec psk-keychain %s policy %s\n!\n", l.Interface, kc, mp)
	}
	writeSubInterfaces(w, n, " ", func(Link) string { return "" }, func(v VLAN) string {
		if v.STag != 0 {
			return fmt.Sprintf("encapsulation dot1ad %d dot1q %d", v.STag, v.CTag)
		}
		return fmt.Sprintf("encapsulation dot1q %d", v.CTag)
	}, func(p netip.Prefix) string {
		if p.Addr().Is6() {
			return "ipv6 address " + p.String()
		}
		return "ipv4 address " + dottedMask(p)
	}, "!\n")
	ps := peers(n)
	if len(ps) == 0 {
		return nil
	}
	bgpSummary(w, "!", n, ps)
	for _, v4 := range []bool{true, false} {
		nets := networks(n, v4)
		if len(nets) == 0 {
			continue
		}
		fam, null := "ipv4", "Null0"
		if !v4 {
			fam = "ipv6"
		}
		fmt.Fprintf(w, "router static\n address-family %s unicast\n", fam)
		for _, p := range nets {
			fmt.Fprintf(w, "  %s %s\n", p, null)
		}
		fmt.Fprintf(w, " !\n!\n")
		fmt.Fprintf(w, "prefix-set ONPREM-%s\n", fam)
		for i, p := range nets {
			sep := ","
			if i == len(nets)-1 {
				sep = ""
			}
			fmt.Fprintf(w, "  %s%s\n", p, sep)
		}
		fmt.Fprintf(w, "end-set\n!\n")
	}
	for _, p := range ps {
		nb := p.Neighbor
		policyNote(w, "!", p)
		fmt.Fprintf(w, "route-policy %s\n", policyName("ER-OUT", p.Link))
		var sets []string
		for _, fam := range []string{"ipv4", "ipv6"} {
			if len(networks(n, fam == "ipv4")) > 0 {
				sets = append(sets, "destination in ONPREM-"+fam)
			}
		}
		fmt.Fprintf(w, "  if %s then\n", strings.Join(sets, " or "))
		if nb.Prepend > 0 {
			fmt.Fprintf(w, "    prepend as-path %d %d\n", n.BGP.ASN, nb.Prepend)
		}
		fmt.Fprintf(w, "    pass\n  else\n    drop\n  endif\nend-policy\n!\n")
		fmt.Fprintf(w, "route-policy %s\n", policyName("ER-IN", p.Link))
		if nb.LocalPref > 0 {
			fmt.Fprintf(w, "  set local-preference %d\n", nb.LocalPref)
		}
		fmt.Fprintf(w, "  pass\nend-policy\n!\n")
	}
	fmt.Fprintf(w, "router bgp %d\n bgp router-id %s\n", n.BGP.ASN, n.BGP.RouterID)
	fmt.Fprintf(w, " address-family ipv4 unicast\n")
	for _, p := range networks(n, true) {
		fmt.Fprintf(w, "  network %s\n", p)
	}
	fmt.Fprintf(w, " !\n")
	if hasV6(n) {
		fmt.Fprintf(w, " address-family ipv6 unicast\n")
		for _, p := range networks(n, false) {
			fmt.Fprintf(w, "  network %s\n", p)
		}
		fmt.Fprintf(w, " !\n")
	}
	for _, p := range ps {
		nb := p.Neighbor
		fmt.Fprintf(w, " neighbor %s\n  remote-as %d\n", nb.Peer, nb.PeerASN)
		fmt.Fprintf(w, "  timers %d %d\n", secs(p.Keepalive), secs(p.Hold))
		if nb.BFD {
			fmt.Fprintf(w, "  bfd fast-detect\n  bfd minimum-interval %d\n  bfd multiplier %d\n", ms(p.BFDEvery), p.BFDMult)
		}
		fmt.Fprintf(w, "  address-family ipv4 unicast\n   route-policy %s in\n   route-policy %s out\n  !\n", policyName("ER-IN", p.Link), policyName("ER-OUT", p.Link))
		if hasV6(n) {
			fmt.Fprintf(w, "  address-family ipv6 unicast\n   route-policy %s in\n   route-policy %s out\n  !\n", policyName("ER-IN", p.Link), policyName("ER-OUT", p.Link))
		}
		fmt.Fprintf(w, " !\n")
	}
	fmt.Fprintf(w, "!\n")
	return nil
}
