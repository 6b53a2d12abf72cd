//go:build unix

package dir_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
)

// sandbox is a scratch layout for restore tests: base/outside holds a
// sentinel file that no restore may touch, and restores go to
// base/parent/target.
type sandbox struct {
	base, outside, parent, target string
}

const sentinel = "do not touch"

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	base := tempDir(t)
	s := &sandbox{
		base:    base,
		outside: filepath.Join(base, "outside"),
		parent:  filepath.Join(base, "parent"),
	}
	s.target = filepath.Join(s.parent, "target")
	writeFile(t, filepath.Join(s.outside, "sentinel"), sentinel)
	require.NoError(t, os.Mkdir(s.parent, 0o755))
	return s
}

// listing returns every path below root, relative, with its type.
func listing(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel+" "+d.Type().String())
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	return out
}

// requireUntouched checks that nothing outside the target changed, and that
// no staging or aside folder was left in the parent. With targetExists the
// target must exist; otherwise it must not.
func (s *sandbox) requireUntouched(t testing.TB, targetExists bool) {
	t.Helper()
	ents, err := os.ReadDir(s.base)
	require.NoError(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	require.Equal(t, []string{"outside", "parent"}, got, "entries in the sandbox base")
	require.Equal(t, []string{". d---------", "sentinel ----------"}, listing(t, s.outside))
	b, err := os.ReadFile(filepath.Join(s.outside, "sentinel"))
	require.NoError(t, err)
	require.Equal(t, sentinel, string(b))

	ents, err = os.ReadDir(s.parent)
	require.NoError(t, err)
	got = got[:0]
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if targetExists {
		require.Equal(t, []string{"target"}, got, "entries beside the target")
	} else {
		require.Empty(t, got, "entries beside the target")
	}
}

func (s *sandbox) restore(t testing.TB, stream []byte, opts source.RestoreOptions, fopts ...dir.Option) error {
	t.Helper()
	if opts.Target == "" {
		opts.Target = s.target
	}
	return newFolder(t, filepath.Join(s.base, "unused"), fopts...).Restore(context.Background(), bytes.NewReader(stream), opts)
}

// escapeCase is a stream Restore must refuse, with a message it must give.
type escapeCase struct {
	entries []entry
	msg     string
	opts    []dir.Option
}

var escapeCases = map[string]escapeCase{
	"dot-dot":             {[]entry{{name: "../evil", body: "x"}}, `".." segment`, nil},
	"dot-dot deep":        {[]entry{{name: "a/", typ: tar.TypeDir}, {name: "a/../../evil", body: "x"}}, `".." segment`, nil},
	"dot-dot inside":      {[]entry{{name: "a/../b", body: "x"}}, `".." segment`, nil},
	"dot-dot only":        {[]entry{{name: "..", typ: tar.TypeDir}}, `".." segment`, nil},
	"absolute":            {[]entry{{name: "/abs", body: "x"}}, "absolute", nil},
	"absolute outside":    {[]entry{{name: "/tmp/evil", body: "x"}}, "absolute", nil},
	"double slash":        {[]entry{{name: "//etc/x", body: "x"}}, "absolute", nil},
	"empty name":          {[]entry{{name: "", body: "x"}}, "empty name", nil},
	"absolute symlink":    {[]entry{{name: "link", link: "/etc", typ: tar.TypeSymlink}}, "absolute", nil},
	"symlink up":          {[]entry{{name: "link", link: "..", typ: tar.TypeSymlink}}, "outside", nil},
	"symlink up deep":     {[]entry{{name: "a/link", link: "../../x", typ: tar.TypeSymlink}}, "outside", nil},
	"symlink name-dotdot": {[]entry{{name: "a/link", link: "b/../../x", typ: tar.TypeSymlink}}, `".." after a name`, nil},
	"symlink chain": {[]entry{
		{name: "a/b/up", link: "../..", typ: tar.TypeSymlink}, // the root itself: fine
		{name: "x", link: "a/b/up/..", typ: tar.TypeSymlink},  // lexically "a/b", really the parent
	}, `".." after a name`, nil},
	"write through abs link": {[]entry{
		{name: "link", link: "/etc", typ: tar.TypeSymlink},
		{name: "link/passwd", body: "x"},
	}, "below the symbolic link", []dir.Option{dir.AllowEscapingSymlinks()}},
	"write through outside link": {[]entry{
		{name: "link", link: "../../outside", typ: tar.TypeSymlink},
		{name: "link/sentinel", body: "x"},
	}, "below the symbolic link", []dir.Option{dir.AllowEscapingSymlinks()}},
	"write through inside link": {[]entry{
		{name: "sub/", typ: tar.TypeDir},
		{name: "link", link: "sub", typ: tar.TypeSymlink},
		{name: "link/x", body: "x"},
	}, "below the symbolic link", nil},
	"mkdir through link": {[]entry{
		{name: "link", link: ".", typ: tar.TypeSymlink},
		{name: "link/d/", typ: tar.TypeDir},
	}, "below the symbolic link", nil},
	"replace dir by link": {[]entry{
		{name: "d/", typ: tar.TypeDir},
		{name: "d", link: ".", typ: tar.TypeSymlink},
	}, "duplicate", nil},
	"hardlink out":      {[]entry{{name: "h", link: "../../outside/sentinel", typ: tar.TypeLink}}, `".." segment`, nil},
	"hardlink absolute": {[]entry{{name: "h", link: "/etc/passwd", typ: tar.TypeLink}}, "absolute", nil},
	"hardlink missing":  {[]entry{{name: "h", link: "nope", typ: tar.TypeLink}}, "not an earlier entry", nil},
	"hardlink to dir":   {[]entry{{name: "d/", typ: tar.TypeDir}, {name: "h", link: "d", typ: tar.TypeLink}}, "not a regular file", nil},
	"hardlink to root":  {[]entry{{name: "h", link: "./", typ: tar.TypeLink}}, "root", nil},
	"hardlink to link": {[]entry{
		{name: "l", link: "/etc/passwd", typ: tar.TypeSymlink},
		{name: "h", link: "l", typ: tar.TypeLink},
	}, "symbolic link", []dir.Option{dir.AllowEscapingSymlinks()}},
	"hardlink through link": {[]entry{
		{name: "l", link: "/etc", typ: tar.TypeSymlink},
		{name: "h", link: "l/passwd", typ: tar.TypeLink},
	}, "below the symbolic link", []dir.Option{dir.AllowEscapingSymlinks()}},
	"fifo":            {[]entry{{name: "f", typ: tar.TypeFifo}}, "named pipe", nil},
	"char device":     {[]entry{{name: "c", typ: tar.TypeChar}}, "device", nil},
	"block device":    {[]entry{{name: "b", typ: tar.TypeBlock}}, "device", nil},
	"unknown type":    {[]entry{{name: "x", typ: 'Z'}}, "unsupported entry type", nil},
	"duplicate file":  {[]entry{{name: "f", body: "1"}, {name: "f", body: "2"}}, "duplicate", nil},
	"file then dir":   {[]entry{{name: "f", body: "1"}, {name: "f/", typ: tar.TypeDir}}, "duplicate", nil},
	"file as parent":  {[]entry{{name: "f", body: "1"}, {name: "f/x", body: "2"}}, "not a directory", nil},
	"duplicate dir":   {[]entry{{name: "d/", typ: tar.TypeDir}, {name: "d/", typ: tar.TypeDir}}, "duplicate", nil},
	"duplicate root":  {[]entry{{name: "./", typ: tar.TypeDir}, {name: ".", typ: tar.TypeDir}}, "duplicate", nil},
	"root as file":    {[]entry{{name: ".", body: "x"}}, "root must be a folder", nil},
	"root as symlink": {[]entry{{name: "./", link: "/", typ: tar.TypeSymlink}}, "root must be a folder", []dir.Option{dir.AllowEscapingSymlinks()}},
}

func TestRestoreRefusesEscapes(t *testing.T) {
	for name, tc := range escapeCases {
		t.Run(name, func(t *testing.T) {
			s := newSandbox(t)
			stream := makeTar(t, tc.entries...)
			err := s.restore(t, stream, source.RestoreOptions{}, tc.opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), s.target, "the error names the target")
			s.requireUntouched(t, false)

			// A dry run refuses it too, except for conflicts that depend on
			// what earlier entries created.
			err = s.restore(t, stream, source.RestoreOptions{DryRun: true}, tc.opts...)
			dryMisses := []string{"duplicate file", "file then dir", "file as parent", "duplicate dir",
				"replace dir by link", "hardlink missing", "hardlink to dir"}
			if !slices.Contains(dryMisses, name) {
				require.Error(t, err, "dry run")
				assert.Contains(t, err.Error(), tc.msg)
			}
			s.requireUntouched(t, false)
		})
	}
}

