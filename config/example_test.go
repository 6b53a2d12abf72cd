package config_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/backupkit/backupkit/config"
)

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "backupd")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	path := filepath.Join(dir, "backupd.yaml")
	err = os.WriteFile(path, []byte(`
destinations:
  local:
    url: file:backups
jobs:
  - name: quickstart
    source: dir:data
    destinations: [local]
    schedule: "0 3 * * *"
    timeout: 2h
`), 0o600)
	if err != nil {
		log.Fatal(err)
	}

	cfg, err := config.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	job, err := cfg.Job("quickstart")
	if err != nil {
		log.Fatal(err)
	}
	// Relative paths are resolved against the config file's folder.
	rel := func(u string) string { return strings.Replace(u, filepath.ToSlash(dir), "<dir>", 1) }
	fmt.Println("store:", rel(cfg.Store))
	fmt.Println("destination:", rel(cfg.Destinations["local"].URL))
	fmt.Println("source:", rel(job.Source))
	fmt.Println("schedule:", job.Schedule, "in", job.Timezone)
	fmt.Println("compression:", job.Compression, "timeout:", job.Timeout)

	_, err = cfg.Job("quikstart")
	fmt.Println(err)
	// Output:
	// store: sqlite://<dir>/backupd.db
	// destination: file://<dir>/backups
	// source: dir://<dir>/data
	// schedule: 0 3 * * * in UTC
	// compression: zstd timeout: 2h0m0s
	// unknown job "quikstart" (did you mean "quickstart"? known jobs: quickstart)
}
