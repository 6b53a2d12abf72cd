//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package local

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockExclusive blocks until it holds an exclusive flock on f. The lock goes
// when f is closed, or when the process dies.
func lockExclusive(f *os.File) error {
	return flock(f, syscall.LOCK_EX)
}

// removeIfAbandoned removes the temporary file name if no live process holds a
// lock on it, and reports whether it did. It holds the lock while it checks
// that the name still refers to the file it locked and removes it, so that a
// writer that has just created the file (and is waiting for the lock) sees the
// file gone and starts over with a new one.
func removeIfAbandoned(root *os.Root, name string, _ time.Time) (bool, error) {
	f, err := root.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
		return false, nil // a live Put holds it
	}
	if err != nil {
		return false, err
	}
	return removeSame(root, name, f)
}

// flock applies a flock(2) operation to f, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if ferr != nil {
		return &fs.PathError{Op: "flock", Path: f.Name(), Err: ferr}
	}
	return nil
}
