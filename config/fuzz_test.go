package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and returns either errors in the
// documented format or a Config that passes Validate, with defaults filled in.
func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "backupd.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(golden),
		valid,
		valid + "    schedule: 61 * * * *\n    timeout: [1]\n",
		valid + "    destinatons: [local]\n",
		"jobs:\n  - name: a\n   source: b\n",
		"destinations:\n  d: &d\n    <<: *d\n",
		"jobs: [*x]\n",
		"a: &a [*a]\njobs: *a\n",
		"store: 'mysql://user:${PW}/db'\nlog_level: ${LEVEL:-info}\n",
		"jobs:\n  - &j {name: a, source: 'dir:x', destinations: [d]}\n  - *j\ndestinations: {d: {url: 'file:y'}}\n",
		"---\n---\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	base, err := filepath.Abs("testdata")
	if err != nil {
		f.Fatal(err)
	}
	env := envMap(map[string]string{"PW": "hunter2", "S3_SECRET": "hunter2", "DB_PASSWORD": "hunter2"})

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Options{LookupEnv: env}.Parse(data, base, "fuzz.yaml")
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a Config and an error: %v", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("error line %q does not start with the file name", line)
				}
				isURL := strings.Contains(line, ".url: ") || strings.Contains(line, " store: ") || strings.Contains(line, ".source: ")
				if isURL && strings.Contains(line, "hunter2") && !strings.Contains(string(data), "hunter2") {
					t.Fatalf("error reveals a secret from the environment: %v", line)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed Config does not pass Validate: %v", err)
		}
		if cfg.Store == "" || cfg.LogLevel == "" {
			t.Fatalf("defaults not applied: %+v", cfg)
		}
		for _, j := range cfg.Jobs {
			if j.Timezone == "" || j.Compression == "" {
				t.Fatalf("defaults not applied to job %+v", j)
			}
		}
	})
}
