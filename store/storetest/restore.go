package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

// testRunKinds: an empty Kind is stored as backup; RunFilter.Kind selects;
// Stats counts backup runs only; UpdateRun keeps (or changes) the kind.
func testRunKinds(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.Run{Job: "j", Status: store.RunSucceeded, StartedAt: at(1), FinishedAt: at(2)}
	require.NoError(t, s.CreateRun(ctx, &b))
	assert.Equal(t, store.RunKindBackup, b.Kind, "CreateRun sets the default kind in the caller's run")
	r := store.Run{Job: "j", Kind: store.RunKindRestore, BackupID: "b1", Status: store.RunFailed, StartedAt: at(3), FinishedAt: at(4)}
	require.NoError(t, s.CreateRun(ctx, &r))
	v := store.Run{Job: "j", Kind: store.RunKindVerify, BackupID: "b1", ScheduleID: "verify:j", Slot: at(5),
		Owner: "o", StartedAt: at(5)}
	claimed, err := s.ClaimRun(ctx, &v)
	require.NoError(t, err)
	require.True(t, claimed)

	got, err := s.GetRun(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunKindBackup, got.Kind)
	got, err = s.GetRun(ctx, v.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunKindVerify, got.Kind)
	assert.Equal(t, "b1", got.BackupID)

	for kind, want := range map[store.RunKind][]string{
		"":                   {v.ID, r.ID, b.ID},
		store.RunKindBackup:  {b.ID},
		store.RunKindRestore: {r.ID},
		store.RunKindVerify:  {v.ID},
	} {
		list, err := s.ListRuns(ctx, store.RunFilter{Kind: kind})
		require.NoError(t, err)
		assert.Equal(t, want, runIDs(list), "kind %q", kind)
		page, err := s.ListRunsPage(ctx, store.RunFilter{Job: "j", Kind: kind, Limit: 10})
		require.NoError(t, err)
		assert.Equal(t, want, runIDs(page.Runs), "page, kind %q", kind)
	}

	// Finishing the verify run keeps its kind.
	v.Status, v.FinishedAt = store.RunSucceeded, at(6)
	v.Kind = ""
	require.NoError(t, s.UpdateRun(ctx, &v))
	got, err = s.GetRun(ctx, v.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunKindBackup, got.Kind, "UpdateRun stores an empty kind as backup, like CreateRun")

	st, err := s.Stats(ctx, store.StatsFilter{Job: "j"})
	require.NoError(t, err)
	assert.Equal(t, int64(2), st.Total, "the backup run and the (now backup) verify run; the restore run is not counted")

	// A verify run carrying a stored schedule's ID leaves its counters alone.
	sched := store.Schedule{Name: "kinds", Cron: "@daily"}
	require.NoError(t, s.CreateSchedule(ctx, &sched))
	vr := store.Run{Job: "j", Kind: store.RunKindVerify, ScheduleID: sched.ID, Status: store.RunRunning, Owner: "o"}
	require.NoError(t, s.CreateRun(ctx, &vr))
	vr.Status, vr.FinishedAt = store.RunFailed, at(9)
	require.NoError(t, s.UpdateRun(ctx, &vr))
	got2, err := s.GetSchedule(ctx, sched.ID)
	require.NoError(t, err)
	assert.Zero(t, got2.FailureCount+got2.SuccessCount, "restore and verify runs do not count for a schedule")
}

