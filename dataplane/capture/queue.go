package capture

import (
	"sync"
	"sync/atomic"
	"time"
)

// Sink is where a Queue writes: a Writer, or a Ring of files.
type Sink interface {
	Write(Packet) error
	Flush() error
	SnapLen() int
}

// Queue takes frames off a forwarding path and writes them from a goroutine
// of its own, so the data plane never waits on a file or a socket. It copies
// only the snap length of each frame. When the writer falls behind, frames
// are dropped and counted, not queued without bound.
type Queue struct {
	w       Sink
	snap    int
	ch      chan queued
	limit   uint64 // stop after this many frames; 0: no limit
	written atomic.Uint64
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{} // closed when the writer goroutine ends
	once    sync.Once
	err     error
	bufs    sync.Pool // *[]byte, so that a capture does not allocate per frame
}

type queued struct {
	ts     time.Time
	buf    *[]byte
	length int // on the wire
}

// NewQueue starts writing to w: up to size frames wait in the queue, the
// writer is flushed every flushEvery, and it stops after limit frames
// (0: when closed).
func NewQueue(w Sink, size int, flushEvery time.Duration, limit int) *Queue {
	q := &Queue{w: w, snap: w.SnapLen(), ch: make(chan queued, size), limit: uint64(max(limit, 0)), stop: make(chan struct{}), done: make(chan struct{})}
	bufSize := min(q.snap, 2048)
	q.bufs.New = func() any { b := make([]byte, 0, bufSize); return &b }
	go q.run(flushEvery)
	return q
}

// Capture queues a copy of frame, up to the snap length; it never blocks.
func (q *Queue) Capture(ts time.Time, frame []byte) {
	b := q.bufs.Get().(*[]byte)
	*b = append((*b)[:0], frame[:min(len(frame), q.snap)]...)
	select {
	case q.ch <- queued{ts, b, len(frame)}:
	default:
		q.bufs.Put(b)
		q.dropped.Add(1)
	}
}

// pollEvery is how often the writer takes what is queued. The writer
// polls rather than waits on the channel: a writer that keeps up would
// otherwise park after each frame and the forwarding path would wake it
// for the next, a scheduler round trip per frame (tens of thousands a
// second on a busy link), taken from the forwarding and control goroutines
// of the same process.
const pollEvery = 5 * time.Millisecond

func (q *Queue) run(flushEvery time.Duration) {
	defer close(q.done)
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	lastFlush := time.Now()
	for {
		select {
		case <-q.stop:
			// What was queued before Close is written too.
			if q.drain(len(q.ch)) {
				q.finish(q.w.Flush())
			}
			return
		case now := <-t.C:
			// At most a queue's worth each time, so a writer that falls
			// behind still flushes and notices Close.
			if !q.drain(cap(q.ch)) {
				return
			}
			if now.Sub(lastFlush) >= flushEvery {
				lastFlush = now
				if err := q.w.Flush(); err != nil {
					q.finish(err)
					return
				}
			}
		}
	}
}

// drain writes up to n queued frames; false when the queue has stopped
// writing (the limit reached, or a write failed).
func (q *Queue) drain(n int) bool {
	for range n {
		select {
		case f := <-q.ch:
			if !q.write(f) {
				return false
			}
		default:
			return true
		}
	}
	return true
}

// write writes one frame; false when the queue has stopped writing.
func (q *Queue) write(f queued) bool {
	defer q.bufs.Put(f.buf)
	if q.err != nil {
		return false
	}
	if err := q.w.Write(Packet{Timestamp: f.ts, Data: *f.buf, Length: f.length}); err != nil {
		q.finish(err)
		return false
	}
	if n := q.written.Add(1); q.limit > 0 && n >= q.limit {
		q.finish(q.w.Flush())
		return false
	}
	return true
}

func (q *Queue) finish(err error) {
	if q.err == nil {
		q.err = err
	}
}

// Done is closed when the queue has stopped writing: closed, the limit
// reached, or a write failed.
func (q *Queue) Done() <-chan struct{} { return q.done }

// Close writes what is queued, flushes and stops; it returns the first
// write error.
func (q *Queue) Close() error {
	q.once.Do(func() { close(q.stop) })
	<-q.done
	return q.err
}

// Written and Dropped count the frames written and those the queue had no
// room for.
func (q *Queue) Written() uint64 { return q.written.Load() }
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }
