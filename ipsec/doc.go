// Package ipsec is ESP (RFC 4303) with AES-GCM-16 (RFC 4106) in tunnel
// mode, extended sequence numbers (RFC 4304) and UDP encapsulation
// (RFC 3948), with a SAD and SPD shaped like the Linux kernel's xfrm.
//
// It is the pure protocol core (SA, Seal, Open, the replay window, ESN
// inference, the SAD and SPD, the Backend interface and the xfrm-style
// formatting): no system calls, no global state, nothing Linux. Its Linux
// backends live beside it: ipsec/xfrm programs the kernel's xfrm over
// netlink, and ipsec/gateway runs a tunnel end in a namespace on either
// backend, with a userspace data plane on a TUN device and a UDP socket.
//
// Packets are sealed and opened in place, without allocating: the caller
// leaves Headroom octets before a packet and Tailroom after it, and the
// SA keeps the GCM nonce and AAD it builds in the headroom.
package ipsec
