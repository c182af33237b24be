package bfd

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/secylab/secylab/bgp/bfd/bfdtest"
	"github.com/secylab/secylab/clock"
)

var (
	addrA = netip.MustParseAddr("192.168.100.129")
	addrB = netip.MustParseAddr("192.168.100.130")
)

type side struct {
	s    *Session
	conn *bfdtest.Conn
	ch   chan Change
}

func runPair(t *testing.T, ca, cb Config) (a, b side) {
	t.Helper()
	x, y := bfdtest.Pair(addrA, addrB)
	ca.Peer, cb.Peer = addrB, addrA
	for i, c := range []struct {
		conn *bfdtest.Conn
		cfg  Config
		out  *side
	}{{x, ca, &a}, {y, cb, &b}} {
		_ = i
		e := NewEndpoint(c.conn, c.conn)
		s := e.Add(c.cfg)
		ch := make(chan Change, 32)
		s.Subscribe(func(x Change) { ch <- x })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		*c.out = side{s: s, conn: c.conn, ch: ch}
	}
	return a, b
}

func waitFor(t *testing.T, s side, want State, timeout time.Duration) Change {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-s.ch:
			if c.New == want {
				return c
			}
		case <-deadline:
			t.Fatalf("no transition to %v within %v (state %v)", want, timeout, s.s.State())
		}
	}
}

func fast() Config { return Config{SlowTx: 50 * time.Millisecond} }

func TestComeUpAndNegotiate(t *testing.T) {
	ca, cb := fast(), fast()
	cb.DesiredMinTx, cb.RequiredMinRx = 750*time.Millisecond, 750*time.Millisecond // a slower MSEE
	a, b := runPair(t, ca, cb)
	waitFor(t, a, Up, 2*time.Second)
	waitFor(t, b, Up, 2*time.Second)
	// After the Poll Sequences settle, the slower side wins both ways.
	deadline := time.Now().Add(3 * time.Second)
	for {
		sa, sb := a.s.Status(), b.s.Status()
		if !sa.Polling && !sb.Polling && sa.TxInterval == 750*time.Millisecond && sb.TxInterval == 750*time.Millisecond &&
			sa.DetectTime == 2250*time.Millisecond && sb.DetectTime == 2250*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("negotiation: A %+v\nB %+v", sa, sb)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDetectionTimeExpired(t *testing.T) {
	a, b := runPair(t, fast(), fast())
	waitFor(t, a, Up, 2*time.Second)
	waitFor(t, b, Up, 2*time.Second)
	time.Sleep(400 * time.Millisecond) // let the Poll Sequence to 300 ms finish
	if st := b.s.Status(); st.DetectTime != 900*time.Millisecond || st.TxInterval != 300*time.Millisecond {
		t.Fatalf("B: detect %v tx %v, want 900ms/300ms", st.DetectTime, st.TxInterval)
	}
	start := time.Now()
	a.conn.Block(true) // A's packets stop reaching B
	c := waitFor(t, b, Down, 2*time.Second)
	took := time.Since(start)
	if c.Diag != DiagControlDetectionTimeExpired {
		t.Errorf("diag %v, want Control Detection Time Expired", c.Diag)
	}
	if took >= time.Second {
		t.Errorf("B went Down after %v, want < 1 s (300 ms × 3)", took)
	}
	t.Logf("BFD detection took %v", took)
	// A hears B say Down and follows with Neighbor Signaled Session Down.
	if c := waitFor(t, a, Down, 2*time.Second); c.Diag != DiagNeighborSignaledDown {
		t.Errorf("A diag %v, want Neighbor Signaled Session Down", c.Diag)
	}
	a.conn.Block(false)
	waitFor(t, a, Up, 3*time.Second)
	waitFor(t, b, Up, 3*time.Second)
}

func TestAdminDown(t *testing.T) {
	a, b := runPair(t, fast(), fast())
	waitFor(t, a, Up, 2*time.Second)
	waitFor(t, b, Up, 2*time.Second)
	a.s.SetAdminDown(true)
	if c := waitFor(t, b, Down, 2*time.Second); c.Diag != DiagNeighborSignaledDown {
		t.Errorf("diag %v", c.Diag)
	}
	a.s.SetAdminDown(false)
	waitFor(t, b, Up, 3*time.Second)
}

func TestPacketRoundTripAndValidation(t *testing.T) {
	c := Control{Diag: DiagPathDown, State: Up, Poll: true, DetectMult: 3, MyDiscr: 7, YourDiscr: 9,
		DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond}
	b := c.Append(nil)
	if len(b) != 24 {
		t.Fatalf("len %d", len(b))
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	c.Version, c.Length = 1, 24
	if *got != c {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, c)
	}
	for name, mod := range map[string]func([]byte){
		"version 0":        func(b []byte) { b[0] &^= 0xe0 },
		"detect mult 0":    func(b []byte) { b[2] = 0 },
		"length 23":        func(b []byte) { b[3] = 23 },
		"multipoint":       func(b []byte) { b[1] |= 1 },
		"my discr 0":       func(b []byte) { b[4], b[5], b[6], b[7] = 0, 0, 0, 0 },
		"your discr 0, Up": func(b []byte) { b[8], b[9], b[10], b[11] = 0, 0, 0, 0 },
		"auth":             func(b []byte) { b[1] |= 4 },
	} {
		x := append([]byte(nil), b...)
		mod(x)
		if _, err := Parse(x); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// With a manual clock the state machine is deterministic: Down→Init→Up
// on the three-way handshake, Down on detection time.
func TestStateMachineManualClock(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	var sent []*Control
	s := NewSession(Config{Peer: addrB, Clock: clk, Rand: func() uint32 { return 42 }})
	var changes []Change
	s.Subscribe(func(c Change) { changes = append(changes, c) })
	s.start(func(c *Control) { sent = append(sent, c) })
	if len(sent) != 1 || sent[0].State != Down || sent[0].DesiredMinTx != time.Second {
		t.Fatalf("first packet %+v, want Down with the 1 s slow rate", sent)
	}
	s.receive(&Control{State: Down, DetectMult: 3, MyDiscr: 5, DesiredMinTx: time.Second, RequiredMinRx: 300 * time.Millisecond})
	s.receive(&Control{State: Up, DetectMult: 3, MyDiscr: 5, YourDiscr: 42, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond})
	if s.State() != Up || len(changes) != 2 {
		t.Fatalf("state %v changes %v", s.State(), changes)
	}
	last := sent[len(sent)-1]
	if !last.Poll || last.DesiredMinTx != 300*time.Millisecond {
		t.Errorf("after Up: %+v, want a Poll advertising 300 ms", last)
	}
	clk.Advance(899 * time.Millisecond)
	if s.State() != Up {
		t.Fatal("down before detection time")
	}
	clk.Advance(2 * time.Millisecond)
	if s.State() != Down || changes[len(changes)-1].Diag != DiagControlDetectionTimeExpired {
		t.Errorf("state %v, changes %v", s.State(), changes)
	}
	// Jitter: with rand 42, 75+42%26 = 91% of the interval.
	n := len(sent)
	clk.Advance(time.Second)
	if len(sent) != n+1 {
		t.Errorf("%d packets in 1 s at the slow rate, want 1", len(sent)-n)
	}
}
