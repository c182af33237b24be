package frameio

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/offload"
)

// tunDevice is what TAP and TUN share: a file of Linux's tun driver
// that reads and writes one frame (or IP packet) per call, each behind a
// virtio-net header when the device was opened with offloads.
type tunDevice struct {
	name    string
	f       *os.File
	rc      syscall.RawConn
	mode    mode
	offload bool
	// uso: the kernel took TUN_F_USO4|USO6 as well, so UDP datagrams of
	// a flow are coalesced on write and UDP super-frames may be read.
	uso    bool
	closed atomic.Bool

	// Per-call state of Read and Write, kept here so that the callbacks
	// handed to RawConn are allocated once, not per batch. Each of the two
	// is called from one goroutine at a time.
	rbufs    [][]byte
	rsizes   []int
	roff, n  int
	rerr     error
	readFn   func(fd uintptr) bool
	wframes  [][]byte
	wscratch [][]byte // the frames of a Write with an offset
	wn       int
	werr     error
	writeFn  func(fd uintptr) bool

	// Offload state: the read buffer holds one super-frame, which gso
	// cuts into the caller's buffers, across calls if they are too few.
	rbuf []byte
	gso  offload.GSO
	// A planned write: whdr holds the virtio header (and the headers of
	// a coalesced super-frame), wiovs the iovecs, wrun how many frames
	// the write carries (0: none planned).
	whdr  []byte
	wiovs []unix.Iovec
	wrun  int
	// trustChecksums skips verifying the checksums of frames written to
	// the kernel; only for measuring what the verification costs.
	trustChecksums bool

	stats tunCounters
}

// TAP is a TAP device opened in the calling thread's network namespace:
// it reads and writes Ethernet frames without an extra header
// (IFF_NO_PI). A TAP opened with OpenTAPOffload also exchanges TCP
// super-frames with the kernel (see there); Read and Write still move
// ordinary frames.
type TAP struct{ *tunDevice }

// TUN is a TUN device opened in the calling thread's network namespace: a
// TAP's sibling that reads and writes bare IP packets.
type TUN struct{ *tunDevice }

var (
	_ Device = (*TAP)(nil)
	_ Device = (*TUN)(nil)
)

// Batch sizes of the devices: a TAP serves a MACsec port, a TUN an IPsec
// gateway, whose batches are larger.
const (
	tapBatch = 64
	tunBatch = 256
)

// mode is the kind of device: the TUNSETIFF flag that makes it, and the
// length of the link header its packets start with.
type mode struct {
	flag uint16 // unix.IFF_TAP or unix.IFF_TUN
	link int    // offload.LinkEthernet or offload.LinkIP
	kind string // "TAP" or "TUN", for errors and the file name
}

var (
	modeTAP = mode{flag: unix.IFF_TAP, link: offload.LinkEthernet, kind: "TAP"}
	modeTUN = mode{flag: unix.IFF_TUN, link: offload.LinkIP, kind: "TUN"}
)

type tunCounters struct {
	reads, superFrames, segments, writes, coalesced, bad, refused atomic.Uint64
}

// tapReadBuf holds one read with offloads: the virtio header and a
// super-frame of up to 64 KiB of IP packet behind Ethernet and VLAN
// headers (on a TUN, behind none).
const tapReadBuf = offload.VirtioNetHdrLen + 22 + 65535 + 1

// OpenTAP creates (or attaches to) the TAP device name in the current
// network namespace, without offloads: one frame per read and per write.
// The device disappears when it is closed, so a crashed lab leaves no TAP
// behind.
func OpenTAP(name string) (*TAP, error) {
	d, err := openDevice(name, modeTAP, false)
	if err != nil {
		return nil, err
	}
	return &TAP{d}, nil
}

// OpenTAPOffload is OpenTAP with TCP segmentation offload both ways: the
// kernel hands over TCP super-frames of up to 64 KiB, which Read cuts into
// frames, and Write coalesces in-order segments of a TCP flow
// into super-frames, so a TAP system call carries tens of frames rather
// than one. Where the kernel takes UDP segmentation offload too (USO,
// Linux 6.2 and later), the same holds for runs of datagrams of a UDP flow
// such as ESP in UDP: each datagram stays a frame of its own for the
// caller (and on a MACsec wire), only the TAP write and read carry many. Checksums left to the device are completed in software. If the
// kernel refuses IFF_VNET_HDR or TUNSETOFFLOAD, it returns a plain TAP, as
// OpenTAP; Offload tells which one it got.
//
// This is the TAP to use for a controlled port.
func OpenTAPOffload(name string) (*TAP, error) {
	d, err := openWithOffload(name, modeTAP)
	if err != nil {
		return nil, err
	}
	return &TAP{d}, nil
}

