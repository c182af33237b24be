// Package ipsec is ESP (RFC 4303) with AES-GCM-16 (RFC 4106) in tunnel
// mode, extended sequence numbers (RFC 4304) and UDP encapsulation
// (RFC 3948), with a SAD and SPD shaped like the Linux kernel's xfrm.
//
// The protocol core (SA, Seal, Open, the replay window, ESN inference, the
// SAD and SPD) is pure: no system calls, no global state. Two backends put
// it to work in a network namespace behind one interface, Backend: the
// kernel's xfrm, programmed over netlink, and a userspace data plane on a
// TUN device and a UDP socket. Probe tells which one the kernel allows.
//
// Packets are sealed and opened in place, without allocating: the caller
// leaves Headroom octets before a packet and Tailroom after it, and the
// SA keeps the GCM nonce and AAD it builds in the headroom.
package ipsec
