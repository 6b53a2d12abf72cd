//go:build linux

package local

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writebackEvery is how many bytes are written between two requests to start
// writing them to disk.
const writebackEvery = 8 << 20

// writeback wraps f so that the kernel starts writing each 8 MiB to disk as
// soon as it is written (sync_file_range, SYNC_FILE_RANGE_WRITE: it does not
// wait). The fsync at the end of Put then has little left to do, so the
// write-back overlaps the backup instead of following it. Durability is
// unchanged: only the final fsync counts.
func writeback(f *os.File) io.Writer { return &writebackFile{f: f} }

type writebackFile struct {
	f          *os.File
	off, start int64
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.start >= writebackEvery {
		// Advisory: an error here only means the final fsync does the work.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.start, w.off-w.start, unix.SYNC_FILE_RANGE_WRITE)
		w.start = w.off
	}
	return n, err
}
