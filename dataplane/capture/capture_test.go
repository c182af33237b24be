package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testPackets() []Packet {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC) // whole microseconds: pcap keeps no more
	return []Packet{
		{Timestamp: ts, Data: bytes.Repeat([]byte{0xaa}, 60), Length: 60},
		{Timestamp: ts.Add(time.Millisecond), Data: bytes.Repeat([]byte{0x55}, 1514), Length: 1514},
		{Timestamp: ts.Add(2 * time.Millisecond), Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xe5}, Length: 14},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"x.pcap", "x.pcapng", "x.cap"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			want := testPackets()
			require.NoError(t, WriteFile(path, want))

			got, format, err := ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, FormatFor(name), format)
			require.Len(t, got, len(want))
			for i := range want {
				require.Equal(t, want[i].Data, got[i].Data, "record %d", i+1)
				require.Equal(t, want[i].Length, got[i].Length)
				require.True(t, want[i].Timestamp.Equal(got[i].Timestamp), "record %d: %v != %v", i+1, want[i].Timestamp, got[i].Timestamp)
				require.False(t, got[i].Truncated())
			}

			// Only the capture is left in the directory: no temporary file.
			entries, err := os.ReadDir(filepath.Dir(path))
			require.NoError(t, err)
			require.Len(t, entries, 1)
		})
	}
}

func TestFormatFor(t *testing.T) {
	require.Equal(t, PCAPNG, FormatFor("a/b.pcapng"))
	require.Equal(t, PCAPNG, FormatFor("B.PCAPNG"))
	require.Equal(t, PCAP, FormatFor("b.pcap"))
	require.Equal(t, PCAP, FormatFor("b"))
}

func TestEmptyCapture(t *testing.T) {
	for _, f := range []Format{PCAP, PCAPNG} {
		var buf bytes.Buffer
		require.NoError(t, Write(&buf, f, nil))
		got, format, err := Read(&buf)
		require.NoError(t, err)
		require.Equal(t, f, format)
		require.Empty(t, got)
	}
}

func TestTruncatedRecord(t *testing.T) {
	for _, f := range []Format{PCAP, PCAPNG} {
		t.Run(f.String(), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, Write(&buf, f, testPackets()))
			whole := buf.Bytes()
			// Cut inside the last record's data, and inside its header.
			for _, cut := range []int{5, 20} {
				_, _, err := Read(bytes.NewReader(whole[:len(whole)-cut]))
				require.Error(t, err, "cut %d", cut)
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				require.Contains(t, err.Error(), "record 3")
			}
		})
	}
}

func TestNotCapture(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty": nil,
		"short": {0xd4, 0xc3},
		"text":  []byte("E20106D7CD0DF0761E8DCD3D0800\n"),
		"gzip":  {0x1f, 0x8b, 8, 0, 0, 0, 0, 0},
	} {
		_, _, err := Read(bytes.NewReader(in))
		require.ErrorIs(t, err, ErrNotCapture, name)
	}
}

func TestNotEthernet(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, PCAP, nil))
	b := buf.Bytes()
	b[20] = 101 // LINKTYPE_RAW
	_, _, err := Read(bytes.NewReader(b))
	require.ErrorContains(t, err, "only Ethernet")
}

func TestSnapLengthCut(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, PCAP, []Packet{{Data: make([]byte, 96), Length: 1514}}))
	got, _, err := Read(&buf)
	require.NoError(t, err)
	require.True(t, got[0].Truncated())
	require.Equal(t, 1514, got[0].Length)
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcap")
	err := WriteFile(path, []Packet{{Data: make([]byte, MaxSnapLen+1)}})
	require.Error(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func FuzzReadCapture(f *testing.F) {
	// Small inputs only: the fuzzer minimizes every input that finds new
	// coverage, for up to -fuzzminimizetime (60 s by default), in runs that
	// its exec count leaves out, at a cost of about the square of the
	// input's length; a 1514-octet record made a run all minimization.
	// Larger records take the same paths.
	const maxInput = 1024
	small := testPackets()
	small[1].Data, small[1].Length = small[1].Data[:100], 100
	for _, format := range []Format{PCAP, PCAPNG} {
		var buf bytes.Buffer
		if err := Write(&buf, format, small); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:len(buf.Bytes())/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxInput {
			return
		}
		pkts, format, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// What was read writes back and reads again the same.
		var buf bytes.Buffer
		if err := Write(&buf, format, pkts); err != nil {
			return // e.g. a record above the snap length: refused, not a panic
		}
		again, _, err := Read(&buf)
		if err != nil {
			t.Fatalf("re-reading a written capture: %v", err)
		}
		if len(again) != len(pkts) {
			t.Fatalf("%d records written, %d read back", len(pkts), len(again))
		}
		for i := range pkts {
			if !bytes.Equal(again[i].Data, pkts[i].Data) {
				t.Fatalf("record %d differs after the round trip", i+1)
			}
		}
	})
}

// TestReadCutShort: a capture cut inside a record is an error, wherever
// the cut falls; one cut between records reads as the records before it.
// A pcap cut right after a record's header used to read as a clean end.
func TestReadCutShort(t *testing.T) {
	for _, format := range []Format{PCAP, PCAPNG} {
		var buf bytes.Buffer
		require.NoError(t, Write(&buf, format, testPackets()))
		b := buf.Bytes()
		whole := map[int]bool{} // the lengths of the complete prefixes
		for _, n := range []int{1, 2, 3} {
			var w bytes.Buffer
			require.NoError(t, Write(&w, format, testPackets()[:n]))
			whole[w.Len()] = true
		}
		var empty bytes.Buffer
		require.NoError(t, Write(&empty, format, nil))
		whole[empty.Len()] = true
		for n := empty.Len(); n < len(b); n++ {
			_, _, err := Read(bytes.NewReader(b[:n]))
			if whole[n] {
				require.NoError(t, err, "%v cut at %d, between records", format, n)
			} else {
				require.Error(t, err, "%v cut at %d of %d, inside a record", format, n, len(b))
			}
		}
	}
}

// FuzzReadPCAPNGBlocks feeds arbitrary blocks after a valid pcapng Section
// Header and Interface Description, so that the fuzzer spends its time in
// the block parser rather than on the magic number: no panic, records read
// are within the snap length, and what reads writes back and reads again
// the same.
func FuzzReadPCAPNGBlocks(f *testing.F) {
	var head bytes.Buffer
	if err := Write(&head, PCAPNG, nil); err != nil {
		f.Fatal(err)
	}
	var full bytes.Buffer
	small := testPackets()
	small[1].Data, small[1].Length = small[1].Data[:100], 100
	if err := Write(&full, PCAPNG, small); err != nil {
		f.Fatal(err)
	}
	f.Add(full.Bytes()[head.Len():])
	f.Add(full.Bytes()[head.Len() : head.Len()+40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, blocks []byte) {
		if len(blocks) > 1024 {
			return // see FuzzReadCapture
		}
		data := append(bytes.Clone(head.Bytes()), blocks...)
		pkts, format, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		if format != PCAPNG {
			t.Fatalf("format %v", format)
		}
		var buf bytes.Buffer
		for _, p := range pkts {
			if len(p.Data) > MaxSnapLen || p.Length < len(p.Data) {
				t.Fatalf("record of %d octets, length %d", len(p.Data), p.Length)
			}
		}
		if err := Write(&buf, PCAPNG, pkts); err != nil {
			return
		}
		again, _, err := Read(&buf)
		if err != nil || len(again) != len(pkts) {
			t.Fatalf("re-reading %d records: %d, %v", len(pkts), len(again), err)
		}
	})
}
