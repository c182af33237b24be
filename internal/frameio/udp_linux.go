package frameio

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// UDP is a UDP socket bound to a local address and connected to one peer,
// opened in the calling thread's network namespace: the carrier of ESP in
// UDP. It receives with recvmmsg and sends with sendmmsg. Where the kernel
// allows, Write sends runs of equal-sized datagrams as one UDP_SEGMENT
// (GSO) message, so that a run crosses the stack as one packet, and such
// runs are received whole (UDP_GRO): ReadSegments reports the segment size
// with each buffer. Like wireguard-go's conn.Bind, and unlike a Device, it
// has no Read that would have to copy a run apart.
type UDP struct{ *socket }

// udpBatch is a UDP socket's BatchSize.
const udpBatch = 256

// Sockaddr is ap as the unix package takes it.
func Sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// OpenUDP binds local and connects to remote, in the calling thread's
// network namespace.
func OpenUDP(local, remote netip.AddrPort) (*UDP, error) {
	family := unix.AF_INET
	if local.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("UDP socket: %w", err)
	}
	fail := func(err error) (*UDP, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("UDP %v → %v: %w", local, remote, err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := setBuffers(fd); err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, Sockaddr(local)); err != nil {
		return fail(fmt.Errorf("bind: %w", err))
	}
	if err := unix.Connect(fd, Sockaddr(remote)); err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	// UDP segmentation offload: a probe send is not possible before the
	// peer exists, so GSO is on where the option is known and turned off
	// for good at the first send the kernel refuses (EIO).
	_, err = unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	gso := err == nil
	gro := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
	s, err := newSocket("udp:"+local.String(), fd, udpBatch, gso, gro)
	if err != nil {
		return nil, err
	}
	return &UDP{s}, nil
}

// ReadSegments receives up to len(bufs) datagrams with one recvmmsg,
// datagram i at bufs[i][offset:offset+sizes[i]]; a datagram that did not
// fit its buffer is dropped. With UDP_GRO a buffer may hold a run of
// datagrams back to back: segs[i] is then their size (the last may be
// shorter), else 0.
func (u *UDP) ReadSegments(bufs [][]byte, sizes, segs []int, offset int) (int, error) {
	return u.readSegments(bufs, sizes, segs, offset)
}

// Send sends one datagram to the connected peer, beside the batches of
// Write (which it does not disturb): for a key exchange that shares the
// ESP-in-UDP port, such as IKE behind the non-ESP marker (RFC 3948 §2.2).
func (u *UDP) Send(p []byte) error {
	var serr error
	err := u.rc.Write(func(fd uintptr) bool {
		_, serr = unix.Write(int(fd), p)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return u.fail(err)
	}
	return serr
}