func TestRestoreAllowsSafeEntries(t *testing.T) {
	s := newSandbox(t)
	stream := makeTar(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o750},
		entry{name: "a/b/deep.txt", body: "implicit parents"}, // no entries for a/ and a/b/
		entry{name: "a/", typ: tar.TypeDir, mode: 0o700},      // named after being created implicitly
		entry{name: "./c//d/./e.txt", body: "odd but local"},
		entry{name: "a/b/up", link: "../../a/b/deep.txt", typ: tar.TypeSymlink},
		entry{name: "a/b/self", link: "./.", typ: tar.TypeSymlink},
		entry{name: "hard", link: "a/b/deep.txt", typ: tar.TypeLink},
		entry{name: "suid", body: "#!/bin/sh", mode: 0o4755},
		entry{name: "sgid-sticky/", typ: tar.TypeDir, mode: 0o3775},
		entry{name: "ro/", typ: tar.TypeDir, mode: 0o500},
		entry{name: "ro/file", body: "in a read-only folder", mode: 0o400},
	)
	require.NoError(t, s.restore(t, stream, source.RestoreOptions{}))
	s.requireUntouched(t, true)

	mode := func(p string) fs.FileMode {
		fi, err := os.Lstat(filepath.Join(s.target, p))
		require.NoError(t, err)
		return fi.Mode()
	}
	assert.Equal(t, fs.ModeDir|0o750, mode("."))
	assert.Equal(t, fs.ModeDir|0o700, mode("a"))
	assert.Equal(t, fs.ModeDir|0o755, mode("a/b"), "implicit parent")
	assert.Equal(t, fs.ModeDir|0o755, mode("c/d"), "implicit parent")
	assert.Equal(t, fs.FileMode(0o755), mode("suid"), "setuid cleared")
	assert.Equal(t, fs.ModeDir|fs.ModeSticky|0o775, mode("sgid-sticky"), "setgid cleared, sticky kept")
	assert.Equal(t, fs.ModeDir|0o500, mode("ro"))
	b, err := os.ReadFile(filepath.Join(s.target, "a/b/up"))
	require.NoError(t, err)
	assert.Equal(t, "implicit parents", string(b))
	b, err = os.ReadFile(filepath.Join(s.target, "c/d/e.txt"))
	require.NoError(t, err)
	assert.Equal(t, "odd but local", string(b))
	fa, err := os.Stat(filepath.Join(s.target, "hard"))
	require.NoError(t, err)
	fb, err := os.Stat(filepath.Join(s.target, "a/b/deep.txt"))
	require.NoError(t, err)
	assert.True(t, os.SameFile(fa, fb), "hard link")
}

