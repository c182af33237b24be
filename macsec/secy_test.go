package macsec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	macA = []byte{0x02, 0x00, 0x00, 0x00, 0x0A, 0x01}
	macB = []byte{0x02, 0x00, 0x00, 0x00, 0x0B, 0x01}
	sciA = NewSCI(macA, 1)
	sciB = NewSCI(macB, 1)
)

func testKey(suite CipherSuite, seed byte) Key {
	k := Key{SAK: bytes.Repeat([]byte{seed}, suite.KeyLen()), SSCI: SSCI(seed)}
	for i := range k.Salt {
		k.Salt[i] = seed ^ byte(i)
	}
	return k
}

// link is A transmitting to B over one SA.
type link struct {
	t      *testing.T
	tx, rx *SecY
	txCfg  Config
}

// newLink connects A to B with SA 0 keyed by testKey(suite, 1), both
// starting at pn. rx adjusts B's receive-side configuration.
func newLink(t *testing.T, tx Config, rx func(*Config), pn uint64) *link {
	t.Helper()
	if tx.SCI == 0 {
		tx.SCI = sciA
	}
	a, err := New(tx)
	require.NoError(t, err)
	rxCfg := Config{Suite: tx.Suite, SCI: sciB}
	if rx != nil {
		rx(&rxCfg)
	}
	b, err := New(rxCfg)
	require.NoError(t, err)
	require.NoError(t, a.InstallTxSA(0, testKey(tx.Suite, 1), pn))
	require.NoError(t, b.AddRxSC(tx.SCI))
	require.NoError(t, b.InstallRxSA(tx.SCI, 0, testKey(tx.Suite, 1), pn))
	return &link{t: t, tx: a, rx: b, txCfg: tx}
}

// frame builds a cleartext Ethernet frame from A to B with n payload octets.
func frame(n int, seq byte) []byte {
	f := make([]byte, 14+n)
	copy(f, macB)
	copy(f[6:], macA)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	for i := 14; i < len(f); i++ {
		f[i] = seq + byte(i)
	}
	return f
}

// protect runs A's Protect on a copy of clear and returns the wire frame.
func (l *link) protect(clear []byte) []byte {
	l.t.Helper()
	buf := make([]byte, Headroom+len(clear)+ICVLen)
	copy(buf[Headroom:], clear)
	out, err := l.tx.Protect(buf, Headroom, len(clear))
	require.NoError(l.t, err)
	return bytes.Clone(out)
}

// validate runs B's Validate on a copy of wire.
func (l *link) validate(wire []byte) ([]byte, Result) {
	buf := bytes.Clone(wire)
	out, r := l.rx.Validate(buf, 0, len(buf))
	return bytes.Clone(out), r
}

func TestRoundTrip(t *testing.T) {
	for _, suite := range Suites {
		for _, tc := range []struct {
			name string
			cfg  Config
			tag  byte // expected TCI bits
		}{
			{"sci", Config{IncludeSCI: true}, TCISC | TCIE | TCIC},
			{"sci-omitted", Config{}, TCIE | TCIC},
			{"es", Config{EndStation: true}, TCIES | TCIE | TCIC},
			{"integrity-only", Config{IncludeSCI: true, IntegrityOnly: true}, TCISC},
			{"integrity-only/sci-omitted", Config{IntegrityOnly: true}, 0},
		} {
			t.Run(fmt.Sprintf("%s/%s", suite, tc.name), func(t *testing.T) {
				cfg := tc.cfg
				cfg.Suite = suite
				l := newLink(t, cfg, nil, 1)
				for i, size := range []int{0, 1, 33, 34, 35, 46, 100, 1486, 9000} {
					clear := frame(size, byte(i))
					wire := l.protect(clear)
					tag, err := ParseSecTAG(wire)
					require.NoError(t, err)
					require.Equal(t, tc.tag, tag.TCI)
					require.Equal(t, len(clear)+tag.Len()+ICVLen, len(wire))
					if size+2 < 48 {
						require.Equal(t, uint8(size+2), tag.SL, "short length")
					} else {
						require.Zero(t, tag.SL)
					}
					require.Equal(t, uint32(i+1), tag.PN)
					if tc.tag&TCIE != 0 && size >= 8 {
						require.NotContains(t, string(wire), string(clear[14:]), "payload in clear")
					}
					got, r := l.validate(wire)
					require.Equal(t, OK, r, r.String())
					require.Equal(t, clear, got)
				}
				st := l.rx.Status()
				require.Equal(t, uint64(9), st.RxSCs[0].Stats.InPktsOK)
				require.Equal(t, uint64(9), st.RxSCs[0].SAs[0].Stats.InPktsOK)
				require.Equal(t, uint64(10), st.RxSCs[0].SAs[0].NextPN)
			})
		}
	}
}

