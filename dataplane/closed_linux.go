package dataplane

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func isClosed(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, unix.EBADF)
}
