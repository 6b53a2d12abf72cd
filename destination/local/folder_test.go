//go:build unix && !aix

// (AIX lacks syscall.Mknod, used for a FIFO below.)

package local

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
)

func TestNew(t *testing.T) {
	_, err := New("", nil)
	require.Error(t, err)

	_, err = New(t.TempDir(), &Options{FileMode: fs.ModeDir | 0o700})
	require.Error(t, err, "non-permission bits in FileMode")

	t.Chdir(t.TempDir())
	f, err := New("rel/folder", nil)
	require.NoError(t, err)
	wd, _ := os.Getwd()
	require.Equal(t, filepath.Join(wd, "rel", "folder"), f.Root())
	require.NoDirExists(t, "rel", "New must not touch the disk")
	require.Equal(t, "file://"+filepath.ToSlash(f.Root()), f.String())
	g, err := New("/var/my backups", nil)
	require.NoError(t, err)
	require.Equal(t, "file:///var/my%20backups", g.String())
}

func TestMissingRootCreatedOnDemand(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not", "yet")
	f, err := New(root, nil)
	require.NoError(t, err)
	ctx := t.Context()

	_, err = f.Stat(ctx, "k")
	require.ErrorIs(t, err, destination.ErrNotExist)
	_, err = f.Open(ctx, "k")
	require.ErrorIs(t, err, destination.ErrNotExist)
	require.NoError(t, f.Delete(ctx, "k"))
	require.Empty(t, keys(t, f, ""))
	n, err := f.Cleanup(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoDirExists(t, root, "reading must not create root")

	put(t, f, "a/k", "data")
	require.FileExists(t, filepath.Join(root, "a", "k"))
}

func TestMustExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "unmounted")
	_, err := New(missing, &Options{MustExist: true})
	require.ErrorIs(t, err, destination.ErrNotExist)
	require.ErrorContains(t, err, missing)

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = New(file, &Options{MustExist: true})
	require.Error(t, err)

	root := filepath.Join(t.TempDir(), "disk")
	require.NoError(t, os.Mkdir(root, 0o750))
	f, err := New(root, &Options{MustExist: true})
	require.NoError(t, err)
	put(t, f, "k", "v")

	// The disk goes away: nothing may be written to the bare mount point.
	require.NoError(t, os.RemoveAll(root))
	_, err = f.Put(t.Context(), "k", strings.NewReader("v"), nil)
	require.ErrorIs(t, err, destination.ErrNotExist)
	require.NoDirExists(t, root)
	require.Error(t, f.Check(t.Context()))
	var listErr error
	for _, err := range f.List(t.Context(), "") {
		listErr = err
	}
	require.Error(t, listErr, "List of a MustExist root that is gone")
	require.NoDirExists(t, root)
}

