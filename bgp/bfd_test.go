package bgp

import (
	"context"
	"testing"
	"time"

	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/bgp/bfd/bfdtest"
)

func TestBFDDownDropsSessionAtOnce(t *testing.T) {
	x, y := bfdtest.Pair(ce1Addr, msee1Addr)
	ea, eb := bfd.NewEndpoint(x, x), bfd.NewEndpoint(y, y)
	sa := ea.Add(bfd.Config{Peer: msee1Addr, SlowTx: 50 * time.Millisecond})
	sb := eb.Add(bfd.Config{Peer: ce1Addr, SlowTx: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ea.Run(ctx)
	go eb.Run(ctx)

	n := newMemNet()
	mc := mseeConfig(msee1Addr, ce1Addr, "1.1.1.1")
	mc.Neighbors[0].BFD = sb
	msee := startNode(t, n, msee1Addr, mc)
	ce := startNode(t, n, ce1Addr, Config{ASN: 65001, RouterID: addr("9.9.9.1"), HoldTime: 180 * time.Second,
		Neighbors: []NeighborConfig{{Address: msee1Addr, ASN: 12076, BFD: sa}}})
	ce.waitState(t, msee1Addr, Established)
	msee.waitState(t, ce1Addr, Established)
	eventually(t, "BFD Up", 3*time.Second, func() bool { return sa.State() == bfd.Up && sb.State() == bfd.Up })
	time.Sleep(400 * time.Millisecond) // the Poll Sequence to 300 ms

	st := ce.neighbor(t, msee1Addr)
	if st.BFD == nil || st.BFD.State != bfd.Up || st.BFD.TxInterval != 300*time.Millisecond || st.BFD.DetectMult != 3 {
		t.Fatalf("BFD status %+v", st.BFD)
	}
	start := time.Now()
	x.Block(true) // the link dies for BFD; TCP (hold 180 s) has not noticed
	y.Block(true)
	eventually(t, "BGP drop on BFD Down", 2*time.Second, func() bool { return ce.neighbor(t, msee1Addr).Flaps > 0 })
	took := time.Since(start)
	t.Logf("BGP session dropped %v after the link died (BFD 300 ms × 3)", took)
	// Detection takes 900 ms; the slack absorbs a loaded -race run. The
	// hold time this replaces is 180 s.
	if took > 1500*time.Millisecond {
		t.Errorf("took %v, want < 1.5 s", took)
	}
	// Whichever side's BFD expired first sent Cease / BFD Down.
	isBFDDown := func(e *NotificationEvent) bool { return e != nil && e.Code == CodeCease && e.Subcode == CeaseBFDDown }
	st = ce.neighbor(t, msee1Addr)
	if !isBFDDown(st.LastSent) && !isBFDDown(st.LastReceived) {
		t.Errorf("NOTIFICATION sent %v, received %v; want Cease / BFD Down", st.LastSent, st.LastReceived)
	}
	// Up again, the session still says why it last went down.
	x.Block(false)
	y.Block(false)
	ce.waitState(t, msee1Addr, Established)
	if st := ce.neighbor(t, msee1Addr); st.DownReason != "BFD down" && st.DownReason != "NOTIFICATION received: Cease / BFD Down" || st.LastError != "" {
		t.Errorf("up again: down reason %q, last error %q", st.DownReason, st.LastError)
	}
}
