package frameio

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
	// auxSpace holds a PACKET_AUXDATA control message (tpacket_auxdata).
	auxSpace = 40
	auxLen   = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
)

// socket is the batch plumbing of a datagram or packet socket, shared by
// PacketSocket and UDP: recvmmsg and sendmmsg through the Go netpoller,
// with the state of a call kept here so that the RawConn callbacks are
// made once. With gso, runs of equal-sized datagrams are sent as one
// UDP_SEGMENT message; with gro, received buffers may hold such a run
// (UDP_GRO) and readSegments reports its segment size.
type socket struct {
	name   string
	f      *os.File
	rc     syscall.RawConn
	batch  int
	closed atomic.Bool

	gso, gro bool
	// aux: a packet socket with PACKET_AUXDATA, whose received frames get
	// back the VLAN tag the kernel took off (skb_vlan_untag) before
	// AF_PACKET saw them.
	aux bool
	// gather: a Read gathers messages while a stream flows; last is when
	// the previous Read received.
	gather bool
	last   time.Time

	rmsgs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rctl   []byte // cmsgSpace per message with gro, auxSpace with aux
	rn     int
	rmax   int
	rerr   error
	readFn func(fd uintptr) bool

	wmsgs   []unix.Mmsghdr
	wiovs   []unix.Iovec
	wctl    []byte // cmsgSpace per message, with gso
	wcount  []int  // datagrams in each message
	wtotal  int    // messages planned
	wn      int    // messages sent
	wsent   int    // datagrams sent or dropped
	werr    error
	wgsoErr bool // the kernel refused a GSO send: resend without
	writeFn func(fd uintptr) bool

	truncated atomic.Uint64
	gsoSends  atomic.Uint64
	groRecvs  atomic.Uint64
}

// newSocket wraps fd, a non-blocking socket, for batches of batch messages.
func newSocket(name string, fd int, batch int, gso, gro bool) (*socket, error) {
	s := &socket{
		name: name, f: os.NewFile(uintptr(fd), name), batch: batch, gso: gso, gro: gro,
		rmsgs: make([]unix.Mmsghdr, batch), riovs: make([]unix.Iovec, batch),
		wmsgs: make([]unix.Mmsghdr, batch), wiovs: make([]unix.Iovec, batch), wcount: make([]int, batch),
	}
	if gro {
		s.rctl = make([]byte, batch*cmsgSpace)
	}
	if gso {
		s.wctl = make([]byte, batch*cmsgSpace)
	}
	var err error
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, err
	}
	for i := range s.rmsgs {
		s.rmsgs[i].Hdr.Iov = &s.riovs[i]
		s.rmsgs[i].Hdr.Iovlen = 1
	}
	s.readFn, s.writeFn = s.read, s.write
	return s, nil
}

// Name names the socket: its interface or its local address.
func (s *socket) Name() string { return s.name }

// BatchSize is the most messages one system call moves.
func (s *socket) BatchSize() int { return s.batch }

// Close closes the socket; a blocked Read returns net.ErrClosed.
func (s *socket) Close() error {
	s.closed.Store(true)
	return s.f.Close()
}

// Stats returns the counters.
func (s *socket) Stats() SocketStats {
	return SocketStats{Truncated: s.truncated.Load(), GSOSends: s.gsoSends.Load(), GRORecvs: s.groRecvs.Load()}
}

func (s *socket) fail(err error) error {
	if s.closed.Load() {
		return errClosed(s.name)
	}
	return err
}

func (s *socket) read(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rmsgs[0])), uintptr(s.rmax), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			s.rn = int(n)
			if s.gather {
				s.gatherMore(fd)
			}
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case unix.ECONNREFUSED:
			continue // an ICMP error for an earlier send: not ours to fail on
		default:
			s.rerr = errno
			return true
		}
	}
}

// readSegments receives up to min(len(bufs), BatchSize) messages with one
// recvmmsg, message i at bufs[i][offset:offset+sizes[i]]; a message that
// did not fit its buffer is dropped. segs may be nil; if not, segs[i] is
// the size of the datagrams of a run received whole with UDP_GRO (the last
// may be shorter), else 0.
func (s *socket) readSegments(bufs [][]byte, sizes, segs []int, offset int) (int, error) {
	s.rmax = min(len(bufs), s.batch)
	for i := 0; i < s.rmax; i++ {
		b := bufs[i][offset:]
		s.riovs[i].Base = unsafe.SliceData(b)
		s.riovs[i].SetLen(len(b))
		h := &s.rmsgs[i].Hdr
		h.Flags = 0
		switch {
		case s.gro:
			h.Control = &s.rctl[i*cmsgSpace]
			h.SetControllen(cmsgSpace)
		case s.aux:
			s.riovs[i].SetLen(len(b) - 4) // room for the tag to put back
			h.Control = &s.rctl[i*auxSpace]
			h.SetControllen(auxSpace)
		}
	}
	s.rn, s.rerr = 0, nil
	err := s.rc.Read(s.readFn)
	clear(s.riovs[:s.rmax]) // keep no buffer alive
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return 0, s.fail(err)
	}
	// Drop truncated messages by compacting the batch.
	n := 0
	for i := 0; i < s.rn; i++ {
		h := &s.rmsgs[i].Hdr
		if h.Flags&unix.MSG_TRUNC != 0 {
			s.truncated.Add(1)
			continue
		}
		if n != i {
			bufs[n], bufs[i] = bufs[i], bufs[n]
		}
		sizes[n] = int(s.rmsgs[i].Len)
		if s.aux {
			sizes[n] = retag(bufs[n][offset:], sizes[n], s.rctl[i*auxSpace:i*auxSpace+int(h.Controllen)])
		}
		if segs != nil {
			segs[n] = 0
			if s.gro && int(h.Controllen) >= unix.CmsgLen(4) {
				ctl := s.rctl[i*cmsgSpace : i*cmsgSpace+int(h.Controllen)]
				if g := groSize(ctl); g > 0 && g < sizes[n] {
					segs[n] = g
					s.groRecvs.Add(1)
				}
			}
		}
		n++
	}
	return n, nil
}

