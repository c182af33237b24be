package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/secylab/secylab/topology"
)

// A path is where traffic for one destination goes from a router, read
// hop by hop from the kernel FIBs (what forwards the packets, whichever
// BGP implementation installed the routes) of the routers of its AS, up
// to the first node outside the AS.
type path struct {
	from  string
	dst   netip.Addr
	hops  []pathHop
	err   error // no route, or a loop
	links []string
}

type pathHop struct{ node, link string }

func (p path) crosses(link string) bool { return slices.Contains(p.links, link) }

func (p path) passes(node string) bool {
	return slices.ContainsFunc(p.hops, func(h pathHop) bool { return h.node == node })
}

func (p path) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s: %s", p.from, p.dst, p.from)
	for _, h := range p.hops {
		fmt.Fprintf(&b, " → %s → %s", h.link, h.node)
	}
	if p.err != nil {
		fmt.Fprintf(&b, " (%v)", p.err)
	}
	return b.String()
}

// fibs opens a netlink handle in each BGP router's namespace.
type fibs map[string]*netlink.Handle

func (l *Lab) openFIBs() (fibs, error) {
	f := fibs{}
	for _, r := range l.routers {
		nsh, err := netns.GetFromName(topology.NamespaceName(l.topo.Name, r.node))
		if err != nil {
			f.close()
			return nil, err
		}
		h, err := netlink.NewHandleAt(nsh)
		nsh.Close()
		if err != nil {
			f.close()
			return nil, err
		}
		f[r.node] = h
	}
	return f, nil
}

func (f fibs) close() {
	for _, h := range f {
		h.Close()
	}
}

// trace follows dst from router from through the kernel FIBs of the
// routers of its AS.
func (l *Lab) trace(f fibs, from string, dst netip.Addr) path {
	p := path{from: from, dst: dst}
	at := l.router(from)
	asn := at.cfg.ASN
	seen := map[string]bool{from: true}
	for {
		h := f[at.node]
		rs, err := h.RouteGet(dst.AsSlice())
		if err != nil || len(rs) == 0 {
			p.err = fmt.Errorf("no route on %s", at.node)
			return p
		}
		gw := nextHop(rs[0])
		var nb *topology.BGPNeighbor
		for i, n := range at.cfg.Neighbors {
			if gw.IsValid() && n.Peer == gw {
				nb = &at.cfg.Neighbors[i]
			}
		}
		if nb == nil {
			// Delivered here, or handed to something that is not a BGP
			// neighbour (a host, a static route): the AS's part ends.
			return p
		}
		p.hops = append(p.hops, pathHop{node: nb.PeerNode, link: nb.Link})
		p.links = append(p.links, nb.Link)
		next := l.router(nb.PeerNode)
		if next == nil || next.cfg.ASN != asn {
			return p
		}
		if seen[next.node] {
			p.err = errors.New("a loop")
			return p
		}
		seen[next.node] = true
		at = next
	}
}

// nextHop is a route's next hop (an IPv6 route's may be an IPv4
// address, RFC 5549), or invalid for one on the link.
func nextHop(r netlink.Route) netip.Addr {
	gw, _ := netip.AddrFromSlice(r.Gw)
	if v, ok := r.Via.(*netlink.Via); ok {
		gw, _ = netip.AddrFromSlice(v.Addr)
	}
	return gw.Unmap()
}

// pathSet is the paths from every router of two ASes to the other AS's
// networks: both directions of the traffic over the links between them.
type pathSet struct {
	l     *Lab
	pairs []pathKey
}

type pathKey struct { // a router and a destination
	from string
	dst  netip.Addr
}

// pathsBetween lists, for the routers of AS a and of AS b, the
// destinations they have a path to now (a destination without a route
// now, e.g. an IPv6 network on a daemon that installs none, is not
// waited for).
func (l *Lab) pathsBetween(f fibs, a, b uint32) pathSet {
	nets := map[uint32][]netip.Prefix{}
	for _, r := range l.routers {
		for _, p := range r.cfg.Networks {
			if !slices.Contains(nets[r.cfg.ASN], p) {
				nets[r.cfg.ASN] = append(nets[r.cfg.ASN], p)
			}
		}
	}
	s := pathSet{l: l}
	for _, r := range l.routers {
		var other uint32
		switch r.cfg.ASN {
		case a:
			other = b
		case b:
			other = a
		default:
			continue
		}
		for _, p := range nets[other] {
			if l.trace(f, r.node, p.Addr()).err == nil {
				s.pairs = append(s.pairs, pathKey{r.node, p.Addr()})
			}
		}
	}
	return s
}

// any reports whether one of the paths from router from satisfies f now.
func (s pathSet) any(f fibs, from string, ok func(path) bool) bool {
	for _, k := range s.pairs {
		if k.from == from && ok(s.l.trace(f, k.from, k.dst)) {
			return true
		}
	}
	return false
}

// wait polls the paths of s until ok holds for each of them, or
// timeout passes (then the error shows the paths that do not).
func (s pathSet) wait(ctx context.Context, f fibs, timeout time.Duration, what string, ok func(path) bool) ([]path, error) {
	deadline := time.Now().Add(timeout)
	for {
		var all, bad []path
		for _, k := range s.pairs {
			p := s.l.trace(f, k.from, k.dst)
			all = append(all, p)
			if !ok(p) {
				bad = append(bad, p)
			}
		}
		if len(bad) == 0 {
			return all, nil
		}
		if time.Now().After(deadline) {
			lines := make([]string, len(bad))
			for i, p := range bad {
				lines[i] = p.String()
			}
			return all, fmt.Errorf("after %v traffic has not %s: %s", timeout, what, strings.Join(lines, "; "))
		}
		select {
		case <-ctx.Done():
			return all, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
