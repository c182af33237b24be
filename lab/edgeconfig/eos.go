package edgeconfig

import (
	"fmt"
	"io"
	"strings"
)

// Arista EOS. Followed documents:
//   - Arista AVD's eos_cli_config_gen, which renders EOS's "mac security"
//     section: profile NAME with "cipher" (aes128-gcm, aes256-gcm,
//     aes128-gcm-xpn, aes256-gcm-xpn), "key CKN 0|7 CAK", "mka key-server
//     priority N", "mka session rekey-period", "sci", and "mac security
//     profile NAME" on the interface
//   - Arista's "MACsec Configuration and Operation" white paper (7280R,
//     7500R): static CAK profiles on the interface
//     Neither documents an MKA hello, a replay window or an ICV Indicator
//     setting.
//   - BGP: "neighbor A remote-as", "neighbor A bfd", "neighbor A timers
//     KEEPALIVE HOLD", route-map/prefix-list, and the interface's "bfd
//     interval N min-rx N multiplier N" (EOS User Manual, BGP and BFD).
var eosDocs = []Doc{
	{"Arista AVD eos_cli_config_gen, mac_security", "https://avd.arista.com/"},
	{"Arista, MACsec Configuration and Operation (white paper)", "https://manuals.plus/m/9a98673cebdabf9f7b84931c1888dbb673e9c5a7d2d4493eb1bf8d6d5e3120f5"},
}

func init() { vendorFormat("eos", "Arista EOS", "!", eosDocs, writeEOS) }

// eosCipher is EOS's name of a suite: aes256-gcm-xpn for GCM-AES-XPN-256.
func eosCipher(s string) string {
	// GCM-AES-XPN-256 → aes256-gcm-xpn
	f := strings.Split(strings.ToLower(s), "-") // gcm aes [xpn] 256
	name := "aes" + f[len(f)-1] + "-gcm"
	if len(f) == 4 {
		name += "-xpn"
	}
	return name
}

func writeEOS(w io.Writer, n *Node) error {
	ls := n.MACsecLinks()
	if len(ls) > 0 {
		fmt.Fprintf(w, "mac security\n")
	}
	for _, l := range ls {
		m := l.MACsec
		macsecSummary(w, "   !", n, l)
		fmt.Fprintf(w, "   profile %s\n", policyName("MP", l))
		fmt.Fprintf(w, "      cipher %s\n", eosCipher(m.Suite.String()))
		fmt.Fprintf(w, "      key %s 0 %s\n", m.ckn(), m.cak())
		fmt.Fprintf(w, "      mka key-server priority %d\n", m.KeyServerPriority)
		if m.IncludeSCI {
			fmt.Fprintf(w, "      sci\n")
		} else {
			fmt.Fprintf(w, "      ! SCI omitted (sciState Disabled): no sci\n")
		}
		fmt.Fprintf(w, "      ! replay protection %s, window %d on the Microsoft edge; not a documented profile setting (check the platform's default)\n", onOff(m.ReplayProtect), m.ReplayWindow)
		helloNote(w, "      !", "EOS", m)
	}
	for _, l := range ls {
		fmt.Fprintf(w, "interface %s\n   mac security profile %s\n", l.Interface, policyName("MP", l))
	}
	writeSubInterfaces(w, n, "   ", func(Link) string { return "   no switchport\n" }, func(v VLAN) string {
		if v.STag != 0 {
			return fmt.Sprintf("! the outer tag must be 802.1ad (TPID 0x88A8), as the Microsoft edge sends it: check the platform's TPID setting\n   encapsulation dot1q vlan %d inner %d", v.STag, v.CTag)
		}
		return fmt.Sprintf("encapsulation dot1q vlan %d", v.CTag)
	}, ipAddress, "")
	ps := peers(n)
	if len(ps) == 0 {
		return nil
	}
	bgpSummary(w, "!", n, ps)
	writeRouteMaps(w, n, ps, "   ", "bfd interval %d min-rx %d multiplier %d")
	fmt.Fprintf(w, "router bgp %d\n   router-id %s\n", n.BGP.ASN, n.BGP.RouterID)
	for _, p := range ps {
		nb := p.Neighbor
		a := "   neighbor " + nb.Peer.String()
		fmt.Fprintf(w, "%s remote-as %d\n%s timers %d %d\n", a, nb.PeerASN, a, secs(p.Keepalive), secs(p.Hold))
		if nb.BFD {
			fmt.Fprintf(w, "%s bfd\n", a)
		}
		fmt.Fprintf(w, "%s route-map %s in\n%s route-map %s out\n", a, policyName("ER-IN", p.Link), a, policyName("ER-OUT", p.Link))
	}
	for _, p := range networks(n, true) {
		fmt.Fprintf(w, "   network %s\n", p)
	}
	if hasV6(n) {
		fmt.Fprintf(w, "   address-family ipv6\n")
		for _, p := range ps {
			fmt.Fprintf(w, "      neighbor %s activate\n", p.Neighbor.Peer)
		}
		for _, p := range networks(n, false) {
			fmt.Fprintf(w, "      network %s\n", p)
		}
	}
	return nil
}
