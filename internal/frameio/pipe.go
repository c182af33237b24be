package frameio

import "sync"

// PipeEnd is one end of an in-memory link made by Pipe: frames written to
// one end are read from the other, in order. It is a Device, for the tests
// of the data planes that run on frameio: a test plays the kernel on one end
// while a forwarder uses the other.
//
// Each direction holds up to PipeFrames frames; a Write waits for room. The
// frames are copied into slots that the pipe keeps, so once every slot has
// carried a frame of the largest size in use a pipe allocates nothing.
// Frames written after the other end closed are dropped, as a cable with
// nobody on the far side would; calls on an end after its Close return
// net.ErrClosed.
type PipeEnd struct {
	name      string
	rx, tx    *lane
	done      chan struct{} // this end is closed
	peerDone  chan struct{} // the other end is closed
	closeOnce sync.Once
}

// PipeFrames is how many frames one direction of a pipe holds.
const PipeFrames = 4096

// pipeBatch is a pipe end's BatchSize.
const pipeBatch = 64

// lane is one direction of a pipe: a ring of frames.
type lane struct {
	mu      sync.Mutex
	slots   [PipeFrames][]byte
	head, n int
	avail   chan struct{} // a frame was added (capacity 1)
	room    chan struct{} // a frame was taken (capacity 1)
}

func newLane() *lane {
	return &lane{avail: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Pipe returns the two ends of an in-memory link, named a and b.
func Pipe(a, b string) (*PipeEnd, *PipeEnd) {
	ab, ba := newLane(), newLane()
	da, db := make(chan struct{}), make(chan struct{})
	return &PipeEnd{name: a, rx: ba, tx: ab, done: da, peerDone: db},
		&PipeEnd{name: b, rx: ab, tx: ba, done: db, peerDone: da}
}

// Name returns the end's name.
func (p *PipeEnd) Name() string { return p.name }

// BatchSize is 64.
func (p *PipeEnd) BatchSize() int { return pipeBatch }

// Close closes this end; a blocked Read or Write on it returns.
func (p *PipeEnd) Close() error {
	p.closeOnce.Do(func() { close(p.done) })
	return nil
}

func (p *PipeEnd) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Read waits for a frame and then takes as many as are queued, up to
// len(bufs). A frame longer than its buffer is cut short.
func (p *PipeEnd) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	l := p.rx
	for {
		if p.closed() {
			return 0, errClosed(p.name)
		}
		l.mu.Lock()
		k := min(l.n, len(bufs))
		for i := range k {
			sizes[i] = copy(bufs[i][offset:], l.slots[(l.head+i)%PipeFrames])
		}
		l.head = (l.head + k) % PipeFrames
		l.n -= k
		l.mu.Unlock()
		if k > 0 {
			signal(l.room)
			return k, nil
		}
		select {
		case <-l.avail:
		case <-p.done:
		}
	}
}

// ReadSegments is Read for a reader of datagrams written to look like a
// UDP socket's (frameio.UDP): a pipe never coalesces, so segs[i] is 0.
func (p *PipeEnd) ReadSegments(bufs [][]byte, sizes, segs []int, offset int) (int, error) {
	n, err := p.Read(bufs, sizes, offset)
	clear(segs[:n])
	return n, err
}

// Write queues the frames for the other end, waiting for room.
func (p *PipeEnd) Write(bufs [][]byte, offset int) (int, error) {
	l := p.tx
	sent := 0
	for sent < len(bufs) {
		if p.closed() {
			return sent, errClosed(p.name)
		}
		select {
		case <-p.peerDone:
			return len(bufs), nil // nobody listens: the frames are lost
		default:
		}
		l.mu.Lock()
		for sent < len(bufs) && l.n < PipeFrames {
			i := (l.head + l.n) % PipeFrames
			l.slots[i] = append(l.slots[i][:0], bufs[sent][offset:]...)
			l.n++
			sent++
		}
		full := sent < len(bufs)
		l.mu.Unlock()
		signal(l.avail)
		if full {
			select {
			case <-l.room:
			case <-p.done:
			case <-p.peerDone:
			}
		}
	}
	return sent, nil
}

var _ Device = (*PipeEnd)(nil)
