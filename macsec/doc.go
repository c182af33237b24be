// Package macsec is a userspace IEEE 802.1AE-2018 MAC Security Entity (SecY)
// with the 802.1AEbw extended packet numbering (XPN) cipher suites.
//
// A SecY protects frames leaving the controlled port and validates frames
// arriving on the uncontrolled port. It keeps one transmit secure channel
// (TX SC) with up to four secure associations (SAs, selected by the
// association number AN) and any number of receive SCs, each with up to
// four SAs. Keys are installed by a key agreement entity (MKA, package
// macsec/mka) or by hand.
//
// Protect and Validate work in place on the caller's buffer and allocate
// nothing. The receive path follows the order of Linux's
// drivers/net/macsec.c (macsec_handle_frame) and keeps the counters of
// 802.1AE-2018 clause 10.7; Strict validation has no cleartext path.
//
// The package is pure: no syscalls, no global state.
package macsec
