package ipsec

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is the most packets one batched system call moves.
const batchSize = 256

const (
	// maxGSOSegs is the most datagrams one UDP_SEGMENT send carries
	// (the kernel's UDP_MAX_SEGMENTS, 64 before Linux 6.11).
	maxGSOSegs = 64
	// maxGSOBytes bounds the payload of one UDP_SEGMENT send: a UDP
	// datagram's length over IPv6 or IPv4.
	maxGSOBytes = 65535 - 8 - 40
	// cmsgSpace holds one control message with an int: UDP_SEGMENT on
	// send (a uint16), UDP_GRO on receive (an int).
	cmsgSpace = 24
)

// udpConn is a UDP socket connected to the peer gateway, for ESP in UDP.
// It receives with recvmmsg and sends with sendmmsg. Where the kernel
// allows, it sends runs of equal-sized datagrams as one UDP_SEGMENT
// (GSO) message, so that a run crosses the stack as one packet, and it
// receives such runs whole (UDP_GRO): readBatch then reports the segment
// size with each buffer.
type udpConn struct {
	f  *os.File
	rc syscall.RawConn

	gso, gro bool

	rmsgs  [batchSize]unix.Mmsghdr
	riovs  [batchSize]unix.Iovec
	rctl   [batchSize][cmsgSpace]byte
	rn     int
	rmax   int
	rerr   error
	readFn func(fd uintptr) bool

	wmsgs   [batchSize]unix.Mmsghdr
	wiovs   [batchSize]unix.Iovec
	wctl    [batchSize][cmsgSpace]byte
	wcount  [batchSize]int // datagrams in each message
	wtotal  int            // messages planned
	wn      int            // messages sent
	wsent   int            // datagrams sent or dropped
	werr    error
	wgsoErr bool // the kernel refused a GSO send: resend without
	writeFn func(fd uintptr) bool

	truncated atomic.Uint64
	gsoSends  atomic.Uint64 // messages sent with UDP_SEGMENT
	groRecvs  atomic.Uint64 // datagrams received coalesced
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
	// UDP segmentation offload: a probe send is not possible before the
	// peer exists, so GSO is on where the option is known and turned
	// off for good at the first send the kernel refuses (EIO).
	_, err = unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	c.gso = err == nil
	c.gro = unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, err
	}
	for i := range c.rmsgs {
		c.rmsgs[i].Hdr.Iov = &c.riovs[i]
		c.rmsgs[i].Hdr.Iovlen = 1
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
// datagram that did not fit its buffer is dropped. With UDP_GRO a buffer
// may hold a run of datagrams: segs[i] is then their size (the last may
// be shorter), else 0.
func (c *udpConn) readBatch(bufs [][]byte, sizes, segs []int, offset int) (int, error) {
	c.rmax = min(len(bufs), batchSize)
	for i := 0; i < c.rmax; i++ {
		b := bufs[i][offset:]
		c.riovs[i].Base = &b[0]
		c.riovs[i].SetLen(len(b))
		h := &c.rmsgs[i].Hdr
		h.Flags = 0
		if c.gro {
			h.Control = &c.rctl[i][0]
			h.SetControllen(cmsgSpace)
		}
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
		h := &c.rmsgs[i].Hdr
		if h.Flags&unix.MSG_TRUNC != 0 {
			c.truncated.Add(1)
			continue
		}
		if n != i {
			bufs[n], bufs[i] = bufs[i], bufs[n]
		}
		sizes[n] = int(c.rmsgs[i].Len)
		segs[n] = 0
		if c.gro && int(h.Controllen) >= unix.CmsgLen(4) {
			if s := groSize(c.rctl[i][:int(h.Controllen)]); s > 0 && s < sizes[n] {
				segs[n] = s
				c.groRecvs.Add(1)
			}
		}
		n++
	}
	return n, nil
}

// groSize returns the segment size of a UDP_GRO control message in b, or
// 0 if there is none.
func groSize(b []byte) int {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(b) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && int(h.Len) >= unix.CmsgLen(4) {
			return int(binary.NativeEndian.Uint32(b[unix.SizeofCmsghdr:]))
		}
		b = b[min(len(b), unix.CmsgSpace(int(h.Len)-unix.SizeofCmsghdr)):]
	}
	return 0
}

func (c *udpConn) write(fd uintptr) bool {
	for c.wn < c.wtotal {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.wmsgs[c.wn])), uintptr(c.wtotal-c.wn), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			for range n {
				c.wsent += c.wcount[c.wn]
				if c.wcount[c.wn] > 1 {
					c.gsoSends.Add(1)
				}
				c.wn++
			}
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			return false
		case unix.EIO:
			if c.wcount[c.wn] > 1 {
				// No segmentation offload on this path (say, xfrm
				// on the outer route): send one datagram a message.
				c.wgsoErr = true
				return true
			}
			c.werr = errno
			return true
		case unix.EMSGSIZE, unix.ECONNREFUSED:
			// Dropped, not fatal: too big, or the peer is not there yet.
			c.wsent += c.wcount[c.wn]
			c.wn++
		default:
			c.werr = errno
			return true
		}
	}
	return true
}

// plan lays pkts out as messages, up to batchSize datagrams: with GSO,
// each run of datagrams of one size (the last of a run may be shorter)
// is one message. It returns how many datagrams the messages hold.
func (c *udpConn) plan(pkts [][]byte) int {
	c.wtotal, c.wn, c.wsent = 0, 0, 0
	i := 0
	for i < len(pkts) && i < batchSize {
		first := i
		size, total := len(pkts[i]), 0
		for i < len(pkts) && i < batchSize {
			l := len(pkts[i])
			if i > first && (!c.gso || l > size || i-first >= maxGSOSegs || total+l > maxGSOBytes) {
				break
			}
			c.wiovs[i].Base = &pkts[i][0]
			c.wiovs[i].SetLen(l)
			total += l
			i++
			if l < size {
				break // a short datagram ends a run
			}
		}
		m := &c.wmsgs[c.wtotal]
		m.Hdr = unix.Msghdr{Iov: &c.wiovs[first]}
		m.Hdr.SetIovlen(i - first)
		if i-first > 1 {
			b := c.wctl[c.wtotal][:]
			h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
			h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(b[unix.SizeofCmsghdr:], uint16(size))
			m.Hdr.Control = &b[0]
			m.Hdr.SetControllen(unix.CmsgSpace(2))
		}
		c.wcount[c.wtotal] = i - first
		c.wtotal++
	}
	return i
}

// writeBatch sends the datagrams with as few sendmmsg calls as it can.
func (c *udpConn) writeBatch(pkts [][]byte) (int, error) {
	sent := 0
	for len(pkts) > 0 {
		c.plan(pkts)
		c.werr, c.wgsoErr = nil, false
		err := c.rc.Write(c.writeFn)
		sent += c.wsent
		pkts = pkts[c.wsent:]
		if err == nil {
			err = c.werr
		}
		if err != nil {
			clear(c.wiovs[:])
			return sent, err
		}
		if c.wgsoErr {
			c.gso = false
		}
	}
	clear(c.wiovs[:]) // keep no buffer alive
	return sent, nil
}
