package routers

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/secylab/secylab/bgp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RTProtBGP is the routing protocol number of BGP routes (RTPROT_BGP in
// /etc/iproute2/rt_protos), so `ip route` shows ours as "proto bgp".
const RTProtBGP = 186

// NetlinkFIB installs routes into a kernel routing table through a
// netlink handle, usually one opened in the router's namespace with
// netlink.NewHandleAt. It remembers what it installed and removes it all
// on Close. Not safe for concurrent use; the speaker calls it from one
// goroutine.
type NetlinkFIB struct {
	h         *netlink.Handle
	table     int
	protocol  netlink.RouteProtocol
	installed map[netip.Prefix]bool
}

// NewNetlinkFIB returns a FIB writing to table (0: main) with protocol
// RTProtBGP. Routes of that protocol left in the table by an earlier run
// that crashed are removed first.
func NewNetlinkFIB(h *netlink.Handle, table int) (*NetlinkFIB, error) {
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	f := &NetlinkFIB{h: h, table: table, protocol: RTProtBGP, installed: map[netip.Prefix]bool{}}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: table, Protocol: f.protocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("routers: list stale routes in table %d: %w", table, err)
		}
		for _, r := range routes {
			h.RouteDel(&r)
		}
	}
	return f, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Replace installs r, replacing any route to the same prefix; several
// next hops become one multipath route.
func (f *NetlinkFIB) Replace(r bgp.Route) error {
	nr := &netlink.Route{Dst: ipNet(r.Prefix), Table: f.table, Protocol: f.protocol}
	if len(r.NextHops) == 1 {
		nr.Gw = r.NextHops[0].AsSlice()
	} else {
		for _, nh := range r.NextHops {
			nr.MultiPath = append(nr.MultiPath, &netlink.NexthopInfo{Gw: nh.AsSlice()})
		}
	}
	if err := f.h.RouteReplace(nr); err != nil {
		return fmt.Errorf("routers: install %v via %v: %w", r.Prefix, r.NextHops, err)
	}
	f.installed[r.Prefix] = true
	return nil
}

// Delete removes the route to prefix if we installed it.
func (f *NetlinkFIB) Delete(p netip.Prefix) error {
	if !f.installed[p] {
		return nil
	}
	delete(f.installed, p)
	err := f.h.RouteDel(&netlink.Route{Dst: ipNet(p), Table: f.table, Protocol: f.protocol})
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("routers: remove %v: %w", p, err)
	}
	return nil
}

// Close removes every route this FIB installed. It does not close the handle.
func (f *NetlinkFIB) Close() error {
	var errs []error
	for p := range f.installed {
		errs = append(errs, f.Delete(p))
	}
	return errors.Join(errs...)
}

var _ bgp.FIB = (*NetlinkFIB)(nil)
