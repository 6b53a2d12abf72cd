package config

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

func TestVerifyBlockErrors(t *testing.T) {
	t.Parallel()
	// The verify block starts on line 8.
	tests := []struct{ name, src, want string }{
		{"no schedule", "      level: restore\n",
			`backupd.yaml:8: jobs[0].verify.schedule: required (a cron expression or a preset such as "weekly on sunday at 04:00")`},
		{"bad schedule", "      schedule: \"every blue moon\"\n",
			`backupd.yaml:9: jobs[0].verify.schedule: invalid cron expression "every blue moon"`},
		{"bad level", "      schedule: \"@weekly\"\n      level: thorough\n",
			`backupd.yaml:10: jobs[0].verify.level: invalid level "thorough" (want exists, checksum or restore)`},
		{"bad zone", "      schedule: \"@weekly\"\n      timezone: Mars/Olympus\n",
			`backupd.yaml:10: jobs[0].verify.timezone: unknown time zone "Mars/Olympus" (want an IANA name such as "Europe/Berlin" or "UTC")`},
		{"typo", "      schedule: \"@weekly\"\n      levle: exists\n",
			`backupd.yaml:10: jobs[0].verify.levle: unknown key (did you mean "level"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Contains(t, parseErr(t, valid+"    verify:\n"+tt.src, nil), tt.want)
		})
	}
	cfg, err := Parse([]byte(valid+"    verify:\n      schedule: \"weekly on sunday at 04:00\"\n      level: restore\n"), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	assert.Equal(t, &Verify{Schedule: "weekly on sunday at 04:00", Level: "restore"}, cfg.Jobs[0].Verify)
}

// Two replicas sharing a store verify a slot once; a job without backups
// records the slot as skipped.
func TestVerifySlotClaimedOnce(t *testing.T) {
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644))
	src := `store: sqlite:` + t.TempDir() + `/b.db
destinations:
  disk:
    url: mem://verify-slot-claimed-once
jobs:
  - name: app
    source: dir:` + data + `
    destinations: [disk]
    verify:
      schedule: "@daily"
      level: checksum
`
	open := func() *Runtime {
		cfg, err := Parse([]byte(src), t.TempDir(), "backupd.yaml")
		require.NoError(t, err)
		rt, err := Open(context.Background(), cfg, nil)
		require.NoError(t, err)
		t.Cleanup(func() { rt.Close() })
		return rt
	}
	a, b := open(), open()
	ja, err := a.Job("app")
	require.NoError(t, err)
	jb, err := b.Job("app")
	require.NoError(t, err)
	ctx := t.Context()

	empty := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, a.VerifySlot(ctx, ja.Job, backup.VerifyChecksum, empty))
	runs, err := a.Store.ListRuns(ctx, store.RunFilter{Kind: store.RunKindVerify})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, store.RunSkipped, runs[0].Status)

	res, err := a.Engine.Run(ctx, ja.Job, backup.RunOptions{})
	require.NoError(t, err)
	slot := empty.Add(24 * time.Hour)
	var wg sync.WaitGroup
	for _, r := range []struct {
		rt  *Runtime
		job *ScheduledJob
	}{{a, ja}, {b, jb}} {
		wg.Go(func() { assert.NoError(t, r.rt.VerifySlot(ctx, r.job.Job, backup.VerifyChecksum, slot)) })
	}
	wg.Wait()
	runs, err = a.Store.ListRuns(ctx, store.RunFilter{Kind: store.RunKindVerify, ScheduleID: VerifyScheduleID("app")})
	require.NoError(t, err)
	require.Len(t, runs, 2, "the skipped slot and one verification")
	assert.Equal(t, store.RunSucceeded, runs[0].Status)
	assert.Equal(t, res.Backup.ID, runs[0].BackupID)
	got, err := a.Store.GetBackup(ctx, res.Backup.ID)
	require.NoError(t, err)
	assert.True(t, got.VerifyOK)
	assert.Equal(t, "checksum", got.VerifyLevel)
}
