//go:build unix

package dir_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
)

// withoutChecksums returns items with their Checksum fields cleared.
func withoutChecksums(items []source.Item) []source.Item {
	out := make([]source.Item, len(items))
	for i, it := range items {
		it.Checksum = ""
		out[i] = it
	}
	return out
}

// restoreScratch snapshots f, restores the snapshot into a scratch target
// and returns the snapshot's Info and the target.
func restoreScratch(t *testing.T, f *dir.Folder) (source.Info, string) {
	t.Helper()
	snap, info := snapshot(t, f)
	target, err := f.ScratchTarget(t.Context(), "T01")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.DropTarget(t.Context(), target) })
	require.NoError(t, f.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}))
	return info, target
}

func TestInspectOfARestoreEqualsTheSnapshot(t *testing.T) {
	src := filepath.Join(tempDir(t), "src")
	seedTree(t, src, 0)
	// A setuid file: Restore clears the bit, and the checksum leaves it out.
	require.NoError(t, os.Chmod(filepath.Join(src, "bin/run.sh"), 0o4755))
	f := newFolder(t, src)
	info, target := restoreScratch(t, f)
	for _, it := range info.Items {
		assert.True(t, strings.HasPrefix(it.Checksum, "meta-sha256:"), "item %s has a checksum: %q", it.Name, it.Checksum)
	}
	got, err := f.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items)
	assert.Equal(t, target, got.Location)

	own, err := f.Inspect(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, info.Items, own.Items, "Inspect of the source's own folder")
}

func TestInspectSeesChanges(t *testing.T) {
	src := filepath.Join(tempDir(t), "src")
	seedTree(t, src, 0)
	f := newFolder(t, src)
	_, target := restoreScratch(t, f)
	base, err := f.Inspect(t.Context(), target)
	require.NoError(t, err)

	checksums := func() map[string]string {
		got, err := f.Inspect(t.Context(), target)
		require.NoError(t, err)
		m := map[string]string{}
		for _, it := range got.Items {
			m[it.Name] = it.Checksum
		}
		return m
	}
	want := map[string]string{}
	for _, it := range base.Items {
		want[it.Name] = it.Checksum
	}
	changes := []struct {
		name, item string
		change     func(p string)
	}{
		{"file time", "files", func(p string) {
			require.NoError(t, os.Chtimes(filepath.Join(p, "hello.txt"), time.Time{}, time.Unix(1, 5)))
		}},
		{"file mode", "files", func(p string) { require.NoError(t, os.Chmod(filepath.Join(p, "hello.txt"), 0o600)) }},
		{"folder time", "dirs", func(p string) {
			require.NoError(t, os.Chtimes(filepath.Join(p, "empty-dir"), time.Time{}, time.Unix(1, 0)))
		}},
		{"link target", "symlinks", func(p string) {
			require.NoError(t, os.Remove(filepath.Join(p, "dangling")))
			require.NoError(t, os.Symlink("missing2", filepath.Join(p, "dangling")))
		}},
	}
	for _, c := range changes {
		c.change(target)
		got := checksums()
		assert.NotEqual(t, want[c.item], got[c.item], "a change of %s must change the %s checksum", c.name, c.item)
		want = got
	}
}

func TestInspectEmptyOrMissingTarget(t *testing.T) {
	base := tempDir(t)
	f := newFolder(t, filepath.Join(base, "src"))
	info, err := f.Inspect(t.Context(), filepath.Join(base, "missing"))
	require.NoError(t, err)
	assert.Empty(t, info.Items)
	assert.Equal(t, dir.Kind, info.Kind)

	require.NoError(t, os.Mkdir(filepath.Join(base, "empty"), 0o755))
	info, err = f.Inspect(t.Context(), filepath.Join(base, "empty"))
	require.NoError(t, err)
	assert.Empty(t, info.Items)

	// The source's own missing path.
	info, err = f.Inspect(t.Context(), "")
	require.NoError(t, err)
	assert.Empty(t, info.Items)
}

