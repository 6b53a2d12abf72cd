//go:build linux || darwin || freebsd

package local

import (
	"math"
	"os"
	"syscall"
)

// freeSpace returns the bytes available to an unprivileged user on the file
// system holding f, and whether it could tell.
func freeSpace(f *os.File) (int64, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return 0, false
	}
	blocks, size := int64(st.Bavail), int64(st.Bsize)
	switch {
	case blocks < 0 || size <= 0:
		return 0, false
	case blocks > math.MaxInt64/size:
		return math.MaxInt64, true
	}
	return blocks * size, true
}
