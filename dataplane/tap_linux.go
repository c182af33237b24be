package dataplane

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// TAP is a TAP device opened in the calling thread's network namespace.
// Frames carry no extra header (IFF_NO_PI).
type TAP struct {
	name string
	f    *os.File
	rc   syscall.RawConn

	// Per-call state of ReadBatch and WriteBatch, kept here so that the
	// callbacks handed to RawConn are allocated once, not per batch. Each
	// of the two is called from one goroutine at a time.
	rbufs   [][]byte
	rsizes  []int
	roff, n int
	rerr    error
	readFn  func(fd uintptr) bool
	wframes [][]byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
}

var _ Device = (*TAP)(nil)

// OpenTAP creates (or attaches to) the TAP device name in the current
// network namespace. The device disappears when it is closed, so a crashed
// lab leaves no TAP behind.
func OpenTAP(name string) (*TAP, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TAP %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TAP %q: TUNSETIFF: %w", name, err)
	}
	t := &TAP{name: name, f: os.NewFile(uintptr(fd), "tap:"+name)}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, err
	}
	t.readFn, t.writeFn = t.read, t.write
	return t, nil
}

// Name returns the interface name.
func (t *TAP) Name() string { return t.name }

// Close closes the device; a blocked ReadBatch returns an error.
func (t *TAP) Close() error { return t.f.Close() }

func (t *TAP) read(fd uintptr) bool {
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

// ReadBatch reads frames until the TAP queue is empty or bufs are full.
func (t *TAP) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
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

func (t *TAP) write(fd uintptr) bool {
	for t.wn < len(t.wframes) {
		_, err := unix.Write(int(fd), t.wframes[t.wn])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMSGSIZE):
			// A frame the device refuses is dropped, not fatal.
		case err != nil:
			t.werr = err
			return true
		}
		t.wn++
	}
	return true
}

// WriteBatch writes each frame to the TAP (a TAP without virtio headers
// takes one frame per write).
func (t *TAP) WriteBatch(frames [][]byte) (int, error) {
	t.wframes, t.wn, t.werr = frames, 0, nil
	err := t.rc.Write(t.writeFn)
	t.wframes = nil
	if err == nil {
		err = t.werr
	}
	return t.wn, err
}