func TestRestoreEscapingSymlinkOption(t *testing.T) {
	s := newSandbox(t)
	stream := makeTar(t,
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "etc", link: "/etc", typ: tar.TypeSymlink},
		entry{name: "up", link: "../../outside", typ: tar.TypeSymlink},
	)
	require.Error(t, s.restore(t, stream, source.RestoreOptions{}))
	s.requireUntouched(t, false)
	require.NoError(t, s.restore(t, stream, source.RestoreOptions{}, dir.AllowEscapingSymlinks()))
	s.requireUntouched(t, true)
	l, err := os.Readlink(filepath.Join(s.target, "etc"))
	require.NoError(t, err)
	assert.Equal(t, "/etc", l)
}

// smallTree builds a small folder with every kind of entry, whose snapshot
// has few blocks.
func smallTree(t testing.TB) string {
	root := filepath.Join(tempDir(t), "small")
	writeFile(t, filepath.Join(root, "a", "b.txt"), "b")
	writeFile(t, filepath.Join(root, "a", "empty"), "")
	writeFile(t, filepath.Join(root, "c.txt"), strings.Repeat("c", 1000))
	writeFile(t, filepath.Join(root, "d", strings.Repeat("long", 30)), "long name")
	require.NoError(t, os.Mkdir(filepath.Join(root, "e"), 0o700))
	require.NoError(t, os.Symlink("a/b.txt", filepath.Join(root, "l")))
	return root
}

