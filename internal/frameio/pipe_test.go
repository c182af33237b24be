package frameio

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
)

func TestPipeCarriesFramesInOrder(t *testing.T) {
	a, b := Pipe("a", "b")
	const frames = 3 * PipeFrames // more than a direction holds: Write waits
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out := make([][]byte, 1)
		for i := range frames {
			out[0] = append(make([]byte, 4), byte(i), byte(i>>8), byte(i>>16))
			if n, err := a.Write(out, 4); n != 1 || err != nil {
				t.Errorf("write %d: %d, %v", i, n, err)
				return
			}
		}
	}()
	bufs, sizes := make([][]byte, b.BatchSize()), make([]int, b.BatchSize())
	for i := range bufs {
		bufs[i] = make([]byte, 10)
	}
	for got := 0; got < frames; {
		n, err := b.Read(bufs, sizes, 2)
		if err != nil || n == 0 {
			t.Fatalf("read: %d, %v", n, err)
		}
		for i := range n {
			want := []byte{byte(got), byte(got >> 8), byte(got >> 16)}
			if !bytes.Equal(bufs[i][2:2+sizes[i]], want) {
				t.Fatalf("frame %d: % x, want % x", got, bufs[i][2:2+sizes[i]], want)
			}
			got++
		}
	}
	wg.Wait()
}

func TestPipeClose(t *testing.T) {
	a, b := Pipe("a", "b")
	done := make(chan error)
	go func() {
		_, err := b.Read([][]byte{make([]byte, 100)}, []int{0}, 0)
		done <- err
	}()
	b.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := b.Write([][]byte{{1}}, 0); !IsClosed(err) {
		t.Fatalf("Write after Close: %v", err)
	}
	// The far end of a closed end loses its frames, as on a cable.
	if n, err := a.Write([][]byte{{1}, {2}}, 0); n != 2 || err != nil {
		t.Fatalf("Write to a closed peer: %d, %v", n, err)
	}
}

func TestPipeAllocatesNothing(t *testing.T) {
	a, b := Pipe("a", "b")
	frame := [][]byte{make([]byte, 1500)}
	bufs, sizes := [][]byte{make([]byte, 1600)}, []int{0}
	round := func() {
		a.Write(frame, 0)
		b.Read(bufs, sizes, 100)
	}
	for range PipeFrames {
		round() // every slot carries a frame once
	}
	if n := testing.AllocsPerRun(1000, round); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
