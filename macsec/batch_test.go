package macsec

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// batches cuts n frames into batches of random sizes from 1 to 70, the
// same for a seed.
func batches(rng *rand.Rand, n int) [][2]int {
	var b [][2]int
	for i := 0; i < n; {
		k := min(n-i, 1+rng.IntN(70))
		b = append(b, [2]int{i, i + k})
		i += k
	}
	return b
}

// TestProtectBatchIsProtect: ProtectBatch over batches of random sizes
// sends the bytes Protect sends frame by frame, refuses the same frames
// with the same errors, and leaves the same counters and PNs, for every
// suite, with and without SCI, encrypting or integrity only, with frames
// over the MTU and with too little room among them.
func TestProtectBatchIsProtect(t *testing.T) {
	for _, suite := range Suites {
		for _, cfg := range []Config{
			{Suite: suite, MTU: 1000},
			{Suite: suite, IncludeSCI: true, IntegrityOnly: true},
			{Suite: suite, Unprotected: true},
		} {
			rng := rand.New(rand.NewPCG(1, uint64(suite)))
			one := newLink(t, cfg, nil, 5)
			batch := newLink(t, cfg, nil, 5)
			const frames = 500
			var clear [][]byte
			for i := range frames {
				clear = append(clear, frame(rng.IntN(1100), byte(i)))
			}
			for _, b := range batches(rng, frames) {
				bufs := make([][]byte, b[1]-b[0])
				sizes := make([]int, len(bufs))
				out := make([][]byte, len(bufs))
				var wantOut [][]byte
				var wantErr error
				wantN := 0
				for i := range bufs {
					c := clear[b[0]+i]
					room := ICVLen
					if rng.IntN(50) == 0 {
						room = ICVLen - 1 // ErrBufferLayout
					}
					bufs[i] = make([]byte, Headroom+len(c)+room)
					copy(bufs[i][Headroom:], c)
					sizes[i] = len(c)

					buf := bytes.Clone(bufs[i])
					f, err := one.tx.Protect(buf, Headroom, len(c))
					if err != nil && wantErr == nil {
						wantErr = err
					}
					if err == nil {
						wantN++
					}
					wantOut = append(wantOut, f)
				}
				n, err := batch.tx.ProtectBatch(bufs, Headroom, sizes, out)
				require.Equal(t, wantN, n)
				require.Equal(t, wantErr, err)
				require.Equal(t, wantOut, out)
			}
			require.Equal(t, one.tx.Status(), batch.tx.Status())
		}
	}
}

// TestProtectBatchExhaustion: a batch that runs the encoding SA out of PNs
// sends what is left in order, refuses the rest with ErrPNExhausted
// (OutPktsNoSA), takes the SA down, and raises the threshold event once
// with the first PN past it; as many frames one by one do the same.
func TestProtectBatchExhaustion(t *testing.T) {
	for _, suite := range Suites {
		var events [2][]uint64
		link := func(i int) *link {
			return newLink(t, Config{Suite: suite, PNThreshold: suite.MaxPN() - 3, OnPNThreshold: func(_ uint8, pn uint64) {
				events[i] = append(events[i], pn)
			}}, nil, suite.MaxPN()-5)
		}
		one, batch := link(0), link(1)
		const n = 9
		bufs, sizes, out := make([][]byte, n), make([]int, n), make([][]byte, n)
		var want [][]byte
		for i := range bufs {
			bufs[i] = make([]byte, Headroom+64+ICVLen)
			sizes[i] = 64
			f, err := one.tx.Protect(bytes.Clone(bufs[i]), Headroom, 64)
			if i >= 6 {
				require.ErrorIs(t, err, ErrPNExhausted)
			}
			want = append(want, f)
		}
		got, err := batch.tx.ProtectBatch(bufs, Headroom, sizes, out)
		require.Equal(t, 6, got)
		require.ErrorIs(t, err, ErrPNExhausted)
		require.Equal(t, want, out)
		for i, f := range out[:6] {
			tag, err := ParseSecTAG(f)
			require.NoError(t, err)
			require.Equal(t, uint32(suite.MaxPN()-5+uint64(i)), tag.PN)
		}
		require.Equal(t, []uint64{suite.MaxPN() - 3}, events[1])
		require.Equal(t, events[0], events[1])
		require.False(t, batch.tx.Operational())
		st := batch.tx.Status()
		require.Equal(t, uint64(3), st.Stats.OutPktsNoSA)
		require.Equal(t, uint64(6), st.TxSC.Stats.OutPktsEncrypted)
		require.Equal(t, one.tx.Status(), st)

		// Once exhausted, a whole batch is refused.
		got, err = batch.tx.ProtectBatch(bufs[:2], Headroom, sizes, out)
		require.Zero(t, got)
		require.ErrorIs(t, err, ErrPNExhausted)
		require.Equal(t, [][]byte{nil, nil}, out[:2])
	}
}

