package conformance

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Initramfs collects the files of a Linux initramfs and writes them as an
// uncompressed "newc" cpio archive (the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst). Uncompressed
// because TCG makes the guest's decompression the slow part.
type Initramfs struct {
	entries []cpioEntry
	seen    map[string]bool
}

type cpioEntry struct {
	name         string // without the leading slash
	mode         uint32 // file type and permission bits, as stat(2)
	data         []byte // file contents or symlink target
	src          string // host file to copy, when data is nil
	size         int64
	major, minor uint32 // device number of a device node
}

// Mode bits of cpio's c_mode (the same as stat(2)).
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

func (f *Initramfs) add(e cpioEntry) {
	e.name = strings.TrimPrefix(path.Clean("/"+e.name), "/")
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if f.seen[e.name] {
		return
	}
	if dir := path.Dir(e.name); dir != "." {
		f.Dir(dir)
	}
	f.seen[e.name] = true
	f.entries = append(f.entries, e)
}

// Dir adds a directory and its parents, mode 0755.
func (f *Initramfs) Dir(name string) { f.add(cpioEntry{name: name, mode: cpioDir | 0o755}) }

// File adds a regular file with the given contents.
func (f *Initramfs) File(name string, perm fs.FileMode, data []byte) {
	f.add(cpioEntry{name: name, mode: cpioReg | uint32(perm.Perm()), data: data, size: int64(len(data))})
}

// Copy adds the host file src as name, following symlinks; it is read
// when the archive is written.
func (f *Initramfs) Copy(name, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", src)
	}
	f.add(cpioEntry{name: name, mode: cpioReg | uint32(fi.Mode().Perm()), src: src, size: fi.Size()})
	return nil
}

// Symlink adds name pointing to target.
func (f *Initramfs) Symlink(name, target string) {
	f.add(cpioEntry{name: name, mode: cpioLink | 0o777, data: []byte(target), size: int64(len(target))})
}

// CharDev adds a character device node (the kernel needs /dev/console
// before devtmpfs is mounted).
func (f *Initramfs) CharDev(name string, major, minor uint32) {
	f.add(cpioEntry{name: name, mode: cpioChr | 0o600, major: major, minor: minor})
}

// Has reports whether name was added.
func (f *Initramfs) Has(name string) bool {
	return f.seen[strings.TrimPrefix(path.Clean("/"+name), "/")]
}

// Names lists the entries in archive order.
func (f *Initramfs) Names() []string {
	names := make([]string, len(f.entries))
	for i, e := range f.entries {
		names[i] = e.name
	}
	return names
}

// WriteTo writes the archive, ending with the TRAILER!!! entry.
func (f *Initramfs) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	for i, e := range f.entries {
		if err := writeCpioEntry(cw, uint32(i+1), e); err != nil {
			return cw.n, err
		}
	}
	if err := writeCpioEntry(cw, 0, cpioEntry{name: "TRAILER!!!"}); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

func writeCpioEntry(w *countWriter, ino uint32, e cpioEntry) error {
	nlink := 1
	if e.mode&0o170000 == cpioDir {
		nlink = 2
	}
	// 110-octet ASCII header: magic and 13 eight-digit hex fields.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.mode, 0, 0, nlink, 0, e.size, 0, 0, e.major, e.minor, len(e.name)+1, 0)
	if _, err := io.WriteString(w, hdr+e.name+"\x00"); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	switch {
	case e.data != nil:
		if _, err := w.Write(e.data); err != nil {
			return err
		}
	case e.src != "":
		src, err := os.Open(e.src)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		n, err := io.Copy(w, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("initramfs: copy %s: %w", e.src, err)
		}
		if n != e.size {
			return fmt.Errorf("initramfs: %s changed size while being copied", e.src)
		}
	}
	return w.pad()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pad aligns the archive to 4 octets, as every header and body must be.
func (c *countWriter) pad() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

// sortedUnique returns the strings sorted without duplicates.
func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
