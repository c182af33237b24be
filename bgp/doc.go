// Package bgp is a BGP-4 speaker (RFC 4271) for the lab's routers: the
// finite state machine and its timers, 4-octet AS numbers (RFC 6793),
// IPv4 and IPv6 unicast (RFC 4760), route refresh (RFC 2918), revised
// UPDATE error handling (RFC 7606), a RIB with best-path selection and
// ECMP, the per-neighbour policy knobs ExpressRoute users turn (prefix
// lists, AS-path prepend, local preference, maximum prefixes), and a FIB
// hook. Its sub-package bfd is BFD (RFC 5880/5881).
//
// The wire codec is GoBGP's pkg/packet/bgp; everything above it is here.
// The core is pure: sockets come from the caller (Config.Listen,
// Config.Dial), time from a clock.Clock, and the kernel routing table is
// behind the FIB interface, so tests run two speakers over net.Pipe. The
// Linux side (the netlink FIB, sockets in a namespace, BFD sockets, the
// BIRD and FRR daemons) is the edge package routers.
//
// One goroutine owns a Speaker's state — every neighbour's FSM and the
// RIB. Connections, timers and management calls reach it as events, so
// no timer can race a state transition.
package bgp
