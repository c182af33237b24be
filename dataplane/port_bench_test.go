package dataplane

import (
	"net"
	"runtime"
	"testing"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/macsec"
)

// replay is a Device that serves the same frame until n frames were read,
// and counts what is written: a fake that allocates nothing, so that the
// benchmarks see only the forwarder's own allocations.
type replay struct {
	frame   []byte
	left    int
	written int
}

func (r *replay) Name() string   { return "replay" }
func (r *replay) Close() error   { return nil }
func (r *replay) BatchSize() int { return 64 }
func (r *replay) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if r.left == 0 {
		return 0, net.ErrClosed
	}
	n := min(len(bufs), r.left)
	for i := 0; i < n; i++ {
		sizes[i] = copy(bufs[i][offset:], r.frame)
	}
	r.left -= n
	return n, nil
}
func (r *replay) Write(frames [][]byte, _ int) (int, error) {
	r.written += len(frames)
	return len(frames), nil
}

// BenchmarkPortTransmit runs the controlled-port → wire loop: protect and
// send, 1500-octet frames, in batches.
func BenchmarkPortTransmit(b *testing.B) {
	ya, _ := secyPair(b, 1, 1)
	ctrl := &replay{frame: nettest.EthFrame(macB, macA, 0x0800, 1486, 0), left: b.N}
	wire := &replay{}
	p := NewPort("bench", ctrl, wire, ya, 1)
	b.SetBytes(1500)
	b.ReportAllocs()
	b.ResetTimer()
	p.transmit()
	b.StopTimer()
	if wire.written != b.N {
		b.Fatalf("sent %d of %d", wire.written, b.N)
	}
}

// BenchmarkPortReceive runs the wire → controlled-port loop: receive,
// validate and deliver.
func BenchmarkPortReceive(b *testing.B) {
	ya, yb := secyPair(b, 1, 1)
	clear := nettest.EthFrame(macB, macA, 0x0800, 1486, 0)
	buf := make([]byte, macsec.Headroom+len(clear)+macsec.ICVLen)
	copy(buf[macsec.Headroom:], clear)
	prot, err := ya.Protect(buf, macsec.Headroom, len(clear))
	if err != nil {
		b.Fatal(err)
	}
	wire := &replay{frame: prot, left: b.N}
	ctrl := &replay{}
	p := NewPort("bench", ctrl, wire, yb, 1)
	b.SetBytes(1500)
	b.ReportAllocs()
	b.ResetTimer()
	p.receive()
	b.StopTimer()
	if ctrl.written != b.N { // the same PN again is Delayed, and delivered
		b.Fatalf("delivered %d of %d", ctrl.written, b.N)
	}
}

// TestForwardingAllocatesNothing: the buffers of a direction are made once;
// forwarding 100 000 frames each way must not allocate per frame.
func TestForwardingAllocatesNothing(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	const frames = 100_000
	clear := nettest.EthFrame(macB, macA, 0x0800, 1486, 0)
	buf := make([]byte, macsec.Headroom+len(clear)+macsec.ICVLen)
	copy(buf[macsec.Headroom:], clear)
	prot, err := ya.Protect(buf, macsec.Headroom, len(clear))
	if err != nil {
		t.Fatal(err)
	}
	txWire, rxCtrl := &replay{}, &replay{}
	tx := NewPort("tx", &replay{frame: clear, left: frames}, txWire, ya, 1)
	rx := NewPort("rx", rxCtrl, &replay{frame: prot, left: frames}, yb, 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tx.transmit()
	rx.receive()
	runtime.ReadMemStats(&after)
	if txWire.written != frames || rxCtrl.written != frames {
		t.Fatalf("forwarded %d and %d of %d frames", txWire.written, rxCtrl.written, frames)
	}
	// The batch of each direction (four slices), the receiver's batch for
	// the SecY (four more), and nothing per frame.
	if n := after.Mallocs - before.Mallocs; n > 14 {
		t.Fatalf("%d allocations for %d frames each way", n, frames)
	}
}

// TestForwardedFrameAllocatesNothing sends frames one at a time from A's
// IP stack through A's port (protect), the wire, and B's port (validate)
// to B's IP stack, over in-memory pipes with MACsec on: no allocation per
// frame anywhere on the way.
func TestForwardedFrameAllocatesNothing(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	hostA, ctrlA := frameio.Pipe("hostA", "ctrlA")
	hostB, ctrlB := frameio.Pipe("hostB", "ctrlB")
	wireA, wireB := frameio.Pipe("wireA", "wireB")
	startPorts(t, NewPort("a", ctrlA, wireA, ya, 1), NewPort("b", ctrlB, wireB, yb, 2))
	frame := [][]byte{nettest.EthFrame(macB, macA, 0x0800, 1486, 0)}
	bufs, sizes := [][]byte{make([]byte, MaxFrame)}, []int{0}
	forward := func() {
		if _, err := hostA.Write(frame, 0); err != nil {
			t.Fatal(err)
		}
		if n, err := hostB.Read(bufs, sizes, 0); n != 1 || err != nil || sizes[0] != len(frame[0]) {
			t.Fatalf("read %d (%d octets), %v", n, sizes[0], err)
		}
	}
	for range frameio.PipeFrames {
		forward() // every slot of the pipes carries a frame once
	}
	if a := testing.AllocsPerRun(1000, forward); a != 0 {
		t.Fatalf("%v allocations per forwarded frame", a)
	}
	if pn, _ := ya.TxSANextPN(0); pn < frameio.PipeFrames+1000 {
		t.Fatalf("next PN %d: the frames were not protected", pn)
	}
}
