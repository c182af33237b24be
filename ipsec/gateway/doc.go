// Package gateway is one end of a manually keyed ESP tunnel in a network
// namespace: the SAs and policies in the backend chosen (the kernel's
// xfrm, see ipsec/xfrm, or Userspace), the routes to the remote prefixes,
// and, with the userspace backend, the data path: inner packets on a TUN
// device and ESP in UDP on a socket (both from internal/frameio, batched,
// with TSO on the TUN and GSO/GRO on the socket), sealed and opened in
// place with no allocation per packet.
package gateway