// wireMix is a receiver's day: frames from the peers (SCI in the tag) on
// two SAs each, in order, reordered, replayed within and across batches,
// with bad ICVs, bad tags, untagged frames, KaY frames, unknown SCIs and
// ANs without an SA.
func wireMix(t *testing.T, rng *rand.Rand, suite CipherSuite, peers []*SecY) [][]byte {
	var wires [][]byte
	pick := func() []byte { // a frame with room for a SecTAG with SCI
		for {
			if w := wires[rng.IntN(len(wires))]; len(w) >= addrLen+sectagLenSCI {
				return w
			}
		}
	}
	for i := range 1500 {
		c := frame(rng.IntN(200), byte(i))
		var w []byte
		switch k := rng.IntN(100); {
		case k < 70 || len(wires) == 0:
			p := peers[rng.IntN(len(peers))]
			if rng.IntN(10) == 0 { // the other AN, as during a rekey
				require.NoError(t, p.SetEncodingSA(1-p.EncodingSA()))
			}
			buf := make([]byte, Headroom+len(c)+ICVLen)
			copy(buf[Headroom:], c)
			f, err := p.Protect(buf, Headroom, len(c))
			require.NoError(t, err)
			w = bytes.Clone(f)
		case k < 80: // a replay
			w = bytes.Clone(pick())
		case k < 85: // a flipped bit
			w = bytes.Clone(pick())
			w[rng.IntN(len(w))] ^= 1 << rng.IntN(8)
		case k < 88: // cut short
			p := pick()
			w = bytes.Clone(p[:rng.IntN(len(p))])
		case k < 91:
			w = c // untagged
		case k < 93: // KaY encoding: E=1, C=0
			w = bytes.Clone(pick())
			w[addrLen+2] &^= TCIC
		case k < 96: // an unknown SCI
			w = bytes.Clone(pick())
			w[addrLen+sectagLen+5] ^= 0x40
		default: // an AN with no SA
			w = bytes.Clone(pick())
			w[addrLen+2] |= 2
		}
		wires = append(wires, w)
	}
	// Some reordering.
	for range 100 {
		i := rng.IntN(len(wires) - 1)
		wires[i], wires[i+1] = wires[i+1], wires[i]
	}
	return wires
}

// validateOne is Validate by the general path alone, the one ValidateBatch
// (and Validate through it) leaves for the cases its runs do not take: the
// reference the batch tests hold ValidateBatch to.
func (y *SecY) validateOne(buf []byte, off, n int) ([]byte, Result) {
	var run rxRun
	f, r := y.validate(buf, off, n, nil, &run)
	run.flush()
	return f, r
}

