//go:build !unix

package dir

import (
	"io"
	"io/fs"
	"os"
	"time"
)

func owner(fs.FileInfo) (uid, gid int) { return 0, 0 }

func openFile(path string) (io.ReadCloser, error) { return os.Open(path) }

// lchtimes is not supported here: symbolic links keep the time of their
// creation.
func lchtimes(*os.Root, string, time.Time) error { return nil }

// renameOver renames oldpath to newpath, replacing an empty folder at
// newpath.
func renameOver(oldpath, newpath string) error {
	if fi, err := os.Lstat(newpath); err == nil && fi.IsDir() {
		if err := os.Remove(newpath); err != nil {
			return err
		}
	}
	return os.Rename(oldpath, newpath)
}
