//go:build unix

package dir_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// harness runs the conformance suite on a scratch folder.
type harness struct {
	src string // the folder the Source reads
}

func (h *harness) Source(t testing.TB) source.Source {
	f, err := dir.New(h.src)
	require.NoError(t, err)
	return f
}

func (h *harness) Seed(t testing.TB, variant int) {
	require.NoError(t, removeAll(h.src))
	seedTree(t, h.src, variant)
}

func (h *harness) RestoreTarget(t testing.TB) string {
	return filepath.Join(tempDir(t), "target")
}

func (h *harness) OpenTarget(t testing.TB, target string) source.Source {
	f, err := dir.New(target)
	require.NoError(t, err)
	return f
}

func TestConformance(t *testing.T) {
	h := &harness{src: filepath.Join(tempDir(t), "src")}
	sourcetest.Run(t, h, sourcetest.Config{Lacks: sourcetest.PointInTime})
}

// seedTree builds one of two known folder trees at root, with fixed times.
func seedTree(t testing.TB, root string, variant int) {
	t.Helper()
	base := time.Date(2024, 3, 10, 12, 30, 45, 123456789, time.UTC).Add(time.Duration(variant) * time.Hour)
	big := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/32+7) // ~1.5 MiB: several copy buffers
	long := strings.Repeat("long-name-", 12)                      // > 100 bytes: needs a PAX path record
	files := map[string]string{
		"empty.txt":                  "",
		"hello.txt":                  "hello, world\n",
		"a/b/c/deep.txt":             "deep",
		"a/" + long + ".txt":         "long name",
		"ünïcödé/名前.txt":             "unicode",
		"spaces in name/x y.txt":     "spaces",
		".hidden":                    "dot file",
		"bin/run.sh":                 "#!/bin/sh\necho hi\n",
		"a/b/sibling.txt":            "sibling",
		"big.bin":                    string(big),
		"variant.txt":                strings.Repeat("v", variant+1),
		"private/secret.txt":         "0600",
		"a/b/c/d/e/f/g/h/nested.txt": "nested",
	}
	if variant == 1 {
		files["only-in-1.txt"] = "one"
		delete(files, "hello.txt")
		files["big.bin"] = string(big[:len(big)-1]) + "X"
	}
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	require.NoError(t, os.Chmod(filepath.Join(root, "bin/run.sh"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(root, "private/secret.txt"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sticky"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(root, "sticky"), 0o1777))
	require.NoError(t, os.Symlink("hello.txt", filepath.Join(root, "link-to-file")))
	require.NoError(t, os.Symlink("../../empty.txt", filepath.Join(root, "a/b/link-up")))
	require.NoError(t, os.Symlink("b/c", filepath.Join(root, "a/link-to-dir")))
	require.NoError(t, os.Symlink("missing", filepath.Join(root, "dangling")))
	require.NoError(t, os.Chmod(filepath.Join(root, "private"), 0o700))

	// Times last, deepest first, so that creating entries does not move them.
	var paths []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	for i := len(paths) - 1; i >= 0; i-- {
		mt := base.Add(time.Duration(i) * time.Minute)
		require.NoError(t, lchtimes(paths[i], mt))
	}
}

// lchtimes sets a path's times without following a final symbolic link.
func lchtimes(p string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// tempDir is t.TempDir whose cleanup also removes folders whose mode forbids
// removing their entries.
func tempDir(t testing.TB) string {
	d := t.TempDir()
	t.Cleanup(func() { _ = removeAll(d) })
	return d
}

func removeAll(p string) error {
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// entry is one entry of a hand-made tar stream.
type entry struct {
	name, link string
	typ        byte
	body       string
	mode       int64
}

// makeTar builds a tar stream from entries, with an end marker.
func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ, mode := e.typ, e.mode
		if typ == 0 {
			typ = tar.TypeReg
		}
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: mode, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		require.NoError(t, tw.WriteHeader(h))
		if typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// tarEntry is what a test sees of one entry of a snapshot.
type tarEntry struct {
	Name, Link string
	Type       byte
	Mode       int64
	Body       string
	ModTime    time.Time
}

// readTar lists the entries of a tar stream.
func readTar(t require.TestingT, b []byte) []tarEntry {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, tarEntry{Name: h.Name, Link: h.Linkname, Type: h.Typeflag, Mode: h.Mode, Body: string(body), ModTime: h.ModTime})
	}
}

func names(es []tarEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func snapshot(t testing.TB, f *dir.Folder) ([]byte, source.Info) {
	t.Helper()
	var buf bytes.Buffer
	info, err := f.Snapshot(context.Background(), &buf)
	require.NoError(t, err)
	return buf.Bytes(), info
}

func newFolder(t testing.TB, p string, opts ...dir.Option) *dir.Folder {
	t.Helper()
	f, err := dir.New(p, opts...)
	require.NoError(t, err)
	return f
}

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
}

func TestSnapshotLayout(t *testing.T) {
	root := filepath.Join(tempDir(t), "data")
	writeFile(t, filepath.Join(root, "b.txt"), "b")
	writeFile(t, filepath.Join(root, "a.txt"), "a")
	writeFile(t, filepath.Join(root, "a", "z.txt"), "z")
	require.NoError(t, os.Mkdir(filepath.Join(root, "empty"), 0o755))
	require.NoError(t, os.Symlink("a.txt", filepath.Join(root, "l")))
	mt := time.Date(2023, 1, 2, 3, 4, 5, 987654321, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(root, "a.txt"), mt, mt))

	snap, info := snapshot(t, newFolder(t, root))
	es := readTar(t, snap)
	assert.Equal(t, []string{"./", "a/", "a/z.txt", "a.txt", "b.txt", "empty/", "l"}, names(es))
	assert.Equal(t, byte(tar.TypeDir), es[0].Type)
	assert.Equal(t, "a", es[3].Body)
	assert.True(t, mt.Equal(es[3].ModTime), "nanosecond mtime kept: %v", es[3].ModTime)
	assert.Equal(t, byte(tar.TypeSymlink), es[6].Type)
	assert.Equal(t, "a.txt", es[6].Link)

	assert.Equal(t, dir.Kind, info.Kind)
	assert.Equal(t, "tar", info.Format)
	assert.Equal(t, root, info.Location)
	assert.False(t, info.PointInTime)
	assert.Equal(t, []source.Item{{Name: "files", Count: 3, Bytes: 3}, {Name: "dirs", Count: 2}, {Name: "symlinks", Count: 1}}, withoutChecksums(info.Items))
	assert.Empty(t, info.Details)
}

func TestSnapshotSingleFile(t *testing.T) {
	p := filepath.Join(tempDir(t), "notes.txt")
	writeFile(t, p, "just me")
	snap, info := snapshot(t, newFolder(t, p))
	es := readTar(t, snap)
	require.Len(t, es, 1)
	assert.Equal(t, "notes.txt", es[0].Name)
	assert.Equal(t, "just me", es[0].Body)
	assert.Equal(t, []source.Item{{Name: "files", Count: 1, Bytes: 7}, {Name: "dirs"}, {Name: "symlinks"}}, withoutChecksums(info.Items))
}

func TestSnapshotNeverFollowsLinks(t *testing.T) {
	base := tempDir(t)
	outside := filepath.Join(base, "outside")
	writeFile(t, filepath.Join(outside, "secret.txt"), "SECRET")
	root := filepath.Join(base, "data")
	writeFile(t, filepath.Join(root, "ok.txt"), "ok")
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "abs")))
	require.NoError(t, os.Symlink("../outside", filepath.Join(root, "rel")))
	require.NoError(t, os.Symlink("ok.txt", filepath.Join(root, "inside")))

	snap, info := snapshot(t, newFolder(t, root))
	assert.NotContains(t, string(snap), "SECRET")
	es := readTar(t, snap)
	assert.Equal(t, []string{"./", "abs", "inside", "ok.txt", "rel"}, names(es))
	assert.Equal(t, outside, es[1].Link)
	assert.Equal(t, "2", info.Details["escaping_symlinks"])
	assert.Equal(t, `"abs", "rel"`, info.Details["escaping_symlinks_paths"])

	// A link at the root itself is followed.
	rootLink := filepath.Join(base, "data-link")
	require.NoError(t, os.Symlink(root, rootLink))
	snap2, info2 := snapshot(t, newFolder(t, rootLink))
	assert.Equal(t, names(es), names(readTar(t, snap2)))
	assert.Equal(t, rootLink, info2.Location)
}