// TestValidateBatchIsValidate: ValidateBatch over batches of random sizes
// delivers the frames Validate delivers frame by frame, with the same
// results, and leaves the same counters and next PNs, for every suite and
// every validateFrames, with replay protection on (windows 0 and 8) and
// off, the receive headroom given or not.
func TestValidateBatchIsValidate(t *testing.T) {
	for _, suite := range Suites {
		for _, rx := range []Config{
			{ValidateFrames: Strict, ReplayProtect: true},
			{ValidateFrames: Strict, ReplayProtect: true, ReplayWindow: 8},
			{ValidateFrames: Check, ReplayProtect: true, ReplayWindow: 3},
			{ValidateFrames: Disabled},
		} {
			rng := rand.New(rand.NewPCG(2, uint64(suite)+uint64(rx.ReplayWindow)))
			var peers []*SecY
			for p := range 3 {
				sci := NewSCI([]byte{2, 0, 0, 0, 0, byte(p)}, 1)
				y, err := New(Config{Suite: suite, SCI: sci, IncludeSCI: true, IntegrityOnly: p == 2})
				require.NoError(t, err)
				for an := range uint8(2) {
					require.NoError(t, y.InstallTxSA(an, testKey(suite, byte(4*p)+an+1), 1))
				}
				peers = append(peers, y)
			}
			newRx := func() *SecY {
				c := rx
				c.Suite, c.SCI = suite, sciB
				y, err := New(c)
				require.NoError(t, err)
				for p, peer := range peers {
					sci := peer.Config().SCI
					require.NoError(t, y.AddRxSC(sci))
					for an := range uint8(2) {
						require.NoError(t, y.InstallRxSA(sci, an, testKey(suite, byte(4*p)+an+1), 1))
					}
				}
				return y
			}
			one, batch := newRx(), newRx()
			wires := wireMix(t, rng, suite, peers)
			for _, b := range batches(rng, len(wires)) {
				off := RxHeadroom
				if rng.IntN(4) == 0 {
					off = 3 // too little room for the IV: the pooled one
				}
				n := b[1] - b[0]
				bufs, sizes := make([][]byte, n), make([]int, n)
				out, res := make([][]byte, n), make([]Result, n)
				for i := range n {
					w := wires[b[0]+i]
					bufs[i] = append(make([]byte, off), w...)
					sizes[i] = len(w)
					f, r := one.validateOne(append(make([]byte, off), w...), off, len(w))
					res[i], out[i] = r, bytes.Clone(f)
				}
				gotOut, gotRes := make([][]byte, n), make([]Result, n)
				batch.ValidateBatch(bufs, off, sizes, gotOut, gotRes)
				require.Equal(t, res, gotRes)
				for i := range n {
					if out[i] == nil {
						require.Nil(t, gotOut[i], "frame %d (%v)", b[0]+i, res[i])
					} else {
						require.Equal(t, out[i], gotOut[i], "frame %d (%v)", b[0]+i, res[i])
					}
				}
			}
			st := batch.Status()
			require.Equal(t, one.Status(), st)
			var ok, late, invalid, unchecked uint64
			for _, sc := range st.RxSCs {
				ok += sc.Stats.InPktsOK
				late += sc.Stats.InPktsLate
				invalid += sc.Stats.InPktsInvalid
				unchecked += sc.Stats.InPktsUnchecked
			}
			require.NotZero(t, ok)
			switch rx.ValidateFrames {
			case Check:
				require.NotZero(t, invalid, "the mix has integrity-only frames that fail")
			case Disabled:
				require.NotZero(t, unchecked, "the mix has integrity-only frames")
			}
			if rx.ReplayProtect {
				require.NotZero(t, late, "the mix has replays")
			}
		}
	}
}

// TestValidateBatchReplayWithinBatch: with window 0 a replayed frame in the
// same batch as the original is Late, as it is one frame at a time, and
// the next PN is published when the batch ends.
func TestValidateBatchReplayWithinBatch(t *testing.T) {
	l := newLink(t, Config{Suite: GCMAESXPN128}, func(c *Config) { c.ReplayProtect = true }, 1)
	a, b := l.protect(frame(60, 1)), l.protect(frame(60, 2))
	wires := [][]byte{a, b, a, b}
	bufs, sizes := make([][]byte, 4), make([]int, 4)
	for i, w := range wires {
		bufs[i], sizes[i] = append(make([]byte, RxHeadroom), w...), len(w)
	}
	out, res := make([][]byte, 4), make([]Result, 4)
	l.rx.ValidateBatch(bufs, RxHeadroom, sizes, out, res)
	require.Equal(t, []Result{OK, OK, Late, Late}, res)
	require.Equal(t, frame(60, 2), out[1])
	next, _ := l.rx.RxSANextPN(sciA, 0)
	require.Equal(t, uint64(3), next)
	st, _ := l.rx.Status().RxSC(sciA)
	require.Equal(t, uint64(2), st.Stats.InPktsOK)
	require.Equal(t, uint64(2), st.Stats.InPktsLate)
	require.Equal(t, uint64(2), st.SAs[0].Stats.InPktsOK)
}

