package mka

import (
	"io"
	"math/rand/v2"
)

// newTestRand is a deterministic random source for tests.
func newTestRand(seed uint64) io.Reader {
	return rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
