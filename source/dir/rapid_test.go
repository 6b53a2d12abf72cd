//go:build unix

package dir_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
)

// TestRoundTripProperty checks on random folder trees that restoring a
// snapshot and snapshotting the result gives back the same bytes: names,
// contents, modes, times and links all survive. Trees with a link pointing
// outside them must be refused by default and round-trip with
// AllowEscapingSymlinks.
func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		base, err := os.MkdirTemp("", "dir-rapid-")
		require.NoError(rt, err)
		defer removeAll(base)
		root := filepath.Join(base, "src")
		escaping := genTree(rt, root)

		ctx := context.Background()
		f, err := dir.New(root)
		require.NoError(rt, err)
		var snap bytes.Buffer
		info, err := f.Snapshot(ctx, &snap)
		require.NoError(rt, err)
		if escaping > 0 {
			require.Equal(rt, escaping, atoi(info.Details["escaping_symlinks"]))
		} else {
			require.Empty(rt, info.Details)
		}

		target := filepath.Join(base, "restored", "target")
		dryErr := f.Restore(ctx, bytes.NewReader(snap.Bytes()), source.RestoreOptions{Target: target, DryRun: true})
		if escaping > 0 {
			require.Error(rt, dryErr, "dry run of a tree with escaping links")
		} else {
			require.NoError(rt, dryErr, "dry run")
		}
		err = f.Restore(ctx, bytes.NewReader(snap.Bytes()), source.RestoreOptions{Target: target})
		if escaping > 0 {
			require.Error(rt, err, "a tree with escaping links must be refused")
			_, serr := os.Lstat(target)
			require.True(rt, os.IsNotExist(serr), "refused restore left a target")
			f, err = dir.New(root, dir.AllowEscapingSymlinks())
			require.NoError(rt, err)
			err = f.Restore(ctx, bytes.NewReader(snap.Bytes()), source.RestoreOptions{Target: target})
		}
		require.NoError(rt, err)

		back, err := dir.New(target)
		require.NoError(rt, err)
		var again bytes.Buffer
		info2, err := back.Snapshot(ctx, &again)
		require.NoError(rt, err)
		require.Equal(rt, info.Items, info2.Items)
		if !bytes.Equal(snap.Bytes(), again.Bytes()) {
			require.Equal(rt, readTar(rt, snap.Bytes()), readTar(rt, again.Bytes()))
			rt.Fatalf("snapshots differ in bytes but not in entries")
		}
	})
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// genTree creates a random folder tree at root and returns how many of its
// symbolic links point outside it.
func genTree(rt *rapid.T, root string) (escaping int) {
	require.NoError(rt, os.Mkdir(root, 0o755))
	dirs := []string{""} // relative paths of folders
	all := []string{""}  // relative paths of every entry
	dirModes := map[string]os.FileMode{"": rapid.SampledFrom([]os.FileMode{0o755, 0o700, 0o750}).Draw(rt, "rootMode")}
	nameGen := rapid.StringMatching(`[a-zA-Z0-9 ._ü-]{1,12}|[a-z]{100,140}`).Filter(func(s string) bool { return s != "." && s != ".." })
	n := rapid.IntRange(0, 30).Draw(rt, "entries")
	for range n {
		parent := rapid.SampledFrom(dirs).Draw(rt, "parent")
		name := nameGen.Draw(rt, "name")
		rel := name
		if parent != "" {
			rel = parent + "/" + name
		}
		if slices.Contains(all, rel) {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(rel))
		switch kind := rapid.IntRange(0, 9).Draw(rt, "kind"); {
		case kind < 3:
			require.NoError(rt, os.Mkdir(p, 0o755))
			dirs = append(dirs, rel)
			dirModes[rel] = rapid.SampledFrom([]os.FileMode{0o755, 0o700, 0o555, 0o750, 0o1777}).Draw(rt, "dirMode")
		case kind < 7:
			var body []byte
			if rapid.IntRange(0, 9).Draw(rt, "big") == 0 {
				body = bytes.Repeat(rapid.SliceOfN(rapid.Byte(), 1, 64).Draw(rt, "pattern"), rapid.IntRange(1, 40000).Draw(rt, "reps"))
			} else {
				body = rapid.SliceOfN(rapid.Byte(), 0, 2000).Draw(rt, "body")
			}
			require.NoError(rt, os.WriteFile(p, body, 0o600))
			require.NoError(rt, os.Chmod(p, rapid.SampledFrom([]os.FileMode{0o644, 0o600, 0o755, 0o444, 0o400, 0o1644}).Draw(rt, "fileMode")))
		default:
			var link string
			switch rapid.IntRange(0, 9).Draw(rt, "linkKind") {
			case 0:
				link = "/etc/hostname" // absolute: escapes
				escaping++
			case 1:
				link = strings.Repeat("../", strings.Count(rel, "/")+1) + "outside" // one level too many
				escaping++
			case 2:
				link = "dangling-" + name
			default:
				to := rapid.SampledFrom(all).Draw(rt, "linkTo")
				var err error
				link, err = filepath.Rel(filepath.Dir(p), filepath.Join(root, filepath.FromSlash(to)))
				require.NoError(rt, err)
				link = filepath.ToSlash(link)
			}
			require.NoError(rt, os.Symlink(link, p))
		}
		all = append(all, rel)
	}
	// Folder modes, then every time, once the structure is final.
	for rel, m := range dirModes {
		require.NoError(rt, os.Chmod(filepath.Join(root, filepath.FromSlash(rel)), m))
	}
	for _, rel := range all {
		sec := rapid.Int64Range(0, 4_000_000_000).Draw(rt, "sec")
		nsec := rapid.SampledFrom([]int64{0, 1, 999_999_999, rapid.Int64Range(0, 999_999_999).Draw(rt, "nsec")}).Draw(rt, "ns")
		require.NoError(rt, lchtimes(filepath.Join(root, filepath.FromSlash(rel)), time.Unix(sec, nsec)))
	}
	return escaping
}
