package routers

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"text/template"
	"time"

	"github.com/secylab/secylab/expressroute"
)

// DaemonConfig describes a router to be run by BIRD 2 or FRR, from
// which BIRDConfig and FRRConfig write their configuration files.
type DaemonConfig struct {
	ASN       uint32
	RouterID  netip.Addr
	Networks  []netip.Prefix // originated (static blackhole/unreachable)
	Neighbors []DaemonNeighbor
	HoldTime  time.Duration // default 180 s
	Keepalive time.Duration // default 60 s
	// BFD timers for every neighbour with BFD; default 300 ms × 3.
	BFDInterval time.Duration
	BFDMult     int
}

// DaemonNeighbor is one neighbour of a daemon: eBGP (the Microsoft edge:
// only the originated networks go out, with the neighbour's policy) or,
// in the same AS, iBGP to a sibling router over a directly connected
// link (everything goes out, next hop self, no policy).
type DaemonNeighbor struct {
	Name      string // used in protocol and route-map names
	Local     netip.Addr
	Peer      netip.Addr
	PeerASN   uint32
	LocalPref uint32 // on import; 0: leave
	Prepend   int    // extra copies of our AS on export
	MaxPrefix int    // 0: none
	BFD       bool
	// HoldIn and HoldOut stop, for a while, what is accepted from and
	// sent to the neighbour: the lab's drain orders its changes across
	// sibling routers with them (see lab's drain).
	HoldIn, HoldOut bool
	// Internal is set by the config writers: PeerASN is our AS.
	Internal bool
}

