//go:build !(linux || darwin || freebsd)

package local

import "os"

// freeSpace cannot tell the free space on this platform: Put then relies on
// the write failing when the disk fills up.
func freeSpace(*os.File) (int64, bool) { return 0, false }
