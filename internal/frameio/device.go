package frameio

import (
	"errors"
	"fmt"
	"net"
)

// Device moves frames in batches: Ethernet frames (TAP, AF_PACKET) or IP
// packets (TUN).
type Device interface {
	// Read waits until at least one frame is available and then reads up
	// to len(bufs) of them without waiting: frame i is stored at
	// bufs[i][offset:offset+sizes[i]]. len(sizes) must be at least
	// len(bufs).
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write sends bufs[i][offset:] for each i, in order, and returns how
	// many were sent or dropped as undeliverable (too long for the link).
	Write(bufs [][]byte, offset int) (int, error)
	// BatchSize is the number of buffers a Read or Write uses well.
	BatchSize() int
	// Name names the device for messages.
	Name() string
	// Close closes the device; a blocked Read returns.
	Close() error
}

// IsClosed reports whether err says the device was closed.
func IsClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// errClosed is what a closed device returns.
func errClosed(name string) error { return fmt.Errorf("%s: %w", name, net.ErrClosed) }

// SocketStats counts what a socket dropped or offloaded.
type SocketStats struct {
	Truncated uint64 // received datagrams or frames longer than their buffer, dropped
	GSOSends  uint64 // messages that carried several datagrams (UDP_SEGMENT)
	GRORecvs  uint64 // buffers that received several datagrams (UDP_GRO)
}

// TUNStats counts the work of a TAP or TUN (Linux's tun driver serves
// both): all but Refused only with offloads. On a TUN, a frame is an IP
// packet.
type TUNStats struct {
	Reads       uint64 // read system calls that returned a frame
	SuperFrames uint64 // TCP and UDP super-frames read
	Segments    uint64 // segments cut from them
	Writes      uint64 // write system calls
	Coalesced   uint64 // frames written as part of a super-frame
	Bad         uint64 // frames read and dropped: malformed
	Refused     uint64 // frames written and dropped: refused by the kernel
}
