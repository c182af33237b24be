// Package clock is the program's one time source: the bgp and bfd state
// machines and the lab's MKA driver take a Clock, the real one for
// running, a Manual one for tests that run in simulated time and must not
// sleep.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started and reports whether it did.
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Manual is a clock that moves only when Advance is called. Due functions
// run synchronously inside Advance, in deadline order, without any lock
// held, so they may arm new timers.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*manualTimer
}

// NewManual returns a Manual clock reading start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

type manualTimer struct {
	c    *Manual
	when time.Time
	seq  int
	f    func()
	done bool
}

// Now returns the clock's current time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms f to run when the clock reaches Now()+d.
func (c *Manual) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	return true
}

// Advance moves the clock forward by d, running every function that falls due.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		live := c.timers[:0]
		for _, t := range c.timers {
			if !t.done {
				live = append(live, t)
			}
		}
		c.timers = live
		sort.Slice(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			if !a.when.Equal(b.when) {
				return a.when.Before(b.when)
			}
			return a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].when.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		t.done = true
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
	}
}

// Slot is a re-armable timer that is safe against stale firings: a call
// that has already fired when the slot is re-armed or stopped — and is
// waiting for the owner's lock or event loop — finds its generation
// outdated and must do nothing. Arm, Stop and Current must be serialised
// by the owner (its mutex or its loop); the zero Slot is stopped.
type Slot struct {
	gen uint64
	t   Timer
}

// Arm stops any pending call and arranges for fire(gen) after d on c.
// fire runs on the clock's goroutine; it takes the owner's lock (or posts
// to its loop) and acts only if Current(gen).
func (s *Slot) Arm(c Clock, d time.Duration, fire func(gen uint64)) {
	s.Stop()
	g := s.gen
	s.t = c.AfterFunc(d, func() { fire(g) })
}

// Stop cancels the pending call, if any; one already fired becomes stale.
func (s *Slot) Stop() {
	s.gen++
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
}

// Current reports whether gen is the slot's latest arming, not stopped
// since: the fired call should act. A current call also disarms the slot.
func (s *Slot) Current(gen uint64) bool {
	if gen != s.gen || s.t == nil {
		return false
	}
	s.t = nil
	return true
}

// Armed reports whether a call is pending.
func (s *Slot) Armed() bool { return s.t != nil }
