//go:build unix

package local

import (
	"errors"
	"syscall"

	"github.com/backupkit/backupkit/destination"
)

// sysKind maps the system error number in err's chain to a destination
// sentinel, or returns nil.
func sysKind(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT:
		return destination.ErrNoSpace
	case syscall.EACCES, syscall.EPERM, syscall.EROFS:
		return destination.ErrPermission
	case syscall.ENOENT, syscall.ENOTDIR:
		return destination.ErrNotExist
	case syscall.ENAMETOOLONG:
		return destination.ErrInvalidKey
	}
	return nil
}

// syncUnsupported reports whether err says the file system cannot fsync a
// folder, which some network and FUSE file systems do; their folder entries
// are then as durable as they will get.
func syncUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}