// OpenTUN creates (or attaches to) the TUN device name in the current
// network namespace. Like a TAP it disappears when closed. withOffload
// asks for TCP segmentation offload both ways, as OpenTAPOffload does, and
// falls back to a TUN without it if the kernel refuses; Offload tells which
// one it got.
func OpenTUN(name string, withOffload bool) (*TUN, error) {
	var d *tunDevice
	var err error
	if withOffload {
		d, err = openWithOffload(name, modeTUN)
	} else {
		d, err = openDevice(name, modeTUN, false)
	}
	if err != nil {
		return nil, err
	}
	return &TUN{d}, nil
}

// openWithOffload opens the device with offloads if the kernel allows,
// else without.
func openWithOffload(name string, m mode) (*tunDevice, error) {
	if d, err := openDevice(name, m, true); err == nil {
		return d, nil
	}
	return openDevice(name, m, false)
}

func openDevice(name string, m mode, withOffload bool) (*tunDevice, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	fail := func(what string, err error) (*tunDevice, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s %q: %s%w", m.kind, name, what, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fail("", err)
	}
	flags := m.flag | unix.IFF_NO_PI
	uso := false
	if withOffload {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fail("TUNSETIFF: ", err)
	}
	if withOffload {
		// TSO needs the device to take partial checksums (CSUM). UDP
		// segmentation (USO, Linux 6.2 and later) is asked for too, so
		// that runs of datagrams of a flow (ESP in UDP) cross the device
		// as one write; a kernel that refuses it gets TCP's alone. ECN
		// stays off: the kernel segments that itself.
		tso := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
		if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tso|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil {
			uso = true
		} else if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tso); err != nil {
			return fail("TUNSETOFFLOAD: ", err)
		}
	}
	t, err := newTUNDevice(name, os.NewFile(uintptr(fd), strings.ToLower(m.kind)+":"+name), m, withOffload)
	if t != nil {
		t.uso = uso
	}
	return t, err
}

// newTUNDevice wraps f, a non-blocking file that reads and writes one
// frame (of the mode's link) per call, each behind a virtio header if
// withOffload.
func newTUNDevice(name string, f *os.File, m mode, withOffload bool) (*tunDevice, error) {
	var err error
	t := &tunDevice{name: name, f: f, mode: m, offload: withOffload}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, err
	}
	t.readFn, t.writeFn = t.read, t.write
	if withOffload {
		t.readFn, t.writeFn = t.readOffload, t.writeOffload
		t.rbuf = make([]byte, tapReadBuf)
		t.whdr = make([]byte, offload.MaxGROHeader)
		t.wiovs = make([]unix.Iovec, 0, offload.MaxGROSegs+1)
	}
	return t, nil
}

// Name returns the interface name.
func (t *tunDevice) Name() string { return t.name }

// BatchSize is 64 for a TAP, 256 for a TUN.
func (t *tunDevice) BatchSize() int {
	if t.mode.flag == unix.IFF_TUN {
		return tunBatch
	}
	return tapBatch
}

// Offload reports whether the device exchanges super-frames with the kernel.
func (t *tunDevice) Offload() bool { return t.offload }

// Stats returns the counters (all but Refused zero without offloads).
func (t *tunDevice) Stats() TUNStats {
	c := &t.stats
	return TUNStats{
		Reads: c.reads.Load(), SuperFrames: c.superFrames.Load(), Segments: c.segments.Load(),
		Writes: c.writes.Load(), Coalesced: c.coalesced.Load(), Bad: c.bad.Load(),
		Refused: c.refused.Load(),
	}
}

// Close closes the device; a blocked Read returns net.ErrClosed.
func (t *tunDevice) Close() error {
	t.closed.Store(true)
	return t.f.Close()
}