// retag puts back into frame (size octets, room for 4 more) the VLAN tag
// that a PACKET_AUXDATA control message in ctl says the kernel took off,
// and returns the new size. The kernel untags every 802.1Q/802.1ad frame
// it receives before AF_PACKET sees it; only with MACsec off is a tag
// outside the secure data, so this runs for clear tagged frames alone.
func retag(frame []byte, size int, ctl []byte) int {
	if size < 12 || len(ctl) < unix.CmsgLen(auxLen) {
		return size
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
	if h.Level != unix.SOL_PACKET || h.Type != unix.PACKET_AUXDATA || int(h.Len) < unix.CmsgLen(auxLen) {
		return size
	}
	a := (*unix.TpacketAuxdata)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
	if a.Status&unix.TP_STATUS_VLAN_VALID == 0 {
		return size
	}
	tpid := uint16(0x8100)
	if a.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
		tpid = a.Vlan_tpid
	}
	return putTag(frame, size, tpid, a.Vlan_tci)
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

// gatherMore receives more messages after the first recvmmsg of a Read,
// while a stream flows (see gatherTime), until the Read has gatherFrames
// or gatherTime has passed.
func (s *socket) gatherMore(fd uintptr) {
	now := time.Now()
	streaming := now.Sub(s.last) < streamGap
	s.last = now
	if !streaming {
		return
	}
	for s.rn < min(gatherFrames, s.rmax) && time.Since(now) < gatherTime {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rmsgs[s.rn])), uintptr(s.rmax-s.rn), unix.MSG_DONTWAIT, 0, 0)
		if errno == 0 {
			s.rn += int(n)
		} else if errno != unix.EAGAIN && errno != unix.EINTR {
			return // the next Read meets it
		}
	}
}

func (s *socket) write(fd uintptr) bool {
	for s.wn < s.wtotal {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.wmsgs[s.wn])), uintptr(s.wtotal-s.wn), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			for range n {
				s.wsent += s.wcount[s.wn]
				if s.wcount[s.wn] > 1 {
					s.gsoSends.Add(1)
				}
				s.wn++
			}
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			return false
		case unix.EIO:
			if s.wcount[s.wn] > 1 {
				// No segmentation offload on this path (say, xfrm
				// on the outer route): send one datagram a message.
				s.wgsoErr = true
				return true
			}
			s.werr = errno
			return true
		case unix.EMSGSIZE, unix.ECONNREFUSED:
			// Dropped, not fatal: too big for the link, or the peer
			// is not there yet.
			s.wsent += s.wcount[s.wn]
			s.wn++
		default:
			s.werr = errno
			return true
		}
	}
	return true
}

// plan lays bufs[i][offset:] out as messages, up to BatchSize datagrams:
// with gso, each run of datagrams of one size (the last of a run may be
// shorter) is one message.
func (s *socket) plan(bufs [][]byte, offset int) {
	s.wtotal, s.wn, s.wsent = 0, 0, 0
	i := 0
	for i < len(bufs) && i < s.batch {
		first := i
		size, total := len(bufs[i])-offset, 0
		for i < len(bufs) && i < s.batch {
			b := bufs[i][offset:]
			l := len(b)
			if i > first && (!s.gso || l > size || i-first >= maxGSOSegs || total+l > maxGSOBytes) {
				break
			}
			s.wiovs[i].Base = unsafe.SliceData(b)
			s.wiovs[i].SetLen(l)
			total += l
			i++
			if l < size {
				break // a short datagram ends a run
			}
		}
		m := &s.wmsgs[s.wtotal]
		m.Hdr = unix.Msghdr{Iov: &s.wiovs[first]}
		m.Hdr.SetIovlen(i - first)
		if i-first > 1 {
			b := s.wctl[s.wtotal*cmsgSpace : (s.wtotal+1)*cmsgSpace]
			h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
			h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(b[unix.SizeofCmsghdr:], uint16(size))
			m.Hdr.Control = &b[0]
			m.Hdr.SetControllen(unix.CmsgSpace(2))
		}
		s.wcount[s.wtotal] = i - first
		s.wtotal++
	}
}

// Write sends bufs[i][offset:] with as few sendmmsg calls as the kernel
// allows. Datagrams the kernel refuses as too long (or, on a connected UDP
// socket, for want of a listener) are dropped and counted as sent.
func (s *socket) Write(bufs [][]byte, offset int) (int, error) {
	sent := 0
	for len(bufs) > 0 {
		s.plan(bufs, offset)
		s.werr, s.wgsoErr = nil, false
		err := s.rc.Write(s.writeFn)
		sent += s.wsent
		bufs = bufs[s.wsent:]
		if err == nil {
			err = s.werr
		}
		if err != nil {
			clear(s.wiovs)
			return sent, s.fail(err)
		}
		if s.wgsoErr {
			s.gso = false
		}
	}
	clear(s.wiovs) // keep no buffer alive
	return sent, nil
}
