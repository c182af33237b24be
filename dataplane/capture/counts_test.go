package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Counts ride at the end of a pcapng stream: readers skip them (the frames
// read back unchanged), CountsAtEnd finds them.
func TestCountsAtTheEnd(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, PCAPNG)
	require.NoError(t, err)
	q := NewQueue(w, 16, time.Second, 0)
	c := NewCounter(q)
	macsecFrame := append(make([]byte, 12), 0x88, 0xe5, 0x2c, 0, 0, 0, 0, 1)
	clearFrame := append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	c.Capture(time.Now(), macsecFrame)
	c.Capture(time.Now(), clearFrame)
	require.NoError(t, q.Close())
	require.NoError(t, w.WriteStats(2, 0))
	require.NoError(t, w.WriteCounts(c.Counts()))

	pkts, _, err := Read(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Len(t, pkts, 2)
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	dropped, ok := r.Dropped()
	require.True(t, ok)
	require.Zero(t, dropped)

	got, ok := CountsAtEnd(buf.Bytes())
	require.True(t, ok)
	require.Equal(t, Counts{Frames: 2, EtherTypes: map[string]uint64{"0x88e5": 1, "0x0800": 1}, Clear: 1}, got)
	_, ok = CountsAtEnd(buf.Bytes()[:buf.Len()-4])
	require.False(t, ok)
}