// With SC=0 and ES=0 the receiver can only use its one peer SC: a second
// SC makes the SCI unknown, and such frames are dropped.
func TestSCIOmittedNeedsSinglePeer(t *testing.T) {
	l := newLink(t, Config{Suite: GCMAESXPN128}, nil, 1)
	wire := l.protect(frame(60, 0))
	_, r := l.validate(wire)
	require.Equal(t, OK, r)

	require.NoError(t, l.rx.AddRxSC(NewSCI([]byte{2, 0, 0, 0, 0, 0x99}, 1)))
	_, r = l.validate(l.protect(frame(60, 1)))
	require.Equal(t, NoSCI, r)
	require.Equal(t, uint64(1), l.rx.Status().Stats.InPktsNoSCI)
}

// TestReceiveResults covers each result of Validate and its counter.
func TestReceiveResults(t *testing.T) {
	clear := frame(100, 7)
	type check func(t *testing.T, st Status)
	scCounter := func(get func(RxSCStats) uint64) check {
		return func(t *testing.T, st Status) {
			sc, ok := st.RxSC(sciA)
			require.True(t, ok)
			require.Equal(t, uint64(1), get(sc.Stats))
		}
	}
	secyCounter := func(get func(SecYStats) uint64) check {
		return func(t *testing.T, st Status) { require.Equal(t, uint64(1), get(st.Stats)) }
	}
	for _, tc := range []struct {
		name    string
		tx      Config
		rx      func(*Config)
		prepare func(l *link) []byte // returns the frame B receives
		want    Result
		counter check
	}{
		{"untagged/strict", Config{}, nil,
			func(l *link) []byte { return clear }, NoTag,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsNoTag })},
		{"untagged/check", Config{}, func(c *Config) { c.ValidateFrames = Check },
			func(l *link) []byte { return clear }, Untagged,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsUntagged })},
		{"kay-encoding", Config{IncludeSCI: true}, nil,
			func(l *link) []byte {
				w := l.protect(clear)
				w[14] = w[14]&^TCIC | TCIE
				return w
			}, KaY, func(t *testing.T, st Status) { require.Zero(t, st.RxSCs[0].Stats.InPktsOK) }},
		{"bad-tag/version", Config{IncludeSCI: true}, nil,
			func(l *link) []byte { w := l.protect(clear); w[14] |= TCIV; return w }, BadTag,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsBadTag })},
		{"bad-tag/truncated", Config{IncludeSCI: true}, nil,
			func(l *link) []byte { return l.protect(clear)[:27] }, BadTag,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsBadTag })},
		{"bad-tag/short-length", Config{IncludeSCI: true}, nil,
			func(l *link) []byte { w := l.protect(clear); w[15] = 20; return w }, BadTag,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsBadTag })},
		{"no-sci/strict", Config{IncludeSCI: true, SCI: NewSCI(macA, 7)}, nil,
			func(l *link) []byte { return l.protect(clear) }, NoSCI,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsNoSCI })},
		{"no-sci/check/encrypted", Config{IncludeSCI: true, SCI: NewSCI(macA, 7)}, func(c *Config) { c.ValidateFrames = Check },
			func(l *link) []byte { return l.protect(clear) }, NoSCI,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsNoSCI })},
		{"unknown-sci/check/integrity", Config{IncludeSCI: true, IntegrityOnly: true, SCI: NewSCI(macA, 7)}, func(c *Config) { c.ValidateFrames = Check },
			func(l *link) []byte { return l.protect(clear) }, UnknownSCI,
			secyCounter(func(s SecYStats) uint64 { return s.InPktsUnknownSCI })},
		{"not-using-sa/no-sa", Config{IncludeSCI: true}, nil,
			func(l *link) []byte {
				require.NoError(t, l.tx.InstallTxSA(2, testKey(GCMAES128, 1), 1))
				require.NoError(t, l.tx.SetEncodingSA(2))
				return l.protect(clear)
			}, NotUsingSA, scCounter(func(s RxSCStats) uint64 { return s.InPktsNotUsingSA })},
		{"not-using-sa/inactive", Config{IncludeSCI: true}, nil,
			func(l *link) []byte {
				require.NoError(t, l.rx.SetSAActive(true, sciA, 0, false))
				return l.protect(clear)
			}, NotUsingSA, func(t *testing.T, st Status) {
				require.Equal(t, uint64(1), st.RxSCs[0].Stats.InPktsNotUsingSA)
				require.Equal(t, uint64(1), st.RxSCs[0].SAs[0].Stats.InPktsNotUsingSA)
				require.Equal(t, uint64(1), st.InPktsNoSAError())
			}},
		{"unused-sa/check/integrity", Config{IncludeSCI: true, IntegrityOnly: true}, func(c *Config) { c.ValidateFrames = Check },
			func(l *link) []byte {
				require.NoError(t, l.rx.SetSAActive(true, sciA, 0, false))
				return l.protect(clear)
			}, UnusedSA, func(t *testing.T, st Status) {
				require.Equal(t, uint64(1), st.RxSCs[0].Stats.InPktsUnusedSA)
				require.Equal(t, uint64(1), st.InPktsNoSA())
			}},
		{"late", Config{IncludeSCI: true}, func(c *Config) { c.ReplayProtect = true; c.ReplayWindow = 2 },
			func(l *link) []byte {
				old := l.protect(clear)
				for i := 0; i < 3; i++ {
					_, r := l.validate(l.protect(clear))
					require.Equal(t, OK, r)
				}
				return old // PN 1 < 5 - 2
			}, Late, scCounter(func(s RxSCStats) uint64 { return s.InPktsLate })},
		{"within-window", Config{IncludeSCI: true}, func(c *Config) { c.ReplayProtect = true; c.ReplayWindow = 4 },
			func(l *link) []byte {
				old := l.protect(clear)
				for i := 0; i < 3; i++ {
					_, r := l.validate(l.protect(clear))
					require.Equal(t, OK, r)
				}
				return old // PN 1 >= 5 - 4
			}, OK, func(t *testing.T, st Status) { require.Equal(t, uint64(4), st.RxSCs[0].Stats.InPktsOK) }},
		{"delayed/replay-off", Config{IncludeSCI: true}, nil,
			func(l *link) []byte {
				old := l.protect(clear)
				_, r := l.validate(l.protect(clear))
				require.Equal(t, OK, r)
				return old
			}, Delayed, scCounter(func(s RxSCStats) uint64 { return s.InPktsDelayed })},
		{"not-valid/wrong-key", Config{IncludeSCI: true}, nil,
			func(l *link) []byte {
				require.NoError(t, l.rx.InstallRxSA(sciA, 0, testKey(GCMAES128, 2), 1))
				return l.protect(clear)
			}, NotValid, func(t *testing.T, st Status) {
				require.Equal(t, uint64(1), st.RxSCs[0].Stats.InPktsNotValid)
				require.Equal(t, uint64(1), st.RxSCs[0].SAs[0].Stats.InPktsNotValid)
			}},
		{"not-valid/check/encrypted", Config{IncludeSCI: true}, func(c *Config) { c.ValidateFrames = Check },
			func(l *link) []byte { w := l.protect(clear); w[40] ^= 1; return w }, NotValid,
			scCounter(func(s RxSCStats) uint64 { return s.InPktsNotValid })},
		{"invalid/check/integrity", Config{IncludeSCI: true, IntegrityOnly: true}, func(c *Config) { c.ValidateFrames = Check },
			func(l *link) []byte { w := l.protect(clear); w[40] ^= 1; return w }, Invalid,
			func(t *testing.T, st Status) {
				require.Equal(t, uint64(1), st.RxSCs[0].Stats.InPktsInvalid)
				require.Equal(t, uint64(1), st.RxSCs[0].SAs[0].Stats.InPktsInvalid)
			}},
		{"unchecked/disabled/integrity", Config{IncludeSCI: true, IntegrityOnly: true}, func(c *Config) { c.ValidateFrames = Disabled },
			func(l *link) []byte { w := l.protect(clear); w[len(w)-1] ^= 1; return w }, Unchecked,
			scCounter(func(s RxSCStats) uint64 { return s.InPktsUnchecked })},
		{"disabled/encrypted-still-decrypted", Config{IncludeSCI: true}, func(c *Config) { c.ValidateFrames = Disabled },
			func(l *link) []byte { return l.protect(clear) }, OK,
			scCounter(func(s RxSCStats) uint64 { return s.InPktsOK })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.tx
			cfg.Suite = GCMAES128
			l := newLink(t, cfg, tc.rx, 1)
			if cfg.SCI != sciA && cfg.SCI != 0 {
				// A's SC is unknown to B: B knows sciA only.
				l.rx.DeleteRxSC(cfg.SCI)
				require.NoError(t, l.rx.AddRxSC(sciA))
			}
			wire := tc.prepare(l)
			got, r := l.validate(wire)
			require.Equal(t, tc.want, r, r.String())
			require.Equal(t, tc.want.Delivered() || tc.want == KaY, got != nil)
			if r.Delivered() && r != Untagged {
				require.Equal(t, clear[:12], got[:12], "DA|SA restored")
				require.Equal(t, len(clear), len(got))
			}
			if r == KaY {
				require.Equal(t, wire, got, "KaY frames pass unchanged")
			}
			tc.counter(t, l.rx.Status())
		})
	}
}

