package bfd

import (
	"container/heap"
	"sync"
	"time"

	"github.com/secylab/secylab/clock"
)

// GridStep is the spacing of the instants on which periodic Control
// packets leave. Every session of a process on one clock transmits from
// one timer, on multiples of GridStep (since the clock's zero): a lab's
// sessions then send in bursts that wake its forwarders and sockets once
// per burst, not once per packet. A session's next packet still leaves
// 75–100% of its interval after the last (RFC 5880 §6.8.7), on a grid
// instant drawn at random from those in that window, or an exact random
// time when the window holds none (or one, for a session on the grid
// already: no random choice). At Azure's 300 ms a session on the grid
// sends 225 or 300 ms after its last packet: 75 ms is the widest step that
// leaves it a choice, and the fewest bursts (13 a second).
const GridStep = 75 * time.Millisecond

// txEntry is a session's next periodic transmission, current while gen is
// the session's txGen.
type txEntry struct {
	when int64 // Unix ns
	s    *Session
	gen  uint64
}

type txHeap []txEntry

func (h txHeap) Len() int           { return len(h) }
func (h txHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h txHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *txHeap) Push(x any)        { *h = append(*h, x.(txEntry)) }
func (h *txHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// txGrid is one clock's transmit timer: the earliest entry arms it.
type txGrid struct {
	clk     clock.Clock
	h       txHeap
	timer   clock.Timer
	armedAt int64
	run     []txEntry // the due entries of a firing, reused
}

// grids holds a grid per clock while it has entries (a clock is a map key:
// clock.Real and *clock.Manual are). One lock for all: a few hundred
// operations a second, each short.
var grids struct {
	sync.Mutex
	m map[clock.Clock]*txGrid
}

// scheduleTx queues s's transmission at when for generation gen.
func scheduleTx(clk clock.Clock, when int64, s *Session, gen uint64) {
	grids.Lock()
	defer grids.Unlock()
	g := grids.m[clk]
	if g == nil {
		if grids.m == nil {
			grids.m = map[clock.Clock]*txGrid{}
		}
		g = &txGrid{clk: clk}
		grids.m[clk] = g
	}
	heap.Push(&g.h, txEntry{when: when, s: s, gen: gen})
	g.armLocked()
}

// armLocked arms the timer for the earliest entry, unless it already is;
// an empty grid leaves the registry.
func (g *txGrid) armLocked() {
	if len(g.h) == 0 {
		if g.timer != nil {
			g.timer.Stop()
			g.timer = nil
		}
		if grids.m[g.clk] == g {
			delete(grids.m, g.clk)
		}
		return
	}
	first := g.h[0].when
	now := g.clk.Now().UnixNano()
	if g.timer != nil && g.armedAt == first && first > now {
		return
	}
	if g.timer != nil {
		g.timer.Stop() // a firing already under way finds nothing or its share
	}
	g.armedAt = first
	g.timer = g.clk.AfterFunc(time.Duration(max(first-now, 0)), g.fire)
}

// fire sends every due session's packet, in one go, outside the lock.
func (g *txGrid) fire() {
	grids.Lock()
	now := g.clk.Now().UnixNano()
	run := g.run[:0]
	for len(g.h) > 0 && g.h[0].when <= now {
		run = append(run, heap.Pop(&g.h).(txEntry))
	}
	g.run = nil // a concurrent (stale) firing takes a slice of its own
	grids.Unlock()
	for _, e := range run {
		e.s.txDue(e.gen)
	}
	grids.Lock()
	clear(run)
	g.run = run[:0]
	g.armLocked()
	grids.Unlock()
}

// gridTime is the instant of the next periodic packet of an interval iv,
// sent now: a random grid instant in [now+lo·iv, now+hi·iv] (percent); a
// random exact time there when none falls in it, or when one does and now
// is on the grid already (its intervals would no longer be random).
func gridTime(now int64, iv time.Duration, lo, hi uint32, r uint32) int64 {
	step := int64(GridStep)
	from, to := now+int64(iv)*int64(lo)/100, now+int64(iv)*int64(hi)/100
	first := (from + step - 1) / step * step
	last := to / step * step
	k := (last-first)/step + 1
	if from < 0 || k < 1 || k == 1 && now%step == 0 {
		return now + int64(iv)*int64(lo+r%(hi-lo+1))/100
	}
	return first + int64(r)%k*step
}