// CustomerDaemon is the Customer profile for a BIRD or FRR router.
func CustomerDaemon(asn uint32, routerID netip.Addr, onprem []netip.Prefix, link1, link2 expressroute.Link, withBFD bool) DaemonConfig {
	return DaemonConfig{
		ASN: asn, RouterID: routerID, Networks: onprem,
		Neighbors: []DaemonNeighbor{
			{Name: cmp.Or(link1.Name, "link1"), Local: link1.Local, Peer: link1.Peer, PeerASN: cmp.Or(link1.PeerASN, expressroute.MicrosoftASN), LocalPref: expressroute.PrimaryLocalPref, BFD: withBFD},
			{Name: cmp.Or(link2.Name, "link2"), Local: link2.Local, Peer: link2.Peer, PeerASN: cmp.Or(link2.PeerASN, expressroute.MicrosoftASN), LocalPref: expressroute.BackupLocalPref, Prepend: expressroute.BackupPrepend, BFD: withBFD},
		},
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func (c *DaemonConfig) prepare() (DaemonConfig, error) {
	d := *c
	d.HoldTime = cmp.Or(d.HoldTime, expressroute.HoldTime)
	d.Keepalive = cmp.Or(d.Keepalive, expressroute.KeepaliveTime)
	d.BFDInterval = cmp.Or(d.BFDInterval, expressroute.BFDInterval)
	d.BFDMult = cmp.Or(d.BFDMult, expressroute.BFDMultiplier)
	if d.ASN == 0 || !d.RouterID.Is4() {
		return d, fmt.Errorf("routers: daemon config: ASN %d and router ID %v: want a non-zero ASN and an IPv4 router ID", d.ASN, d.RouterID)
	}
	d.Neighbors = slices.Clone(d.Neighbors)
	for i, n := range d.Neighbors {
		d.Neighbors[i].Internal = n.PeerASN == d.ASN
		if d.Neighbors[i].Internal && (n.LocalPref != 0 || n.Prepend != 0) {
			return d, fmt.Errorf("routers: daemon config: neighbour %s is internal (AS %d): iBGP carries the local preference and prepends nothing", n.Name, n.PeerASN)
		}
		if !nameRE.MatchString(n.Name) {
			return d, fmt.Errorf("routers: daemon config: neighbour name %q: want letters, digits and _", n.Name)
		}
		if !n.Peer.IsValid() || n.PeerASN == 0 {
			return d, fmt.Errorf("routers: daemon config: neighbour %s needs an address and an AS", n.Name)
		}
	}
	return d, nil
}

// Networks4 and Networks6 are the originated prefixes of each family.
func (c DaemonConfig) Networks4() []netip.Prefix { return c.networks(true) }
func (c DaemonConfig) Networks6() []netip.Prefix { return c.networks(false) }

func (c DaemonConfig) networks(v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.Networks {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

var funcs = template.FuncMap{
	"ms":   func(d time.Duration) int64 { return d.Milliseconds() },
	"secs": func(d time.Duration) int64 { return int64(d / time.Second) },
	"seq":  func(n int) []int { return make([]int, n) },
	// entry numbers prefix-list and route-map entries 5, 10, 15...
	"entry": func(i int) int { return 5 * (i + 1) },
	// mapped is the IPv4-mapped IPv6 address of an IPv4 address.
	"mapped": func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) },
}

// BIRD 2 configuration, after the one seen working in lab-anchors §3.
// BIRD's keywords "primary"/"secondary" cannot name protocols, hence the
// "n_" prefix. BFD needs its own protocol. A short error wait time
// (default 60 s, doubling to 300 s) keeps the first failed attempt (BFD
// not yet up) from costing a minute, and lets BIRD take the Microsoft
// edge's connection a second after a session drops, as FRR does (at 5 s,
// doubled on each drop within 5 min, a re-keyed link's session came back
// 10 s after MKA the second time). A short connect delay (default 5 s)
// brings two BIRD siblings' iBGP up within a second or two, as FRR's.
// Every session carries both families (RFC 4760). Over an IPv4 session
// an IPv6 route's next hop is the IPv4-mapped local address (RFC 4798),
// as secylab's speaker sends it; BIRD sends and accepts it only with
// "extended next hop" on the IPv6 channel. An iBGP sibling is directly
// connected and gets every route, next hop self.
var birdTmpl = template.Must(template.New("bird").Funcs(funcs).Parse(`# generated by secylab
router id {{.RouterID}};
protocol device {}
protocol static originated4 {
  ipv4;
{{- range .Networks4}}
  route {{.}} unreachable;{{end}}
}
protocol static originated6 {
  ipv6;
{{- range .Networks6}}
  route {{.}} unreachable;{{end}}
}
protocol kernel kernel4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol kernel kernel6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol bfd {
  interface "*" { min rx interval {{ms .BFDInterval}} ms; min tx interval {{ms .BFDInterval}} ms; multiplier {{.BFDMult}}; };
}
template bgp edge {
  local as {{.ASN}};
  hold time {{secs .HoldTime}};
  keepalive time {{secs .Keepalive}};
  error wait time 1, 5;
  connect retry time 5;
  connect delay time 1;
}
{{- range .Neighbors}}
protocol bgp n_{{.Name}} from edge {
  {{if .Local.IsValid}}local {{.Local}} as {{$.ASN}};{{end}}
  neighbor {{.Peer}} as {{.PeerASN}};
  {{if .BFD}}bfd on;{{end}}
{{- if .Internal}}
  direct;
  ipv4 { next hop self; import {{if .HoldIn}}none{{else}}all{{end}}; export {{if .HoldOut}}none{{else}}all{{end}}; };
  ipv6 { extended next hop on; next hop self; import {{if .HoldIn}}none{{else}}all{{end}}; export {{if .HoldOut}}none{{else}}all{{end}}; };
}
{{- else}}
  ipv4 {
    import filter { {{if .LocalPref}}bgp_local_pref = {{.LocalPref}}; {{end}}accept; };
{{- if .MaxPrefix}}
    import limit {{.MaxPrefix}} action disable;
{{- end}}
    export filter { if proto = "originated4" then { {{range seq .Prepend}}bgp_path.prepend({{$.ASN}}); {{end}}accept; } reject; };
  };
  ipv6 {
    extended next hop on;
    import filter { {{if .LocalPref}}bgp_local_pref = {{.LocalPref}}; {{end}}accept; };
    export filter { if proto = "originated6" then { {{range seq .Prepend}}bgp_path.prepend({{$.ASN}}); {{end}}accept; } reject; };
  };
}
{{- end}}
{{- end}}
`))

// BIRDConfig writes a BIRD 2 configuration for c.
func BIRDConfig(c DaemonConfig) (string, error) {
	d, err := c.prepare()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = birdTmpl.Execute(&b, d)
	return b.String(), err
}

// FRR configuration, after the one seen working in lab-anchors §3. With
// "frr defaults traditional" eBGP needs policy both ways (RFC 8212), so
// every neighbour gets in and out route-maps; the out route-map permits
// the originated prefixes of each family (one prefix-list per family, an
// entry per prefix) and nothing else; towards an iBGP sibling it permits
// everything, with next-hop-self (IPv6 has a route-map of its own there:
// a route-map that sets an IPv6 next hop turns FRR's next-hop-self off
// for the IPv4 routes it passes). IPv6 rides the IPv4 session
// (RFC 4760) with the IPv4-mapped local address as its next hop
// (RFC 4798), as secylab's speaker and BIRD send it: set in the route-map,
// since FRR 8.4 on a link without IPv6 would announce its link-local
// address as the global next hop.
var frrTmpl = template.Must(template.New("frr").Funcs(funcs).Parse(`! generated by secylab
frr defaults traditional
hostname r{{.RouterID}}
{{- range .Networks}}
{{if .Addr.Is4}}ip{{else}}ipv6{{end}} route {{.}} blackhole
{{- end}}
bfd
 profile edge
  receive-interval {{ms .BFDInterval}}
  transmit-interval {{ms .BFDInterval}}
  detect-multiplier {{.BFDMult}}
 exit
exit
{{- range $i, $p := .Networks4}}
ip prefix-list ORIGINATED4 seq {{entry $i}} permit {{$p}}
{{- end}}
{{- range $i, $p := .Networks6}}
ipv6 prefix-list ORIGINATED6 seq {{entry $i}} permit {{$p}}
{{- end}}
{{- range .Neighbors}}
{{- if .HoldIn}}
route-map FROM-{{.Name}} deny 5
exit
{{- end}}
{{- if .HoldOut}}
route-map TO-{{.Name}} deny 5
exit
{{- if .Internal}}
route-map TO6-{{.Name}} deny 5
exit
{{- end}}
{{- end}}
route-map FROM-{{.Name}} permit 10
{{- if .LocalPref}}
 set local-preference {{.LocalPref}}
{{- end}}
exit
{{- if and $.Networks4 (not .Internal)}}
route-map TO-{{.Name}} permit 10
 match ip address prefix-list ORIGINATED4
{{- if .Prepend}}
 set as-path prepend{{range seq .Prepend}} {{$.ASN}}{{end}}
{{- end}}
exit
{{- end}}
{{- if and $.Networks6 (not .Internal)}}
route-map TO-{{.Name}} permit 20
 match ipv6 address prefix-list ORIGINATED6
{{- if .Prepend}}
 set as-path prepend{{range seq .Prepend}} {{$.ASN}}{{end}}
{{- end}}
{{- if .Local.Is4}}
 set ipv6 next-hop global {{mapped .Local}}
{{- end}}
exit
{{- end}}
{{- if .Internal}}
route-map TO-{{.Name}} permit 10
exit
route-map TO6-{{.Name}} permit 10
{{- if .Local.Is4}}
 set ipv6 next-hop global {{mapped .Local}}
{{- end}}
exit
{{- else if not $.Networks}}
route-map TO-{{.Name}} deny 10
exit
{{- end}}
{{- end}}
router bgp {{.ASN}}
 bgp router-id {{.RouterID}}
 no bgp network import-check
{{- range .Neighbors}}
 neighbor {{.Peer}} remote-as {{.PeerASN}}
 neighbor {{.Peer}} timers {{secs $.Keepalive}} {{secs $.HoldTime}}
 neighbor {{.Peer}} timers connect 5
{{- if .Local.IsValid}}
 neighbor {{.Peer}} update-source {{.Local}}
{{- end}}
{{- if .BFD}}
 neighbor {{.Peer}} bfd profile edge
{{- end}}
{{- end}}
 address-family ipv4 unicast
{{- range .Networks4}}
  network {{.}}
{{- end}}
{{- range .Neighbors}}
  neighbor {{.Peer}} route-map FROM-{{.Name}} in
  neighbor {{.Peer}} route-map TO-{{.Name}} out
{{- if .Internal}}
  neighbor {{.Peer}} next-hop-self
{{- end}}
{{- if .MaxPrefix}}
  neighbor {{.Peer}} maximum-prefix {{.MaxPrefix}}
{{- end}}
{{- end}}
 exit-address-family
 address-family ipv6 unicast
{{- range .Networks6}}
  network {{.}}
{{- end}}
{{- range .Neighbors}}
  neighbor {{.Peer}} activate
  neighbor {{.Peer}} route-map FROM-{{.Name}} in
  neighbor {{.Peer}} route-map {{if .Internal}}TO6-{{else}}TO-{{end}}{{.Name}} out
{{- if .Internal}}
  neighbor {{.Peer}} next-hop-self
{{- end}}
{{- end}}
 exit-address-family
exit
`))

// FRRConfig writes an integrated FRR configuration (zebra, bgpd, bfdd) for c.
func FRRConfig(c DaemonConfig) (string, error) {
	d, err := c.prepare()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = frrTmpl.Execute(&b, d)
	return b.String(), err
}