// Strict validation delivers only validated frames, whatever arrives.
func TestStrictHasNoCleartextPath(t *testing.T) {
	l := newLink(t, Config{Suite: GCMAESXPN256}, nil, 1)
	good := l.protect(frame(80, 1))
	inputs := [][]byte{
		frame(80, 1), // cleartext
		frame(0, 0)[:13],
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x80
		inputs = append(inputs, bad, good[:i])
	}
	for _, in := range inputs {
		out, r := l.validate(in)
		require.False(t, r.Delivered(), "input %x delivered as %v", in, r)
		require.Nil(t, out)
	}
	_, r := l.validate(good)
	require.Equal(t, OK, r)
}

func TestPNExhaustion(t *testing.T) {
	for _, suite := range Suites {
		t.Run(suite.String(), func(t *testing.T) {
			var events []uint64
			cfg := Config{Suite: suite, IncludeSCI: true, OnPNThreshold: func(an uint8, pn uint64) {
				require.Equal(t, uint8(0), an)
				events = append(events, pn)
			}}
			last := suite.MaxPN()
			l := newLink(t, cfg, func(c *Config) { c.ReplayProtect = true }, last-2)
			for pn := last - 2; pn <= last && pn != 0; pn++ {
				wire := l.protect(frame(50, 0))
				tag, _ := ParseSecTAG(wire)
				require.Equal(t, uint32(pn), tag.PN)
				_, r := l.validate(wire)
				require.Equal(t, OK, r)
			}
			require.Equal(t, []uint64{last - 2}, events, "threshold event once, at the first PN past it")
			require.False(t, l.tx.Operational())

			buf := make([]byte, Headroom+64+ICVLen)
			for i := 0; i < 3; i++ {
				_, err := l.tx.Protect(buf, Headroom, 64)
				require.ErrorIs(t, err, ErrPNExhausted)
			}
			st := l.tx.Status()
			require.Equal(t, uint64(3), st.Stats.OutPktsNoSA)
			require.False(t, st.TxSC.SAs[0].Active)

			// A new SA under another AN restores the SecY.
			require.NoError(t, l.tx.InstallTxSA(1, testKey(suite, 3), 1))
			require.NoError(t, l.tx.SetEncodingSA(1))
			require.True(t, l.tx.Operational())
		})
	}
}

