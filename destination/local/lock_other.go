//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package local

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// abandonedAge is how long a temporary file must have gone unmodified before
// Cleanup removes it on a platform without flock.
const abandonedAge = 24 * time.Hour

// lockExclusive does nothing: this platform has no flock, so Cleanup goes by
// age instead.
func lockExclusive(*os.File) error { return nil }

// removeIfAbandoned removes the temporary file name if it has not been
// modified for abandonedAge, and reports whether it did.
func removeIfAbandoned(root *os.Root, name string, now time.Time) (bool, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	if !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) < abandonedAge {
		return false, nil
	}
	if err := root.Remove(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
