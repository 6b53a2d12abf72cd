//go:build windows

package local

import (
	"errors"
	"syscall"

	"github.com/backupkit/backupkit/destination"
)

// Windows error codes that syscall does not name.
const (
	errorHandleDiskFull     syscall.Errno = 39
	errorDiskFull           syscall.Errno = 112
	errorFilenameExcedRange syscall.Errno = 206
)

// sysKind maps the Windows error code in err's chain to a destination
// sentinel, or returns nil; missing files and access rights are left to the
// portable checks.
func sysKind(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case errorDiskFull, errorHandleDiskFull:
		return destination.ErrNoSpace
	case errorFilenameExcedRange:
		return destination.ErrInvalidKey
	}
	return nil
}

// syncUnsupported reports true: Windows cannot fsync a folder, and NTFS
// journals renames itself.
func syncUnsupported(error) bool { return true }
