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

// A verify slot missed while no replica ran is made up for once at the
// start, the latest one only; a job whose verification never ran makes
// nothing up.
func TestMissedVerifySlotIsMadeUpOnce(t *testing.T) {
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644))
	dir := t.TempDir()
	src := `store: sqlite:` + dir + `/b.db
destinations:
  disk:
    url: mem://verify-missed-slot
jobs:
  - name: app
    source: dir:` + data + `
    destinations: [disk]
    verify:
      schedule: "@hourly"
      timezone: UTC
`
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close() })
	j, err := rt.Job("app")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	verifyRuns := func() []store.Run {
		runs, err := rt.Store.ListRuns(context.Background(), store.RunFilter{ScheduleID: VerifyScheduleID("app"), Limit: 100})
		require.NoError(t, err)
		return runs
	}
	// No verification yet: nothing is made up.
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	assert.ErrorIs(t, rt.RunVerifySchedules(short), context.DeadlineExceeded)
	stop()
	assert.Empty(t, verifyRuns())

	// The last verification ran five hours ago; a backup exists since.
	hour := time.Now().UTC().Truncate(time.Hour)
	require.NoError(t, rt.VerifySlot(ctx, j.Job, backup.VerifyChecksum, hour.Add(-5*time.Hour)))
	res, err := rt.Engine.Run(ctx, j.Job, backup.RunOptions{})
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- rt.RunVerifySchedules(ctx) }()
	require.Eventually(t, func() bool { return len(verifyRuns()) == 2 && verifyRuns()[0].Status.Final() }, 20*time.Second, 20*time.Millisecond)
	cancel()
	<-done
	runs := verifyRuns()
	require.Len(t, runs, 2, "the old slot and the latest missed one, not the four between")
	assert.Equal(t, store.RunSucceeded, runs[0].Status)
	assert.Equal(t, res.Backup.ID, runs[0].BackupID)
	if got := runs[0].Slot; !got.Equal(hour) {
		assert.Equal(t, hour.Add(time.Hour), got, "the latest hourly slot (the hour turned during the test)")
	}
}
