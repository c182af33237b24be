package mka

import (
	"io"
	"math/rand/v2"
	"os"
)

// newTestRand is a deterministic random source for tests.
func newTestRand(seed uint64) io.Reader {
	return rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func writeFile(name string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(name, data, perm); err != nil {
		return err
	}
	return os.Chmod(name, perm) // WriteFile's mode is subject to the umask
}

func chmod(name string, perm os.FileMode) error { return os.Chmod(name, perm) }
