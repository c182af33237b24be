package frameio

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
)

// packetPair opens packet sockets on both ends of a veth pair "wire"
// (MTU 1600) between two new namespaces, with the receive ring or with
// recvmmsg.
func packetPair(t *testing.T, ring bool) (a, b *PacketSocket) {
	t.Helper()
	nettest.NeedRoot(t)
	if ring {
		t.Setenv("SECYLAB_PACKET_RING", "on")
	}
	na, nb := nettest.Namespace(t, "fpa"), nettest.Namespace(t, "fpb")
	nettest.Wire(t, na, nb, "wire", 1600)
	for _, end := range []struct {
		ns string
		s  **PacketSocket
	}{{na, &a}, {nb, &b}} {
		require.NoError(t, netnsx.Do(end.ns, func() (err error) { *end.s, err = OpenPacket("wire"); return }))
		s := *end.s
		require.Equal(t, ring, s.Ring(), "receive ring")
		t.Cleanup(func() { s.Close() })
	}
	return a, b
}

// readAll reads from s until want frames came or a second passed.
func readAll(t *testing.T, s *PacketSocket, want int) [][]byte {
	t.Helper()
	bufs, sizes := newBufs(64)
	var got [][]byte
	deadline := time.Now().Add(time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := s.Read(bufs, sizes, 16)
		require.NoError(t, err)
		for i := range n {
			got = append(got, bytes.Clone(bufs[i][16:16+sizes[i]]))
		}
	}
	return got
}

func tagged(f []byte, tpid, tci uint16) []byte {
	out := append(append(bytes.Clone(f[:12]), 0, 0, 0, 0), f[12:]...)
	binary.BigEndian.PutUint16(out[12:], tpid)
	binary.BigEndian.PutUint16(out[14:], tci)
	return out
}

// TestPacketSocketCarriesFrames sends frames of every size up to the MTU,
// tagged and untagged, across a veth: the receiver gets each whole, in
// order, with the tags the kernel took off put back, from the ring and
// from recvmmsg alike.
func TestPacketSocketCarriesFrames(t *testing.T) {
	for _, ring := range []bool{true, false} {
		t.Run(map[bool]string{true: "ring", false: "recvmmsg"}[ring], func(t *testing.T) {
			a, b := packetPair(t, ring)
			var sent [][]byte
			for i := range 600 { // more than a ring's 512 slots, in batches the reader keeps up with
				f := nettest.EthFrame(macB, macA, 0x88B5, 46+(i*7)%1500, byte(i))
				switch i % 5 {
				case 1:
					f = tagged(f, 0x8100, uint16(100+i%7))
				case 2:
					f = tagged(tagged(f, 0x8100, 200), 0x88A8, 300) // QinQ: the outer S-tag is the one the kernel takes
				}
				sent = append(sent, f)
			}
			var got [][]byte
			for len(sent[len(got):]) > 0 {
				batch := sent[len(got):min(len(got)+64, len(sent))]
				n, err := a.Write(batch, 0)
				require.NoError(t, err)
				require.Equal(t, len(batch), n)
				got = append(got, readAll(t, b, len(batch))...)
			}
			require.Equal(t, len(sent), len(got))
			for i := range sent {
				require.Equal(t, sent[i], got[i], "frame %d", i)
			}
			require.Zero(t, b.Stats().Truncated)

			// A frame longer than the caller's buffer is dropped and counted;
			// the next one still arrives.
			long := nettest.EthFrame(macB, macA, 0x88B5, 1400, 1)
			short := nettest.EthFrame(macB, macA, 0x88B5, 100, 2)
			_, err := a.Write([][]byte{long, short}, 0)
			require.NoError(t, err)
			small := [][]byte{make([]byte, 16+600), make([]byte, 16+600)}
			sizes := make([]int, 2)
			var rx [][]byte
			for deadline := time.Now().Add(time.Second); len(rx) == 0 && time.Now().Before(deadline); {
				n, err := b.Read(small, sizes, 16)
				require.NoError(t, err)
				for i := range n {
					rx = append(rx, bytes.Clone(small[i][16:16+sizes[i]]))
				}
			}
			require.Equal(t, [][]byte{short}, rx)
			require.Equal(t, uint64(1), b.Stats().Truncated)
		})
	}
}

// TestPacketSocketClose: Close ends a Read parked on an empty socket, and
// every later call fails with net.ErrClosed.
func TestPacketSocketClose(t *testing.T) {
	_, b := packetPair(t, true)
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := newBufs(4)
		_, err := b.Read(bufs, sizes, 0)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, b.Close())
	select {
	case err := <-errc:
		require.True(t, IsClosed(err), "%v", err)
	case <-time.After(2 * time.Second):
		t.Fatal("Read did not return after Close")
	}
	bufs, sizes := newBufs(4)
	_, err := b.Read(bufs, sizes, 0)
	require.True(t, IsClosed(err), "%v", err)
	_, err = b.Write([][]byte{nettest.EthFrame(macB, macA, 0x88B5, 46, 0)}, 0)
	require.True(t, IsClosed(err), "%v", err)
}

// TestPacketSocketAllocatesNothing: a batch written on one end and read
// from the other's ring, or with recvmmsg, allocates nothing.
func TestPacketSocketAllocatesNothing(t *testing.T) {
	for _, ring := range []bool{true, false} {
		t.Run(map[bool]string{true: "ring", false: "recvmmsg"}[ring], func(t *testing.T) { testPacketSocketAllocatesNothing(t, ring) })
	}
}

func testPacketSocketAllocatesNothing(t *testing.T, ring bool) {
	a, b := packetPair(t, ring)
	batch := make([][]byte, 32)
	for i := range batch {
		batch[i] = nettest.EthFrame(macB, macA, 0x88B5, 1400, byte(i))
	}
	bufs, sizes := newBufs(64)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := a.Write(batch, 0); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(batch); {
			n, err := b.Read(bufs, sizes, 16)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	require.Zero(t, allocs)
}
