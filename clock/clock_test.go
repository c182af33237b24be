package clock

import (
	"slices"
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
