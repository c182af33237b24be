package frameio

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// PacketSocket is an AF_PACKET socket bound to one interface, opened in the
// calling thread's network namespace. It receives with recvmmsg, or with
// $SECYLAB_PACKET_RING=on from a TPACKET_V2 ring (see rxRing), and sends
// with sendmmsg, BatchSize frames per system call.
//
// recvmmsg is the default: on a loaded 2-CPU machine a ring of 1 MiB
// overflowed while the receiver waited for a CPU (tens of thousands of
// TCP retransmits in a 5-s stream, none with the 8 MiB socket buffer),
// and a larger ring is mapped memory per port, counted in the lab
// process's RSS from the start; gathering (gatherTime) brings to
// recvmmsg what the ring brought.
type PacketSocket struct {
	*socket
	ring   *rxRing // nil: recvmmsg
	ringFn func(uintptr) bool
}

var _ Device = (*PacketSocket)(nil)

// packetBatch is a PacketSocket's BatchSize.
const packetBatch = 64

const (
	// While a stream flows (frames came within streamGap), a Read that
	// found fewer than gatherFrames frames receives again for up
	// to gatherTime for more, as a NIC moderates its interrupts: the
	// receiver then hands the controlled port bigger batches, which the
	// TAP coalesces into bigger TCP super-frames, and the kernel's TCP
	// receive (run in the TAP write) costs less per segment. Measured on
	// the lab's forwarder without crypto: 24 segments per TAP write
	// instead of 11, at the same or less lab CPU per Gbit/s. A lone
	// frame (an MKA or BFD packet on an idle link) is not held back.
	gatherTime   = 30 * time.Microsecond
	gatherFrames = 32
	streamGap    = time.Millisecond
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenPacket opens a raw AF_PACKET socket on the interface ifname. It does
// not see the frames it sends itself (PACKET_IGNORE_OUTGOING).
func OpenPacket(ifname string) (*PacketSocket, error) { return openPacket(ifname, false) }

// OpenPacketPromisc is OpenPacket on an interface that filters unicast by
// MAC address (a NIC): it also puts it in promiscuous mode, as a socket
// membership (PACKET_MR_PROMISC) that the kernel drops when the socket
// closes, also when the process is killed, so nothing is left to restore.
func OpenPacketPromisc(ifname string) (*PacketSocket, error) { return openPacket(ifname, true) }

func openPacket(ifname string, promisc bool) (*PacketSocket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %q: %w", ifname, err)
	}
	// Protocol 0 receives nothing until bind names the protocol and the
	// interface: no frame of another interface gets in first.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %q: %w", ifname, err)
	}
	fail := func(err error) (*PacketSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("AF_PACKET on %q: %w", ifname, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail(fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err))
	}
	if err := setBuffers(fd); err != nil {
		return fail(err)
	}
	var ring *rxRing
	if os.Getenv("SECYLAB_PACKET_RING") == "on" {
		// A kernel that refuses a ring still has recvmmsg.
		ring, _ = newRxRing(fd, ifaceMTU(ifi))
	}
	// The kernel takes the VLAN tag off a received frame before AF_PACKET
	// sees it; the ring's slot header or, for recvmmsg, the auxiliary
	// data gives it back.
	if ring == nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fail(fmt.Errorf("PACKET_AUXDATA: %w", err))
		}
	}
	fail = func(err error) (*PacketSocket, error) {
		if ring != nil {
			ring.close()
		}
		unix.Close(fd)
		return nil, fmt.Errorf("AF_PACKET on %q: %w", ifname, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail(fmt.Errorf("bind: %w", err))
	}
	if promisc {
		mr := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fail(fmt.Errorf("PACKET_MR_PROMISC: %w", err))
		}
	}
	s, err := newSocket(ifname, fd, packetBatch, false, false)
	if err != nil {
		if ring != nil {
			ring.close()
		}
		return nil, err
	}
	p := &PacketSocket{socket: s, ring: ring}
	if ring != nil {
		ring.truncated = &s.truncated
		p.ringFn = ring.read
	} else {
		s.aux, s.rctl = true, make([]byte, packetBatch*auxSpace)
		s.gather = true
	}
	return p, nil
}

// Read receives up to len(bufs) frames: what the ring holds, or with one
// recvmmsg; frames longer than their buffer (or the ring's slots) are
// dropped (Stats counts them).
func (s *PacketSocket) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	r := s.ring
	if r == nil {
		return s.readSegments(bufs, sizes, nil, offset)
	}
	r.bufs, r.sizes, r.off, r.n = bufs[:min(len(bufs), s.batch)], sizes, offset, 0
	err := s.rc.Read(s.ringFn)
	r.bufs, r.sizes = nil, nil // keep no buffer alive
	if r.n > 0 {
		return r.n, nil
	}
	if err == nil {
		err = net.ErrClosed
	}
	return 0, s.fail(err)
}

// Close closes the socket; a blocked Read returns net.ErrClosed.
func (s *PacketSocket) Close() error {
	err := s.socket.Close() // waits for a Read inside the ring
	if s.ring != nil {
		s.ring.close()
	}
	return err
}

// Ring reports whether frames are received from a ring.
func (s *PacketSocket) Ring() bool { return s.ring != nil }

// setBuffers makes a socket's buffers large: they absorb bursts while the
// data path is descheduled.
func setBuffers(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20); err != nil {
		return fmt.Errorf("SO_SNDBUFFORCE: %w", err)
	}
	return nil
}
