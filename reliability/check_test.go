package reliability_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/store"
)

// checkCatalog checks the promises a catalog and its destinations keep
// after any fault: every cataloged copy exists beside its manifest and its
// bytes hash to the recorded SHA-256 and size (read back and hashed here);
// every artifact a destination lists has a manifest and is cataloged; no
// temporary object is listed. It returns the number of copies checked.
func checkCatalog(t *testing.T, st store.Store, dests map[string]destination.Destination) int {
	return checkCatalogOrphans(t, st, dests, false)
}

// checkCatalogOrphans is checkCatalog; with allowOrphans (before a restart),
// an artifact that is not cataloged is accepted when it is a complete backup
// the catalog can be rebuilt from: its manifest parses, names it, and its
// bytes hash to the manifest's size and SHA-256. A process killed between
// writing the last manifest and cataloging the backup leaves exactly that.
// An uncataloged artifact without a manifest is accepted too: a kill between
// the artifact and its manifest leaves it, and the restart removes it.
func checkCatalogOrphans(t *testing.T, st store.Store, dests map[string]destination.Destination, allowOrphans bool) int {
	t.Helper()
	ctx := context.Background()
	backups, err := st.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	cataloged := map[string]map[string]bool{} // destination -> key
	copies := 0
	for _, b := range backups {
		for _, c := range b.Copies {
			d, ok := dests[c.Destination]
			require.True(t, ok, "backup %s has a copy on unknown destination %s", b.ID, c.Destination)
			if cataloged[c.Destination] == nil {
				cataloged[c.Destination] = map[string]bool{}
			}
			cataloged[c.Destination][c.Key] = true
			size, sum := hashObject(t, d, c.Key)
			assert.Equal(t, b.Size, size, "backup %s on %s: size", b.ID, c.Destination)
			assert.Equal(t, b.SHA256, sum, "backup %s on %s: SHA-256 of the stored bytes", b.ID, c.Destination)
			_, err := d.Stat(ctx, c.Key+backup.ManifestSuffix)
			assert.NoError(t, err, "backup %s on %s: manifest", b.ID, c.Destination)
			copies++
		}
	}
	for name, d := range dests {
		keys := map[string]bool{}
		for obj, err := range d.List(ctx, "") {
			require.NoError(t, err, "listing %s", name)
			keys[obj.Key] = true
			assert.NotContains(t, obj.Key, ".backupkit-", "%s lists a temporary object", name)
		}
		for k := range keys {
			if strings.HasSuffix(k, backup.ManifestSuffix) {
				assert.True(t, keys[strings.TrimSuffix(k, backup.ManifestSuffix)], "%s: manifest %s without its artifact", name, k)
				continue
			}
			if !keys[k+backup.ManifestSuffix] {
				// A kill between a destination completing the artifact and
				// the manifest beside it leaves this; it must not be listed,
				// and the restart (Recover) removes it.
				if allowOrphans && !cataloged[name][k] {
					t.Logf("%s: artifact %s has no manifest and is not cataloged (killed before its manifest)", name, k)
					continue
				}
				t.Errorf("%s: artifact %s without a manifest", name, k)
				continue
			}
			if cataloged[name][k] {
				continue
			}
			if !allowOrphans {
				t.Errorf("%s: artifact %s is not in the catalog", name, k)
				continue
			}
			r, err := d.Open(ctx, k+backup.ManifestSuffix)
			require.NoError(t, err)
			m, err := backup.ParseManifest(r)
			r.Close()
			require.NoError(t, err, "%s: the manifest of uncataloged artifact %s", name, k)
			size, sum := hashObject(t, d, k)
			assert.Equal(t, k, m.Artifact, "%s: uncataloged artifact %s: its manifest names another", name, k)
			assert.Equal(t, m.Size, size, "%s: uncataloged artifact %s: size against its manifest", name, k)
			assert.Equal(t, m.SHA256, sum, "%s: uncataloged artifact %s: SHA-256 against its manifest", name, k)
			t.Logf("%s: %s is complete (its manifest checks out) but not cataloged: a catalog rebuild would list it", name, k)
		}
	}
	return copies
}

func hashObject(t *testing.T, d destination.Destination, key string) (int64, string) {
	t.Helper()
	r, err := d.Open(context.Background(), key)
	require.NoError(t, err, "open %s", key)
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	require.NoError(t, err, "read %s", key)
	return n, hex.EncodeToString(h.Sum(nil))
}
