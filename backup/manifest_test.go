package backup_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
)

const validManifest = `{"version":1,"backup_id":"01JDQ7ZC3M0000000000000000","job":"app","run_id":"r1",
"created_at":"2026-11-29T12:00:00Z","source":{"kind":"dir","format":"tar","point_in_time":false},
"artifact":"app/2026/11/app_20261129T120000Z_00000000.tar.zst","size":10,
"sha256":"` + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" + `","compression":"zstd","tool":"x"}`

func TestParseManifest(t *testing.T) {
	m, err := backup.ParseManifest(strings.NewReader(validManifest))
	require.NoError(t, err)
	assert.Equal(t, "app", m.Job)
	assert.Equal(t, int64(10), m.Size)

	for field, broken := range map[string]string{
		"version":     strings.Replace(validManifest, `"version":1`, `"version":2`, 1),
		"sha256":      strings.Replace(validManifest, `"sha256":"e3`, `"sha256":"E3`, 1),
		"compression": strings.Replace(validManifest, `"compression":"zstd"`, `"compression":"lz4"`, 1),
		"job":         strings.Replace(validManifest, `"job":"app"`, `"job":""`, 1),
		"trailing":    validManifest + "{}",
	} {
		_, err := backup.ParseManifest(strings.NewReader(broken))
		assert.Error(t, err, field)
		if field != "trailing" {
			assert.Contains(t, err.Error(), field)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"size":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := backup.ParseManifest(bytes.NewReader(data))
		if err == nil && (m.Version != backup.ManifestVersion || m.Size < 0 || m.Job == "") {
			t.Fatalf("accepted an invalid manifest: %+v", m)
		}
	})
}

func TestArtifactKey(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	assert.Equal(t, "p/q/app/2026/03/app_20260304T040607Z_abcdefgh.tar.zst",
		backup.ArtifactKey("/p/q/", "app", created, "01JDQ7ZC3M0000000ABCDEFGH", "tar.zst"))
	assert.Equal(t, "app/2026/03/app_20260304T040607Z_x.sql",
		backup.ArtifactKey("", "app", created, "X", "sql"))
}
