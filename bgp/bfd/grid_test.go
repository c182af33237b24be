package bfd

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/secylab/secylab/clock"
)

// gridTime keeps RFC 5880 §6.8.7's window (75–100% of the interval, or
// 75–90%) and lands on the grid when the window holds two instants or
// more, choosing among them at random.
func TestGridTimeWindow(t *testing.T) {
	step := int64(GridStep)
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(iv time.Duration, hi uint32, now int64) time.Duration {
		t.Helper()
		got := gridTime(now, iv, 75, hi, rng.Uint32())
		from, to := now+int64(iv)*75/100, now+int64(iv)*int64(hi)/100
		if got < from || got > to {
			t.Fatalf("iv %v hi %d%%: %v after now, outside [%v, %v]", iv, hi, time.Duration(got-now), time.Duration(from-now), time.Duration(to-now))
		}
		k := to/step - (from+step-1)/step + 1
		if (k >= 2 || k == 1 && now%step != 0) && got%step != 0 {
			t.Fatalf("iv %v from %v past the grid: %v after now, off the grid with %d instants in the window", iv, time.Duration(now%step), time.Duration(got-now), k)
		}
		return time.Duration(got - now)
	}
	for _, c := range []struct {
		iv   time.Duration
		hi   uint32
		want []int // the intervals from a grid instant, ms
	}{
		{300 * time.Millisecond, 100, []int{225, 300}},
		{time.Second, 100, []int{750, 825, 900, 975}},
		{time.Second, 90, []int{750, 825, 900}},
		{180 * time.Millisecond, 100, nil}, // one instant in the window: exact
		{50 * time.Millisecond, 100, nil},  // none
	} {
		fromGrid := map[time.Duration]bool{}
		for range 2000 {
			check(c.iv, c.hi, rng.Int64N(1e12))
			fromGrid[check(c.iv, c.hi, rng.Int64N(1e12)/step*step)] = true
		}
		if c.want == nil {
			if len(fromGrid) < 20 {
				t.Errorf("iv %v from grid instants: %d intervals, want exact random ones", c.iv, len(fromGrid))
			}
			continue
		}
		if len(fromGrid) != len(c.want) {
			t.Errorf("iv %v from grid instants: intervals %v, want %v", c.iv, fromGrid, c.want)
		}
		for _, w := range c.want {
			if !fromGrid[time.Duration(w)*time.Millisecond] {
				t.Errorf("iv %v from grid instants: intervals %v, want %v (in ms)", c.iv, fromGrid, c.want)
			}
		}
	}
}

// countingClock counts the timers armed on a manual clock.
type countingClock struct {
	*clock.Manual
	timers int
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.timers++
	return c.Manual.AfterFunc(d, f)
}

// Sessions on one clock transmit from one timer, in bursts on the grid,
// each within its window, and stop sending when stopped.
func TestSessionsShareTransmitGrid(t *testing.T) {
	clk := &countingClock{Manual: clock.NewManual(time.Unix(1000, 0))}
	const n = 40
	rng := rand.New(rand.NewPCG(3, 4))
	type sent struct{ at []int64 }
	out := make([]sent, n)
	ss := make([]*Session, n)
	for i := range ss {
		ss[i] = NewSession(Config{Peer: addrB, Clock: clk, SlowTx: 300 * time.Millisecond, Rand: rng.Uint32})
		ss[i].start(func(*Control) { out[i].at = append(out[i].at, clk.Now().UnixNano()) })
		clk.Advance(time.Duration(rng.IntN(7)) * time.Millisecond) // started at odd times
	}
	timers := clk.timers
	const run = 6 * time.Second
	for range run / time.Millisecond {
		clk.Advance(time.Millisecond)
	}
	instants := map[int64]bool{}
	total := 0
	for i, o := range out {
		for k := 1; k < len(o.at); k++ {
			gap := time.Duration(o.at[k] - o.at[k-1])
			if gap < 225*time.Millisecond || gap > 300*time.Millisecond {
				t.Fatalf("session %d: packet %d %v after the last, outside 75–100%% of 300 ms", i, k, gap)
			}
			if k > 1 && o.at[k]%int64(GridStep) != 0 {
				t.Fatalf("session %d: packet %d off the grid (%v)", i, k, time.Unix(0, o.at[k]))
			}
			instants[o.at[k]] = true
			total++
		}
	}
	// 40 sessions at about 262 ms for 6 s: ~910 packets on at most
	// 6 s / 75 ms = 80 instants, one timer each.
	if total < 800 || len(instants) > int(run/GridStep)+1 {
		t.Errorf("%d packets on %d instants, want ≥ 800 on ≤ %d", total, len(instants), run/GridStep+1)
	}
	if armed := clk.timers - timers; armed > len(instants)+2 {
		t.Errorf("%d timers armed for %d instants: want one per instant", armed, len(instants))
	}
	for _, s := range ss {
		s.stop()
	}
	before := 0
	for _, o := range out {
		before += len(o.at)
	}
	clk.Advance(2 * time.Second)
	after := 0
	for _, o := range out {
		after += len(o.at)
	}
	if after != before {
		t.Errorf("%d packets after stop", after-before)
	}
	grids.Lock()
	left := grids.m[clk]
	grids.Unlock()
	if left != nil {
		t.Errorf("grid of a clock with no session left in the registry (%d entries)", len(left.h))
	}
}