func TestInspectIgnoresPatterns(t *testing.T) {
	src := filepath.Join(tempDir(t), "src")
	writeFile(t, filepath.Join(src, "keep.txt"), "k")
	writeFile(t, filepath.Join(src, "skip.tmp"), "s")
	f := newFolder(t, src, dir.Exclude("*.tmp"))
	info, target := restoreScratch(t, f)
	got, err := f.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items, "a faithful restore of a filtered snapshot")

	own, err := f.Inspect(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, int64(2), own.Items[0].Count, "Inspect reports excluded files too: a restore would replace them")

	ts, err := f.TargetSource("")
	require.NoError(t, err)
	snap, _ := snapshot(t, ts.(*dir.Folder))
	assert.Contains(t, names(readTar(t, snap)), "skip.tmp", "the safety backup of a target holds everything a restore replaces")
}

func TestInspectSingleFileSource(t *testing.T) {
	p := filepath.Join(tempDir(t), "one.txt")
	writeFile(t, p, "single")
	f := newFolder(t, p)
	info, target := restoreScratch(t, f)
	got, err := f.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items)
}

func TestScratchTarget(t *testing.T) {
	base := tempDir(t)
	f := newFolder(t, filepath.Join(base, "src"))
	a, err := f.ScratchTarget(t.Context(), "01J/../../etc run-ID with spaces and a very long tail that goes on")
	require.NoError(t, err)
	b, err := f.ScratchTarget(t.Context(), "01J")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.Equal(t, base, filepath.Dir(a), "beside the source")
	assert.Regexp(t, `^\.backupkit-scratch-[A-Za-z0-9_]{1,40}-[0-9a-f]{16}$`, filepath.Base(a))
	assert.NoFileExists(t, a, "ScratchTarget creates nothing")
	assert.NoDirExists(t, a)
	// Dropping a scratch target that was never restored into is fine.
	require.NoError(t, f.DropTarget(t.Context(), b))
}

func TestDropTargetRemovesAScratchRestore(t *testing.T) {
	src := filepath.Join(tempDir(t), "src")
	seedTree(t, src, 0) // has a 0700 folder and a sticky one
	f := newFolder(t, src)
	_, target := restoreScratch(t, f)
	require.DirExists(t, target)
	require.NoError(t, f.DropTarget(t.Context(), target))
	assert.NoDirExists(t, target)
	info, err := f.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Empty(t, info.Items)
	assert.FileExists(t, filepath.Join(src, "hello.txt"), "the source is untouched")
}

func TestDropTargetRefuses(t *testing.T) {
	base := tempDir(t)
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "precious.txt"), "keep me")
	f := newFolder(t, src)
	scratch, err := f.ScratchTarget(t.Context(), "x")
	require.NoError(t, err)
	id := filepath.Base(scratch)

	other := filepath.Join(base, "other")
	writeFile(t, filepath.Join(other, "precious.txt"), "keep me")
	nested := filepath.Join(src, id) // scratch-named, but inside the source
	writeFile(t, filepath.Join(nested, "precious.txt"), "keep me")
	elsewhere := filepath.Join(base, "deeper", id) // scratch-named, wrong parent
	writeFile(t, filepath.Join(elsewhere, "precious.txt"), "keep me")
	link := filepath.Join(base, ".backupkit-scratch-link-0123456789abcdef") // scratch-named link to the source
	require.NoError(t, os.Symlink("src", link))
	file := filepath.Join(base, ".backupkit-scratch-file-0123456789abcdef") // scratch-named file
	writeFile(t, file, "keep me")

	cases := map[string]string{
		"empty":                      "",
		"own path":                   src,
		"own path, unclean":          src + "/./",
		"own path via ..":            filepath.Join(base, "deeper", "..", "src"),
		"a sibling":                  other,
		"the parent":                 base,
		"scratch name in the source": nested,
		"scratch name elsewhere":     elsewhere,
		"scratch-named symlink":      link,
		"scratch-named file":         file,
		"no id":                      filepath.Join(base, ".backupkit-scratch-"),
		"root":                       "/",
	}
	for name, target := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Error(t, f.DropTarget(t.Context(), target))
		})
	}
	for _, p := range []string{src, other, nested, elsewhere} {
		assert.FileExists(t, filepath.Join(p, "precious.txt"))
	}
	assert.FileExists(t, file)
	_, err = os.Lstat(link)
	assert.NoError(t, err, "the link is still there")
}
