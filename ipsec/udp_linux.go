package ipsec

import (
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is the most packets one batched system call moves.
const batchSize = 64

// udpConn is a UDP socket connected to the peer gateway, for ESP in UDP.
// It receives with recvmmsg and sends with sendmmsg.
type udpConn struct {
	f  *os.File
	rc syscall.RawConn

	rmsgs  [batchSize]unix.Mmsghdr
	riovs  [batchSize]unix.Iovec
	rn     int
	rmax   int
	rerr   error
	readFn func(fd uintptr) bool

	wmsgs   [batchSize]unix.Mmsghdr
	wiovs   [batchSize]unix.Iovec
	wtotal  int
	wn      int
	werr    error
	writeFn func(fd uintptr) bool

	truncated atomic.Uint64
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// openUDP binds local and connects to remote, in the calling thread's
// network namespace.
func openUDP(local, remote netip.AddrPort) (*udpConn, error) {
	family := unix.AF_INET
	if local.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("UDP socket: %w", err)
	}
	fail := func(what string, err error) (*udpConn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("UDP %v → %v: %s: %w", local, remote, what, err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	// Large buffers absorb bursts while the data path is descheduled.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		return fail("SO_RCVBUFFORCE", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20); err != nil {
		return fail("SO_SNDBUFFORCE", err)
	}
	if err := unix.Bind(fd, sockaddr(local)); err != nil {
		return fail("bind", err)
	}
	if err := unix.Connect(fd, sockaddr(remote)); err != nil {
		return fail("connect", err)
	}
	c := &udpConn{f: os.NewFile(uintptr(fd), "udp:"+local.String())}
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, err
	}
	for i := range c.rmsgs {
		c.rmsgs[i].Hdr.Iov = &c.riovs[i]
		c.rmsgs[i].Hdr.Iovlen = 1
		c.wmsgs[i].Hdr.Iov = &c.wiovs[i]
		c.wmsgs[i].Hdr.Iovlen = 1
	}
	c.readFn, c.writeFn = c.read, c.write
	return c, nil
}

func (c *udpConn) Close() error { return c.f.Close() }

func (c *udpConn) read(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rmsgs[0])), uintptr(c.rmax), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			c.rn = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case unix.ECONNREFUSED:
			continue // an ICMP error for an earlier send: not ours to fail on
		default:
			c.rerr = errno
			return true
		}
	}
}

// readBatch receives up to len(bufs) datagrams with one recvmmsg; a
// datagram that did not fit its buffer is dropped.
func (c *udpConn) readBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	c.rmax = min(len(bufs), batchSize)
	for i := 0; i < c.rmax; i++ {
		b := bufs[i][offset:]
		c.riovs[i].Base = &b[0]
		c.riovs[i].SetLen(len(b))
		c.rmsgs[i].Hdr.Flags = 0
	}
	c.rn, c.rerr = 0, nil
	err := c.rc.Read(c.readFn)
	if err == nil {
		err = c.rerr
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for i := 0; i < c.rn; i++ {
		if c.rmsgs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
			c.truncated.Add(1)
			continue
		}
		if n != i {
			bufs[n], bufs[i] = bufs[i], bufs[n]
		}
		sizes[n] = int(c.rmsgs[i].Len)
		n++
	}
	return n, nil
}

func (c *udpConn) write(fd uintptr) bool {
	for c.wn < c.wtotal {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.wmsgs[c.wn])), uintptr(c.wtotal-c.wn), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			c.wn += int(n)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			return false
		case unix.EMSGSIZE, unix.ECONNREFUSED:
			c.wn++ // dropped, not fatal: too big, or the peer is not there yet
		default:
			c.werr = errno
			return true
		}
	}
	return true
}

// writeBatch sends the datagrams with as few sendmmsg calls as it can.
func (c *udpConn) writeBatch(pkts [][]byte) (int, error) {
	sent := 0
	for len(pkts) > 0 {
		c.wtotal = min(len(pkts), batchSize)
		for i := 0; i < c.wtotal; i++ {
			c.wiovs[i].Base = &pkts[i][0]
			c.wiovs[i].SetLen(len(pkts[i]))
		}
		c.wn, c.werr = 0, nil
		err := c.rc.Write(c.writeFn)
		sent += c.wn
		if err == nil {
			err = c.werr
		}
		if err != nil {
			return sent, err
		}
		pkts = pkts[c.wtotal:]
	}
	return sent, nil
}
