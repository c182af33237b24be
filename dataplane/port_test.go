package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

var (
	macA = []byte{2, 0, 0, 0, 0xA, 1}
	macB = []byte{2, 0, 0, 0, 0xB, 1}
)

// secyPair returns two SecYs; A transmits and receives with keyA, B with keyB.
func secyPair(t testing.TB, keyA, keyB byte) (*macsec.SecY, *macsec.SecY) {
	t.Helper()
	suite := macsec.GCMAESXPN256
	sciA, sciB := macsec.NewSCI(macA, 1), macsec.NewSCI(macB, 1)
	mk := func(own, peer macsec.SCI, txKey, rxKey byte) *macsec.SecY {
		y, err := macsec.New(macsec.Config{Suite: suite, SCI: own})
		require.NoError(t, err)
		k := func(b byte) macsec.Key {
			return macsec.Key{SAK: bytes.Repeat([]byte{b}, 32), SSCI: 1, Salt: macsec.Salt{b}}
		}
		require.NoError(t, y.InstallTxSA(0, k(txKey), 1))
		require.NoError(t, y.AddRxSC(peer))
		require.NoError(t, y.InstallRxSA(peer, 0, k(rxKey), 1))
		return y
	}
	return mk(sciA, sciB, keyA, keyA), mk(sciB, sciA, keyB, keyB)
}

// lab is two ports joined by an in-memory wire; the test plays both
// nodes' IP stacks through the ctrl ends.
type lab struct {
	a, b         *Port
	hostA, hostB *frameio.PipeEnd
	atB          chan []byte // what hostB receives
	wireSniff    chan []byte
}

type sniffer struct{ ch chan []byte }

func (s sniffer) Capture(_ time.Time, f []byte) {
	select {
	case s.ch <- bytes.Clone(f):
	default:
	}
}

func newLab(t *testing.T, ya, yb *macsec.SecY) *lab {
	hostA, ctrlA := frameio.Pipe("hostA", "ctrlA")
	hostB, ctrlB := frameio.Pipe("hostB", "ctrlB")
	wireA, wireB := frameio.Pipe("wireA", "wireB")
	l := &lab{a: NewPort("a", ctrlA, wireA, ya, 1), b: NewPort("b", ctrlB, wireB, yb, 2), hostA: hostA, hostB: hostB, wireSniff: make(chan []byte, 10000)}
	l.a.SetMirror(Wire, sniffer{l.wireSniff})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*Port{l.a, l.b} {
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, p.Run(ctx)) }()
	}
	l.atB = make(chan []byte, 10000)
	wg.Add(1)
	go func() {
		defer wg.Done()
		bufs, sizes := [][]byte{make([]byte, MaxFrame)}, []int{0}
		for {
			if _, err := hostB.Read(bufs, sizes, 0); err != nil {
				return
			}
			l.atB <- bytes.Clone(bufs[0][:sizes[0]])
		}
	}()
	t.Cleanup(func() { cancel(); hostB.Close(); wg.Wait() })
	return l
}

func recvWithin(ch <-chan []byte, d time.Duration) ([]byte, bool) {
	select {
	case f := <-ch:
		return f, true
	case <-time.After(d):
		return nil, false
	}
}

func TestPortForwardsThroughMACsec(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	l := newLab(t, ya, yb)
	for i := 0; i < 100; i++ {
		f := nettest.EthFrame(macB, macA, 0x0800, 100+i, byte(i))
		_, err := l.hostA.Write([][]byte{f}, 0)
		require.NoError(t, err)
		got, ok := recvWithin(l.atB, time.Second)
		require.True(t, ok, "frame %d not delivered", i)
		require.Equal(t, f, got)
		wire, ok := recvWithin(l.wireSniff, time.Second)
		require.True(t, ok)
		require.Equal(t, uint16(macsec.EtherType), binary.BigEndian.Uint16(wire[12:]), "only MACsec on the wire")
		require.NotContains(t, string(wire), string(f[14:]))
	}
	require.Equal(t, uint64(100), yb.Status().RxSCs[0].Stats.InPktsOK)
	// The counters are added after the write returns, which can be after
	// the far end has read the frame.
	require.Eventually(t, func() bool {
		return l.a.Stats().TxFrames == 100 && l.b.Stats().RxFrames == 100
	}, time.Second, time.Millisecond)
}

