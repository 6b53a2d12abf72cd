package dir

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
)

// TestFileChangedWhileRead changes files between listing and reading, which
// Snapshot sees as a size different from the listed one.
func TestFileChangedWhileRead(t *testing.T) {
	d := t.TempDir()
	var out bytes.Buffer
	s := &snapshot{
		ctx: context.Background(),
		f:   &Folder{path: d, log: slog.New(slog.DiscardHandler)},
		tw:  tar.NewWriter(&out),
		buf: make([]byte, 3), // small, to run the copy loops several times
	}

	shrink := filepath.Join(d, "shrink")
	require.NoError(t, os.WriteFile(shrink, []byte("0123456789"), 0o644))
	fi, err := os.Lstat(shrink)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(shrink, []byte("abcd"), 0o644))
	require.NoError(t, s.file(shrink, "shrink", fi))

	grow := filepath.Join(d, "grow")
	require.NoError(t, os.WriteFile(grow, []byte("abcd"), 0o644))
	fi, err = os.Lstat(grow)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(grow, []byte("ABCDEFGHIJ"), 0o644))
	require.NoError(t, s.file(grow, "grow", fi))

	same := filepath.Join(d, "same")
	require.NoError(t, os.WriteFile(same, []byte("unchanged"), 0o644))
	fi, err = os.Lstat(same)
	require.NoError(t, err)
	require.NoError(t, s.file(same, "same", fi))

	gone := filepath.Join(d, "gone")
	require.NoError(t, os.WriteFile(gone, []byte("x"), 0o644))
	fi, err = os.Lstat(gone)
	require.NoError(t, err)
	require.NoError(t, os.Remove(gone))
	require.NoError(t, s.file(gone, "gone", fi))
	require.NoError(t, s.tw.Close())

	tr := tar.NewReader(&out)
	want := map[string]string{"shrink": "abcd\x00\x00\x00\x00\x00\x00", "grow": "ABCD", "same": "unchanged"}
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		assert.Equal(t, want[h.Name], string(b), h.Name)
		got = append(got, h.Name)
	}
	assert.Equal(t, []string{"shrink", "grow", "same"}, got)
	info := s.info()
	assert.Equal(t, "2", info.Details["changed"])
	assert.Equal(t, `"shrink", "grow"`, info.Details["changed_paths"])
	assert.Equal(t, "1", info.Details["vanished"])
}

func TestPathListCaps(t *testing.T) {
	var l pathList
	for i := range 12 {
		l.add(string(rune('a' + i)))
	}
	m := map[string]string{}
	l.put(m, "skipped")
	assert.Equal(t, "12", m["skipped"])
	assert.Equal(t, `"a", "b", "c", "d", "e", "f", "g", "h", "i", "j" (and 2 more)`, m["skipped_paths"])
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"a": "a", "a/": "a", "./a": "a", "a//b": "a/b", "a/./b/": "a/b", ".": ".", "./": ".", "./.": ".",
	} {
		got, err := cleanName(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, in := range []string{"", "/", "/a", "..", "../a", "a/..", "a/../b", "a/b/../../..", "a\x00b"} {
		_, err := cleanName(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestCheckLinkTarget(t *testing.T) {
	ok := [][2]string{
		{"l", "x"}, {"l", "."}, {"l", "./x"}, {"l", "x/y/z"}, {"a/l", ".."}, {"a/l", "../x"},
		{"a/b/l", "../../x"}, {"a/b/l", "./../x"}, {"a/b/l", "../../"}, {"l", "x//y"},
	}
	for _, c := range ok {
		assert.NoError(t, checkLinkTarget(c[0], c[1]), "%s -> %s", c[0], c[1])
	}
	bad := [][2]string{
		{"l", ""}, {"l", "/"}, {"l", "/etc"}, {"l", ".."}, {"l", "../x"}, {"a/l", "../.."},
		{"a/l", "x/.."}, {"a/l", "x/../.."}, {"a/b/l", "../x/../.."}, {"a/b/l", "../../.."}, {"l", "a\x00"},
	}
	for _, c := range bad {
		assert.Error(t, checkLinkTarget(c[0], c[1]), "%s -> %s", c[0], c[1])
	}
}

// gnuSparseStream is a GNU tar stream holding one old-style sparse file "x"
// of the given logical size, all holes, followed by the end marker.
func gnuSparseStream(size int64) []byte {
	var blk [512]byte
	copy(blk[0:], "x")
	copy(blk[100:], "0000644\x00")
	copy(blk[108:], "0000000\x00")
	copy(blk[116:], "0000000\x00")
	copy(blk[124:], "00000000000\x00") // stored size: no data
	copy(blk[136:], "14530000000\x00")
	blk[156] = tar.TypeGNUSparse
	copy(blk[257:], "ustar  \x00")
	copy(blk[483:], fmt.Sprintf("%011o\x00", size)) // logical size
	for i := 148; i < 156; i++ {
		blk[i] = ' '
	}
	var sum int64
	for _, b := range blk {
		sum += int64(b)
	}
	copy(blk[148:], fmt.Sprintf("%06o\x00 ", sum))
	return append(blk[:], make([]byte, 1024)...)
}

func TestRestoreRefusesSparse(t *testing.T) {
	stream := gnuSparseStream(1 << 32)
	hdr, err := tar.NewReader(bytes.NewReader(stream)).Next()
	require.NoError(t, err, "the crafted stream is valid tar")
	require.Equal(t, int64(1<<32), hdr.Size)

	f, err := New(filepath.Join(t.TempDir(), "unused"))
	require.NoError(t, err)
	target := filepath.Join(t.TempDir(), "target")
	for _, dry := range []bool{true, false} {
		err = f.Restore(context.Background(), bytes.NewReader(stream), source.RestoreOptions{Target: target, DryRun: dry})
		require.ErrorIs(t, err, errSparse)
		_, err = os.Lstat(target)
		require.ErrorIs(t, err, fs.ErrNotExist)
	}
}
