//go:build !unix && !windows

package local

// sysKind returns nil: on this platform only the portable checks (fs.ErrNotExist,
// fs.ErrPermission) classify errors.
func sysKind(err error) error { return nil }

// syncUnsupported reports whether err says the file system cannot fsync a
// folder; on this platform no error is known to mean that.
func syncUnsupported(error) bool { return false }