func testRecordVerification(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.Backup{Job: "j", CreatedAt: at(0), Copies: []store.Copy{{Destination: "d", Key: "k"}}}
	require.NoError(t, s.AddBackup(ctx, &b))
	got, err := s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.True(t, got.LastVerifiedAt.IsZero(), "never verified")
	assert.Empty(t, got.VerifyLevel)

	require.NoError(t, s.RecordVerification(ctx, b.ID, store.Verification{At: at(5).In(zone), Level: "checksum",
		Problem: "d: sha256 differs"}))
	got, err = s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	requireTimeEqual(t, "LastVerifiedAt", at(5), got.LastVerifiedAt)
	requireBackupUTC(t, got)
	assert.Equal(t, "checksum", got.VerifyLevel)
	assert.False(t, got.VerifyOK)
	assert.Equal(t, "d: sha256 differs", got.VerifyProblem)

	// The next one replaces it; a zero At is the store's now.
	require.NoError(t, s.RecordVerification(ctx, b.ID, store.Verification{Level: "restore", OK: true}))
	list, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "restore", list[0].VerifyLevel)
	assert.True(t, list[0].VerifyOK)
	assert.Empty(t, list[0].VerifyProblem)
	assert.WithinDuration(t, time.Now(), list[0].LastVerifiedAt, time.Hour, "a sanity check of the clock's units")

	err = s.RecordVerification(ctx, "no-such-backup", store.Verification{Level: "exists", OK: true})
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-backup")
	err = s.RecordVerification(ctx, b.ID, store.Verification{OK: true})
	require.Error(t, err)
	assert.ErrorContains(t, err, "Level")

	// SetProtected clears ProtectedUntil.
	p := store.Backup{Job: "j", CreatedAt: at(1), Status: store.BackupPreRestore, Protected: true, ProtectedUntil: at(99),
		Copies: []store.Copy{{Destination: "d", Key: "p"}}}
	require.NoError(t, s.AddBackup(ctx, &p))
	got, err = s.GetBackup(ctx, p.ID)
	require.NoError(t, err)
	requireTimeEqual(t, "ProtectedUntil", at(99), got.ProtectedUntil)
	assert.Equal(t, store.BackupPreRestore, got.Status)
	require.NoError(t, s.SetProtected(ctx, p.ID, true))
	got, err = s.GetBackup(ctx, p.ID)
	require.NoError(t, err)
	assert.True(t, got.Protected)
	assert.True(t, got.ProtectedUntil.IsZero(), "SetProtected makes the protection permanent")
}

func testAddCopy(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.Backup{Job: "j", CreatedAt: at(0), Copies: []store.Copy{{Destination: "local", Key: "k", Size: 3, CreatedAt: at(0)}}}
	require.NoError(t, s.AddBackup(ctx, &b))
	require.NoError(t, s.AddCopy(ctx, b.ID, store.Copy{Destination: "s3", Key: "p/k", Size: 3, CreatedAt: at(2).In(zone)}))
	require.NoError(t, s.AddCopy(ctx, b.ID, store.Copy{Destination: "sftp", Key: "x"}))
	got, err := s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	requireBackupUTC(t, got)
	require.Len(t, got.Copies, 3)
	assert.Equal(t, "s3", got.Copies[1].Destination, "copies keep their order")
	assert.Equal(t, "p/k", got.Copies[1].Key)
	requireTimeEqual(t, "CreatedAt", at(2), got.Copies[1].CreatedAt)
	assert.False(t, got.Copies[2].CreatedAt.IsZero(), "a zero CreatedAt is the store's now")

	err = s.AddCopy(ctx, b.ID, store.Copy{Destination: "s3", Key: "other"})
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, "s3")
	err = s.AddCopy(ctx, "no-such-backup", store.Copy{Destination: "s3", Key: "k"})
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-backup")
	require.Error(t, s.AddCopy(ctx, b.ID, store.Copy{Key: "k"}), "a copy needs a destination")
}

func testSetCopyMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.Backup{Job: "j", CreatedAt: at(0), Copies: []store.Copy{{Destination: "local", Key: "k"}, {Destination: "s3", Key: "k"}}}
	require.NoError(t, s.AddBackup(ctx, &b))
	require.NoError(t, s.SetCopyMissing(ctx, b.ID, "s3", at(7).In(zone)))
	got, err := s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	requireBackupUTC(t, got)
	assert.True(t, got.Copies[0].MissingSince.IsZero())
	requireTimeEqual(t, "MissingSince", at(7), got.Copies[1].MissingSince)

	require.NoError(t, s.SetCopyMissing(ctx, b.ID, "s3", time.Time{}))
	list, err := s.ListBackups(ctx, store.BackupFilter{Job: "j"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].Copies[1].MissingSince.IsZero(), "found again")

	err = s.SetCopyMissing(ctx, b.ID, "gdrive", at(1))
	require.ErrorIs(t, err, store.ErrNotFound)
	err = s.SetCopyMissing(ctx, "no-such-backup", "s3", at(1))
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-backup")
}
