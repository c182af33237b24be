package capture

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultSnapLen(t *testing.T) {
	// Ethernet addresses, two VLAN tags, the EtherType, a SecTAG with an
	// SCI and 64 octets of secure data.
	require.Equal(t, 6+6+4+4+2+(1+1+4+8)+64, DefaultSnapLen)
	require.Equal(t, 100, DefaultSnapLen)
	require.NoError(t, DefaultBounds().Check())
	require.Equal(t, int64(80_000_000), DefaultBounds().Max())
}

func TestBoundsCheck(t *testing.T) {
	err := Bounds{SnapLen: 0, FileSize: 10, Files: -1}.Check()
	require.ErrorContains(t, err, "snap length 0: want 1 to 262144")
	require.ErrorContains(t, err, "file size 10: want 0 (no cap) or at least 65536")
	require.ErrorContains(t, err, "files -1: want 1 to 10000")
}

func TestRingStaysWithinItsBounds(t *testing.T) {
	for _, name := range []string{"link1-wire.pcapng", "link1-wire.pcap"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b := Bounds{SnapLen: DefaultSnapLen, FileSize: MinFileSize, Files: 3}
			r, err := NewRing(filepath.Join(dir, name), b)
			require.NoError(t, err)
			frame := make([]byte, 1514)
			const n = 5000 // about 10 files' worth
			t0 := time.Unix(1000, 0)
			for i := range n {
				frame[20] = byte(i)
				require.NoError(t, r.Write(Packet{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Data: frame, Length: len(frame)}))
			}
			require.NoError(t, r.Close())

			files := r.Files()
			require.Len(t, files, 3, "the ring keeps Files files")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 3, "and deletes the others")
			gone, rotated := r.Rotated()
			require.Greater(t, gone, 3)
			var kept uint64
			for i, f := range files {
				st, err := os.Stat(f.Name)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
				require.Equal(t, f.Octets, st.Size(), "the ring counts what it writes exactly")
				require.LessOrEqual(t, st.Size(), b.FileSize, "no file is larger than its cap")
				pkts, _, err := ReadFile(f.Name)
				require.NoError(t, err)
				require.Len(t, pkts, int(f.Frames))
				for _, p := range pkts {
					require.Len(t, p.Data, DefaultSnapLen)
					require.Equal(t, 1514, p.Length, "the length on the wire is kept")
				}
				if i > 0 {
					require.True(t, files[i-1].Last.Before(f.First), "oldest first")
				}
				kept += f.Frames
			}
			require.Equal(t, uint64(n), kept+rotated.Frames, "every frame is in a file or counted as rotated out")
			require.Equal(t, filepath.Join(dir, "link1-wire."+strconv.Itoa(gone+3)+filepath.Ext(name)), files[2].Name)
			require.True(t, rotated.Last.Before(files[0].First))
		})
	}
}

func TestRingWithoutCapIsOneFile(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRing(filepath.Join(dir, "x.pcapng"), Bounds{SnapLen: MaxSnapLen, Files: 1})
	require.NoError(t, err)
	q := NewQueue(r, 1024, time.Hour, 0)
	frame := make([]byte, 9000)
	for range 200 {
		q.Capture(time.Now(), frame)
	}
	require.NoError(t, q.Close())
	require.NoError(t, r.Close())
	require.Len(t, r.Files(), 1)
	pkts, _, err := ReadFile(filepath.Join(dir, "x.pcapng"))
	require.NoError(t, err)
	require.Len(t, pkts, 200)
	require.Len(t, pkts[0].Data, 9000, "full frames")
}

func TestQueueCopiesOnlyTheSnapLength(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRing(filepath.Join(dir, "x.pcapng"), DefaultBounds())
	require.NoError(t, err)
	q := NewQueue(r, 1024, time.Hour, 0)
	q.Capture(time.Now(), make([]byte, 1514))
	q.Capture(time.Now(), make([]byte, 60))
	require.NoError(t, q.Close())
	require.NoError(t, r.Close())
	pkts, _, err := ReadFile(filepath.Join(dir, "x.pcapng"))
	require.NoError(t, err)
	require.Len(t, pkts, 2)
	require.True(t, pkts[0].Truncated())
	require.Len(t, pkts[0].Data, DefaultSnapLen)
	require.Equal(t, 1514, pkts[0].Length)
	require.False(t, pkts[1].Truncated())
}

func BenchmarkQueueRing(b *testing.B) {
	r, err := NewRing(filepath.Join(b.TempDir(), "x.pcapng"), DefaultBounds())
	require.NoError(b, err)
	q := NewQueue(r, 1<<16, time.Second, 0)
	frame := make([]byte, 1514)
	b.ReportAllocs()
	for b.Loop() {
		q.Capture(time.Now(), frame)
	}
	require.NoError(b, q.Close())
	require.NoError(b, r.Close())
	b.ReportMetric(float64(q.Dropped()), "dropped")
}

func TestParseSnapLenAndSize(t *testing.T) {
	for s, want := range map[string]int{"100": 100, "full": MaxSnapLen, "0": MaxSnapLen, "1514": 1514} {
		got, err := ParseSnapLen(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"-1", "262145", "big", ""} {
		_, err := ParseSnapLen(s)
		require.ErrorContains(t, err, "want 1 to 262144 octets, or full", s)
	}
	for s, want := range map[string]int64{"20MB": 20_000_000, "20 MB": 20_000_000, "1.5GB": 1_500_000_000, "64KiB": 65536, "0": 0, "4096": 4096} {
		got, err := ParseSize(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"20 furlongs", "-1MB", "MB", ""} {
		_, err := ParseSize(s)
		require.Error(t, err, s)
	}
}
