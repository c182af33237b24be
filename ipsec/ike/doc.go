// Package ike is IKEv2 (RFC 7296): the message codec, the transforms and
// their negotiation, Diffie-Hellman, the key schedule (SKEYSEED, SK_*,
// KEYMAT for Child SAs), the Encrypted (SK) payload and PSK
// authentication.
//
// It is pure like the other protocol packages: no system calls, no
// sockets, no global state. The codec (Parse, Message.Marshal) knows the
// bytes and nothing of the protocol's state; the crypto sits beside it
// and uses only the standard library.
package ike
