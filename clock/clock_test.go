package clock

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestManualOrderStopAndRearm(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	var got []string
	c.AfterFunc(2*time.Second, func() { got = append(got, "b") })
	stopped := c.AfterFunc(time.Second, func() { got = append(got, "stopped") })
	c.AfterFunc(time.Second, func() {
		got = append(got, "a")
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, "a+") }) // armed from a callback
	})
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	c.Advance(3 * time.Second)
	if want := []string{"a", "a+", "b"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if stopped.Stop() {
		t.Fatal("second Stop reported true")
	}
	if now := c.Now(); !now.Equal(time.Unix(3, 0)) {
		t.Fatalf("Now = %v after Advance(3s)", now)
	}
}

// A call that fired before the slot was re-armed (or stopped) but had not
// yet reached its owner is stale and does nothing.
func TestSlotIgnoresStaleFirings(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	var mu sync.Mutex
	var slot Slot
	var ran []string
	var queued []func() // fired calls waiting for the owner's loop
	arm := func(name string, d time.Duration) {
		slot.Arm(c, d, func(g uint64) {
			queued = append(queued, func() {
				mu.Lock()
				defer mu.Unlock()
				if slot.Current(g) {
					ran = append(ran, name)
				}
			})
		})
	}
	arm("first", time.Second)
	c.Advance(time.Second) // fires; the owner has not run it yet
	mu.Lock()
	arm("second", time.Second) // re-armed meanwhile
	mu.Unlock()
	for _, f := range queued {
		f() // the first call arrives: stale
	}
	queued = nil
	if len(ran) != 0 || !slot.Armed() {
		t.Fatalf("ran %v, armed %v: the stale call must do nothing and leave the new arming", ran, slot.Armed())
	}
	c.Advance(time.Second)
	for _, f := range queued {
		f()
	}
	if !slices.Equal(ran, []string{"second"}) || slot.Armed() {
		t.Fatalf("ran %v, armed %v: want the second call, then disarmed", ran, slot.Armed())
	}
	arm("stopped", time.Second)
	c.Advance(time.Second)
	slot.Stop()
	for _, f := range queued[1:] {
		f()
	}
	if len(ran) != 1 {
		t.Fatalf("a call fired before Stop ran: %v", ran)
	}
}