// TestBatchesAllocateNothing: ProtectBatch and ValidateBatch of 64 frames
// allocate nothing, with the headroom for the IV or without it.
// TestValidateBatchAcrossXPNHalves: frames whose PNs cross into the next
// 2^32 of an XPN SA, some replayed and reordered, one with a flipped bit,
// in batches: ValidateBatch recovers each frame's PN as Validate does,
// with the same results, frames, counters and next PN; for the 32-bit
// suites the same PNs' low halves (the SA starts at PN 1 there).
func TestValidateBatchAcrossXPNHalves(t *testing.T) {
	for _, suite := range Suites {
		start := uint64(1<<32 - 40)
		if !suite.XPN() {
			start = 1
		}
		rxCfg := func(c *Config) { c.ReplayProtect, c.ReplayWindow = true, 16 }
		one := newLink(t, Config{Suite: suite}, rxCfg, start)
		batch := newLink(t, Config{Suite: suite}, rxCfg, start)
		rng := rand.New(rand.NewPCG(3, uint64(suite)))
		var wires [][]byte
		for i := range 100 {
			wires = append(wires, one.protect(frame(60+rng.IntN(100), byte(i))))
			switch rng.IntN(10) {
			case 0: // a replay of one of the last 30
				wires = append(wires, bytes.Clone(wires[max(0, len(wires)-1-rng.IntN(30))]))
			case 1: // swap with the one before
				if n := len(wires); n > 1 {
					wires[n-1], wires[n-2] = wires[n-2], wires[n-1]
				}
			case 2:
				w := bytes.Clone(wires[len(wires)-1])
				w[len(w)-1-rng.IntN(20)] ^= 4
				wires[len(wires)-1] = w
			}
		}
		for _, b := range batches(rng, len(wires)) {
			n := b[1] - b[0]
			bufs, sizes := make([][]byte, n), make([]int, n)
			out, res := make([][]byte, n), make([]Result, n)
			want := make([]Result, n)
			for i, w := range wires[b[0]:b[1]] {
				bufs[i], sizes[i] = append(make([]byte, RxHeadroom), w...), len(w)
				f, r := one.rx.validateOne(append(make([]byte, RxHeadroom), w...), RxHeadroom, len(w))
				want[i], out[i] = r, bytes.Clone(f)
			}
			got := make([][]byte, n)
			batch.rx.ValidateBatch(bufs, RxHeadroom, sizes, got, res)
			require.Equal(t, want, res, "%s frames %d..%d", suite, b[0], b[1])
			for i := range n {
				if out[i] == nil {
					require.Nil(t, got[i])
				} else {
					require.Equal(t, out[i], got[i])
				}
			}
		}
		require.Equal(t, one.rx.Status(), batch.rx.Status())
		next, _ := batch.rx.RxSANextPN(sciA, 0)
		if suite.XPN() {
			require.Greater(t, next, uint64(1<<32), "%s: the run crossed into the next 2^32", suite)
		}
		st, _ := batch.rx.Status().RxSC(sciA)
		require.NotZero(t, st.Stats.InPktsLate, suite)
		require.NotZero(t, st.Stats.InPktsNotValid, suite)
	}
}