func TestSnapshotSkipsSpecialFiles(t *testing.T) {
	root := tempDir(t)
	writeFile(t, filepath.Join(root, "a.txt"), "a")
	require.NoError(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	l, err := net.Listen("unix", filepath.Join(root, "sock"))
	if err == nil {
		defer l.Close()
	}
	snap, info := snapshot(t, newFolder(t, root))
	assert.Equal(t, []string{"./", "a.txt"}, names(readTar(t, snap)))
	if err == nil {
		assert.Equal(t, "2", info.Details["skipped"])
		assert.Equal(t, `"fifo", "sock"`, info.Details["skipped_paths"])
	} else {
		assert.Equal(t, "1", info.Details["skipped"])
	}
}

func TestSnapshotIncludeExclude(t *testing.T) {
	root := tempDir(t)
	for _, n := range []string{"a.log", "a.txt", "logs/x.log", "logs/x.txt", "src/main.go", "src/deep/y.log", "cache/big.bin", "other/z.txt"} {
		writeFile(t, filepath.Join(root, n), n)
	}
	snap, info := snapshot(t, newFolder(t, root, dir.Exclude("*.log", "cache")))
	assert.Equal(t, []string{"./", "a.txt", "logs/", "logs/x.txt", "other/", "other/z.txt", "src/", "src/deep/", "src/main.go"}, names(readTar(t, snap)))
	assert.Equal(t, int64(4), info.Items[0].Count)

	snap, _ = snapshot(t, newFolder(t, root, dir.Include("*.log"), dir.Exclude("src/deep")))
	assert.Equal(t, []string{"./", "a.log", "logs/", "logs/x.log"}, names(readTar(t, snap)))

	snap, _ = snapshot(t, newFolder(t, root, dir.Include("src")))
	assert.Equal(t, []string{"./", "src/", "src/deep/", "src/deep/y.log", "src/main.go"}, names(readTar(t, snap)))

	snap, _ = snapshot(t, newFolder(t, root, dir.Include("src/deep/*")))
	assert.Equal(t, []string{"./", "src/", "src/deep/", "src/deep/y.log"}, names(readTar(t, snap)))

	_, err := dir.New(root, dir.Include("[unclosed"))
	assert.ErrorContains(t, err, "[unclosed")
}

func TestSnapshotUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	root := tempDir(t)
	p := filepath.Join(root, "locked.txt")
	writeFile(t, p, "x")
	require.NoError(t, os.Chmod(p, 0))
	_, err := newFolder(t, root).Snapshot(context.Background(), io.Discard)
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrPermission)
	assert.Contains(t, err.Error(), p)
}