func TestRestoreTruncated(t *testing.T) {
	snap, _ := snapshot(t, newFolder(t, smallTree(t)))
	s := newSandbox(t)
	// Every block boundary and a byte either side of it, plus the middle of
	// each block: each cut must fail and leave nothing behind.
	var cuts []int
	for b := 0; b < len(snap); b += 512 {
		cuts = append(cuts, b, b+1, b+256, b+511)
	}
	for _, c := range cuts {
		if c >= len(snap) {
			continue
		}
		err := s.restore(t, snap[:c], source.RestoreOptions{})
		require.Error(t, err, "cut at %d of %d", c, len(snap))
		s.requireUntouched(t, false)
	}
	// Trailing zero blocks (tar programs pad to a record size) are fine;
	// anything else after the end marker is not.
	require.NoError(t, s.restore(t, append(bytes.Clone(snap), make([]byte, 10240)...), source.RestoreOptions{}))
	require.NoError(t, removeAll(s.target))
	err := s.restore(t, append(bytes.Clone(snap), "junk"...), source.RestoreOptions{})
	assert.ErrorContains(t, err, "after the end")
	s.requireUntouched(t, false)
}

func TestRestoreFailureKeepsExistingTarget(t *testing.T) {
	root := filepath.Join(tempDir(t), "src")
	seedTree(t, root, 0)
	snap0, _ := snapshot(t, newFolder(t, root))
	require.NoError(t, removeAll(root))
	seedTree(t, root, 1)
	snap1, _ := snapshot(t, newFolder(t, root))

	s := newSandbox(t)
	require.NoError(t, s.restore(t, snap0, source.RestoreOptions{}))
	before, _ := snapshot(t, newFolder(t, s.target))
	for _, stream := range [][]byte{snap1[:len(snap1)/2], snap1[:len(snap1)-1024], makeTar(t, entry{name: "../x"})} {
		err := s.restore(t, stream, source.RestoreOptions{DropExisting: true})
		require.Error(t, err)
		s.requireUntouched(t, true)
		after, _ := snapshot(t, newFolder(t, s.target))
		require.Equal(t, before, after, "a failed restore with DropExisting changed the target")
	}
	require.NoError(t, s.restore(t, snap1, source.RestoreOptions{DropExisting: true}))
	s.requireUntouched(t, true)
	after, _ := snapshot(t, newFolder(t, s.target))
	assert.Equal(t, snap1, after)
}

func TestRestoreNotEmpty(t *testing.T) {
	s := newSandbox(t)
	stream := makeTar(t, entry{name: "./", typ: tar.TypeDir}, entry{name: "new.txt", body: "new"})

	// An existing empty folder is fine.
	require.NoError(t, os.Mkdir(s.target, 0o755))
	require.NoError(t, s.restore(t, stream, source.RestoreOptions{}))
	s.requireUntouched(t, true)

	// A folder with something in it is refused, and so is a file.
	err := s.restore(t, stream, source.RestoreOptions{})
	require.ErrorIs(t, err, dir.ErrTargetNotEmpty)
	assert.Contains(t, err.Error(), "target "+s.target+" is not empty; use DropExisting")
	require.NoError(t, removeAll(s.target))
	writeFile(t, s.target, "a file")
	require.ErrorIs(t, s.restore(t, stream, source.RestoreOptions{}), dir.ErrTargetNotEmpty)
	b, err := os.ReadFile(s.target)
	require.NoError(t, err)
	assert.Equal(t, "a file", string(b))
	s.requireUntouched(t, true)

	// DropExisting replaces it as a whole.
	require.NoError(t, s.restore(t, stream, source.RestoreOptions{DropExisting: true}))
	assert.Equal(t, []string{". d---------", "new.txt ----------"}, listing(t, s.target))
	s.requireUntouched(t, true)
}

func TestRestoreDryRunWritesNothing(t *testing.T) {
	root := filepath.Join(tempDir(t), "src")
	seedTree(t, root, 0)
	snap, _ := snapshot(t, newFolder(t, root))
	s := newSandbox(t)
	require.NoError(t, s.restore(t, snap, source.RestoreOptions{DryRun: true}))
	s.requireUntouched(t, false)

	// Not even into a missing parent.
	err := newFolder(t, root).Restore(context.Background(), bytes.NewReader(snap),
		source.RestoreOptions{Target: filepath.Join(s.parent, "x", "y"), DryRun: true})
	require.NoError(t, err)
	s.requireUntouched(t, false)

	// Nor onto a folder that holds data, even with DropExisting.
	require.NoError(t, s.restore(t, snap, source.RestoreOptions{}))
	before := listing(t, s.target)
	require.Error(t, s.restore(t, nil, source.RestoreOptions{DryRun: true, DropExisting: true}), "empty stream")
	require.NoError(t, s.restore(t, snap, source.RestoreOptions{DryRun: true, DropExisting: true}))
	assert.Equal(t, before, listing(t, s.target))
	s.requireUntouched(t, true)
}