func TestBatchesAllocateNothing(t *testing.T) {
	for _, suite := range Suites {
		for _, off := range []int{Headroom, MinHeadroom} {
			tx, rx := benchPair(t, suite)
			bufs, sizes, out, res := make([][]byte, 64), make([]int, 64), make([][]byte, 64), make([]Result, 64)
			for i := range bufs {
				bufs[i], sizes[i] = make([]byte, off+1500+ICVLen), 1500
			}
			if a := testing.AllocsPerRun(allocRuns, func() {
				if n, err := tx.ProtectBatch(bufs, off, sizes, out); n != 64 {
					t.Fatal(n, err)
				}
			}); a != 0 {
				t.Errorf("%s, offset %d: %v allocations per ProtectBatch", suite, off, a)
			}
			rxOff := off - MinHeadroom + 2 // RxHeadroom, or less
			wires, rbufs := make([][]byte, 64), make([][]byte, 64)
			for i, f := range out {
				wires[i], rbufs[i] = bytes.Clone(f), make([]byte, rxOff+len(f))
				sizes[i] = len(f)
			}
			if a := testing.AllocsPerRun(allocRuns, func() {
				for i, w := range wires { // Validate decrypts in place
					copy(rbufs[i][rxOff:], w)
				}
				rx.ValidateBatch(rbufs, rxOff, sizes, out, res)
				if res[63] != OK && res[63] != Delayed {
					t.Fatal(res[63])
				}
			}); a != 0 {
				t.Errorf("%s, offset %d: %v allocations per ValidateBatch", suite, rxOff, a)
			}
		}
	}
}

// TestTagValidIsCheckTag: the receive path's inlined verdict on a SecTAG
// is checkTag's, for every TCI, SL and PN kind and frame lengths around
// the short-length limits.
func TestTagValidIsCheckTag(t *testing.T) {
	for tci := 0; tci < 256; tci += 4 { // the AN bits aside
		for sl := range 256 {
			for _, pn := range []uint32{0, 1} {
				for _, xpn := range []bool{false, true} {
					for n := 0; n < 120; n++ {
						want := checkTag(uint8(tci), uint8(sl), pn, n, xpn) == nil
						if got := tagValid(uint8(tci), uint8(sl), pn, n, xpn); got != want {
							t.Fatalf("TCI %#x SL %d PN %d XPN %v length %d: tagValid %v, checkTag %v", tci, sl, pn, xpn, n, got, want)
						}
					}
				}
			}
		}
	}
}

// TestValidateRunTakesTheCommonCase: a batch of in-order frames of one SA,
// with the receive headroom, is taken whole by validateRun, the loop that
// ValidateBatch exists for, and every frame is delivered as sent. Without
// this, a run that gave up on every frame would pass the batch tests, the
// general path giving the same verdicts.
func TestValidateRunTakesTheCommonCase(t *testing.T) {
	const n = 32
	for _, suite := range Suites {
		for _, size := range []int{46, 1500} {
			tx, rx := benchPair(t, suite)
			bufs, sizes, out := make([][]byte, n), make([]int, n), make([][]byte, n)
			for i := range bufs {
				bufs[i], sizes[i] = make([]byte, Headroom+size+ICVLen), size
				f := bufs[i][Headroom : Headroom+size]
				copy(f, frame(size, byte(i)))
			}
			clear := make([][]byte, n)
			for i := range bufs {
				clear[i] = bytes.Clone(bufs[i][Headroom : Headroom+size])
			}
			sent, err := tx.ProtectBatch(bufs, Headroom, sizes, out)
			require.NoError(t, err)
			require.Equal(t, n, sent)
			rbufs, rsizes, rout, res := make([][]byte, n), make([]int, n), make([][]byte, n), make([]Result, n)
			for i, f := range out {
				rbufs[i], rsizes[i] = make([]byte, RxHeadroom+len(f)), len(f)
				copy(rbufs[i][RxHeadroom:], f)
			}
			var run rxRun
			took := rx.validateRun(rbufs, RxHeadroom, rsizes, rout, res, &run)
			run.flush()
			require.Equal(t, n, took, "%s, %d octets: frames taken by the run", suite, size)
			for i := range n {
				require.Equal(t, OK, res[i], "%s frame %d", suite, i)
				require.Equal(t, clear[i], rout[i], "%s frame %d", suite, i)
			}
			require.Equal(t, uint64(n), rx.Status().RxSCs[0].Stats.InPktsOK)
		}
	}
}
