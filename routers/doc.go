// Package routers is the Linux side of the lab's routing: what the pure
// bgp and bgp/bfd packages need from a real machine, and the routing
// daemons a lab runs. It installs a speaker's best routes into a
// namespace's kernel table (NetlinkFIB), opens a speaker's TCP sockets
// and BFD's UDP sockets inside a network namespace (ListenIn, DialIn,
// ListenBFD), and writes configurations for and runs BIRD 2 and FRR
// (DaemonConfig, StartBIRD, StartFRR).
package routers
