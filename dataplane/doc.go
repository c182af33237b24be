// Package dataplane moves Ethernet frames between a node's controlled port
// (a TAP in its namespace, where its IP stack lives) and the wire (an
// AF_PACKET socket on a veth), through a MACsec SecY when the link has one.
//
// A Port joins two frameio devices: I/O is batched (recvmmsg/sendmmsg on
// the wire, non-blocking reads on the TAP until the queue is empty, TCP
// super-frames with a TAP opened by frameio.OpenTAPOffload) and buffers are
// allocated once per port, so the forwarding path allocates nothing per
// frame. Each port runs two goroutines that park in the Go netpoller, so
// many ports share a process without one blocking another. A Mirror copies
// the frames of one side of a port for capture.
//
// A port may have tagged sub-interfaces (SetVLANs: an ExpressRoute
// circuit's peerings), each a device of its own with a goroutine that
// tags its frames (802.1Q, or 802.1ad S-tag and C-tag) in place before the
// SecY, so that MACsec protects the tags; frames from the wire are
// demultiplexed by their tags after validation and untagged in place.
package dataplane
