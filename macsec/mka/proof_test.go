package mka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// TestMismatchNoCleartext: a CAK or CKN mismatch never installs a SAK, the
// strict SecYs deliver nothing — neither protected nor clear frames — and
// the MKA counters say why.
func TestMismatchNoCleartext(t *testing.T) {
	suite := macsec.GCMAESXPN128
	for name, tc := range map[string]struct {
		a, b    PSK
		counter func(Counters) uint64
	}{
		"CAK": {
			a:       testPSK(t, cknHex, cak128, suite),
			b:       testPSK(t, cknHex, "FF112233445566778899AABBCCDDEEFF", suite),
			counter: func(c Counters) uint64 { return c.RxBadICV },
		},
		"CKN": {
			a:       testPSK(t, cknHex, cak128, suite),
			b:       testPSK(t, "AB"+cknHex[2:], cak128, suite),
			counter: func(c Counters) uint64 { return c.RxUnknownCKN },
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, suite, nodeOpts{psk: tc.a, priority: 1}, nodeOpts{psk: tc.b, priority: 2})
			l.advance(20*time.Second, 5*time.Millisecond, func() {
				l.traffic()
				l.sendClear(l.a)
				l.sendClear(l.b)
			})
			l.both(func(n *node) {
				c := n.p.Counters()
				assert.Zero(t, c.SAKsInstalled, n.name)
				assert.Zero(t, c.RxMKPDUs, n.name)
				assert.Empty(t, n.secy.tx, "%s: a transmit SA was installed", n.name)
				assert.Empty(t, n.secy.rx, "%s: a receive SA was installed", n.name)
				assert.Zero(t, n.sent, "%s: a frame left protected without an agreed key", n.name)
				assert.Greater(t, n.dropped, 3000, n.name)
				assert.Zero(t, n.delivered, "%s: a frame was delivered", n.name)
				assert.GreaterOrEqual(t, tc.counter(c), uint64(10), "%s: %+v", n.name, c)
				assert.InDelta(t, c.TxMKPDUs, tc.counter(n.peer.p.Counters()), 1, "%s: every MKPDU dropped for the reason (one may be on the wire)", n.name)
				st := n.p.Status()
				assert.False(t, st.Secured)
				assert.Empty(t, st.Peers)
				ys := n.secy.Status()
				assert.False(t, ys.Operational)
				assert.Greater(t, ys.Stats.InPktsNoTag+ys.Stats.InPktsUntagged, uint64(3000), "%s: clear frames counted", n.name)
			})
		})
	}
}

// TestRekeyUnderTraffic: forced rekeys and PN-exhaustion rekeys while
// frames flow both ways every 2 ms: not one frame lost across the AN
// switches, and the old SAs retire.
func TestRekeyUnderTraffic(t *testing.T) {
	for _, suite := range []macsec.CipherSuite{macsec.GCMAES128, macsec.GCMAESXPN256} {
		t.Run(suite.String()+"/forced", func(t *testing.T) {
			o := nodeOpts{psk: testPSK(t, cknHex, cakFor(suite), suite), priority: 16}
			l := newLab(t, suite, o, o)
			l.advance(100*time.Millisecond, 0, nil)
			require.True(t, l.up())
			for i := 0; i < 10; i++ {
				l.advance(time.Second, 2*time.Millisecond, l.traffic)
				require.NoError(t, l.a.p.Rekey(l.now))
			}
			l.advance(5*time.Second, 2*time.Millisecond, l.traffic)
			assert.Error(t, l.b.p.Rekey(l.now), "only the key server rekeys")
			checkNoLoss(t, l, 10, 0)
		})
		t.Run(suite.String()+"/PN-exhaustion", func(t *testing.T) {
			const threshold = 400 // lowered: 500 frames/s per direction
			o := nodeOpts{psk: testPSK(t, cknHex, cakFor(suite), suite), priority: 16, pnThreshold: threshold}
			l := newLab(t, suite, o, o)
			l.advance(100*time.Millisecond, 0, nil)
			require.True(t, l.up())
			l.advance(10*time.Second, 2*time.Millisecond, l.traffic)
			l.advance(5*time.Second, 0, nil) // let the last old SA retire
			c := l.a.p.Counters()
			assert.GreaterOrEqual(t, c.PNRekeys, uint64(10), "%+v", c)
			checkNoLoss(t, l, int(c.Rekeys), int(c.PNRekeys))
			// No SA ever ran past the threshold by more than the frames
			// sent while the new SAK was distributed.
			l.both(func(n *node) {
				for _, sa := range n.secy.Status().TxSC.SAs {
					assert.Less(t, sa.NextPN, uint64(threshold+50), "%s AN %d", n.name, sa.AN)
				}
			})
		})
	}
}

