package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/backupkit/backupkit/source"
)

// ManifestVersion is the manifest format this package writes. Readers accept
// manifests of this version and refuse newer ones with a clear error.
const ManifestVersion = 1

// ManifestSuffix is appended to an artifact's key to name its manifest.
const ManifestSuffix = ".manifest.json"

// maxManifestSize bounds what ParseManifest reads: a manifest is small, and a
// huge file under a manifest's name is not one.
const maxManifestSize = 4 << 20

// Manifest describes one artifact. It is written beside the artifact on every
// destination after the artifact is complete, so the catalog can be rebuilt
// from manifests alone. It holds no secrets.
type Manifest struct {
	Version   int         `json:"version"`
	BackupID  string      `json:"backup_id"`
	Job       string      `json:"job"`
	RunID     string      `json:"run_id"`
	CreatedAt time.Time   `json:"created_at"`
	Source    source.Info `json:"source"`
	// Artifact is the artifact's key on the destination the manifest is on.
	Artifact    string      `json:"artifact"`
	Size        int64       `json:"size"`
	SHA256      string      `json:"sha256"`
	Compression Compression `json:"compression"`
	// Encryption is "" (none) or "age"; Recipients are the fingerprints of the
	// keys the artifact was encrypted to, never the keys themselves.
	Encryption string   `json:"encryption,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	// Tool names the program that wrote the backup.
	Tool string `json:"tool"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseManifest reads and validates a manifest. Errors name the bad field.
func ParseManifest(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("manifest: larger than %d bytes", maxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("manifest: trailing data after the JSON object")
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	switch {
	case m.Version < 1:
		return fmt.Errorf("version: %d is not a manifest version", m.Version)
	case m.Version > ManifestVersion:
		return fmt.Errorf("version: %d is newer than this program reads (%d); upgrade backupkit", m.Version, ManifestVersion)
	case m.BackupID == "":
		return errors.New("backup_id: missing")
	case m.Job == "":
		return errors.New("job: missing")
	case m.Artifact == "":
		return errors.New("artifact: missing")
	case m.Size < 0:
		return fmt.Errorf("size: %d is negative", m.Size)
	case !sha256Hex.MatchString(m.SHA256):
		return fmt.Errorf("sha256: %q is not 64 lower-case hex digits", m.SHA256)
	case m.CreatedAt.IsZero():
		return errors.New("created_at: missing")
	}
	if m.Encryption != "" && m.Encryption != EncryptionAge {
		return fmt.Errorf("encryption: %q is not age (or empty)", m.Encryption)
	}
	if _, err := ParseCompression(string(m.Compression)); err != nil || m.Compression == "" {
		return fmt.Errorf("compression: %q is not zstd, gzip or none", m.Compression)
	}
	return nil
}

// ArtifactKey returns the key of a backup's artifact, as DESIGN.md §4 lays it
// out: <prefix>/<job>/<YYYY>/<MM>/<job>_<YYYYMMDDTHHMMSSZ>_<shortid>.<ext>.
// prefix may be empty; shortID is the last 8 characters of the backup id.
func ArtifactKey(prefix, job string, created time.Time, backupID, ext string) string {
	short := strings.ToLower(backupID)
	if len(short) > 8 {
		short = short[len(short)-8:]
	}
	return artifactStem(prefix, job, created) + short + "." + ext
}

// artifactStem is the start every artifact key of job created in the
// second of created shares: <prefix>/<job>/<YYYY>/<MM>/<job>_<timestamp>_.
func artifactStem(prefix, job string, created time.Time) string {
	t := created.UTC()
	name := fmt.Sprintf("%s/%04d/%02d/%s_%s_", job, t.Year(), int(t.Month()), job, t.Format("20060102T150405Z"))
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		name = prefix + "/" + name
	}
	return name
}
