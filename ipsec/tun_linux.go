package ipsec

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/offload"
)

// tun is a TUN device (IFF_TUN|IFF_NO_PI) opened in the calling thread's
// network namespace; it disappears when closed. If the kernel accepts it,
// the device has TCP segmentation offload both ways (IFF_VNET_HDR with
// TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6): a read may be a TCP super-packet of
// up to 64 KiB, which readBatch cuts into segments, and writeBatch
// coalesces in-order segments of a TCP flow into one super-packet per
// write. Without offloads each read and write is one IP packet.
type tun struct {
	name    string
	f       *os.File
	rc      syscall.RawConn
	offload bool

	// Per-call state of readBatch and writeBatch, so that the callbacks
	// handed to RawConn are allocated once. One goroutine reads, one
	// writes.
	rbufs   [][]byte
	rsizes  []int
	roff, n int
	rerr    error
	readFn  func(fd uintptr) bool
	wpkts   [][]byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
	refused atomic.Uint64 // packets the kernel refused on write

	// Offload state: rbuf holds one read, a super-packet that gso cuts
	// into the caller's buffers, across calls if they are too few. A
	// planned write: whdr holds the virtio header (and the headers of a
	// coalesced super-packet), wiovs the iovecs, wrun how many packets it
	// carries (0: none planned).
	rbuf  []byte
	gso   offload.GSO
	whdr  []byte
	wiovs []unix.Iovec
	wrun  int

	stats tunCounters
}

type tunCounters struct {
	reads, superPackets, segments, writes, coalesced, bad atomic.Uint64
}

// tunReadBuf holds one read with offloads: the virtio header and an IP
// packet of up to 64 KiB.
const tunReadBuf = offload.VirtioNetHdrLen + 65535 + 1

// openTUN opens the TUN device name with offloads if the kernel allows,
// else without.
func openTUN(name string) (*tun, error) {
	t, err := openTUNMode(name, true)
	if err == nil {
		return t, nil
	}
	return openTUNMode(name, false)
}

func openTUNMode(name string, withOffload bool) (*tun, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	fail := func(what string, err error) (*tun, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("TUN %q: %s%w", name, what, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fail("", err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if withOffload {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fail("TUNSETIFF: ", err)
	}
	if withOffload {
		// TSO needs the device to take partial checksums (CSUM). ECN and
		// UDP segmentation stay off: the kernel segments those itself.
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6); err != nil {
			return fail("TUNSETOFFLOAD: ", err)
		}
	}
	return newTUN(name, os.NewFile(uintptr(fd), "tun:"+name), withOffload)
}

// newTUN wraps f, a non-blocking file that reads and writes one packet
// per call, each behind a virtio header if withOffload.
func newTUN(name string, f *os.File, withOffload bool) (*tun, error) {
	t := &tun{name: name, f: f, offload: withOffload}
	var err error
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, err
	}
	t.readFn, t.writeFn = t.read, t.write
	if withOffload {
		t.readFn, t.writeFn = t.readOffload, t.writeOffload
		t.rbuf = make([]byte, tunReadBuf)
		t.whdr = make([]byte, offload.MaxGROHeader)
		t.wiovs = make([]unix.Iovec, 0, offload.MaxGROSegs+1)
	}
	return t, nil
}

func (t *tun) Close() error { return t.f.Close() }

func (t *tun) read(fd uintptr) bool {
	for t.n < len(t.rbufs) {
		m, err := unix.Read(int(fd), t.rbufs[t.n][t.roff:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return t.n > 0 // nothing yet: park in the poller
		case err != nil:
			t.rerr = err
			return true
		}
		t.rsizes[t.n] = m
		t.n++
	}
	return true
}

// readOffload reads until the queue is empty or the buffers are full,
// cutting super-packets into segments. A super-packet that does not fit
// stays in t.gso for the next call, so no packet is lost or reordered.
// Partial checksums are completed: what leaves the tunnel is whole.
func (t *tun) readOffload(fd uintptr) bool {
	var reads, supers, segs, bad uint64
	defer func() {
		t.stats.reads.Add(reads)
		t.stats.superPackets.Add(supers)
		t.stats.segments.Add(segs)
		t.stats.bad.Add(bad)
	}()
	for t.n < len(t.rbufs) {
		if t.gso.Pending() {
			for t.n < len(t.rbufs) && t.gso.Pending() {
				if m := t.gso.Cut(t.rbufs[t.n][t.roff:]); m > 0 {
					t.rsizes[t.n] = m
					t.n++
					segs++
				} else {
					bad++
				}
			}
			continue
		}
		m, err := unix.Read(int(fd), t.rbuf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return t.n > 0
		case err != nil:
			t.rerr = err
			return true
		}
		reads++
		if m <= offload.VirtioNetHdrLen || m == len(t.rbuf) {
			bad++ // cannot happen with the sizes the kernel uses
			continue
		}
		var h offload.VirtioNetHdr
		h.Decode(t.rbuf)
		pkt := t.rbuf[offload.VirtioNetHdrLen:m]
		if h.GSOType != offload.GSONone {
			if t.gso.Init(pkt, &h, offload.LinkIP) != nil {
				bad++
			} else {
				supers++
			}
			continue
		}
		if h.Flags&offload.FlagNeedsCsum != 0 && offload.CompleteChecksum(pkt, &h) != nil {
			bad++
			continue
		}
		b := t.rbufs[t.n][t.roff:]
		if len(b) < len(pkt) {
			bad++
			continue
		}
		t.rsizes[t.n] = copy(b, pkt)
		t.n++
	}
	return true
}

// readBatch waits for a packet, then reads until the queue is empty or
// bufs are full: packet i lands at bufs[i][offset:offset+sizes[i]].
func (t *tun) readBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	t.rbufs, t.rsizes, t.roff, t.n, t.rerr = bufs, sizes, offset, 0, nil
	err := t.rc.Read(t.readFn)
	t.rbufs, t.rsizes = nil, nil
	if t.n > 0 {
		return t.n, nil
	}
	if err == nil {
		err = t.rerr
	}
	return 0, err
}

func (t *tun) write(fd uintptr) bool {
	for t.wn < len(t.wpkts) {
		_, err := unix.Write(int(fd), t.wpkts[t.wn])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMSGSIZE):
			t.refused.Add(1) // a packet the device refuses is dropped, not fatal
		case err != nil:
			t.werr = err
			return true
		}
		t.wn++
	}
	return true
}

