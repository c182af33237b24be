package frameio

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// PacketSocket is an AF_PACKET socket bound to one interface, opened in the
// calling thread's network namespace. It receives with recvmmsg and sends
// with sendmmsg, BatchSize frames per system call.
type PacketSocket struct{ *socket }

var _ Device = (*PacketSocket)(nil)

// packetBatch is a PacketSocket's BatchSize.
const packetBatch = 64

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenPacket opens a raw AF_PACKET socket on the interface ifname. It does
// not see the frames it sends itself (PACKET_IGNORE_OUTGOING).
func OpenPacket(ifname string) (*PacketSocket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %q: %w", ifname, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
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
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail(fmt.Errorf("bind: %w", err))
	}
	s, err := newSocket(ifname, fd, packetBatch, false, false)
	if err != nil {
		return nil, err
	}
	return &PacketSocket{s}, nil
}

// Read receives up to len(bufs) frames with one recvmmsg; frames longer
// than their buffer are dropped (Stats counts them).
func (s *PacketSocket) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return s.readSegments(bufs, sizes, nil, offset)
}

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
