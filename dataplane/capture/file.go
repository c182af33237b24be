package capture

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// CreateFile creates or truncates the capture file name for writing, mode
// 0600: a capture holds the traffic of a lab, not for other users. An
// existing regular file is set to 0600 as well (the mode given to open
// applies only to a new file), and a symbolic link is refused rather than
// followed, so a capture never lands where the link points.
func CreateFile(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: refusing to follow it for a capture file", name)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}
