package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quickstartBackup runs the quickstart job once and returns its folder and
// the backup's ID.
func quickstartBackup(t *testing.T) (string, string) {
	dir := quickstart(t, "")
	r := backupd(t, dir, "backup", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	return dir, backupIDRE.FindStringSubmatch(r.stdout)[1]
}

// artifactPath returns the path of the backup's artifact in the quickstart
// folder's local destination.
func artifactPath(t *testing.T, dir string) string {
	var found string
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "backups"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tar.zst") {
			found = p
		}
		return err
	}))
	require.NotEmpty(t, found)
	return found
}

func flipFileByte(t *testing.T, p string) {
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	data[len(data)/2] ^= 0x40
	require.NoError(t, os.WriteFile(p, data, 0o644))
}

func TestRestoreOverTheSourceNeedsForce(t *testing.T) {
	dir, id := quickstartBackup(t)
	data := filepath.Join(dir, "data")
	want := tree(t, data)
	require.NoError(t, os.WriteFile(filepath.Join(data, "new.txt"), []byte("after the backup\n"), 0o644))

	r := backupd(t, dir, "restore", "--config", "backupd.yaml", id)
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, "holds data")
	assert.Contains(t, r.stderr, "--force")
	_, err := os.Stat(filepath.Join(data, "new.txt"))
	require.NoError(t, err, "refused: nothing changed")

	r = backupd(t, dir, "restore", "--config", "backupd.yaml", "--force", id)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "restored into the job's source")
	assert.Equal(t, want, tree(t, data))

	// The safety backup is in the catalog, protected.
	r = backupd(t, dir, "list", "--config", "backupd.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "pre_restore,protected")

	// Dry run writes nothing.
	r = backupd(t, dir, "restore", "--config", "backupd.yaml", "--dry-run", id)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "checked (dry run)")
}

func TestVerifyCLI(t *testing.T) {
	dir, id := quickstartBackup(t)
	for _, level := range []string{"exists", "checksum", "restore"} {
		r := backupd(t, dir, "verify", "--config", "backupd.yaml", "--level", level, id)
		require.Equal(t, 0, r.code, "%s: %s %s", level, r.stdout, r.stderr)
		assert.Contains(t, r.stdout, "OK at level "+level)
	}
	// By job name, as JSON.
	r := backupd(t, dir, "verify", "--config", "backupd.yaml", "--json", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	var res struct {
		BackupID string `json:"backup_id"`
		OK       bool   `json:"ok"`
		Level    string `json:"level"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Equal(t, id, res.BackupID)
	assert.True(t, res.OK)
	assert.Equal(t, "checksum", res.Level)

	flipFileByte(t, artifactPath(t, dir))
	r = backupd(t, dir, "verify", "--config", "backupd.yaml", "--level", "checksum", id)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "FAILED")
	assert.Contains(t, r.stdout, "sha256")

	r = backupd(t, dir, "verify", "--config", "backupd.yaml", "--level", "thorough", id)
	assert.Equal(t, 2, r.code)
	r = backupd(t, dir, "verify", "--config", "backupd.yaml", "nope")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "neither a backup ID nor a job")
}

func TestDownloadCLI(t *testing.T) {
	dir, id := quickstartBackup(t)
	out := t.TempDir()
	raw := filepath.Join(out, "raw.tar.zst")
	r := backupd(t, dir, "download", "--config", "backupd.yaml", "--raw", "-o", raw, id)
	require.Equal(t, 0, r.code, r.stderr)
	data, err := os.ReadFile(raw)
	require.NoError(t, err)
	stored, err := os.ReadFile(artifactPath(t, dir))
	require.NoError(t, err)
	assert.Equal(t, stored, data)

	plain := filepath.Join(out, "plain.tar")
	r = backupd(t, dir, "download", "--config", "backupd.yaml", "-o", plain, id)
	require.Equal(t, 0, r.code, r.stderr)
	tarData, err := os.ReadFile(plain)
	require.NoError(t, err)
	assert.Contains(t, string(tarData), "hello.txt", "a tar stream of the data folder")

	// To stdout.
	r = backupd(t, dir, "download", "--config", "backupd.yaml", "--raw", id)
	require.Equal(t, 0, r.code, r.stderr)
	sum := sha256.Sum256([]byte(r.stdout))
	sumStored := sha256.Sum256(stored)
	assert.Equal(t, hex.EncodeToString(sumStored[:]), hex.EncodeToString(sum[:]))

	// A corrupted artifact: the download fails and leaves no file.
	flipFileByte(t, artifactPath(t, dir))
	bad := filepath.Join(out, "bad.tar.zst")
	r = backupd(t, dir, "download", "--config", "backupd.yaml", "--raw", "-o", bad, id)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "checksum")
	_, err = os.Stat(bad)
	assert.ErrorIs(t, err, os.ErrNotExist, "the partial file is removed")
}

func TestCatalogRebuildCLI(t *testing.T) {
	dir, id := quickstartBackup(t)
	r := backupd(t, dir, "list", "--config", "backupd.yaml", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var before []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &before))

	require.NoError(t, os.Remove(filepath.Join(dir, "backupd.db")))
	r = backupd(t, dir, "catalog", "rebuild", "--config", "backupd.yaml", "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(dry run) 1 backups added")
	r = backupd(t, dir, "catalog", "rebuild", "--config", "backupd.yaml", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep struct {
		Added []string `json:"added"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	assert.Equal(t, []string{id}, rep.Added)

	r = backupd(t, dir, "list", "--config", "backupd.yaml", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var after []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &after))
	require.Len(t, after, 1)
	for _, k := range []string{"id", "job", "size", "sha256", "format", "compression"} {
		assert.Equal(t, before[0][k], after[0][k], k)
	}
	cb, _ := json.Marshal(before[0]["copies"])
	ca, _ := json.Marshal(after[0]["copies"])
	var copiesBefore, copiesAfter []map[string]any
	require.NoError(t, json.Unmarshal(cb, &copiesBefore))
	require.NoError(t, json.Unmarshal(ca, &copiesAfter))
	require.Len(t, copiesAfter, 1)
	for _, k := range []string{"destination", "key", "size"} {
		assert.Equal(t, copiesBefore[0][k], copiesAfter[0][k], k)
	}

	r = backupd(t, dir, "catalog", "--config", "backupd.yaml")
	assert.Equal(t, 2, r.code)
}
