// Package xfrm is the kernel backend of ipsec: SAs and policies in the
// xfrm SAD and SPD of a network namespace, programmed over netlink as
// `ip xfrm state|policy` would, and Probe, which tells whether the kernel
// here can carry AES-GCM ESP at all.
package xfrm