func TestSnapshotMissing(t *testing.T) {
	p := filepath.Join(tempDir(t), "nope")
	_, err := newFolder(t, p).Snapshot(context.Background(), io.Discard)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), p)
}

func TestCheck(t *testing.T) {
	base := tempDir(t)
	writeFile(t, filepath.Join(base, "d", "f.txt"), "f")
	ctx := context.Background()
	assert.NoError(t, newFolder(t, filepath.Join(base, "d")).Check(ctx))
	assert.NoError(t, newFolder(t, filepath.Join(base, "d", "f.txt")).Check(ctx))
	err := newFolder(t, filepath.Join(base, "missing")).Check(ctx)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), filepath.Join(base, "missing"))
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	wd, err := os.Getwd()
	require.NoError(t, err)
	for raw, want := range map[string]string{
		"dir:///srv/data":            "/srv/data",
		"dir://localhost/srv/data":   "/srv/data",
		"dir:/srv/data":              "/srv/data",
		"dir:relative/path":          filepath.Join(wd, "relative/path"),
		"dir:./rel":                  filepath.Join(wd, "rel"),
		"dir:///srv/with%20space":    "/srv/with space",
		"dir:with%23hash":            filepath.Join(wd, "with#hash"),
		"DIR:///srv/x?exclude=*.tmp": "/srv/x",
	} {
		src, err := source.Open(ctx, raw)
		if assert.NoError(t, err, raw) {
			assert.Equal(t, want, src.(*dir.Folder).Path(), raw)
			assert.Equal(t, "tar", src.Format())
		}
	}
	for raw, msg := range map[string]string{
		"dir://example.com/srv": "host",
		"dir://relative/path":   "host",
		"dir://u:pw@/srv":       "user",
		"dir:///srv?bogus=1":    "unknown parameter",
		"dir:///srv#frag":       "fragment",
		"dir:":                  "no path",
		"dir:///x?include=[":    "pattern",
	} {
		_, err := source.Open(ctx, raw)
		if assert.Error(t, err, raw) {
			assert.Contains(t, err.Error(), msg, raw)
			assert.NotContains(t, err.Error(), "pw@", raw)
		}
	}

	// Patterns from the URL take effect.
	root := tempDir(t)
	writeFile(t, filepath.Join(root, "a.tmp"), "a")
	writeFile(t, filepath.Join(root, "b.txt"), "b")
	src, err := source.Open(ctx, "dir://"+root+"?exclude=*.tmp")
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = src.Snapshot(ctx, &buf)
	require.NoError(t, err)
	assert.Equal(t, []string{"./", "b.txt"}, names(readTar(t, buf.Bytes())))
}

func TestNewErrors(t *testing.T) {
	_, err := dir.New("")
	assert.Error(t, err)
	_, err = dir.New("/x", dir.Exclude(""))
	assert.Error(t, err)
}