func TestModes(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	f := newFolder(t, nil)
	put(t, f, "a/b/obj", "x")
	for p, want := range map[string]fs.FileMode{"a": 0o750, "a/b": 0o750, "a/b/obj": 0o640} {
		fi, err := os.Stat(filepath.Join(f.Root(), p))
		require.NoError(t, err)
		assert.Equal(t, want, fi.Mode().Perm(), p)
	}

	g := newFolder(t, &Options{FileMode: 0o600, DirMode: 0o700})
	put(t, g, "a/obj", "x")
	fi, err := os.Stat(filepath.Join(g.Root(), "a", "obj"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(g.Root(), "a"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
}

var tempName = regexp.MustCompile(`^` + regexp.QuoteMeta(TempPrefix) + `[0-9a-f]{24}$`)

func TestTempFileWhileWriting(t *testing.T) {
	f := newFolder(t, nil)
	finish := startBlockedPut(t, f, "dir/obj", "partial data")

	tmps := tempFiles(t, f.Root())
	require.Len(t, tmps, 1)
	require.Regexp(t, `^dir/`, tmps[0], "the temporary file lives in the object's folder")
	require.Regexp(t, tempName, filepath.Base(tmps[0]))
	require.NoFileExists(t, filepath.Join(f.Root(), "dir", "obj"), "nothing under the final name while writing")
	require.Empty(t, keys(t, f, ""))

	require.NoError(t, finish())
	require.Empty(t, tempFiles(t, f.Root()))
	require.Equal(t, []string{"dir/obj"}, keys(t, f, ""))
}

func TestReservedKeys(t *testing.T) {
	f := newFolder(t, nil)
	for _, key := range []string{TempPrefix + "x", "a/" + TempPrefix + "0123/b", TempPrefix} {
		_, err := f.Put(t.Context(), key, strings.NewReader("x"), nil)
		require.ErrorIs(t, err, destination.ErrInvalidKey, key)
		_, err = f.Stat(t.Context(), key)
		require.ErrorIs(t, err, destination.ErrInvalidKey, key)
		require.ErrorIs(t, f.Delete(t.Context(), key), destination.ErrInvalidKey, key)
	}
	// Close to destination.ReservedPrefix but not it: ordinary keys.
	put(t, f, ".backupkit", "x")
	put(t, f, "backupkit-tmp-x", "x")
	require.Equal(t, []string{".backupkit", "backupkit-tmp-x"}, keys(t, f, ""))
}

func TestSymlinkEscape(t *testing.T) {
	ctx := t.Context()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))
	f := newFolder(t, nil)
	root := f.Root()
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "out")))                         // absolute, to a folder outside
	require.NoError(t, os.Symlink("../../"+filepath.Base(outside), filepath.Join(root, "rel"))) // relative, may or may not resolve
	require.NoError(t, os.Symlink(secret, filepath.Join(root, "file")))                         // to a file outside
	require.NoError(t, os.Mkdir(filepath.Join(root, "real"), 0o750))
	require.NoError(t, os.Symlink("real", filepath.Join(root, "alias"))) // inside root
	require.NoError(t, os.MkdirAll(filepath.Join(root, "deep", "er"), 0o750))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "deep", "er", "out")))

	for _, key := range []string{"out/secret", "out/new", "rel/secret", "alias/x", "deep/er/out/secret", "out/sub/new"} {
		_, err := f.Put(ctx, key, strings.NewReader("evil"), nil)
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Put(%q)", key)
		require.ErrorContains(t, err, "symbolic link", "Put(%q)", key)
		_, err = f.Stat(ctx, key)
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Stat(%q)", key)
		_, err = f.Open(ctx, key)
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Open(%q)", key)
		require.ErrorIs(t, f.Delete(ctx, key), destination.ErrInvalidKey, "Delete(%q)", key)
	}
	// A symbolic link as the last element is not an object.
	_, err := f.Stat(ctx, "file")
	require.ErrorIs(t, err, destination.ErrNotExist)
	_, err = f.Open(ctx, "file")
	require.ErrorIs(t, err, destination.ErrNotExist)
	require.NoError(t, f.Delete(ctx, "file"))

	require.Empty(t, keys(t, f, ""), "List follows no symbolic link")
	require.Empty(t, keys(t, f, "out/"))
	require.Empty(t, keys(t, f, "alias/"))
	require.Empty(t, keys(t, f, "deep/er/out/"))

	// Put over the link replaces the link, never the file it points to.
	put(t, f, "file", "replaced")
	b, err := os.ReadFile(secret)
	require.NoError(t, err)
	require.Equal(t, "secret", string(b))
	require.Equal(t, []string{"secret"}, entries(t, outside), "nothing was written outside root")
	require.Equal(t, []string{"file"}, keys(t, f, ""))

	// Should a folder become a link between the checks and the access,
	// os.Root still refuses to leave root, and the error is classified.
	r, err := os.OpenRoot(root)
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Lstat(filepath.Join("out", "secret"))
	require.True(t, escapes(err), "os.Root's escape error is recognized: %v", err)
	require.ErrorIs(t, f.wrap("open", "out/secret", err), destination.ErrInvalidKey)
}

func TestForeignFilesIgnored(t *testing.T) {
	f := newFolder(t, nil)
	root := f.Root()
	put(t, f, "ok", "x")
	require.NoError(t, os.WriteFile(filepath.Join(root, `back\slash`), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "ctl\x01char"), nil, 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(root, "empty"), 0o750))
	require.NoError(t, os.Mkdir(filepath.Join(root, `bad\dir`), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(root, `bad\dir`, "x"), nil, 0o600))
	require.NoError(t, syscall.Mknod(filepath.Join(root, "fifo"), syscall.S_IFIFO|0o600, 0))

	require.Equal(t, []string{"ok"}, keys(t, f, ""))
	_, err := f.Stat(t.Context(), "fifo")
	require.ErrorIs(t, err, destination.ErrNotExist)
	_, err = f.Open(t.Context(), "fifo") // must not block
	require.ErrorIs(t, err, destination.ErrNotExist)
	require.NoError(t, f.Delete(t.Context(), "fifo"))
	require.NoError(t, f.Delete(t.Context(), "empty"))
	require.FileExists(t, filepath.Join(root, "fifo"), "Delete leaves what is not an object")
	require.DirExists(t, filepath.Join(root, "empty"))
}

