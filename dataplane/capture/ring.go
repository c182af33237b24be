package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds is how much a capture keeps: the snap length of each frame, and a
// ring of files of at most FileSize octets each (tcpdump's -s, -C and -W).
type Bounds struct {
	// SnapLen is how many octets of each frame are kept (1 to MaxSnapLen).
	SnapLen int
	// FileSize caps each file, header included; 0: one file, no cap.
	FileSize int64
	// Files is how many files the ring keeps (1 to 10000): when the
	// newest is full a new one starts and, past Files, the oldest is
	// deleted; 1: one file, replaced when full.
	Files int
}

// Defaults of a lab capture: 100-octet frames, at most 4 files of 20 MB
// (80 MB per capture, about 600,000 MACsec frames).
const (
	DefaultFileSize = 20_000_000
	DefaultFiles    = 4
)

// DefaultBounds are a lab capture's bounds unless told otherwise.
func DefaultBounds() Bounds {
	return Bounds{SnapLen: DefaultSnapLen, FileSize: DefaultFileSize, Files: DefaultFiles}
}

// MinFileSize is the smallest file cap: a few hundred frames.
const MinFileSize = 64 << 10

// Check says what is wrong with b.
func (b Bounds) Check() error {
	var errs []error
	if b.SnapLen < 1 || b.SnapLen > MaxSnapLen {
		errs = append(errs, fmt.Errorf("snap length %d: want 1 to %d octets", b.SnapLen, MaxSnapLen))
	}
	if b.FileSize != 0 && b.FileSize < MinFileSize {
		errs = append(errs, fmt.Errorf("file size %d: want 0 (no cap) or at least %d octets", b.FileSize, MinFileSize))
	}
	if b.Files < 1 || b.Files > 10000 {
		errs = append(errs, fmt.Errorf("files %d: want 1 to 10000", b.Files))
	}
	return errors.Join(errs...)
}

// Max is the most octets the capture's files hold together; 0: no bound.
func (b Bounds) Max() int64 {
	if b.FileSize == 0 {
		return 0
	}
	return b.FileSize * int64(max(b.Files, 1))
}

// String is the bounds as tcpdump's flags would say them.
func (b Bounds) String() string {
	s := "snap " + strconv.Itoa(b.SnapLen)
	if b.SnapLen == MaxSnapLen {
		s = "full frames"
	}
	if b.FileSize == 0 {
		return s + ", one file without a size cap"
	}
	return fmt.Sprintf("%s, ring of %d × %s", s, max(b.Files, 1), Octets(b.FileSize))
}

// Octets prints a size in decimal units, as tcpdump's -C counts: 20 MB.
func Octets(n int64) string {
	switch {
	case n >= 1e9 && n%1e7 == 0:
		return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64) + " GB"
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	case n >= 1e3:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// File is one file of a ring.
type File struct {
	Name   string    `json:"name"`
	Frames uint64    `json:"frames"`
	Octets int64     `json:"octets"`
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
}

// Ring writes a capture to a ring of files: name, then name.2, name.3, …
// before the extension (link1-wire.pcapng, link1-wire.2.pcapng), the
// oldest deleted past Bounds.Files, so a capture's disk use is bounded
// by Bounds.Max however long it runs. Every file is 0600 and a capture on
// its own, in the format the name says (FormatFor).
type Ring struct {
	mu      sync.Mutex
	base    string
	b       Bounds
	seq     int
	f       *os.File
	bw      *bufio.Writer // large writes: a busy link is many small frames
	w       *Writer
	cur     File
	kept    []File // before cur, oldest first
	dropped File   // the totals of the files deleted
	gone    int    // how many files were deleted
}

// NewRing starts the first file.
func NewRing(name string, b Bounds) (*Ring, error) {
	if err := b.Check(); err != nil {
		return nil, err
	}
	r := &Ring{base: name, b: b}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// fileName is the name of the seq'th file.
func (r *Ring) fileName(seq int) string {
	if seq == 1 {
		return r.base
	}
	ext := filepath.Ext(r.base)
	return strings.TrimSuffix(r.base, ext) + "." + strconv.Itoa(seq) + ext
}

func (r *Ring) open() error {
	r.seq++
	name := r.fileName(r.seq)
	f, err := CreateFile(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := NewWriterSnap(bw, FormatFor(name), r.b.SnapLen)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	var head int64
	if err == nil {
		head, err = f.Seek(0, io.SeekCurrent)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	r.f, r.bw, r.w, r.cur = f, bw, w, File{Name: name, Octets: head}
	return nil
}

// closeFile flushes and closes the current file.
func (r *Ring) closeFile() error {
	if r.f == nil {
		return nil
	}
	err := r.w.Flush()
	if err == nil {
		err = r.bw.Flush()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	if err != nil {
		return fmt.Errorf("%s: %w", r.cur.Name, err)
	}
	return nil
}

func (r *Ring) rotate() error {
	if err := r.closeFile(); err != nil {
		return err
	}
	r.kept = append(r.kept, r.cur)
	for len(r.kept)+1 > max(r.b.Files, 1) {
		old := r.kept[0]
		r.kept = r.kept[1:]
		if err := os.Remove(old.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		r.gone++
		r.dropped.Frames += old.Frames
		r.dropped.Octets += old.Octets
		if r.dropped.First.IsZero() {
			r.dropped.First = old.First
		}
		r.dropped.Last = old.Last
	}
	return r.open()
}

// Write appends a frame, cut at the snap length, starting a new file first
// when it would make the current one larger than the cap.
func (r *Ring) Write(p Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return errors.New("capture ring closed")
	}
	n := r.w.recordSize(len(p.Data))
	if r.b.FileSize > 0 && r.cur.Frames > 0 && r.cur.Octets+n > r.b.FileSize {
		if err := r.rotate(); err != nil {
			return err
		}
	}
	if err := r.w.Write(p); err != nil {
		return fmt.Errorf("%s: %w", r.cur.Name, err)
	}
	r.cur.Frames++
	r.cur.Octets += n
	if r.cur.First.IsZero() {
		r.cur.First = p.Timestamp
	}
	r.cur.Last = p.Timestamp
	return nil
}

// Flush writes out the current file's buffer.
func (r *Ring) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	return r.bw.Flush()
}

// SnapLen is how much of each frame the ring keeps.
func (r *Ring) SnapLen() int { return r.b.SnapLen }

// Close flushes and closes the current file.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closeFile()
}

// Files are the files on disk, oldest first.
func (r *Ring) Files() []File {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(append([]File(nil), r.kept...), r.cur)
}

// Rotated says what the ring deleted to stay within its bounds: how many
// files, and the totals of their frames, octets and times.
func (r *Ring) Rotated() (files int, total File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gone, r.dropped
}

// ParseSnapLen reads a snap length: octets (1 to MaxSnapLen), or "full"
// or 0 (tcpdump's -s 0) for whole frames.
func ParseSnapLen(s string) (int, error) {
	if strings.EqualFold(s, "full") || s == "0" {
		return MaxSnapLen, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxSnapLen {
		return 0, fmt.Errorf("snap length %q: want 1 to %d octets, or full", s, MaxSnapLen)
	}
	return n, nil
}

// ParseSize reads a file size: octets, or with a unit, decimal as
// tcpdump's -C (kB, MB, GB) or binary (KiB, MiB, GiB); 0: no cap.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := map[string]float64{"": 1, "B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || f*mult > 1<<50 {
		return 0, fmt.Errorf("size %q: want octets or a number with kB, MB, GB, KiB, MiB or GiB (0: no cap)", s)
	}
	return int64(f * mult), nil
}
