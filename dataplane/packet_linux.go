package dataplane

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PacketSocket is an AF_PACKET socket bound to one interface, opened in the
// calling thread's network namespace. It receives with recvmmsg and sends
// with sendmmsg, BatchSize frames per system call.
type PacketSocket struct {
	name string
	f    *os.File
	rc   syscall.RawConn

	rmsgs  [BatchSize]unix.Mmsghdr
	riovs  [BatchSize]unix.Iovec
	rn     int
	rmax   int
	rerr   error
	readFn func(fd uintptr) bool

	wmsgs   [BatchSize]unix.Mmsghdr
	wiovs   [BatchSize]unix.Iovec
	wtotal  int
	wn      int
	werr    error
	writeFn func(fd uintptr) bool

	truncated uint64 // frames longer than the buffer, dropped
}

var _ Device = (*PacketSocket)(nil)

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
	fail := func(what string, err error) (*PacketSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("AF_PACKET on %q: %s: %w", ifname, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	// Large buffers absorb bursts while the forwarder is descheduled.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		return fail("SO_RCVBUFFORCE", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20); err != nil {
		return fail("SO_SNDBUFFORCE", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	s := &PacketSocket{name: ifname, f: os.NewFile(uintptr(fd), "packet:"+ifname)}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, err
	}
	for i := range s.rmsgs {
		s.rmsgs[i].Hdr.Iov = &s.riovs[i]
		s.rmsgs[i].Hdr.Iovlen = 1
		s.wmsgs[i].Hdr.Iov = &s.wiovs[i]
		s.wmsgs[i].Hdr.Iovlen = 1
	}
	s.readFn, s.writeFn = s.read, s.write
	return s, nil
}

// Name returns the interface name.
func (s *PacketSocket) Name() string { return s.name }

// Close closes the socket; a blocked ReadBatch returns an error.
func (s *PacketSocket) Close() error { return s.f.Close() }

// Truncated counts received frames that did not fit a buffer.
func (s *PacketSocket) Truncated() uint64 { return s.truncated }

func (s *PacketSocket) read(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rmsgs[0])), uintptr(s.rmax), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			s.rn = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.rerr = errno
			return true
		}
	}
}

// ReadBatch receives up to len(bufs) frames with one recvmmsg.
func (s *PacketSocket) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	s.rmax = min(len(bufs), BatchSize)
	for i := 0; i < s.rmax; i++ {
		b := bufs[i][offset:]
		s.riovs[i].Base = &b[0]
		s.riovs[i].SetLen(len(b))
		s.rmsgs[i].Hdr.Flags = 0
	}
	s.rn, s.rerr = 0, nil
	err := s.rc.Read(s.readFn)
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return 0, err
	}
	// Drop truncated frames by compacting the batch.
	n := 0
	for i := 0; i < s.rn; i++ {
		if s.rmsgs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
			s.truncated++
			continue
		}
		if n != i {
			bufs[n], bufs[i] = bufs[i], bufs[n]
		}
		sizes[n] = int(s.rmsgs[i].Len)
		n++
	}
	return n, nil
}

func (s *PacketSocket) write(fd uintptr) bool {
	for s.wn < s.wtotal {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.wmsgs[s.wn])), uintptr(s.wtotal-s.wn), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			s.wn += int(n)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			return false
		case unix.EMSGSIZE:
			s.wn++ // a frame over the MTU is dropped, not fatal
		default:
			s.werr = errno
			return true
		}
	}
	return true
}

// WriteBatch sends the frames with as few sendmmsg calls as the kernel
// allows.
func (s *PacketSocket) WriteBatch(frames [][]byte) (int, error) {
	sent := 0
	for len(frames) > 0 {
		s.wtotal = min(len(frames), BatchSize)
		for i := 0; i < s.wtotal; i++ {
			s.wiovs[i].Base = &frames[i][0]
			s.wiovs[i].SetLen(len(frames[i]))
		}
		s.wn, s.werr = 0, nil
		err := s.rc.Write(s.writeFn)
		sent += s.wn
		if err == nil {
			err = s.werr
		}
		if err != nil {
			return sent, err
		}
		frames = frames[s.wtotal:]
	}
	return sent, nil
}
