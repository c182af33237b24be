// Package edgeconfig writes the customer side of a lab's ExpressRoute
// links as an engineer pastes it into a change: wpa_supplicant and
// iproute2 for a Linux edge, FRR and BIRD for the BGP side (the same
// generator the lab's own bird and frr nodes run, package routers), and
// the MACsec/MKA and BGP/BFD parts of Junos, IOS XR, NX-OS and EOS.
// Every value comes from a Node that the lab builds from its topology and,
// in a running lab, from what the Microsoft edge's end of each link runs
// now (lab.EdgeConfig), so the exports cannot drift from the lab.
//
// A format is one Format value registered in its own file (Register); a
// new one (an IPsec peer's swanctl.conf, say) is one more file: its
// Applies says which nodes it describes, its Write the text; what it needs
// beyond the links and BGP goes into Node and is filled in by
// lab.EdgeConfig (from the topology) and lab's ConfigOp (what the lab runs
// now); its place in --help is the order list. The lab's tests then ask
// for its golden files and for the lines that carry the profile's values.
package edgeconfig

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/routers"
)

// Node is a customer router as the exports need it.
type Node struct {
	Lab  string `json:"lab"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// KernelKaY is set for a linux node whose kernel macsec is keyed by
	// secylab's KaY (macsec: kernel-kay), not wpa_supplicant.
	KernelKaY bool `json:"kernelKaY,omitempty"`
	// Source is the topology file the lab was built from.
	Source string `json:"source,omitempty"`
	// Links are the node's links to another router that carry MACsec or
	// an eBGP session, in the topology's order.
	Links []Link `json:"links"`
	// BGP is the node's BGP speaker as BIRD or FRR would run it, or nil.
	BGP *routers.DaemonConfig `json:"bgp,omitempty"`
	// Tunnels are the node's IKE-keyed tunnels to the lab's Azure VPN
	// gateway (the swanctl and libreswan formats).
	Tunnels []Tunnel `json:"tunnels,omitempty"`
	// Live is set when the values come from a running lab (the Microsoft
	// edge's current MACsec settings), not from the topology file alone.
	Live bool `json:"live"`
}

// Link is one of the node's links.
type Link struct {
	Name string `json:"name"`
	// Port is the node's port in the lab; Interface is the name the
	// exports use for it (Port unless the user names their own).
	Port      string         `json:"port"`
	Interface string         `json:"interface"`
	Addresses []netip.Prefix `json:"addresses"`
	// Peer is the node at the far end, PeerPort its port there.
	Peer     string `json:"peer"`
	PeerPort string `json:"peerPort"`
	// MicrosoftEdge is set when the far end runs the microsoft-edge profile.
	MicrosoftEdge bool `json:"microsoftEdge"`
	// MACsec is what the far end expects on the link, or nil (MACsec off).
	MACsec *MACsec `json:"macsec,omitempty"`
	// VLANs are the peerings the link carries as VLAN sub-interfaces of
	// the port (a Direct port's circuits), in the topology's order: their
	// BGP sessions run there, MACsec on the port under them.
	VLANs []VLAN `json:"vlans,omitempty"`
}

// VLAN is one peering's sub-interface of a link's port.
type VLAN struct {
	// Interface is its name in the exports: the link's Interface, then
	// its tags (er1.100; er1.10.200 under a QinQ S-tag).
	Interface string `json:"interface"`
	// STag is the circuit's 802.1ad S-tag (QinQ), 0 on a Dot1Q port; CTag
	// the peering's 802.1Q VLAN ID.
	STag      uint16         `json:"sTag,omitempty"`
	CTag      uint16         `json:"cTag"`
	Circuit   string         `json:"circuit"`
	Peering   string         `json:"peering"`
	Addresses []netip.Prefix `json:"addresses"`
}

// Tags says the sub-interface's tags in a comment: "VLAN 100" or
// "S-tag 10 (802.1ad) C-tag 200".
func (v VLAN) Tags() string {
	if v.STag == 0 {
		return fmt.Sprintf("VLAN %d", v.CTag)
	}
	return fmt.Sprintf("S-tag %d (802.1ad) C-tag %d", v.STag, v.CTag)
}

// MACsec is a link's 802.1AE and MKA settings as the far end runs them.
type MACsec struct {
	Suite             macsec.CipherSuite `json:"suite"`
	IncludeSCI        bool               `json:"includeSCI"`
	ReplayProtect     bool               `json:"replayProtect"`
	ReplayWindow      uint32             `json:"replayWindow"`
	KeyServerPriority uint8              `json:"keyServerPriority"`
	// HelloTime and LifeTime are the far end's MKA timers.
	HelloTime time.Duration `json:"helloTime"`
	LifeTime  time.Duration `json:"lifeTime"`
	// CKN and CAK are hex, or empty: the exports then write placeholders.
	CKN string `json:"ckn,omitempty"`
	CAK string `json:"cak,omitempty"`
}

// Secret reports whether the settings carry key values.
func (m *MACsec) Secret() bool { return m.CAK != "" }

// ckn and cak are the key values or the placeholders to replace.
func (m *MACsec) ckn() string { return cmp.Or(m.CKN, "<CKN>") }
func (m *MACsec) cak() string {
	return cmp.Or(m.CAK, fmt.Sprintf("<CAK: %d hex digits>", expressroute.CAKHexDigits(m.Suite)))
}

// MACsecLinks returns the links with MACsec on.
func (n *Node) MACsecLinks() []Link {
	var ls []Link
	for _, l := range n.Links {
		if l.MACsec != nil {
			ls = append(ls, l)
		}
	}
	return ls
}

// SubID is the number of v's sub-interface (or Junos unit) on the port in
// the vendors' one-number naming (er1.100): its VLAN ID, or with QinQ its
// C-tag unless another circuit on the port has the same, then S-tag × 4096
// + C-tag.
func (l Link) SubID(v VLAN) int {
	for _, o := range l.VLANs {
		if o.CTag == v.CTag && o.STag != v.STag {
			return int(v.STag)*4096 + int(v.CTag)
		}
	}
	return int(v.CTag)
}

// SubInterface is v's sub-interface in the vendors' naming: the port's
// interface, a dot, SubID (er1.100 for VLAN 100; Linux names a QinQ one
// after both tags, VLAN.Interface).
func (l Link) SubInterface(v VLAN) string { return fmt.Sprintf("%s.%d", l.Interface, l.SubID(v)) }

// Session is one BGP session over a link: on the port itself, or on one
// of its peerings' sub-interfaces (VLAN). Its Link is the link as the
// session sees it: Name the session's (link1, link1.100, link1.10.200),
// Interface where it runs in the vendors' naming (er1, er1.100), so every
// object a vendor names after it is the session's own.
type Session struct {
	Link     Link
	VLAN     *VLAN
	Neighbor *routers.DaemonNeighbor
}

// Sessions returns the BGP sessions over link l: the port's, then each
// peering's, in order.
func (n *Node) Sessions(l Link) []Session {
	if n.BGP == nil {
		return nil
	}
	find := func(as []netip.Prefix) *routers.DaemonNeighbor {
		for i, nb := range n.BGP.Neighbors {
			for _, a := range as {
				if a.Addr() == nb.Local {
					return &n.BGP.Neighbors[i]
				}
			}
		}
		return nil
	}
	var ss []Session
	if nb := find(l.Addresses); nb != nil {
		ss = append(ss, Session{Link: l, Neighbor: nb})
	}
	for i, v := range l.VLANs {
		if nb := find(v.Addresses); nb != nil {
			sl := l
			sl.Name, sl.Interface = l.Name+strings.TrimPrefix(v.Interface, l.Interface), l.SubInterface(v)
			ss = append(ss, Session{Link: sl, VLAN: &l.VLANs[i], Neighbor: nb})
		}
	}
	return ss
}

// Format is one kind of export.
type Format struct {
	Name string
	// Summary says in a line what the output is, for --help.
	Summary string
	// Documented marks a format checked against the vendor's
	// documentation only (no implementation of it runs here).
	Documented bool
	// Applies refuses a node the format cannot describe, saying why.
	Applies func(n *Node) error
	// Write writes the configuration; the header is written before it.
	Write func(w io.Writer, n *Node) error
	// Comment starts a comment line in the format ("#", "!").
	Comment string
	// Keys marks a format that carries the CKN and CAK (placeholders
	// unless the node's MACsec has values).
	Keys bool
	// Docs are the documents a documented format follows; the output
	// names them.
	Docs []Doc
	// Secrets, for a format whose configuration includes a secrets file
	// (the IPsec peers' PSK), writes that file's content; the caller
	// writes it 0600 (lab config --psk-file), never to the output.
	Secrets func(w io.Writer, n *Node) error
}

// Doc is a document a format follows.
type Doc struct{ Title, URL string }

var formats []Format

// Register makes a format known; each format's file registers itself.
func Register(f Format) {
	formats = append(formats, f)
	slices.SortFunc(formats, func(a, b Format) int { return strings.Compare(a.order(), b.order()) })
}

// order lists the Linux formats (proven by running them), the routing
// daemons', then the vendors' (documented); others follow by name.
var order = []string{"wpa_supplicant", "iproute2", "frr", "bird", "swanctl", "libreswan", "junos", "iosxr", "nxos", "eos"}

func (f Format) order() string {
	if i := slices.Index(order, f.Name); i >= 0 {
		return fmt.Sprintf("%02d", i)
	}
	return "99" + f.Name
}

// Formats lists the formats in the order of --help.
func Formats() []Format { return slices.Clone(formats) }

// Names lists the formats' names.
func Names() []string {
	var ns []string
	for _, f := range formats {
		ns = append(ns, f.Name)
	}
	return ns
}

// UnknownFormatError names a format that does not exist.
type UnknownFormatError struct{ Name string }

func (e *UnknownFormatError) Error() string {
	return fmt.Sprintf("unknown format %q: want one of %s", e.Name, strings.Join(Names(), ", "))
}

// Lookup returns the format called name.
func Lookup(name string) (Format, error) {
	for _, f := range formats {
		if f.Name == name {
			return f, nil
		}
	}
	return Format{}, &UnknownFormatError{name}
}

// NotApplicableError is a format that cannot describe a node.
type NotApplicableError struct {
	Format, Node string
	Err          error
}

func (e *NotApplicableError) Error() string {
	return fmt.Sprintf("--format %s does not apply to %s: %v", e.Format, e.Node, e.Err)
}
func (e *NotApplicableError) Unwrap() error { return e.Err }

// Render writes node's configuration in format name: a header saying
// where it comes from, then the format's text. Nothing is written when the
// format does not apply.
func Render(w io.Writer, name string, n *Node) error {
	f, err := Lookup(name)
	if err != nil {
		return err
	}
	if err := f.Applies(n); err != nil {
		return &NotApplicableError{Format: name, Node: n.Name, Err: err}
	}
	var b bytes.Buffer
	from := "the topology " + n.Source
	if n.Live {
		from = "the running lab " + n.Lab + ", as its Microsoft edge runs now"
	}
	fmt.Fprintf(&b, "%s generated by secylab lab config %s --format %s\n", f.Comment, n.Name, name)
	fmt.Fprintf(&b, "%s from %s\n", f.Comment, from)
	if f.Documented {
		fmt.Fprintf(&b, "%s checked against the vendor's documentation only, review before use; it follows:\n", f.Comment)
		for _, d := range f.Docs {
			fmt.Fprintf(&b, "%s   %s: %s\n", f.Comment, d.Title, d.URL)
		}
	}
	if err := f.Write(&b, n); err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	clear(b.Bytes())
	return err
}

// Errors of Applies shared by several formats.
var (
	errNoMACsec = errors.New("it has no link with MACsec on")
	errNoBGP    = errors.New("it runs no BGP")
)

func needMACsec(n *Node) error {
	if len(n.MACsecLinks()) == 0 {
		return errNoMACsec
	}
	return nil
}

func needBGP(n *Node) error {
	if n.BGP == nil {
		return errNoBGP
	}
	return nil
}

// secs writes a duration in whole seconds (MKA and BGP timers).
func secs(d time.Duration) int64 { return int64(d / time.Second) }

// onOff spells a switch.
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// bfd is the BFD timer of the node's BGP, with the Microsoft edge's
// defaults.
func bfd(c *routers.DaemonConfig) (interval time.Duration, mult int) {
	return cmp.Or(c.BFDInterval, expressroute.BFDInterval), cmp.Or(c.BFDMult, expressroute.BFDMultiplier)
}

// bgpTimers are the node's keepalive and hold time, with the Microsoft
// edge's defaults.
func bgpTimers(c *routers.DaemonConfig) (keepalive, hold time.Duration) {
	return cmp.Or(c.Keepalive, expressroute.KeepaliveTime), cmp.Or(c.HoldTime, expressroute.HoldTime)
}
