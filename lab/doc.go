// Package lab is the lab runtime: it runs the emulated devices of a lab: each port of a node is
// a dataplane.Port between the node's TAP and its wire veth, with a MACsec
// SecY keyed by an MKA participant when the link is encrypted.
package lab