func (t *tunDevice) read(fd uintptr) bool {
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
// cutting super-frames into segments. A super-frame that does not fit
// stays in t.gso for the next call, so no frame is lost or reordered.
// Partial checksums are completed: what leaves the device is whole.
func (t *tunDevice) readOffload(fd uintptr) bool {
	var reads, supers, segs, bad uint64
	defer func() {
		t.stats.reads.Add(reads)
		t.stats.superFrames.Add(supers)
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
			if t.gso.Init(pkt, &h, t.mode.link) != nil {
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

// Read reads frames until the device's queue is empty or bufs are full.
func (t *tunDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	t.rbufs, t.rsizes, t.roff, t.n, t.rerr = bufs, sizes, offset, 0, nil
	err := t.rc.Read(t.readFn)
	t.rbufs, t.rsizes = nil, nil
	if t.n > 0 {
		return t.n, nil
	}
	if err == nil {
		err = t.rerr
	}
	if t.closed.Load() {
		err = errClosed(t.name)
	}
	return 0, err
}

func (t *tunDevice) write(fd uintptr) bool {
	for t.wn < len(t.wframes) {
		_, err := unix.Write(int(fd), t.wframes[t.wn])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMSGSIZE):
			t.stats.refused.Add(1) // a frame the device refuses is dropped, not fatal
		case err != nil:
			t.werr = err
			return true
		}
		t.wn++
	}
	return true
}

// planWrite prepares the write of the next frames: a run of TCP segments
// (or, with USO, of UDP datagrams of a flow) coalesced into one
// super-frame, or a single frame.
func (t *tunDevice) planWrite() {
	frames := t.wframes[t.wn:]
	t.wiovs = t.wiovs[:0]
	var n int
	var valid bool
	if t.uso {
		var us offload.UDPSeg
		var payload int
		if n, us, payload, valid = offload.UDPRun(frames, t.mode.link, !t.trustChecksums); n > 1 {
			t.planRun(frames[:n], offload.UDPHeader(t.whdr, frames[:n], us, payload), us.HdrLen())
			return
		}
	}
	if n == 0 {
		var fs offload.TCPSeg
		var payload int
		n, fs, payload, valid = offload.GRORun(frames, t.mode.link, !t.trustChecksums)
		if n > 1 {
			t.planRun(frames[:n], offload.GROHeader(t.whdr, frames[:n], fs, payload), fs.HdrLen())
			return
		}
	}
	// A frame alone. DATA_VALID says its checksum needs no check: set
	// only for what groRun verified, as a NIC with receive checksum
	// offload would. The integrity MACsec proves does not cover this: a
	// sender's own stack (a raw socket) may have put a wrong checksum in
	// a frame that the SecY then protected faithfully, and a frame
	// arriving with MACsec off may come from anywhere on the wire. The
	// verification costs little (no difference measured in iperf3) and
	// keeps the lab's stack seeing what a real one would. Linux 6.18's
	// tun ignores DATA_VALID on write anyway and verifies single frames
	// itself; it does trust the payload of a NEEDS_CSUM super-frame, which
	// is why GRORun verifies every frame it coalesces. The same holds for
	// a TUN behind ESP: the ICV proves the inner packet is the one the peer
	// sealed, not that its checksums are right.
	h := offload.VirtioNetHdr{}
	if valid {
		h.Flags = offload.FlagDataValid
	}
	h.Encode(t.whdr)
	t.wiovs = appendIovec(t.wiovs, t.whdr[:offload.VirtioNetHdrLen])
	t.wiovs = appendIovec(t.wiovs, frames[0])
	t.wrun = 1
}

// planRun plans the write of run as one super-frame: the headers t.whdr
// holds (hl octets) and the payload of each frame, after its hdrLen
// octets of headers.
func (t *tunDevice) planRun(run [][]byte, hl, hdrLen int) {
	t.wiovs = appendIovec(t.wiovs, t.whdr[:hl])
	for _, f := range run {
		t.wiovs = appendIovec(t.wiovs, f[hdrLen:])
	}
	t.wrun = len(run)
}

func appendIovec(iovs []unix.Iovec, b []byte) []unix.Iovec {
	if len(b) == 0 {
		return iovs
	}
	iovs = append(iovs, unix.Iovec{Base: &b[0]})
	iovs[len(iovs)-1].SetLen(len(b))
	return iovs
}

// writeOffload writes the frames, coalesced where it can, with one writev
// per super-frame or single frame.
func (t *tunDevice) writeOffload(fd uintptr) bool {
	var writes, coalesced, refused uint64
	defer func() {
		t.stats.writes.Add(writes)
		t.stats.coalesced.Add(coalesced)
		t.stats.refused.Add(refused)
	}()
	for t.wn < len(t.wframes) {
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
			refused += uint64(t.wrun) // refused, dropped: not fatal
		default:
			t.werr = errno
			return true
		}
		t.wn += t.wrun
		t.wrun = 0
	}
	return true
}

// Write writes the frames bufs[i][offset:] to the device: one frame per
// write without offloads, coalesced TCP segments per write with them.
func (t *tunDevice) Write(bufs [][]byte, offset int) (int, error) {
	frames := bufs
	if offset != 0 {
		t.wscratch = t.wscratch[:0]
		for _, b := range bufs {
			t.wscratch = append(t.wscratch, b[offset:])
		}
		frames = t.wscratch
	}
	t.wframes, t.wn, t.wrun, t.werr = frames, 0, 0, nil
	err := t.rc.Write(t.writeFn)
	t.wframes = nil
	clear(t.wiovs[:cap(t.wiovs)]) // keep no frame alive
	clear(t.wscratch)
	if err == nil {
		err = t.werr
	}
	if err != nil && t.closed.Load() {
		err = errClosed(t.name)
	}
	return t.wn, err
}
