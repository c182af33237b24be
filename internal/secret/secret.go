// Package secret reads the files that hold key material (CAK/CKN key
// files, SAK and ESP key files) by one rule: a regular file that only its
// owner may read or write (mode 0600 or stricter), a few kilobytes at most.
// A CAK/CKN key file is then read by Azure's rule (LoadKey). Errors name the
// file and the rule, never the content.
package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/macsec"
)

// MaxFileSize bounds a key file: a key is a few dozen hex digits.
const MaxFileSize = 4096

// ReadFile returns the content of the key file name, which the caller
// clears when done. It refuses anything but a regular file of mode 0600 or
// stricter: a directory, a device, a FIFO, a file that group or others may
// access, a file larger than MaxFileSize.
func ReadFile(name string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
	// below like anything but a regular file.
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &notExist{name: name, err: err}
		}
		return nil, fmt.Errorf("key file %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", name, err)
	}
	if err := CheckMode(name, fi.Mode()); err != nil {
		return nil, err
	}
	b := make([]byte, MaxFileSize+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(b)
		return nil, fmt.Errorf("key file %s: %w", name, err)
	}
	if n > MaxFileSize {
		clear(b)
		return nil, fmt.Errorf("key file %s is larger than %d octets: not a key file", name, MaxFileSize)
	}
	return b[:n], nil
}

// LoadKey reads the CAK/CKN key file path for suite: the file rule, then
// Azure's key rule (expressroute.ParseKeyFile). Every command, topology
// check and lab reads a key file through it.
func LoadKey(path string, suite macsec.CipherSuite) (expressroute.Key, error) {
	data, err := ReadFile(path)
	if err != nil {
		return expressroute.Key{}, err
	}
	defer clear(data)
	k, err := expressroute.ParseKeyFile(data, suite)
	if err != nil {
		return expressroute.Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// CheckMode applies the rule to a key file's mode: a regular file that
// group and others can neither read nor write.
func CheckMode(name string, m fs.FileMode) error {
	switch {
	case m.IsDir():
		return fmt.Errorf("key file %s is a directory, not a file", name)
	case !m.IsRegular():
		return fmt.Errorf("key file %s is not a regular file (%s)", name, m.Type())
	case m.Perm()&0o077 != 0:
		return fmt.Errorf("key file %s has mode %04o: a key file must be for its owner only, mode 0600 or stricter (chmod 600 %s)", name, m.Perm(), name)
	}
	return nil
}

// notExist says a key file is missing, and is still fs.ErrNotExist.
type notExist struct {
	name string
	err  error
}

func (e *notExist) Error() string { return "key file " + e.name + " does not exist" }
func (e *notExist) Unwrap() error { return e.err }

// WriteBytes is WriteFile of data.
func WriteBytes(name string, data []byte) error {
	return WriteFile(name, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// WriteFile replaces name with what write writes, mode 0600, through a
// temporary file in the same directory that is renamed into place: a
// reader or a crash sees the old file or the whole new one, never part of
// it, and never a group-readable one.
func WriteFile(name string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
