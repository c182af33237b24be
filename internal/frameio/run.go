package frameio

import (
	"context"
	"errors"
)

// Batch is one direction's buffers of a data path, allocated once: Bufs
// (Size octets each) with Sizes and Segs for a Read, and Out for the
// frames to Write.
type Batch struct {
	Bufs  [][]byte
	Sizes []int
	Segs  []int // for ReadSegments
	Out   [][]byte
}

// NewBatch allocates n buffers of size octets and room for outCap frames
// to write.
func NewBatch(n, size, outCap int) *Batch {
	ints := make([]int, 2*n)
	b := &Batch{Bufs: make([][]byte, n), Sizes: ints[:n:n], Segs: ints[n:], Out: make([][]byte, 0, outCap)}
	mem := make([]byte, n*size)
	for i := range b.Bufs {
		b.Bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return b
}

// Run is the skeleton of a data path: it runs each loop (one direction,
// moving frames until its devices fail) in its own goroutine until ctx is
// done or a loop returns; then it calls stop, which must close the devices
// so that the other loops return, and waits for them. It returns the
// first loop's error, or nil if that was only a device closing.
func Run(ctx context.Context, stop func(), loops ...func() error) error {
	errc := make(chan error, len(loops))
	for _, loop := range loops {
		go func() { errc <- loop() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		loops = loops[1:]
	}
	stop()
	for range loops {
		<-errc // each ends on its closed device
	}
	if err == nil || IsClosed(err) || errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}
