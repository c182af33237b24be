package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQueue(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, PCAPNG)
	require.NoError(t, err)
	q := NewQueue(w, 1024, time.Hour, 0)
	frame := make([]byte, 60)
	for i := range 100 {
		frame[59] = byte(i)
		q.Capture(time.Unix(int64(i), 0), frame) // the queue keeps its own copy
	}
	require.NoError(t, q.Close())
	require.Equal(t, uint64(100), q.Written())
	pkts, _, err := Read(&b)
	require.NoError(t, err)
	require.Len(t, pkts, 100)
	for i, p := range pkts {
		require.Equal(t, byte(i), p.Data[59])
	}
}

func TestQueueLimitAndOverflow(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, PCAP)
	require.NoError(t, err)
	q := NewQueue(w, 4, time.Hour, 3)
	for range 10 {
		q.Capture(time.Now(), make([]byte, 60))
	}
	<-q.Done()
	require.NoError(t, q.Close())
	require.Equal(t, uint64(3), q.Written(), "stops at the limit")
	require.Equal(t, uint64(10), q.Written()+q.Dropped()+uint64(len(q.ch)), "every frame is written, dropped or still queued")
}