func TestDeleteRemovesEmptiedFolders(t *testing.T) {
	f := newFolder(t, nil)
	root := f.Root()
	put(t, f, "a/b/c/d", "x")
	put(t, f, "a/y", "y")
	require.NoError(t, f.Delete(t.Context(), "a/b/c/d"))
	require.NoDirExists(t, filepath.Join(root, "a", "b"))
	require.DirExists(t, filepath.Join(root, "a"))
	require.NoError(t, f.Delete(t.Context(), "a/y"))
	require.Empty(t, entries(t, root))
	require.DirExists(t, root, "root itself stays")
}

func TestFailedPutRemovesNewFolders(t *testing.T) {
	f := newFolder(t, nil)
	put(t, f, "keep/x", "x")
	_, err := f.Put(t.Context(), "keep/new/deeper/obj", iotestErrReader{}, nil)
	require.Error(t, err)
	require.Equal(t, []string{"x"}, entries(t, filepath.Join(f.Root(), "keep")))
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestPutErrorsNameKeyAndRoot(t *testing.T) {
	f := newFolder(t, nil)
	ctx := t.Context()
	_, err := f.Stat(ctx, "missing/key")
	require.ErrorContains(t, err, `"missing/key"`)
	require.ErrorContains(t, err, f.Root())
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe, "the native error stays reachable")

	_, err = f.Put(ctx, "a//b", strings.NewReader("x"), nil)
	require.ErrorContains(t, err, `"a//b"`)
	require.ErrorContains(t, err, f.Root())

	_, err = f.Put(ctx, "k", strings.NewReader("x"), &destination.PutOptions{Size: 2})
	require.ErrorContains(t, err, `"k"`)
	require.ErrorContains(t, err, f.Root())
	require.ErrorIs(t, err, errSizeMismatch)
}

func TestLongSegment(t *testing.T) {
	f := newFolder(t, nil)
	key := "dir/" + strings.Repeat("x", 300) // longer than NAME_MAX on common file systems
	require.NoError(t, destination.ValidateKey(key))
	_, err := f.Put(t.Context(), key, strings.NewReader("data"), nil)
	require.ErrorIs(t, err, destination.ErrInvalidKey)
	require.Empty(t, entries(t, f.Root()), "no temporary file and no empty folder left behind")

	put(t, f, "dir/ok", "ok")
	_, err = f.Put(t.Context(), key, strings.NewReader("data"), nil)
	require.ErrorIs(t, err, destination.ErrInvalidKey)
	_, err = f.Stat(t.Context(), key)
	require.ErrorIs(t, err, destination.ErrInvalidKey)
	require.Equal(t, []string{"ok"}, entries(t, filepath.Join(f.Root(), "dir")))
}

func TestCheck(t *testing.T) {
	root := filepath.Join(t.TempDir(), "new", "root")
	f, err := New(root, nil)
	require.NoError(t, err)
	require.NoError(t, f.Check(t.Context()))
	require.DirExists(t, root, "Check creates root")
	require.Empty(t, entries(t, root), "Check leaves nothing behind")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	g, err := New(file, nil)
	require.NoError(t, err)
	err = g.Check(t.Context())
	require.Error(t, err, "root is a file")
	require.ErrorContains(t, err, file)
}

func TestOpenReaderSurvivesReplaceAndDelete(t *testing.T) {
	f := newFolder(t, nil)
	put(t, f, "k", "old content")
	rc, err := f.Open(t.Context(), "k")
	require.NoError(t, err)
	defer rc.Close()
	put(t, f, "k", "new content")
	rc2, err := f.Open(t.Context(), "k")
	require.NoError(t, err)
	defer rc2.Close()
	require.NoError(t, f.Delete(t.Context(), "k"))

	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "old content", string(b))
	b, err = io.ReadAll(rc2)
	require.NoError(t, err)
	require.Equal(t, "new content", string(b))
}
