package mka

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// TestConcurrentUse drives a participant from several goroutines, as a
// node does (timer, receive path, SecY transmit path, status display);
// run with -race.
func TestConcurrentUse(t *testing.T) {
	suite := macsec.GCMAESXPN128
	o := nodeOpts{psk: testPSK(t, cknHex, cak128, suite), priority: 16}
	l := newLab(t, suite, o, o)
	l.advance(100*time.Millisecond, 0, nil)
	require.True(t, l.up())
	frames := l.mkpdus
	var wg sync.WaitGroup
	now := l.now
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				switch (g + i) % 4 {
				case 0:
					l.a.p.Tick(now)
				case 1:
					l.a.p.Receive(now, frames[i%len(frames)])
				case 2:
					l.a.p.PNThresholdReached(0, 1)
				case 3:
					_ = l.a.p.Status()
					_ = l.a.p.Counters()
					_ = l.a.p.NextTick()
				}
			}
		}()
	}
	wg.Wait()
}
