package dataplane

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Impairment is what a link does to the frames it carries, in one
// direction: the userspace stand-in for netem, which these kernels lack.
type Impairment struct {
	Delay  time.Duration // added to every frame
	Jitter time.Duration // uniform in [-Jitter, +Jitter] around Delay, never below 0
	Loss   float64       // probability 0..1 that a frame is lost
	Rate   uint64        // bits per second; 0 is unlimited
	Down   bool          // the link is cut: every frame is lost
}

// IsZero reports whether the impairment changes nothing.
func (im Impairment) IsZero() bool { return im == Impairment{} }

func (im Impairment) String() string {
	if im.IsZero() {
		return "none"
	}
	if im.Down {
		return "down"
	}
	return fmt.Sprintf("delay %v jitter %v loss %.3g%% rate %d bit/s", im.Delay, im.Jitter, im.Loss*100, im.Rate)
}

// QueueLimit is the most frames a shaper holds, as netem's default limit.
const QueueLimit = 1000

// ImpairStats counts what a shaper did.
type ImpairStats struct {
	Lost     uint64 // dropped by Loss
	Down     uint64 // dropped because the link was down
	Overflow uint64 // dropped because the queue was full
	Delayed  uint64 // held back and sent later
}

// shaper applies an Impairment on the way to a Device. Frames that need no
// holding back go straight out in the caller's batch; others are copied
// into preallocated slots and sent by a release goroutine at their time.
type shaper struct {
	out batchWriter
	cfg atomic.Pointer[Impairment]

	mu       sync.Mutex
	rng      *rand.Rand
	slotSize int
	slots    [][]byte // QueueLimit buffers of slotSize, made by set when first needed
	queue    []pending
	head, n  int
	inflight int       // released slots whose write has not returned yet
	lastDue  time.Time // departures keep their order
	wake     chan struct{}
	lost     atomic.Uint64
	down     atomic.Uint64
	overflow atomic.Uint64
	delayed  atomic.Uint64
	now      func() time.Time
}

type pending struct {
	slot int
	size int
	due  time.Time
}

// shaperBatch is the most queued frames the shaper sends in one write.
const shaperBatch = 64

// batchWriter is the sending half of a frameio.Device.
type batchWriter interface {
	Write(frames [][]byte, offset int) (int, error)
}

func newShaper(out batchWriter, slotSize int, seed uint64) *shaper {
	s := &shaper{
		out:      out,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)),
		slotSize: slotSize,
		wake:     make(chan struct{}, 1),
		now:      time.Now,
	}
	s.cfg.Store(&Impairment{})
	return s
}

// holds reports whether im queues frames (delay, jitter or a rate).
func (im Impairment) holds() bool { return im.Delay > 0 || im.Jitter > 0 || im.Rate > 0 }

// set applies im from the next frame on. The queue (QueueLimit frames of
// slotSize: 9 MB a port) is made the first time an impairment holds
// frames back, so that a lab of many ports without one does not carry it.
func (s *shaper) set(im Impairment) {
	if im.holds() {
		s.mu.Lock()
		if s.slots == nil {
			s.queue = make([]pending, QueueLimit)
			for i := range s.queue {
				s.queue[i].slot = i
			}
			s.slots = make([][]byte, QueueLimit)
			backing := make([]byte, QueueLimit*s.slotSize)
			for i := range s.slots {
				s.slots[i] = backing[i*s.slotSize : (i+1)*s.slotSize : (i+1)*s.slotSize]
			}
		}
		s.mu.Unlock()
	}
	s.cfg.Store(&im)
}

func (s *shaper) stats() ImpairStats {
	return ImpairStats{Lost: s.lost.Load(), Down: s.down.Load(), Overflow: s.overflow.Load(), Delayed: s.delayed.Load()}
}

// filter applies the impairment to a batch: it returns the frames to send
// now (a prefix of frames, reordered in place) and queues the others.
func (s *shaper) filter(frames [][]byte) [][]byte {
	im := s.cfg.Load()
	if im.IsZero() {
		return frames
	}
	if im.Down {
		s.down.Add(uint64(len(frames)))
		return frames[:0]
	}
	now := s.now()
	out := frames[:0]
	s.mu.Lock()
	queued := false
	for _, f := range frames {
		if im.Loss > 0 && s.rng.Float64() < im.Loss {
			s.lost.Add(1)
			continue
		}
		if !im.holds() && s.n == 0 {
			out = append(out, f)
			continue
		}
		due := now.Add(im.Delay)
		if im.Jitter > 0 {
			due = due.Add(time.Duration(s.rng.Int64N(int64(2*im.Jitter)+1)) - im.Jitter)
		}
		if im.Rate > 0 {
			// Serialisation at the line rate: each frame leaves after the
			// one before it has been clocked out.
			start := now
			if s.lastDue.After(start) {
				start = s.lastDue
			}
			start = start.Add(time.Duration(uint64(len(f)) * 8 * uint64(time.Second) / im.Rate))
			if start.After(due) {
				due = start
			}
		}
		if due.Before(s.lastDue) {
			due = s.lastDue
		}
		if s.n+s.inflight == len(s.queue) || len(f) > s.slotSize {
			s.overflow.Add(1)
			continue
		}
		p := &s.queue[(s.head+s.n)%len(s.queue)]
		p.size = copy(s.slots[p.slot], f)
		p.due = due
		s.n++
		s.lastDue = due
		s.delayed.Add(1)
		queued = true
	}
	s.mu.Unlock()
	if queued {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return out
}

// run sends queued frames when they are due, until stop is closed.
func (s *shaper) run(stop <-chan struct{}) {
	batch := make([][]byte, 0, shaperBatch)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := s.now()
		batch = batch[:0]
		var next time.Duration = -1
		for s.n > 0 && len(batch) < shaperBatch {
			p := s.queue[s.head]
			if p.due.After(now) {
				next = p.due.Sub(now)
				break
			}
			batch = append(batch, s.slots[p.slot][:p.size])
			s.head = (s.head + 1) % len(s.queue)
			s.n--
		}
		s.inflight = len(batch) // not reused until written
		s.mu.Unlock()
		if len(batch) > 0 {
			s.out.Write(batch, 0)
			s.mu.Lock()
			s.inflight = 0
			s.mu.Unlock()
			continue
		}
		if next < 0 {
			next = time.Hour
		}
		timer.Reset(next)
		select {
		case <-stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}
