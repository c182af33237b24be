package edgeconfig

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/routers"
)

// What the four vendor formats share: each writes, per MACsec link, the
// MKA/MACsec settings the Microsoft edge runs and, per eBGP session to it,
// BGP with BFD; the syntax is each vendor's, from its documentation (cited
// in its file). Values a vendor cannot set are said in a comment, with
// what the Microsoft edge does.

// vendorFormat registers a documented vendor format.
func vendorFormat(name, vendor, comment string, docs []Doc, write func(w io.Writer, n *Node) error) {
	Register(Format{
		Docs:       docs,
		Name:       name,
		Summary:    vendor + ": MACsec/MKA with the CKN/CAK as a pre-shared key, and BGP to AS 12076 with BFD",
		Documented: true,
		Comment:    comment,
		Keys:       true,
		Applies: func(n *Node) error {
			if len(n.MACsecLinks()) == 0 && len(peers(n)) == 0 {
				return fmt.Errorf("it has no link with MACsec on and no eBGP session")
			}
			return nil
		},
		Write: write,
	})
}

// peer is one eBGP session of the node, with its policy. Link is the
// link as the session sees it (Session).
type peer struct {
	Link      Link
	VLAN      *VLAN
	Neighbor  routers.DaemonNeighbor
	Keepalive time.Duration
	Hold      time.Duration
	BFDEvery  time.Duration
	BFDMult   int
}

// peers are the node's eBGP sessions (the iBGP sibling is the user's own
// design, not part of the link to Azure).
func peers(n *Node) []peer {
	if n.BGP == nil {
		return nil
	}
	keepalive, hold := bgpTimers(n.BGP)
	interval, mult := bfd(n.BGP)
	var ps []peer
	for _, l := range n.Links {
		for _, s := range n.Sessions(l) {
			if s.Neighbor.PeerASN != n.BGP.ASN {
				ps = append(ps, peer{Link: s.Link, VLAN: s.VLAN, Neighbor: *s.Neighbor, Keepalive: keepalive, Hold: hold, BFDEvery: interval, BFDMult: mult})
			}
		}
	}
	return ps
}

// vlans are the node's peering sub-interfaces with the link that carries
// each, in order.
func vlans(n *Node) (ls []Link, vs []VLAN) {
	for _, l := range n.Links {
		for _, v := range l.VLANs {
			ls, vs = append(ls, l), append(vs, v)
		}
	}
	return ls, vs
}

// vlanSummary is the comment line that opens a sub-interface's section.
func vlanSummary(w io.Writer, c string, l Link, v VLAN) {
	inside := "in clear"
	if l.MACsec != nil {
		inside = "inside the port's MACsec (the tags are encrypted)"
	}
	fmt.Fprintf(w, "%s %s: circuit %s, %s on %s (%s), %s, %s.\n", c, l.SubInterface(v), v.Circuit, v.Peering, l.Interface, l.Name, v.Tags(), inside)
}

// writeSubInterfaces writes, for the IOS-style vendors (IOS XR, NX-OS,
// EOS), each peering's routed sub-interface: parent once (the lines the
// vendor needs on it, if any), then per VLAN the interface with its
// encapsulation (encap formats the VLAN's tags) and addresses (addr
// formats one).
func writeSubInterfaces(w io.Writer, n *Node, indent string, parent func(l Link) string, encap func(v VLAN) string, addr func(p netip.Prefix) string, end string) {
	done := map[string]bool{}
	ls, vs := vlans(n)
	for i, v := range vs {
		l := ls[i]
		if p := parent(l); p != "" && !done[l.Interface] {
			done[l.Interface] = true
			fmt.Fprintf(w, "interface %s\n%s", l.Interface, p)
		}
		vlanSummary(w, "!", l, v)
		fmt.Fprintf(w, "interface %s\n%sdescription %s %s\n%s%s\n", l.SubInterface(v), indent, v.Circuit, v.Peering, indent, encap(v))
		for _, a := range v.Addresses {
			fmt.Fprintf(w, "%s%s\n", indent, addr(a))
		}
		fmt.Fprint(w, end)
	}
}

// prepends is the node's AS written n times.
func prepends(asn uint32, n int, sep string) string {
	return strings.TrimSpace(strings.Repeat(fmt.Sprint(asn)+sep, n))
}

// networks returns the node's originated prefixes of one family.
func networks(n *Node, v4 bool) []netip.Prefix {
	if n.BGP == nil {
		return nil
	}
	var ps []netip.Prefix
	for _, p := range n.BGP.Networks {
		if p.Addr().Is4() == v4 {
			ps = append(ps, p)
		}
	}
	return ps
}

// policyName names a link's objects in a vendor's configuration
// (connectivity association, key chain, policy, route-map).
func policyName(prefix string, l Link) string {
	return prefix + "-" + strings.ToUpper(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, l.Name))
}

// macsecSummary is the comment line that opens a link's MACsec section.
func macsecSummary(w io.Writer, c string, n *Node, l Link) {
	m := l.MACsec
	fmt.Fprintf(w, "%s %s: %s interface %s to %s:%s. The Microsoft edge runs %s (%s), SCI %s, replay protection %s, window %d,\n",
		c, l.Name, n.Name, l.Interface, l.Peer, l.PeerPort, m.Suite, m.Suite.AzureName(), sciState(m.IncludeSCI), onOff(m.ReplayProtect), m.ReplayWindow)
	fmt.Fprintf(w, "%s key server priority %d, MKA hello %v / life %v, no ICV Indicator (16-octet ICV), static CAK.\n",
		c, m.KeyServerPriority, m.HelloTime, m.LifeTime)
	if !m.Secret() {
		fmt.Fprintf(w, "%s Replace <CKN> and <CAK> with the link's secrets, or print them with --show-secrets.\n", c)
	}
}

