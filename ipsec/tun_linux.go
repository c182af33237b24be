package ipsec

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// tun is a TUN device (IFF_TUN|IFF_NO_PI): each read and write is one IP
// packet. It is opened in the calling thread's network namespace and
// disappears when closed.
type tun struct {
	name string
	f    *os.File
	rc   syscall.RawConn

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
}

func openTUN(name string) (*tun, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUN %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUN %q: TUNSETIFF: %w", name, err)
	}
	t := &tun{name: name, f: os.NewFile(uintptr(fd), "tun:"+name)}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, err
	}
	t.readFn, t.writeFn = t.read, t.write
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

// writeBatch writes the packets, one write each.
func (t *tun) writeBatch(pkts [][]byte) (int, error) {
	t.wpkts, t.wn, t.werr = pkts, 0, nil
	err := t.rc.Write(t.writeFn)
	t.wpkts = nil
	if err == nil {
		err = t.werr
	}
	return t.wn, err
}