func TestPNThreshold(t *testing.T) {
	var got atomic.Uint64
	var calls atomic.Int32
	l := newLink(t, Config{Suite: GCMAES128, PNThreshold: 10, OnPNThreshold: func(_ uint8, pn uint64) {
		calls.Add(1)
		got.Store(pn)
	}}, nil, 8)
	for i := 0; i < 2; i++ {
		l.protect(frame(10, 0))
	}
	require.Zero(t, calls.Load())
	for i := 0; i < 5; i++ {
		l.protect(frame(10, 0))
	}
	require.Equal(t, int32(1), calls.Load())
	require.Equal(t, uint64(10), got.Load())
}

func TestXPNBoundary(t *testing.T) {
	for _, suite := range []CipherSuite{GCMAESXPN128, GCMAESXPN256} {
		t.Run(suite.String(), func(t *testing.T) {
			start := uint64(1<<32 - 3)
			l := newLink(t, Config{Suite: suite}, func(c *Config) { c.ReplayProtect = true; c.ReplayWindow = 4 }, start)
			var wires [][]byte
			for i := 0; i < 8; i++ {
				wires = append(wires, l.protect(frame(64, byte(i))))
			}
			// In order across 2^32, then a reordered frame within the window
			// and two replays: one from after the boundary is late; one
			// from before it is taken for PN 0x1_FFFFFFFF (the standard's
			// recovery, and Linux's) and fails its ICV. Both are dropped.
			order := []int{0, 1, 2, 3, 5, 6, 4, 7, 3, 2}
			want := []Result{OK, OK, OK, OK, OK, OK, OK, OK, Late, NotValid}
			for i, w := range order {
				got, r := l.validate(wires[w])
				require.Equal(t, want[i], r, "frame %d (PN %#x)", w, start+uint64(w))
				if r == OK {
					require.Equal(t, frame(64, byte(w)), got)
				}
			}
			next, _ := l.rx.RxSANextPN(sciA, 0)
			require.Equal(t, start+8, next)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "cipher suite"},
		{Config{Suite: GCMAES128, IncludeSCI: true, EndStation: true, SCI: NewSCI(macA, 1)}, "IncludeSCI excludes"},
		{Config{Suite: GCMAES128, EndStation: true, SCI: NewSCI(macA, 2)}, "port 1"},
		{Config{Suite: GCMAESXPN128, ReplayProtect: true, ReplayWindow: 1 << 30}, "below 2^30"},
	} {
		_, err := New(tc.cfg)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := New(Config{Suite: GCMAESXPN128, ReplayWindow: MaxXPNReplayWindow})
	require.NoError(t, err)

	y, err := New(Config{Suite: GCMAESXPN256})
	require.NoError(t, err)
	require.ErrorContains(t, y.InstallTxSA(4, testKey(GCMAESXPN256, 1), 1), "AN 4")
	require.ErrorContains(t, y.InstallTxSA(0, testKey(GCMAES128, 1), 1), "SAK is 16 octets; GCM-AES-XPN-256 needs 32")
	require.ErrorContains(t, y.InstallTxSA(0, testKey(GCMAESXPN256, 1), 0), "next PN 0x0")
	require.ErrorContains(t, y.SetEncodingSA(1), "no transmit SA")
	require.ErrorContains(t, y.InstallRxSA(sciA, 0, testKey(GCMAESXPN256, 1), 1), "no such receive SC")
	require.NoError(t, y.AddRxSC(sciA))
	require.ErrorContains(t, y.AddRxSC(sciA), "exists")

	buf := make([]byte, Headroom+60+ICVLen)
	_, err = y.Protect(buf, 0, 60)
	require.ErrorIs(t, err, ErrBufferLayout)
	_, err = y.Protect(buf, Headroom, 60)
	require.ErrorIs(t, err, ErrNoTxSA)
}

func TestTooLong(t *testing.T) {
	l := newLink(t, Config{Suite: GCMAES128, IncludeSCI: true, MTU: 1500}, nil, 1)
	buf := make([]byte, Headroom+1514+ICVLen)
	_, err := l.tx.Protect(buf, Headroom, 1514)
	require.ErrorIs(t, err, ErrTooLong)
	_, err = l.tx.Protect(buf, Headroom, 1514-32)
	require.NoError(t, err)
	require.Equal(t, uint64(1), l.tx.Status().Stats.OutPktsTooLong)
}

func TestUnprotected(t *testing.T) {
	l := newLink(t, Config{Suite: GCMAES128, Unprotected: true}, nil, 1)
	clear := frame(60, 0)
	buf := make([]byte, Headroom+len(clear)+ICVLen)
	copy(buf[Headroom:], clear)
	out, err := l.tx.Protect(buf, Headroom, len(clear))
	require.NoError(t, err)
	require.Equal(t, clear, out)
	require.Equal(t, uint64(1), l.tx.Status().Stats.OutPktsUntagged)
	_, r := l.validate(out)
	require.Equal(t, NoTag, r, "a strict receiver refuses what an unprotected sender sends")
}

// TestRekeyUnderTraffic runs transmit, receive and key changes in parallel
// goroutines (run with -race): every frame is either delivered intact or
// dropped for a reason that the key change explains, never garbled.
func TestRekeyUnderTraffic(t *testing.T) {
	suite := GCMAESXPN128
	l := newLink(t, Config{Suite: suite}, func(c *Config) { c.ReplayProtect = true; c.ReplayWindow = 64 }, 1)
	wire := make(chan []byte, 256)
	var sent, delivered, dropped atomic.Uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})

	wg.Add(1)
	go func() { // transmitter
		defer wg.Done()
		defer close(wire)
		buf := make([]byte, Headroom+1514+ICVLen)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			clear := frame(100, byte(i))
			copy(buf[Headroom:], clear)
			out, err := l.tx.Protect(buf, Headroom, len(clear))
			if err != nil {
				continue
			}
			sent.Add(1)
			wire <- bytes.Clone(out)
		}
	}()
	wg.Add(1)
	go func() { // receiver
		defer wg.Done()
		for w := range wire {
			out, r := l.rx.Validate(w, 0, len(w))
			switch {
			case r == OK:
				if len(out) != 114 || !bytes.Equal(out[:12], append(bytes.Clone(macB), macA...)) {
					t.Errorf("garbled frame delivered: %x", out)
				}
				delivered.Add(1)
			case r == NotUsingSA || r == Late:
				dropped.Add(1)
			default:
				t.Errorf("unexpected result %v", r)
			}
			_ = l.rx.Status()
		}
	}()
	// Key changes: receive SA first, then transmit, then retire the old one.
	waitTraffic := func() {
		for d := delivered.Load(); delivered.Load() < d+50; {
			runtime.Gosched()
		}
	}
	for i := 1; i <= 20; i++ {
		waitTraffic()
		an := uint8(i % 4)
		k := testKey(suite, byte(i+1))
		require.NoError(t, l.rx.InstallRxSA(sciA, an, k, 1))
		require.NoError(t, l.tx.InstallTxSA(an, k, 1))
		require.NoError(t, l.tx.SetEncodingSA(an))
		old := uint8((i + 3) % 4)
		l.tx.DeleteTxSA(old)
		l.rx.DeleteRxSA(sciA, old)
	}
	waitTraffic()
	close(stop)
	wg.Wait()
	require.Equal(t, sent.Load(), delivered.Load()+dropped.Load())
	require.NotZero(t, delivered.Load())
}