// planWrite prepares the write of the next packets: a run of TCP segments
// coalesced into one super-packet, or a single packet.
func (t *tun) planWrite() {
	pkts := t.wpkts[t.wn:]
	// ESP's ICV proves the inner packet is the one the peer sealed, not
	// that its checksums are right (the peer's stack or a raw socket may
	// have got them wrong), and the kernel trusts the payload of a
	// NEEDS_CSUM super-packet: so only segments whose checksums verify
	// are coalesced, as GRO on a NIC would.
	n, fs, payload, valid := offload.GRORun(pkts, offload.LinkIP, true)
	t.wiovs = t.wiovs[:0]
	if n > 1 {
		hl := offload.GROHeader(t.whdr, pkts[:n], fs, payload)
		t.wiovs = appendIovec(t.wiovs, t.whdr[:hl])
		for _, p := range pkts[:n] {
			t.wiovs = appendIovec(t.wiovs, p[fs.HdrLen():])
		}
		t.wrun = n
		return
	}
	h := offload.VirtioNetHdr{}
	if valid {
		h.Flags = offload.FlagDataValid
	}
	h.Encode(t.whdr)
	t.wiovs = appendIovec(t.wiovs, t.whdr[:offload.VirtioNetHdrLen])
	t.wiovs = appendIovec(t.wiovs, pkts[0])
	t.wrun = 1
}

func appendIovec(iovs []unix.Iovec, b []byte) []unix.Iovec {
	if len(b) == 0 {
		return iovs
	}
	iovs = append(iovs, unix.Iovec{Base: &b[0]})
	iovs[len(iovs)-1].SetLen(len(b))
	return iovs
}

// writeOffload writes the packets, coalesced where it can, with one writev
// per super-packet or single packet.
func (t *tun) writeOffload(fd uintptr) bool {
	var writes, coalesced uint64
	defer func() {
		t.stats.writes.Add(writes)
		t.stats.coalesced.Add(coalesced)
	}()
	for t.wn < len(t.wpkts) {
		if t.wrun == 0 {
			t.planWrite()
		}
		_, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(unsafe.SliceData(t.wiovs))), uintptr(len(t.wiovs)))
		switch errno {
		case 0:
			writes++
			if t.wrun > 1 {
				coalesced += uint64(t.wrun)
			}
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // keep the planned write for when the device is writable
		case unix.EINVAL, unix.EMSGSIZE, unix.EFAULT:
			t.refused.Add(uint64(t.wrun)) // refused, dropped: not fatal
		default:
			t.werr = errno
			return true
		}
		t.wn += t.wrun
		t.wrun = 0
	}
	return true
}

// writeBatch writes the packets: one write each without offloads,
// coalesced TCP segments per write with them. It returns how many packets
// it wrote or dropped.
func (t *tun) writeBatch(pkts [][]byte) (int, error) {
	t.wpkts, t.wn, t.wrun, t.werr = pkts, 0, 0, nil
	err := t.rc.Write(t.writeFn)
	t.wpkts = nil
	if t.offload {
		clear(t.wiovs[:cap(t.wiovs)]) // keep no packet alive
	}
	if err == nil {
		err = t.werr
	}
	return t.wn, err
}