// A packet moves the detection time without arming a timer: the one
// timer re-arms for what is left when it fires early, and the session
// goes Down exactly one detection time after the last packet.
func TestDetectTimerNotPerPacket(t *testing.T) {
	clk := &countingClock{Manual: clock.NewManual(time.Unix(0, 0))}
	// Not started: nothing is sent, so every timer armed is detection's.
	s := NewSession(Config{Peer: addrB, Clock: clk, Rand: func() uint32 { return 7 }})
	s.receive(&Control{State: Down, DetectMult: 3, MyDiscr: 5, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond})
	s.receive(&Control{State: Up, DetectMult: 3, MyDiscr: 5, YourDiscr: s.localDiscr, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond})
	if s.State() != Up {
		t.Fatalf("state %v", s.State())
	}
	start := clk.timers
	const packets = 40
	for range packets {
		clk.Advance(250 * time.Millisecond)
		s.receive(&Control{State: Up, DetectMult: 3, MyDiscr: 5, YourDiscr: s.localDiscr, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond})
	}
	if s.State() != Up {
		t.Fatalf("went %v while packets came every 250 ms", s.State())
	}
	// 10 s of packets: a re-arm each time the timer fires early (every
	// 650–900 ms: about 13), not one per packet (40).
	if armed := clk.timers - start; armed > 16 {
		t.Errorf("%d timers armed over %d received packets", armed, packets)
	}
	clk.Advance(899 * time.Millisecond)
	if s.State() != Up {
		t.Fatal("Down before the detection time")
	}
	clk.Advance(time.Millisecond)
	if s.State() != Down {
		t.Fatalf("state %v 900 ms after the last packet, want Down", s.State())
	}
}

// A peer that leaves its slow rate once Up (FRR's bfdd asks for 1 s while
// not Up, then 300 ms) gets our packets at the new rate from then on, not
// after a packet queued at the old one: its detection time, 3 × 300 ms,
// is shorter than the 750–1000 ms such a packet waits.
func TestFasterPeerRateAtOnce(t *testing.T) {
	for seed := range uint64(20) {
		clk := clock.NewManual(time.Unix(0, 0))
		rng := rand.New(rand.NewPCG(seed, 9))
		var sent []int64
		s := NewSession(Config{Peer: addrB, Clock: clk, Rand: rng.Uint32})
		s.start(func(*Control) { sent = append(sent, clk.Now().UnixNano()) })
		slow := Control{State: Down, DetectMult: 3, MyDiscr: 5, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
		s.receive(&slow)
		slow.State, slow.YourDiscr = Init, s.localDiscr
		clk.Advance(10 * time.Millisecond)
		s.receive(&slow)
		if s.State() != Up {
			t.Fatalf("state %v after the peer's Init", s.State())
		}
		clk.Advance(5 * time.Millisecond)
		fast := Control{State: Up, Poll: true, DetectMult: 3, MyDiscr: 5, YourDiscr: s.localDiscr, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond}
		s.receive(&fast)
		from := clk.Now().UnixNano()
		fast.Poll = false
		for i := range 3000 {
			clk.Advance(time.Millisecond)
			if i%250 == 249 {
				s.receive(&fast)
			}
		}
		if s.State() != Up {
			t.Fatalf("seed %d: state %v", seed, s.State())
		}
		last := from
		for _, at := range sent {
			if at < from {
				continue
			}
			if gap := time.Duration(at - last); gap > 300*time.Millisecond {
				t.Fatalf("seed %d: %v between packets after the peer asked for 300 ms (from %v: %v)", seed, gap, from, sent)
			}
			last = at
		}
		if n := len(sent); n < 10 {
			t.Fatalf("seed %d: %d packets in 3 s", seed, n)
		}
		s.stop()
	}
}