func TestPortKeyMismatchDeliversNothing(t *testing.T) {
	ya, yb := secyPair(t, 1, 2)
	l := newLab(t, ya, yb)
	for i := 0; i < 20; i++ {
		_, err := l.hostA.Write([][]byte{nettest.EthFrame(macB, macA, 0x0800, 100, byte(i))}, 0)
		require.NoError(t, err)
	}
	// A clear frame injected on the wire towards B.
	wireInject := l.a.wire.(*frameio.PipeEnd)
	_, err := wireInject.Write([][]byte{nettest.EthFrame(macB, macA, 0x0800, 64, 0)}, 0)
	require.NoError(t, err)
	_, ok := recvWithin(l.atB, 200*time.Millisecond)
	require.False(t, ok, "a frame reached B's controlled port")
	require.Eventually(t, func() bool { return l.b.Stats().RxDropped == 21 }, time.Second, time.Millisecond)
	st := yb.Status()
	require.Equal(t, uint64(20), st.RxSCs[0].Stats.InPktsNotValid)
	require.Equal(t, uint64(1), st.Stats.InPktsNoTag)
}

func TestPortPassesFramesWithoutMACsec(t *testing.T) {
	l := newLab(t, nil, nil)
	f := nettest.EthFrame(macB, macA, 0x0806, 28, 0)
	_, err := l.hostA.Write([][]byte{f}, 0)
	require.NoError(t, err)
	got, ok := recvWithin(l.atB, time.Second)
	require.True(t, ok)
	require.Equal(t, f, got)
}

func TestPortKaY(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	l := newLab(t, ya, yb)
	var got atomic.Pointer[[]byte]
	l.b.SetKaY(func(f []byte) { c := bytes.Clone(f); got.Store(&c) })
	mkpdu := nettest.EthFrame([]byte{0x01, 0x80, 0xC2, 0, 0, 3}, macA, mka.EtherTypeEAPOL, 60, 9)
	require.NoError(t, l.a.SendKaY(mkpdu))
	require.Eventually(t, func() bool { return got.Load() != nil }, time.Second, time.Millisecond)
	require.Equal(t, mkpdu, *got.Load())
	_, ok := recvWithin(l.atB, 50*time.Millisecond)
	require.False(t, ok, "MKA must not reach the controlled port")
	require.Equal(t, uint64(1), l.b.Stats().KaYRxFrames)
}

func TestPortImpairments(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	l := newLab(t, ya, yb)
	send := func(n int) {
		for i := 0; i < n; i++ {
			_, err := l.hostA.Write([][]byte{nettest.EthFrame(macB, macA, 0x0800, 100, byte(i))}, 0)
			require.NoError(t, err)
		}
	}
	drain := func(d time.Duration) int {
		n := 0
		for {
			if _, ok := recvWithin(l.atB, d); !ok {
				return n
			}
			n++
		}
	}

	l.a.SetImpairment(Impairment{Down: true})
	send(10)
	require.Zero(t, drain(100*time.Millisecond))
	require.Eventually(t, func() bool { return l.a.Stats().Impair.Down == 10 }, time.Second, time.Millisecond)

	l.a.SetImpairment(Impairment{Loss: 0.5})
	send(400)
	got := drain(100 * time.Millisecond)
	require.InDelta(t, 200, got, 60, "about half of 400 frames")
	require.Equal(t, uint64(400-got), l.a.Stats().Impair.Lost)

	l.a.SetImpairment(Impairment{Delay: 50 * time.Millisecond})
	start := time.Now()
	send(5)
	f, ok := recvWithin(l.atB, time.Second)
	require.True(t, ok)
	require.NotNil(t, f)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	require.Equal(t, 4, drain(200*time.Millisecond))

	// 1 Mbit/s: 20 frames of 150 octets on the wire take 24 ms.
	l.a.SetImpairment(Impairment{Rate: 1_000_000})
	start = time.Now()
	send(20)
	require.Equal(t, 20, drain(200*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)

	l.a.SetImpairment(Impairment{})
	send(3)
	require.Equal(t, 3, drain(100*time.Millisecond))
}

// TestPortCapturesItsOwnMKPDUs: a wire capture holds the MKPDUs the port
// sends as well as those it receives (issue 12, item 10: SendKaY bypassed
// the mirror, so a capture held only the peer's).
func TestPortCapturesItsOwnMKPDUs(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	l := newLab(t, ya, yb)
	mkpdu := nettest.EthFrame([]byte{0x01, 0x80, 0xC2, 0, 0, 3}, macA, mka.EtherTypeEAPOL, 60, 7)
	require.NoError(t, l.a.SendKaY(mkpdu))
	got, ok := recvWithin(l.wireSniff, time.Second)
	require.True(t, ok, "the port's own MKPDU is not in its wire capture")
	require.Equal(t, mkpdu, got)
	// And one from the peer, as before.
	l.a.SetKaY(func([]byte) {})
	peer := nettest.EthFrame([]byte{0x01, 0x80, 0xC2, 0, 0, 3}, macB, mka.EtherTypeEAPOL, 60, 8)
	require.NoError(t, l.b.SendKaY(peer))
	got, ok = recvWithin(l.wireSniff, time.Second)
	require.True(t, ok)
	require.Equal(t, peer, got)
}