// helloNote says how a vendor whose MKA hello is fixed at 2 s (or at
// least 2 s) fits the Microsoft edge's life time.
func helloNote(w io.Writer, c, vendor string, m *MACsec) {
	if m.LifeTime <= 2*time.Second {
		fmt.Fprintf(w, "%s WARNING: %s sends MKA hellos every 2s or more, and the Microsoft edge's life time is %v: it will drop this peer.\n", c, vendor, m.LifeTime)
		return
	}
	fmt.Fprintf(w, "%s %s's MKA hello (2s) is within the Microsoft edge's life time %v.\n", c, vendor, m.LifeTime)
}

// cmacAlgorithm is the MKA key derivation for a CAK of the suite's length
// (802.1X-2020 6.2: AES-CMAC with the CAK's length).
func cmacAlgorithm(s macsec.CipherSuite) string { return fmt.Sprintf("aes-%d-cmac", 8*s.KeyLen()) }

// backupNote says how a session is preferred.
func policyNote(w io.Writer, c string, p peer) {
	switch {
	case p.Neighbor.Prepend > 0:
		fmt.Fprintf(w, "%s %s is the backup link: AS path prepended %d times out, local preference %d in.\n", c, p.Link.Name, p.Neighbor.Prepend, p.Neighbor.LocalPref)
	case p.Neighbor.LocalPref > 0:
		fmt.Fprintf(w, "%s %s is the primary link: local preference %d in.\n", c, p.Link.Name, p.Neighbor.LocalPref)
	}
}

// bgpSummary is the comment line that opens the BGP section.
func bgpSummary(w io.Writer, c string, n *Node, ps []peer) {
	if len(ps) == 0 {
		return
	}
	p := ps[0]
	fmt.Fprintf(w, "%s BGP: AS %d, router ID %s, networks %s; to AS %d with BFD %v x %d, keepalive %v / hold %v.\n",
		c, n.BGP.ASN, n.BGP.RouterID, joinPrefixes(n.BGP.Networks), p.Neighbor.PeerASN, p.BFDEvery, p.BFDMult, p.Keepalive, p.Hold)
}

func joinPrefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// hasV6 reports whether the node originates IPv6.
func hasV6(n *Node) bool { return len(networks(n, false)) > 0 }

// ms is a duration in milliseconds.
func ms(d time.Duration) int64 { return d.Milliseconds() }

// writeRouteMaps writes the IOS-style (NX-OS, EOS) static routes and
// prefix-lists of the node's networks, and per session its route-maps
// (out: the networks, prepended on the backup; in: local preference) and
// the interface's BFD timer (bfdLine formats interval, interval,
// multiplier). indent is the vendor's indentation of a sub-mode.
func writeRouteMaps(w io.Writer, n *Node, ps []peer, indent, bfdLine string) {
	for _, v4 := range []bool{true, false} {
		ip, list := "ip", "ONPREM4"
		if !v4 {
			ip, list = "ipv6", "ONPREM6"
		}
		for i, p := range networks(n, v4) {
			fmt.Fprintf(w, "%s route %s Null0\n%s prefix-list %s seq %d permit %s\n", ip, p, ip, list, 10*(i+1), p)
		}
	}
	for _, p := range ps {
		nb := p.Neighbor
		policyNote(w, "!", p)
		for i, v4 := range []bool{true, false} {
			ip, list := "ip", "ONPREM4"
			if !v4 {
				ip, list = "ipv6", "ONPREM6"
			}
			if len(networks(n, v4)) == 0 {
				continue
			}
			fmt.Fprintf(w, "route-map %s permit %d\n%smatch %s address prefix-list %s\n", policyName("ER-OUT", p.Link), 10*(i+1), indent, ip, list)
			if nb.Prepend > 0 {
				fmt.Fprintf(w, "%sset as-path prepend %s\n", indent, prepends(n.BGP.ASN, nb.Prepend, " "))
			}
		}
		fmt.Fprintf(w, "route-map %s permit 10\n", policyName("ER-IN", p.Link))
		if nb.LocalPref > 0 {
			fmt.Fprintf(w, "%sset local-preference %d\n", indent, nb.LocalPref)
		}
		if nb.BFD {
			fmt.Fprintf(w, "interface %s\n%s"+bfdLine+"\n", p.Link.Interface, indent, ms(p.BFDEvery), ms(p.BFDEvery), p.BFDMult)
		}
	}
}

// dottedMask is a prefix as address and dotted mask (IOS XR's ipv4 address).
func dottedMask(p netip.Prefix) string {
	return p.Addr().String() + " " + net.IP(net.CIDRMask(p.Bits(), p.Addr().BitLen())).String()
}

// ipAddress is NX-OS's and EOS's address line of an interface.
func ipAddress(p netip.Prefix) string {
	if p.Addr().Is6() {
		return "ipv6 address " + p.String()
	}
	return "ip address " + p.String()
}
