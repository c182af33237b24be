// Package dataplane moves Ethernet frames between a node's controlled port
// (a TAP in its namespace, where its IP stack lives) and the wire (an
// AF_PACKET socket on a veth), through a MACsec SecY when the link has one.
//
// I/O is batched (recvmmsg/sendmmsg on the wire, non-blocking reads on the
// TAP until the queue is empty) and buffers are allocated once per port, so
// the forwarding path allocates nothing per frame. A TAP opened with
// OpenTAPOffload exchanges TCP super-frames of up to 64 KiB with the kernel
// (IFF_VNET_HDR with TSO): reads are cut into segments and writes coalesce
// in-order segments of a flow, so one TAP system call carries tens of
// frames. Each port runs two goroutines that park in the Go netpoller, so
// many ports share a process without one blocking another.
package dataplane
