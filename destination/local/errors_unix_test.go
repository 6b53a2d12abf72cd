//go:build unix

package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
)

func TestErrorMapping(t *testing.T) {
	f := newFolder(t, nil)
	cases := []struct {
		errno syscall.Errno
		want  error
	}{
		{syscall.ENOSPC, destination.ErrNoSpace},
		{syscall.EDQUOT, destination.ErrNoSpace},
		{syscall.EACCES, destination.ErrPermission},
		{syscall.EPERM, destination.ErrPermission},
		{syscall.EROFS, destination.ErrPermission},
		{syscall.ENOENT, destination.ErrNotExist},
		{syscall.ENOTDIR, destination.ErrNotExist},
		{syscall.ENAMETOOLONG, destination.ErrInvalidKey},
		{syscall.EIO, nil},
	}
	sentinels := []error{destination.ErrNoSpace, destination.ErrPermission, destination.ErrNotExist, destination.ErrInvalidKey}
	for _, c := range cases {
		t.Run(c.errno.Error(), func(t *testing.T) {
			native := &fs.PathError{Op: "write", Path: "/x/y", Err: c.errno}
			err := f.wrap("put", "some/key", fmt.Errorf("context: %w", native))
			for _, s := range sentinels {
				assert.Equal(t, s == c.want, errors.Is(err, s), "errors.Is(%v, %v)", err, s)
			}
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe, "the native error stays reachable")
			require.Same(t, native, pe)
			var errno syscall.Errno
			require.ErrorAs(t, err, &errno)
			require.Equal(t, c.errno, errno)
			require.ErrorContains(t, err, `"some/key"`)
			require.ErrorContains(t, err, f.Root())
			require.False(t, destination.IsRetryable(err))
		})
	}
}

// failingWriter writes n bytes, then fails with err (or, if err is nil,
// reports a short write).
type failingWriter struct {
	w   io.Writer
	n   int
	err error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return w.w.Write(p)
	}
	m, err := w.w.Write(p[:w.n])
	w.n = 0
	if err != nil {
		return m, err
	}
	if w.err == nil {
		return m, nil // short write without an error
	}
	return m, w.err
}

// TestInjectedWriteErrors makes the disk fail mid-write, as a full disk, a
// revoked permission or a broken file system would.
func TestInjectedWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"NoSpace", &fs.PathError{Op: "write", Path: "tmp", Err: syscall.ENOSPC}, destination.ErrNoSpace},
		{"Quota", &fs.PathError{Op: "write", Path: "tmp", Err: syscall.EDQUOT}, destination.ErrNoSpace},
		{"Permission", &fs.PathError{Op: "write", Path: "tmp", Err: syscall.EACCES}, destination.ErrPermission},
		{"IO", &fs.PathError{Op: "write", Path: "tmp", Err: syscall.EIO}, syscall.EIO},
		{"ShortWrite", nil, io.ErrShortWrite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFolder(t, nil)
			put(t, f, "db/dump.sql", "the previous backup")
			f.wrapWriter = func(w io.Writer) io.Writer { return &failingWriter{w: w, n: 300_000, err: c.err} }
			data := strings.Repeat("new data ", 100_000)
			_, err := f.Put(t.Context(), "db/dump.sql", strings.NewReader(data), nil)
			require.ErrorIs(t, err, c.want)
			if c.err != nil {
				var pe *fs.PathError
				require.ErrorAs(t, err, &pe)
			}
			require.ErrorContains(t, err, `"db/dump.sql"`)
			require.ErrorContains(t, err, f.Root())
			_, err = f.Put(t.Context(), "db/new.sql", strings.NewReader(data), nil)
			require.ErrorIs(t, err, c.want)

			f.wrapWriter = nil
			require.Empty(t, tempFiles(t, f.Root()), "the temporary file is removed")
			require.Equal(t, []string{"db/dump.sql"}, keys(t, f, ""))
			b, err := os.ReadFile(filepath.Join(f.Root(), "db", "dump.sql"))
			require.NoError(t, err)
			require.Equal(t, "the previous backup", string(b), "the previous object is intact")
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += n
	return n, err
}

func TestNoSpaceBeforeWriting(t *testing.T) {
	f := newFolder(t, nil)
	probe, err := os.Open(f.Root())
	require.NoError(t, err)
	avail, known := freeSpace(probe)
	probe.Close()
	if !known {
		t.Skip("free space is unknown on this platform")
	}
	r := &countingReader{r: strings.NewReader("data")}
	_, err = f.Put(t.Context(), "huge", r, &destination.PutOptions{Size: avail + 1<<40})
	require.ErrorIs(t, err, destination.ErrNoSpace)
	require.ErrorContains(t, err, `"huge"`)
	require.ErrorContains(t, err, f.Root())
	require.Zero(t, r.n, "Put read nothing before failing")
	require.Empty(t, entries(t, f.Root()))
}

func TestReaderErrorsAreNotDestinationErrors(t *testing.T) {
	f := newFolder(t, nil)
	readErr := &fs.PathError{Op: "read", Path: "/source/pipe", Err: syscall.ENOSPC}
	_, err := f.Put(t.Context(), "k", io.MultiReader(strings.NewReader("abc"), iotestReader{readErr}), nil)
	require.ErrorIs(t, err, readErr, "the reader's error is reachable")
	require.NotErrorIs(t, err, destination.ErrNoSpace, "a full disk on the reading side is not a full destination")
	require.ErrorContains(t, err, "reading the data")
}

type iotestReader struct{ err error }

func (r iotestReader) Read([]byte) (int, error) { return 0, r.err }

// TestPermissionDenied uses file modes, which bind only when the tests do not
// run as root; as root the mapping is covered by TestErrorMapping and
// TestInjectedWriteErrors.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: file modes do not deny anything")
	}
	f := newFolder(t, nil)
	put(t, f, "ro/existing", "x")
	ro := filepath.Join(f.Root(), "ro")
	require.NoError(t, os.Chmod(ro, 0o500))
	t.Cleanup(func() { _ = os.Chmod(ro, 0o750) })

	_, err := f.Put(t.Context(), "ro/new", strings.NewReader("x"), nil)
	require.ErrorIs(t, err, destination.ErrPermission)
	var errno syscall.Errno
	require.ErrorAs(t, err, &errno)
	require.ErrorIs(t, f.Delete(t.Context(), "ro/existing"), destination.ErrPermission)
	require.Equal(t, []string{"ro/existing"}, keys(t, f, ""))
}