func TestRestoreOntoOwnPath(t *testing.T) {
	base := tempDir(t)
	root := filepath.Join(base, "data")
	seedTree(t, root, 0)
	f := newFolder(t, root)
	snap, _ := snapshot(t, f)
	ctx := context.Background()

	err := f.Restore(ctx, bytes.NewReader(snap), source.RestoreOptions{})
	require.ErrorIs(t, err, dir.ErrTargetNotEmpty, "the source's own path holds data")

	require.NoError(t, os.Remove(filepath.Join(root, "hello.txt")))
	writeFile(t, filepath.Join(root, "added.txt"), "added")
	require.NoError(t, f.Restore(ctx, bytes.NewReader(snap), source.RestoreOptions{DropExisting: true}))
	again, _ := snapshot(t, f)
	assert.Equal(t, snap, again, "restored onto its own path")
	assert.Equal(t, []string{"data"}, dirNames(t, base), "nothing left beside it")

	// A single file comes back as that file.
	p := filepath.Join(base, "notes.txt")
	writeFile(t, p, "notes")
	ff := newFolder(t, p)
	fsnap, _ := snapshot(t, ff)
	require.NoError(t, os.Remove(p))
	require.NoError(t, ff.Restore(ctx, bytes.NewReader(fsnap), source.RestoreOptions{}))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "notes", string(b))
	require.ErrorIs(t, ff.Restore(ctx, bytes.NewReader(fsnap), source.RestoreOptions{}), dir.ErrTargetNotEmpty)
	require.NoError(t, ff.Restore(ctx, bytes.NewReader(fsnap), source.RestoreOptions{DropExisting: true}))
	assert.Equal(t, []string{"data", "notes.txt"}, dirNames(t, base))

	// With a Target, a single file goes into that folder.
	target := filepath.Join(base, "restored")
	require.NoError(t, ff.Restore(ctx, bytes.NewReader(fsnap), source.RestoreOptions{Target: target}))
	b, err = os.ReadFile(filepath.Join(target, "notes.txt"))
	require.NoError(t, err)
	assert.Equal(t, "notes", string(b))
}

func TestRestoreThroughTargetSymlink(t *testing.T) {
	s := newSandbox(t)
	real := filepath.Join(s.parent, "real")
	require.NoError(t, os.Mkdir(real, 0o755))
	require.NoError(t, os.Symlink("real", s.target))
	stream := makeTar(t, entry{name: "./", typ: tar.TypeDir}, entry{name: "f", body: "x"})
	require.NoError(t, s.restore(t, stream, source.RestoreOptions{}))
	fi, err := os.Lstat(s.target)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type(), "the link stays")
	b, err := os.ReadFile(filepath.Join(real, "f"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
}

func TestRestoreReaderErrorAtEnd(t *testing.T) {
	root := filepath.Join(tempDir(t), "src")
	seedTree(t, root, 0)
	snap, _ := snapshot(t, newFolder(t, root))
	s := newSandbox(t)
	bad := errors.New("checksum mismatch")
	err := newFolder(t, root).Restore(context.Background(),
		io.MultiReader(bytes.NewReader(snap), errReader{bad}), source.RestoreOptions{Target: s.target})
	require.ErrorIs(t, err, bad)
	s.requireUntouched(t, false)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestRestoreCanceledMidway(t *testing.T) {
	root := filepath.Join(tempDir(t), "src")
	seedTree(t, root, 0)
	snap, _ := snapshot(t, newFolder(t, root))
	s := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: bytes.NewReader(snap), n: len(snap) / 2, cancel: cancel}
	err := newFolder(t, root).Restore(ctx, r, source.RestoreOptions{Target: s.target})
	require.ErrorIs(t, err, context.Canceled)
	s.requireUntouched(t, false)
}

// cancelAfter cancels a context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), 4096)])
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func dirNames(t testing.TB, p string) []string {
	t.Helper()
	ents, err := os.ReadDir(p)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestRestoreLongAndUnicodeNames(t *testing.T) {
	s := newSandbox(t)
	long := strings.Repeat("x", 200)
	stream := makeTar(t, entry{name: "./", typ: tar.TypeDir}, entry{name: long + "/" + long, body: "long"}, entry{name: "日本/ü", body: "u"})
	require.NoError(t, s.restore(t, stream, source.RestoreOptions{}))
	b, err := os.ReadFile(filepath.Join(s.target, long, long))
	require.NoError(t, err)
	assert.Equal(t, "long", string(b))
}
