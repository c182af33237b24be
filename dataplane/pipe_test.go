package dataplane

import (
	"bytes"
	"errors"
	"sync"
)

// pipe is an in-memory Device: frames written to one end are read from
// the other.
type pipe struct {
	name string
	in   <-chan []byte
	out  chan<- []byte
	done chan struct{}
	once sync.Once
}

func newPipe(a, b string) (*pipe, *pipe) {
	ab, ba := make(chan []byte, 4096), make(chan []byte, 4096)
	return &pipe{name: a, in: ba, out: ab, done: make(chan struct{})},
		&pipe{name: b, in: ab, out: ba, done: make(chan struct{})}
}

func (p *pipe) Name() string { return p.name }

func (p *pipe) Close() error { p.once.Do(func() { close(p.done) }); return nil }

func (p *pipe) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	var f []byte
	select {
	case f = <-p.in:
	case <-p.done:
		return 0, errClosed
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n][offset:], f)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case f = <-p.in:
		default:
			return n, nil
		}
	}
}

func (p *pipe) WriteBatch(frames [][]byte) (int, error) {
	for i, f := range frames {
		select {
		case p.out <- bytes.Clone(f):
		case <-p.done:
			return i, errors.New("pipe closed")
		}
	}
	return len(frames), nil
}
