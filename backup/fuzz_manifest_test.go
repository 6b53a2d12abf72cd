package backup_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/backupkit/backupkit/backup"
)

// FuzzManifestRoundTrip parses arbitrary manifests. Invariants beyond
// FuzzParseManifest's: an error names the manifest; a manifest that parses
// is written back by encoding/json (as the engine writes it) and parses
// again to the same value, so a catalog rebuilt from manifests reads what
// was written.
func FuzzManifestRoundTrip(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte(strings.Replace(validManifest, `"tool":"x"`, `"tool":"x","encryption":"age","recipients":["age1abc"]`, 1)))
	f.Add([]byte(strings.Replace(validManifest, `"source":{"kind":"dir","format":"tar","point_in_time":false}`,
		`"source":{"kind":"mysql","format":"sql","point_in_time":true,"items":[{"name":"t","count":3,"bytes":9,"checksum":"c"}],"details":{"k":"v"}}`, 1)))
	f.Add([]byte(`{"version":1,"size":1e400}`))
	f.Add([]byte(`{"version":1}{"version":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := backup.ParseManifest(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Fatalf("both a manifest and an error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "manifest: ") {
				t.Fatalf("error does not name the manifest: %v", err)
			}
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("a parsed manifest does not encode: %v", err)
		}
		m2, err := backup.ParseManifest(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("a parsed manifest, written back, does not parse: %v\n%s", err, out)
		}
		// Compare what JSON carries: time zones and monotonic readings aside.
		if !m.CreatedAt.Equal(m2.CreatedAt) {
			t.Fatalf("created_at changed: %s -> %s", m.CreatedAt, m2.CreatedAt)
		}
		m.CreatedAt = m2.CreatedAt
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("the round trip changed the manifest:\n%+v\n%+v", m, m2)
		}
	})
}
