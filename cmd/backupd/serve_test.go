package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/schedule"
)

// TestScheduleEntryHasThePolicy: the entry serve adds for a job carries the
// job's "policy" block.
func TestScheduleEntryHasThePolicy(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`store: sqlite:`+filepath.Join(dir, "b.db")+`
destinations:
  local:
    url: file:`+filepath.Join(dir, "backups")+`
jobs:
  - name: app
    source: dir:`+dir+`
    destinations: [local]
    schedule: daily at 02:30
    timezone: Europe/Berlin
    policy:
      overlap: queue
      queue_limit: 3
      missed: skip
      retries: 4
      backoff: 30s
      max_backoff: 1d
      jitter: 2m
`), 0o600))
	rt, err := open(t.Context(), cfgPath, os.Stderr, nil)
	require.NoError(t, err)
	defer rt.Close()
	j, err := rt.Job("app")
	require.NoError(t, err)
	e := scheduleEntry(j)
	assert.Equal(t, "config:app", e.ID)
	assert.Equal(t, "Europe/Berlin", e.Timezone)
	assert.Equal(t, schedule.Policy{Overlap: schedule.OverlapQueue, QueueLimit: 3, Missed: schedule.MissedSkip,
		Retries: 4, Backoff: 30 * time.Second, MaxBackoff: 24 * time.Hour, Jitter: 2 * time.Minute}, e.Policy)
	// The scheduler accepts it.
	s := schedule.New(rt.Engine, rt.Store, schedule.Options{})
	require.NoError(t, s.Add(e))
}