func checkNoLoss(t *testing.T, l *lab, rekeys, pnRekeys int) {
	t.Helper()
	ca := l.a.p.Counters()
	assert.Equal(t, uint64(rekeys), ca.Rekeys)
	assert.Equal(t, uint64(pnRekeys), ca.PNRekeys)
	assert.Equal(t, uint64(rekeys+1), ca.SAKsGenerated)
	l.both(func(n *node) {
		c := n.p.Counters()
		assert.Zero(t, n.dropped, "%s: frames refused by the SecY", n.name)
		assert.Equal(t, n.sent, n.peer.delivered, "%s → %s: frames lost", n.name, n.peer.name)
		assert.Zero(t, n.peer.outOfOrder)
		assert.Equal(t, uint64(rekeys+1), c.TxKeySwitches, n.name)
		assert.Equal(t, uint64(rekeys+1), c.SAKsInstalled, n.name)
		assert.Equal(t, uint64(rekeys), c.SAKsRetired, "%s: old SAs retired", n.name)
		st := n.p.Status()
		require.NotNil(t, st.Latest)
		assert.Equal(t, uint8(rekeys%4), st.Latest.AN, "AN increments mod 4")
		assert.Equal(t, uint32(rekeys+1), st.Latest.KI.KN, "KN increments")
		assert.Nil(t, st.Old, "old SA retired after the retire time")
		assert.Len(t, n.secy.Status().TxSC.SAs, 1)
		ys := n.secy.Status()
		assert.Zero(t, ys.InPktsNoSA()+ys.InPktsNoSAError()+ys.Stats.InPktsBadTag, "%s: %+v", n.name, ys)
	})
	t.Logf("%d rekeys, %d + %d frames, none lost", rekeys, l.a.sent, l.b.sent)
}

// TestCAKRotationOneSide: rotating the CAK on one end only takes the
// channel down within the MKA life time; rotating the other end brings it
// back after the first hello exchange. The outage is measured.
func TestCAKRotationOneSide(t *testing.T) {
	suite := macsec.GCMAESXPN256
	oldKey := testPSK(t, cknHex, cak256, suite)
	newKey := testPSK(t, cknHex, "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210", suite)
	oa := nodeOpts{psk: oldKey, priority: 16}
	ob := oa
	l := newLab(t, suite, oa, ob)
	l.advance(time.Second, 2*time.Millisecond, l.traffic)
	require.True(t, l.up())

	// Rotate a: the old participant goes, a new one with the new key starts.
	rotA := l.now
	l.a.p.Stop()
	oa.psk = newKey
	l.a.p = l.newParticipant(l.a, suite, oa, 11)
	var downAt time.Time
	for l.now.Sub(rotA) < 10*time.Second {
		l.advance(step, 0, nil)
		if downAt.IsZero() && !l.b.p.Status().Secured {
			downAt = l.now
		}
		if l.now.Sub(rotA)%(2*time.Millisecond) == 0 {
			l.traffic()
		}
	}
	require.False(t, downAt.IsZero(), "b still believes in the old SAK")
	assert.LessOrEqual(t, downAt.Sub(rotA), DefaultLifeTime+DefaultHelloTime, "channel down within the life time")
	assert.Equal(t, uint64(1), l.b.p.Counters().ChannelDowns)
	assert.Greater(t, l.b.p.Counters().RxBadICV, uint64(0), "b sees a's new MKPDUs fail the ICV")
	assert.False(t, l.b.secy.Status().Operational, "b transmits nothing without a SAK")

	// Rotate b.
	rotB := l.now
	l.b.p.Stop()
	ob.psk = newKey
	l.b.p = l.newParticipant(l.b, suite, ob, 12)
	l.advance(2*time.Second, 2*time.Millisecond, l.traffic)
	require.True(t, l.up())

	l.both(func(n *node) {
		outage := n.gaps.maxGap
		t.Logf("%s: outage %v (from the first rotation to the first frame delivered with the new key, ending %v after the second rotation)", n.name, outage, n.gaps.gapEnd.Sub(rotB))
		assert.GreaterOrEqual(t, outage, rotB.Sub(rotA), "%s received nothing between the rotations", n.name)
		assert.LessOrEqual(t, outage, rotB.Sub(rotA)+20*time.Millisecond, "%s: back within the first hello exchange after the second rotation", n.name)
		assert.Zero(t, n.outOfOrder)
	})
}

// TestPeerRestart: a peer that restarts — a new participant, a new MI, the
// same SCI and key, as after a configuration change on a router — is taken
// for the member it replaces at once: the channel comes back after the
// first hello exchange and stays up when the old MI's life time runs out
// (the receive SC the two share must survive the old entry).
func TestPeerRestart(t *testing.T) {
	suite := macsec.GCMAESXPN256
	o := nodeOpts{psk: testPSK(t, cknHex, cak256, suite), priority: 16}
	l := newLab(t, suite, o, o)
	l.advance(time.Second, 2*time.Millisecond, l.traffic)
	require.True(t, l.up())

	l.a.p.Stop()
	l.a.p = l.newParticipant(l.a, suite, o, 21)
	restart := l.now
	for l.now.Sub(restart) < 100*time.Millisecond && !l.up() {
		l.advance(step, 0, nil)
	}
	require.True(t, l.up(), "the channel is back after the first hello exchange")
	assert.Equal(t, uint64(1), l.b.p.Counters().PeersRestarted)

	// Past the old MI's life time, traffic still flows both ways.
	l.a.sent, l.b.sent, l.a.delivered, l.b.delivered = 0, 0, 0, 0
	l.advance(2*DefaultLifeTime, 2*time.Millisecond, l.traffic)
	require.True(t, l.up())
	l.both(func(n *node) {
		assert.Greater(t, n.sent, 1000, n.name)
		assert.Equal(t, n.sent, n.peer.delivered, "%s → %s after the old MI expired", n.name, n.peer.name)
	})
	assert.Zero(t, l.b.p.Counters().SecYErrors)
}
