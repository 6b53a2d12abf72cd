package local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
)

// FuzzKeyPath checks the mapping from keys to files: a key that
// destination.ValidateKey accepts (and that does not use the reserved
// temporary prefix) maps to a file inside root, and storing it creates
// exactly that file; any other key is refused with ErrInvalidKey by every
// method, without touching the disk.
func FuzzKeyPath(f *testing.F) {
	for _, k := range []string{
		"", "a", "a/b", "a b/c d", "日本/語", "/abs", "a/../b", "a//b", "a/", "..", "../a",
		"a\\b", ".", "a/./b", "a\x00b", "\xff", TempPrefix + "x", "x/" + TempPrefix + "y/z",
		".backupkit-tmp", strings.Repeat("a/", 100) + "z", strings.Repeat("x", 300),
		strings.Repeat("k", destination.MaxKeyLen+1), "C:/x", "C:\\x", "~", "$HOME", "a/.../b",
	} {
		f.Add(k)
	}
	root := f.TempDir()
	folder, err := New(root, nil)
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, key string) {
		ctx := t.Context()
		name, err := objectName(key)
		valid := destination.ValidateKey(key) == nil
		for seg := range strings.SplitSeq(key, "/") {
			valid = valid && !strings.HasPrefix(seg, TempPrefix)
		}
		if !valid {
			require.ErrorIs(t, err, destination.ErrInvalidKey)
			_, err = folder.Put(ctx, key, strings.NewReader("x"), nil)
			require.ErrorIs(t, err, destination.ErrInvalidKey)
			_, err = folder.Stat(ctx, key)
			require.ErrorIs(t, err, destination.ErrInvalidKey)
			_, err = folder.Open(ctx, key)
			require.ErrorIs(t, err, destination.ErrInvalidKey)
			require.ErrorIs(t, folder.Delete(ctx, key), destination.ErrInvalidKey)
			requireEmpty(t, root)
			return
		}
		require.NoError(t, err)
		require.True(t, filepath.IsLocal(name), "%q maps to %q, not a local path", key, name)
		full := filepath.Join(root, name)
		rel, err := filepath.Rel(root, full)
		require.NoError(t, err)
		require.Equal(t, name, rel, "%q maps outside root: %s", key, full)
		require.Equal(t, key, filepath.ToSlash(name))

		_, err = folder.Stat(ctx, key)
		require.True(t, errors.Is(err, destination.ErrNotExist) || errors.Is(err, destination.ErrInvalidKey), "Stat(%q) on an empty root: %v", key, err)
		if strings.Count(key, "/") > 16 {
			return // valid, but each new folder costs an fsync: too slow to fuzz
		}

		_, err = folder.Put(ctx, key, strings.NewReader("x"), nil)
		if errors.Is(err, destination.ErrInvalidKey) {
			requireEmpty(t, root) // a name too long for the file system
			return
		}
		require.NoError(t, err)
		b, err := os.ReadFile(full)
		require.NoError(t, err)
		require.Equal(t, "x", string(b))
		require.Equal(t, []string{key}, keys(t, folder, ""))
		require.NoError(t, folder.Delete(ctx, key))
		requireEmpty(t, root)
	})
}

func requireEmpty(t *testing.T, root string) {
	t.Helper()
	es, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Empty(t, es, "root must be empty")
}
