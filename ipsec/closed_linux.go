package ipsec

import (
	"errors"
	"os"
)

// isClosed reports whether err says the device or socket was closed,
// which is how Run ends.
func isClosed(err error) bool { return errors.Is(err, os.ErrClosed) }
