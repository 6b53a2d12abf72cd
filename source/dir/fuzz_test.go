//go:build unix

package dir_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
)

// FuzzRestore feeds Restore random streams and mutations of valid and
// malicious tar streams. Invariants: it never panics; a dry run writes
// nothing; a restore writes nothing outside its target, leaves no staging
// folder behind, and when it fails leaves no target either; what a restore
// creates has no setuid or setgid bits, no devices or pipes, and no symbolic
// link that resolves outside the target; a stream that restores also passes
// a dry run.
func FuzzRestore(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 1024))
	f.Add([]byte("not a tar stream at all"))
	snap, _ := snapshot(f, newFolder(f, smallTree(f)))
	f.Add(snap)
	f.Add(dir.GNUSparseStream(1 << 32))
	for _, tc := range escapeCases {
		f.Add(makeTar(f, tc.entries...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		ctx := context.Background()
		folder, err := dir.New(filepath.Join(s.base, "unused"))
		require.NoError(t, err)

		dryErr := folder.Restore(ctx, bytes.NewReader(data), source.RestoreOptions{Target: s.target, DryRun: true})
		s.requireUntouched(t, false)

		err = folder.Restore(ctx, bytes.NewReader(data), source.RestoreOptions{Target: s.target})
		if err != nil {
			s.requireUntouched(t, false)
			return
		}
		s.requireUntouched(t, true)
		require.NoError(t, dryErr, "a stream that restores must pass a dry run")
		requireConfined(t, s.target)
	})
}

// requireConfined checks what a restore created below target.
func requireConfined(t testing.TB, target string) {
	t.Helper()
	realTarget, err := filepath.EvalSymlinks(target)
	require.NoError(t, err)
	require.NoError(t, filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		m := fi.Mode()
		require.Zero(t, m&(fs.ModeSetuid|fs.ModeSetgid), "setuid or setgid bit on %s", p)
		require.Zero(t, m&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket), "special file %s", p)
		if m&fs.ModeSymlink == 0 {
			return nil
		}
		link, err := os.Readlink(p)
		require.NoError(t, err)
		require.False(t, filepath.IsAbs(link), "absolute symbolic link %s -> %s", p, link)
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // dangling or a loop: points nowhere
		}
		require.True(t, resolved == realTarget || strings.HasPrefix(resolved, realTarget+string(filepath.Separator)),
			"symbolic link %s -> %s resolves to %s, outside the target", p, link, resolved)
		return nil
	}))
}
