// Package storetest is the conformance suite every store.Store implementation
// runs in its tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(t.Context(), ...)
//			require.NoError(t, err)
//			return s
//		})
//	}
//
// Besides the contracts documented in package store, the suite pins down what
// callers rely on and store.go leaves open:
//
//   - CreateRun defaults an empty Status to running and a zero Attempt to 1,
//     and updates the caller's Run with every assigned value;
//   - runs claim slots: a second run with the same Job, ScheduleID, Slot and
//     Attempt fails with store.ErrConflict; runs with a zero Slot (manual runs)
//     never conflict;
//   - ListRuns and ListBackups order by StartedAt/CreatedAt, newest first, and
//     break ties by creation order (later first);
//   - RenewLease with a non-positive ttl expires the lease at once; a lease
//     ending at or before the store's now is expired; RenewLease of a missing
//     run fails with store.ErrNotFound;
//   - AddBackup without copies fails and stores nothing; a zero CreatedAt of
//     the backup or a copy is set from the store's clock; copies keep their
//     order;
//   - AppendLogs and RunLogs of a missing run fail with store.ErrNotFound;
//   - errors about a record name its id;
//   - times come back in UTC, equal (time.Equal) to what was stored at
//     microsecond precision at least; zero times stay zero;
//   - Close may be called more than once;
//   - ClaimRun: of concurrent claimers of a slot exactly one gets true, the
//     others false and no error; UpdateRun is fenced by status, owner and
//     attempt (store.ErrConflict naming the holder);
//   - schedules, connections and the audit trail keep what they are given,
//     refuse duplicate names and bad input naming the field, and schedules'
//     counters follow their runs;
//   - pages (ListRunsPage, ListBackupsPage) return every row once, in order,
//     with equal times straddling page boundaries;
//   - a run's Kind defaults to backup; RunFilter.Kind selects by kind; Stats
//     counts backup runs only;
//   - AddBackup keeps the verification, ProtectedUntil and MissingSince
//     fields it is given; SetProtected clears ProtectedUntil.
//
// ClaimRace is the multi-process part: it needs the store's URL and a
// TestMain that calls ChildMain (see ClaimRace).
//
// The suite never sleeps: lease expiry is produced with RenewLease and a
// negative ttl.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call, with a credentials key for connection secrets; Run closes it
// when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RunRoundTrip", testRunRoundTrip},
		{"CreateRunDefaults", testCreateRunDefaults},
		{"CreateRunDuplicateID", testCreateRunDuplicateID},
		{"SlotClaim", testSlotClaim},
		{"SlotClaimConcurrent", testSlotClaimConcurrent},
		{"ClaimRun", testClaimRun},
		{"UpdateRunFenced", testUpdateRunFenced},
		{"UpdateRun", testUpdateRun},
		{"GetRunMissing", testGetRunMissing},
		{"ListRuns", testListRuns},
		{"ListRunsDefaultLimit", testListRunsDefaultLimit},
		{"RenewLease", testRenewLease},
		{"InterruptExpired", testInterruptExpired},
		{"SetInterruptedBackup", testSetInterruptedBackup},
		{"BackupRoundTrip", testBackupRoundTrip},
		{"AddBackupDefaults", testAddBackupDefaults},
		{"AddBackupInvalid", testAddBackupInvalid},
		{"ListBackups", testListBackups},
		{"DeleteCopy", testDeleteCopy},
		{"DeleteBackup", testDeleteBackup},
		{"SetProtected", testSetProtected},
		{"RunKinds", testRunKinds},
		{"RecordVerification", testRecordVerification},
		{"AddCopy", testAddCopy},
		{"SetCopyMissing", testSetCopyMissing},
		{"Logs", testLogs},
		{"LogsMissingRun", testLogsMissingRun},
		{"Concurrent", testConcurrent},
		{"ConcurrentAppendOneRun", testConcurrentAppendOneRun},
		{"LogsAfter", testLogsAfter},
		{"ListBackupsFilters", testListBackupsFilters},
		{"ListRunsPages", testListRunsPages},
		{"Stats", testStats},
		{"SchedulesCRUD", testSchedulesCRUD},
		{"SchedulesInvalid", testSchedulesInvalid},
		{"ListSchedules", testListSchedules},
		{"ScheduleRunStats", testScheduleRunStats},
		{"Audit", testAudit},
		{"Connections", testConnections},
		{"CloseTwice", testCloseTwice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			require.NotNil(t, s)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

// at returns a fixed UTC time with microsecond precision, minutes after a base.
func at(minutes int) time.Time {
	return time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC).
		Add(time.Duration(minutes)*time.Minute + 123456*time.Microsecond)
}

// zone is a non-UTC location: stores must keep the instant, not the zone.
var zone = time.FixedZone("UTC+5:30", 5*3600+1800)

func requireTimeEqual(t *testing.T, what string, want, got time.Time) {
	t.Helper()
	if want.IsZero() {
		require.Truef(t, got.IsZero(), "%s: want zero time, got %v", what, got)
		return
	}
	require.Truef(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
}

// requireUTC checks that times read from a store are in UTC (or zero).
func requireUTC(t *testing.T, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if !tm.IsZero() {
			require.Equalf(t, time.UTC, tm.Location(), "time %d: want a UTC time, got %v", i, tm)
		}
	}
}

func requireRunUTC(t *testing.T, r store.Run) {
	t.Helper()
	requireUTC(t, r.Slot, r.LeaseUntil, r.StartedAt, r.FinishedAt)
}

func requireBackupUTC(t *testing.T, b store.Backup) {
	t.Helper()
	requireUTC(t, b.CreatedAt, b.ProtectedUntil, b.LastVerifiedAt)
	for _, c := range b.Copies {
		requireUTC(t, c.CreatedAt, c.MissingSince)
	}
}

func requireRunEqual(t *testing.T, want, got store.Run) {
	t.Helper()
	requireTimeEqual(t, "Slot", want.Slot, got.Slot)
	requireTimeEqual(t, "LeaseUntil", want.LeaseUntil, got.LeaseUntil)
	requireTimeEqual(t, "StartedAt", want.StartedAt, got.StartedAt)
	requireTimeEqual(t, "FinishedAt", want.FinishedAt, got.FinishedAt)
	want.Slot, want.LeaseUntil, want.StartedAt, want.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.Slot, got.LeaseUntil, got.StartedAt, got.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

func requireBackupEqual(t *testing.T, want, got store.Backup) {
	t.Helper()
	requireTimeEqual(t, "CreatedAt", want.CreatedAt, got.CreatedAt)
	requireTimeEqual(t, "ProtectedUntil", want.ProtectedUntil, got.ProtectedUntil)
	requireTimeEqual(t, "LastVerifiedAt", want.LastVerifiedAt, got.LastVerifiedAt)
	if want.SourceInfo == nil {
		require.Nil(t, got.SourceInfo, "SourceInfo")
	} else {
		require.JSONEq(t, string(want.SourceInfo), string(got.SourceInfo), "SourceInfo")
	}
	require.Len(t, got.Copies, len(want.Copies), "Copies")
	for i := range want.Copies {
		requireTimeEqual(t, fmt.Sprintf("Copies[%d].CreatedAt", i), want.Copies[i].CreatedAt, got.Copies[i].CreatedAt)
		requireTimeEqual(t, fmt.Sprintf("Copies[%d].MissingSince", i), want.Copies[i].MissingSince, got.Copies[i].MissingSince)
	}
	want, got = stripBackup(want), stripBackup(got)
	require.Equal(t, want, got)
}

func stripBackup(b store.Backup) store.Backup {
	b.CreatedAt, b.SourceInfo = time.Time{}, nil
	b.ProtectedUntil, b.LastVerifiedAt = time.Time{}, time.Time{}
	b.Copies = append([]store.Copy(nil), b.Copies...)
	for i := range b.Copies {
		b.Copies[i].CreatedAt, b.Copies[i].MissingSince = time.Time{}, time.Time{}
	}
	return b
}

func runIDs(runs []store.Run) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

func backupIDs(bs []store.Backup) []string {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	return ids
}

// fullRun is a run with every field set.
func fullRun() store.Run {
	return store.Run{
		Job:          "shop-db",
		ScheduleID:   "sched-1",
		Slot:         at(0).Truncate(time.Minute),
		Trigger:      store.TriggerRetry,
		TriggeredBy:  "scheduler",
		Status:       store.RunFailed,
		Reason:       "source: connection refused",
		Owner:        "host-a:4242",
		Attempt:      3,
		LeaseUntil:   at(10).In(zone),
		StartedAt:    at(1).In(zone),
		FinishedAt:   at(2),
		BytesRead:    1 << 40,
		BytesWritten: 123456789,
		BackupID:     "backup-1",
		Kind:         store.RunKindRestore,
	}
}

func testRunRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullRun()
	want.ID = "run-explicit-id"
	r := want
	require.NoError(t, s.CreateRun(ctx, &r))
	requireRunEqual(t, want, r) // nothing to assign
	got, err := s.GetRun(ctx, want.ID)
	require.NoError(t, err)
	requireRunEqual(t, want, got)
	requireRunUTC(t, got)
	list, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	requireRunEqual(t, want, list[0])
	requireRunUTC(t, list[0])

	// A minimal run: zero times other than those assigned stay zero.
	m := store.Run{Job: "j", Trigger: store.TriggerManual, Status: store.RunSkipped, Reason: "overlap", Attempt: 1}
	require.NoError(t, s.CreateRun(ctx, &m))
	got, err = s.GetRun(ctx, m.ID)
	require.NoError(t, err)
	assert.True(t, got.Slot.IsZero())
	assert.True(t, got.LeaseUntil.IsZero(), "a run that is not running gets no lease")
	assert.True(t, got.FinishedAt.IsZero())
	requireRunEqual(t, m, got)
}

func testCreateRunDefaults(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "shop-db", Trigger: store.TriggerManual, TriggeredBy: "alice", Owner: "host-a:1"}
	require.NoError(t, s.CreateRun(ctx, &r))
	assert.NotEmpty(t, r.ID)
	assert.Equal(t, store.RunRunning, r.Status)
	assert.Equal(t, 1, r.Attempt)
	require.False(t, r.StartedAt.IsZero())
	// A sanity check of the clock's units, not of speed.
	assert.WithinDuration(t, time.Now(), r.StartedAt, time.Hour)
	lease := r.LeaseUntil.Sub(r.StartedAt)
	assert.True(t, lease > store.DefaultLease-time.Second && lease <= store.DefaultLease+time.Second,
		"lease %v, want about %v", lease, store.DefaultLease)
	got, err := s.GetRun(ctx, r.ID)
	require.NoError(t, err)
	requireRunEqual(t, r, got)

	// IDs sort by creation.
	prev := r.ID
	for i := range 5 {
		n := store.Run{Job: "shop-db", Trigger: store.TriggerManual, Owner: "host-a:1"}
		require.NoError(t, s.CreateRun(ctx, &n), i)
		assert.Greater(t, n.ID, prev)
		prev = n.ID
	}

	// An explicit lease is kept.
	e := store.Run{Job: "j", Status: store.RunRunning, Owner: "o", LeaseUntil: at(5)}
	require.NoError(t, s.CreateRun(ctx, &e))
	requireTimeEqual(t, "LeaseUntil", at(5), e.LeaseUntil)
}

func testCreateRunDuplicateID(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{ID: "dup-run", Job: "j", Status: store.RunSucceeded, Attempt: 1}
	require.NoError(t, s.CreateRun(ctx, &r))
	again := store.Run{ID: "dup-run", Job: "other", Status: store.RunFailed, Attempt: 1}
	err := s.CreateRun(ctx, &again)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, "dup-run")
	got, err := s.GetRun(ctx, "dup-run")
	require.NoError(t, err)
	assert.Equal(t, "j", got.Job, "the first run is untouched")
}

func testSlotClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	slot := at(60).Truncate(time.Minute)
	claim := func(job, schedule string, slot time.Time, attempt int, status store.RunStatus) error {
		r := store.Run{Job: job, ScheduleID: schedule, Slot: slot, Attempt: attempt, Status: status,
			Trigger: store.TriggerSchedule, Owner: "o"}
		return s.CreateRun(ctx, &r)
	}
	require.NoError(t, claim("j", "s1", slot, 1, store.RunRunning))
	err := claim("j", "s1", slot, 1, store.RunRunning)
	require.ErrorIs(t, err, store.ErrConflict, "the slot is taken")
	require.ErrorIs(t, claim("j", "s1", slot.In(zone), 1, store.RunSkipped), store.ErrConflict,
		"a skip record cannot take a claimed slot either")
	require.NoError(t, claim("j", "s1", slot, 2, store.RunRunning), "a retry is another attempt")
	require.NoError(t, claim("j", "s1", slot.Add(time.Minute), 1, store.RunRunning), "next slot")
	require.NoError(t, claim("j", "s2", slot, 1, store.RunRunning), "another schedule")
	require.NoError(t, claim("k", "s1", slot, 1, store.RunRunning), "another job")
	require.NoError(t, claim("j", "", slot, 1, store.RunRunning), "a schedule without id")
	require.ErrorIs(t, claim("j", "", slot, 1, store.RunRunning), store.ErrConflict)
	for range 3 {
		require.NoError(t, claim("j", "s1", time.Time{}, 1, store.RunRunning), "manual runs have no slot")
	}

	// Moving a run onto a claimed slot conflicts too.
	r := store.Run{Job: "j", ScheduleID: "s1", Slot: slot.Add(2 * time.Minute), Attempt: 1, Status: store.RunRunning}
	require.NoError(t, s.CreateRun(ctx, &r))
	r.Slot = slot
	require.ErrorIs(t, s.UpdateRun(ctx, &r), store.ErrConflict)
}

func testSlotClaimConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const replicas = 20
	slot := at(120).Truncate(time.Minute)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			r := store.Run{Job: "j", ScheduleID: "s", Slot: slot, Attempt: 1, Trigger: store.TriggerSchedule,
				Owner: fmt.Sprintf("replica-%d", i)}
			errs[i] = s.CreateRun(ctx, &r)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, store.ErrConflict, "replica %d", i)
	}
	assert.Equal(t, 1, won, "exactly one replica claims the slot")
	runs, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	assert.Len(t, runs, 1)
}

func testUpdateRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "shop-db", ScheduleID: "s", Slot: at(0).Truncate(time.Minute), Trigger: store.TriggerSchedule,
		TriggeredBy: "scheduler", Owner: "host-a:1"}
	require.NoError(t, s.CreateRun(ctx, &r))
	require.NoError(t, s.AppendLogs(ctx, r.ID, store.LogEntry{Time: at(1), Level: store.LevelInfo, Message: "started"}))

	r.Status = store.RunPartial
	r.Reason = "destination gdrive: quota exceeded"
	r.FinishedAt = at(3).In(zone)
	r.BytesRead, r.BytesWritten = 1000, 400
	r.BackupID = "b-1"
	r.LeaseUntil = time.Time{}
	require.NoError(t, s.UpdateRun(ctx, &r))
	got, err := s.GetRun(ctx, r.ID)
	require.NoError(t, err)
	requireRunEqual(t, r, got)

	logs, err := s.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	assert.Len(t, logs, 1, "updating a run keeps its log")

	missing := store.Run{ID: "no-such-run", Job: "j", Status: store.RunFailed}
	err = s.UpdateRun(ctx, &missing)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-run")
}

func testGetRunMissing(t *testing.T, s store.Store) {
	_, err := s.GetRun(t.Context(), "no-such-run")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-run")
}

func testListRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	runs, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	assert.Empty(t, runs)

	// Created out of time order, so that the order must come from StartedAt.
	specs := []struct {
		job     string
		status  store.RunStatus
		minutes int
	}{
		{"a", store.RunSucceeded, 3},
		{"b", store.RunFailed, 1},
		{"a", store.RunFailed, 5},
		{"b", store.RunSucceeded, 4},
		{"a", store.RunSucceeded, 2},
	}
	ids := map[int]string{} // minutes -> id
	for _, sp := range specs {
		r := store.Run{Job: sp.job, Status: sp.status, StartedAt: at(sp.minutes), Attempt: 1}
		require.NoError(t, s.CreateRun(ctx, &r))
		ids[sp.minutes] = r.ID
	}
	list := func(f store.RunFilter) []string {
		t.Helper()
		runs, err := s.ListRuns(ctx, f)
		require.NoError(t, err)
		return runIDs(runs)
	}
	assert.Equal(t, []string{ids[5], ids[4], ids[3], ids[2], ids[1]}, list(store.RunFilter{}))
	assert.Equal(t, []string{ids[5], ids[3], ids[2]}, list(store.RunFilter{Job: "a"}))
	assert.Equal(t, []string{ids[5], ids[1]}, list(store.RunFilter{Status: store.RunFailed}))
	assert.Equal(t, []string{ids[3], ids[2]}, list(store.RunFilter{Job: "a", Status: store.RunSucceeded}))
	assert.Equal(t, []string{ids[5], ids[4]}, list(store.RunFilter{Limit: 2}))
	assert.Equal(t, []string{ids[5]}, list(store.RunFilter{Job: "a", Limit: 1}))
	assert.Empty(t, list(store.RunFilter{Job: "nope"}))

	// Equal start times: the run created later is newer.
	first := store.Run{Job: "c", Status: store.RunSucceeded, StartedAt: at(9), Attempt: 1}
	require.NoError(t, s.CreateRun(ctx, &first))
	second := store.Run{Job: "c", Status: store.RunSucceeded, StartedAt: at(9), Attempt: 1}
	require.NoError(t, s.CreateRun(ctx, &second))
	assert.Equal(t, []string{second.ID, first.ID}, list(store.RunFilter{Job: "c"}))
}

func testListRunsDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 105
	for i := range n {
		r := store.Run{Job: "j", Status: store.RunSucceeded, StartedAt: at(i), Attempt: 1}
		require.NoError(t, s.CreateRun(ctx, &r))
	}
	runs, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 100, "a zero Limit means 100")
	requireTimeEqual(t, "newest", at(n-1), runs[0].StartedAt)
	runs, err = s.ListRuns(ctx, store.RunFilter{Limit: 200})
	require.NoError(t, err)
	assert.Len(t, runs, n)
}

func testRenewLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "j", Owner: "host-a:1"}
	require.NoError(t, s.CreateRun(ctx, &r))

	require.NoError(t, s.RenewLease(ctx, r.ID, "host-a:1", time.Hour))
	got, err := s.GetRun(ctx, r.ID)
	require.NoError(t, err)
	assert.True(t, got.LeaseUntil.After(r.StartedAt.Add(59*time.Minute)), "lease %v after start %v", got.LeaseUntil, r.StartedAt)

	err = s.RenewLease(ctx, r.ID, "host-b:2", time.Hour)
	require.ErrorIs(t, err, store.ErrConflict, "another owner")
	assert.ErrorContains(t, err, r.ID)

	err = s.RenewLease(ctx, "no-such-run", "host-a:1", time.Hour)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-run")

	got.Status, got.FinishedAt = store.RunSucceeded, got.StartedAt.Add(time.Second)
	require.NoError(t, s.UpdateRun(ctx, &got))
	require.ErrorIs(t, s.RenewLease(ctx, r.ID, "host-a:1", time.Hour), store.ErrConflict, "finished runs cannot be renewed")

	// An expired lease can still be renewed by its owner until the run is
	// interrupted.
	e := store.Run{Job: "j", Owner: "host-a:1"}
	require.NoError(t, s.CreateRun(ctx, &e))
	require.NoError(t, s.RenewLease(ctx, e.ID, "host-a:1", -time.Second))
	require.NoError(t, s.RenewLease(ctx, e.ID, "host-a:1", time.Hour))
	interrupted, err := s.InterruptExpired(ctx)
	require.NoError(t, err)
	assert.Empty(t, interrupted)
}

func testSetInterruptedBackup(t *testing.T, s store.Store) {
	ctx := t.Context()
	require.ErrorIs(t, s.SetInterruptedBackup(ctx, "no-such-run", "b1", "x"), store.ErrNotFound)

	running := store.Run{Job: "j", Owner: "alive"}
	require.NoError(t, s.CreateRun(ctx, &running))
	require.ErrorIs(t, s.SetInterruptedBackup(ctx, running.ID, "b1", "x"), store.ErrConflict, "a running run belongs to its owner")

	dead := store.Run{Job: "j", Owner: "gone"}
	require.NoError(t, s.CreateRun(ctx, &dead))
	require.NoError(t, s.RenewLease(ctx, dead.ID, "gone", -time.Second))
	got, err := s.InterruptExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{dead.ID}, runIDs(got))

	require.NoError(t, s.SetInterruptedBackup(ctx, dead.ID, "b1", "its backup b1 was recovered"))
	stored, err := s.GetRun(ctx, dead.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunInterrupted, stored.Status)
	assert.Equal(t, "b1", stored.BackupID)
	assert.Equal(t, got[0].Reason+"; its backup b1 was recovered", stored.Reason)
	require.ErrorIs(t, s.SetInterruptedBackup(ctx, dead.ID, "b2", "again"), store.ErrConflict, "a run keeps its first backup")
	stored, err = s.GetRun(ctx, dead.ID)
	require.NoError(t, err)
	assert.Equal(t, "b1", stored.BackupID)

	done := store.Run{Job: "j", Owner: "done", Status: store.RunFailed, StartedAt: at(-1), FinishedAt: at(0)}
	require.NoError(t, s.CreateRun(ctx, &done))
	require.ErrorIs(t, s.SetInterruptedBackup(ctx, done.ID, "b3", "x"), store.ErrConflict, "only interrupted runs")
}

func testInterruptExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	none, err := s.InterruptExpired(ctx)
	require.NoError(t, err)
	assert.Empty(t, none)

	live := store.Run{Job: "j", Owner: "alive"}
	require.NoError(t, s.CreateRun(ctx, &live))
	dead := store.Run{Job: "j", Owner: "dead", Trigger: store.TriggerSchedule, BytesRead: 7}
	require.NoError(t, s.CreateRun(ctx, &dead))
	require.NoError(t, s.RenewLease(ctx, dead.ID, "dead", -time.Second))
	zero := store.Run{Job: "k", Owner: "zero-ttl"}
	require.NoError(t, s.CreateRun(ctx, &zero))
	require.NoError(t, s.RenewLease(ctx, zero.ID, "zero-ttl", 0))
	past := store.Run{Job: "k", Owner: "old", LeaseUntil: at(0)}
	require.NoError(t, s.CreateRun(ctx, &past))
	done := store.Run{Job: "j", Owner: "done", Status: store.RunSucceeded, LeaseUntil: at(0), StartedAt: at(-1), FinishedAt: at(0)}
	require.NoError(t, s.CreateRun(ctx, &done))

	got, err := s.InterruptExpired(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{dead.ID, zero.ID, past.ID}, runIDs(got))
	for _, r := range got {
		assert.Equal(t, store.RunInterrupted, r.Status)
		assert.False(t, r.FinishedAt.IsZero())
		assert.NotEmpty(t, r.Reason)
		stored, err := s.GetRun(ctx, r.ID)
		require.NoError(t, err)
		requireRunEqual(t, r, stored)
		requireRunUTC(t, r)
	}
	for _, r := range got {
		if r.ID == dead.ID {
			assert.Equal(t, "dead", r.Owner)
			assert.Equal(t, int64(7), r.BytesRead)
			assert.Equal(t, store.TriggerSchedule, r.Trigger)
		}
	}

	// Fencing: the dead owner learns it lost the run.
	require.ErrorIs(t, s.RenewLease(ctx, dead.ID, "dead", time.Hour), store.ErrConflict)

	again, err := s.InterruptExpired(ctx)
	require.NoError(t, err)
	assert.Empty(t, again, "interrupted runs are not interrupted twice")

	for _, r := range []store.Run{live, done} {
		stored, err := s.GetRun(ctx, r.ID)
		require.NoError(t, err)
		requireRunEqual(t, r, stored)
	}
}

// fullBackup is a backup with every field set.
func fullBackup() store.Backup {
	return store.Backup{
		ID:          "backup-explicit-id",
		Job:         "shop-db",
		RunID:       "run-1",
		Status:      store.BackupPartial,
		CreatedAt:   at(0).In(zone),
		Size:        5 << 30,
		SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Format:      "sql",
		Compression: "zstd",
		Encryption:  "age",
		SourceInfo:  json.RawMessage(`{"kind":"mysql","version":"8.4.0","items":[{"name":"orders","count":12345}],"unicode":"grüße ✓"}`),
		Protected:   true,
		// Set by the engine later, but AddBackup keeps them too (a catalog
		// rebuild or a copy of a catalog).
		ProtectedUntil: at(60).In(zone),
		LastVerifiedAt: at(30),
		VerifyLevel:    "restore",
		VerifyOK:       false,
		VerifyProblem:  "items differ: orders: 12345 rows, restored 12344",
		Copies: []store.Copy{
			{Destination: "s3-eu", Key: "prod/shop-db/2025/03/shop-db_20250330T000000Z_abcd.sql.zst.age", Size: 5 << 30, CreatedAt: at(4),
				MissingSince: at(40).In(zone)},
			{Destination: "local", Key: "shop-db/x.sql.zst.age", Size: 5 << 30, CreatedAt: at(2).In(zone)},
			{Destination: "gdrive", Key: "x", Size: 1, CreatedAt: at(3)},
		},
	}
}

func testBackupRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullBackup()
	b := want
	require.NoError(t, s.AddBackup(ctx, &b))
	requireBackupEqual(t, want, b)
	got, err := s.GetBackup(ctx, want.ID)
	require.NoError(t, err)
	requireBackupEqual(t, want, got)
	requireBackupUTC(t, got)

	list, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	requireBackupEqual(t, want, list[0])
	requireBackupUTC(t, list[0])

	// Minimal: no SourceInfo, unprotected.
	m := store.Backup{Job: "j", Status: store.BackupComplete, CreatedAt: at(1),
		Copies: []store.Copy{{Destination: "local", Key: "k", CreatedAt: at(1)}}}
	require.NoError(t, s.AddBackup(ctx, &m))
	got, err = s.GetBackup(ctx, m.ID)
	require.NoError(t, err)
	requireBackupEqual(t, m, got)

	_, err = s.GetBackup(ctx, "no-such-backup")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-backup")
}

func testAddBackupDefaults(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.Backup{Job: "j", Status: store.BackupComplete, Copies: []store.Copy{{Destination: "d", Key: "k"}}}
	require.NoError(t, s.AddBackup(ctx, &b))
	assert.NotEmpty(t, b.ID)
	require.False(t, b.CreatedAt.IsZero())
	assert.WithinDuration(t, time.Now(), b.CreatedAt, time.Hour) // units, not speed
	require.False(t, b.Copies[0].CreatedAt.IsZero())
	got, err := s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	requireBackupEqual(t, b, got)

	dup := store.Backup{ID: b.ID, Job: "other", Copies: []store.Copy{{Destination: "d", Key: "k2"}}}
	err = s.AddBackup(ctx, &dup)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, b.ID)
	got, err = s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	requireBackupEqual(t, b, got)
}

func testAddBackupInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	noCopies := store.Backup{Job: "j", CreatedAt: at(0)}
	require.Error(t, s.AddBackup(ctx, &noCopies), "a backup needs a copy")

	twice := store.Backup{ID: "twice", Job: "j", CreatedAt: at(0), Copies: []store.Copy{
		{Destination: "d", Key: "a"}, {Destination: "d", Key: "b"},
	}}
	require.Error(t, s.AddBackup(ctx, &twice), "two copies on one destination")

	badJSON := store.Backup{Job: "j", CreatedAt: at(0), SourceInfo: json.RawMessage(`{"kind":`),
		Copies: []store.Copy{{Destination: "d", Key: "a"}}}
	require.Error(t, s.AddBackup(ctx, &badJSON), "SourceInfo must be JSON")

	list, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	assert.Empty(t, list, "failed AddBackup calls store nothing")
	_, err = s.GetBackup(ctx, "twice")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testListBackups(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)

	ids := map[int]string{}
	for _, sp := range []struct {
		job     string
		minutes int
	}{{"a", 3}, {"b", 1}, {"a", 5}, {"b", 4}, {"a", 2}} {
		b := store.Backup{Job: sp.job, Status: store.BackupComplete, CreatedAt: at(sp.minutes), Copies: []store.Copy{
			{Destination: "one", Key: fmt.Sprintf("%s/%d", sp.job, sp.minutes), CreatedAt: at(sp.minutes)},
			{Destination: "two", Key: fmt.Sprintf("%s/%d", sp.job, sp.minutes), CreatedAt: at(sp.minutes)},
		}}
		require.NoError(t, s.AddBackup(ctx, &b))
		ids[sp.minutes] = b.ID
	}
	list2 := func(f store.BackupFilter) []store.Backup {
		t.Helper()
		bs, err := s.ListBackups(ctx, f)
		require.NoError(t, err)
		for _, b := range bs {
			require.Len(t, b.Copies, 2, "backup %s is listed with its copies", b.ID)
			assert.Equal(t, "one", b.Copies[0].Destination)
			assert.Equal(t, "two", b.Copies[1].Destination)
			assert.Equal(t, fmt.Sprintf("%s/%d", b.Job, b.CreatedAt.Sub(at(0))/time.Minute), b.Copies[0].Key,
				"copies belong to their backup")
		}
		return bs
	}
	assert.Equal(t, []string{ids[5], ids[4], ids[3], ids[2], ids[1]}, backupIDs(list2(store.BackupFilter{})))
	assert.Equal(t, []string{ids[5], ids[3], ids[2]}, backupIDs(list2(store.BackupFilter{Job: "a"})))
	assert.Equal(t, []string{ids[5], ids[4]}, backupIDs(list2(store.BackupFilter{Limit: 2})))
	assert.Equal(t, []string{ids[4]}, backupIDs(list2(store.BackupFilter{Job: "b", Limit: 1})))
	assert.Empty(t, list2(store.BackupFilter{Job: "nope"}))

	// Equal times: the backup added later is newer.
	first := store.Backup{ID: "tie-1", Job: "c", CreatedAt: at(9), Copies: []store.Copy{{Destination: "one", Key: "c/9"}, {Destination: "two", Key: "c/9"}}}
	second := store.Backup{ID: "tie-2", Job: "c", CreatedAt: at(9), Copies: []store.Copy{{Destination: "one", Key: "c/9"}, {Destination: "two", Key: "c/9"}}}
	require.NoError(t, s.AddBackup(ctx, &first))
	require.NoError(t, s.AddBackup(ctx, &second))
	assert.Equal(t, []string{"tie-2", "tie-1"}, backupIDs(list2(store.BackupFilter{Job: "c"})))
}

func testDeleteCopy(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := fullBackup()
	require.NoError(t, s.AddBackup(ctx, &b))
	other := store.Backup{Job: "j", CreatedAt: at(1), Copies: []store.Copy{{Destination: "local", Key: "k"}}}
	require.NoError(t, s.AddBackup(ctx, &other))

	require.NoError(t, s.DeleteCopy(ctx, b.ID, "local"))
	got, err := s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, got.Copies, 2)
	assert.Equal(t, []string{"s3-eu", "gdrive"}, []string{got.Copies[0].Destination, got.Copies[1].Destination})

	require.NoError(t, s.DeleteCopy(ctx, b.ID, "local"), "a missing copy is not an error")
	require.NoError(t, s.DeleteCopy(ctx, "no-such-backup", "local"), "nor is a missing backup")

	require.NoError(t, s.DeleteCopy(ctx, b.ID, "s3-eu"))
	require.NoError(t, s.DeleteCopy(ctx, b.ID, "gdrive"))
	_, err = s.GetBackup(ctx, b.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "forgetting the last copy forgets the backup")

	list, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	assert.Equal(t, []string{other.ID}, backupIDs(list), "other backups are untouched")
	require.Len(t, list[0].Copies, 1)
}

func testDeleteBackup(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := fullBackup()
	require.NoError(t, s.AddBackup(ctx, &b))
	other := store.Backup{Job: "j", CreatedAt: at(1), Copies: []store.Copy{{Destination: "local", Key: "k"}}}
	require.NoError(t, s.AddBackup(ctx, &other))

	require.NoError(t, s.DeleteBackup(ctx, b.ID))
	_, err := s.GetBackup(ctx, b.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.DeleteBackup(ctx, b.ID), "a missing backup is not an error")
	list, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	assert.Equal(t, []string{other.ID}, backupIDs(list))

	// The id can be used again, with new copies only.
	again := store.Backup{ID: b.ID, Job: "j", CreatedAt: at(2), Copies: []store.Copy{{Destination: "s3-eu", Key: "new"}}}
	require.NoError(t, s.AddBackup(ctx, &again))
	got, err := s.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, got.Copies, 1)
	assert.Equal(t, "new", got.Copies[0].Key)
}

func testSetProtected(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.Backup{Job: "j", CreatedAt: at(0), Copies: []store.Copy{{Destination: "d", Key: "k"}}}
	require.NoError(t, s.AddBackup(ctx, &b))
	for _, p := range []bool{true, true, false, true} {
		require.NoError(t, s.SetProtected(ctx, b.ID, p))
		got, err := s.GetBackup(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, p, got.Protected)
	}
	err := s.SetProtected(ctx, "no-such-backup", true)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-backup")
}

func testLogs(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "j", Owner: "o"}
	require.NoError(t, s.CreateRun(ctx, &r))
	other := store.Run{Job: "j", Owner: "o"}
	require.NoError(t, s.CreateRun(ctx, &other))

	logs, err := s.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	assert.Empty(t, logs)

	want := []store.LogEntry{
		{Time: at(0).In(zone), Level: store.LevelInfo, Message: "snapshot started"},
		{Time: at(0), Level: store.LevelDebug, Message: "same time, later line"},
		{Time: at(1), Level: store.LevelWarn, Message: "slow destination: gdrive\nsecond line, ünïcödé"},
	}
	require.NoError(t, s.AppendLogs(ctx, r.ID, want[:2]...))
	require.NoError(t, s.AppendLogs(ctx, other.ID, store.LogEntry{Time: at(5), Level: store.LevelError, Message: "other run"}))
	require.NoError(t, s.AppendLogs(ctx, r.ID, want[2]))
	require.NoError(t, s.AppendLogs(ctx, r.ID))
	want = append(want, store.LogEntry{Level: store.LevelError, Message: "no time"})
	require.NoError(t, s.AppendLogs(ctx, r.ID, want[3]))

	got, err := s.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		requireTimeEqual(t, fmt.Sprintf("line %d", i), want[i].Time, got[i].Time)
		requireUTC(t, got[i].Time)
		assert.Equal(t, want[i].Level, got[i].Level, "line %d", i)
		assert.Equal(t, want[i].Message, got[i].Message, "line %d", i)
	}
	got, err = s.RunLogs(ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "other run", got[0].Message)
}

func testLogsMissingRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.AppendLogs(ctx, "no-such-run", store.LogEntry{Level: store.LevelInfo, Message: "x"})
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-run")
	_, err = s.RunLogs(ctx, "no-such-run")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-run")
}

// testConcurrent is 20 goroutines each doing a run's whole life at once.
func testConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, lines = 20, 10
	ids := make([]string, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- func() error {
				owner := fmt.Sprintf("worker-%d", w)
				r := store.Run{Job: fmt.Sprintf("job-%d", w%4), Trigger: store.TriggerManual, Owner: owner}
				if err := s.CreateRun(ctx, &r); err != nil {
					return err
				}
				ids[w] = r.ID
				for i := range lines {
					if err := s.AppendLogs(ctx, r.ID, store.LogEntry{Time: at(i), Level: store.LevelInfo,
						Message: fmt.Sprintf("%s line %d", owner, i)}); err != nil {
						return err
					}
					if i%3 == 0 {
						if err := s.RenewLease(ctx, r.ID, owner, time.Hour); err != nil {
							return err
						}
					}
				}
				b := store.Backup{Job: r.Job, RunID: r.ID, Status: store.BackupComplete,
					Copies: []store.Copy{{Destination: "d", Key: owner}}}
				if err := s.AddBackup(ctx, &b); err != nil {
					return err
				}
				r.Status, r.BackupID = store.RunSucceeded, b.ID
				if err := s.UpdateRun(ctx, &r); err != nil {
					return err
				}
				if _, err := s.ListRuns(ctx, store.RunFilter{Job: r.Job}); err != nil {
					return err
				}
				_, err := s.InterruptExpired(ctx)
				return err
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	runs, err := s.ListRuns(ctx, store.RunFilter{Status: store.RunSucceeded})
	require.NoError(t, err)
	assert.Len(t, runs, workers)
	backups, err := s.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	assert.Len(t, backups, workers)
	for w, id := range ids {
		logs, err := s.RunLogs(ctx, id)
		require.NoError(t, err)
		require.Len(t, logs, lines)
		for i, l := range logs {
			assert.Equal(t, fmt.Sprintf("worker-%d line %d", w, i), l.Message)
		}
	}
}

// testConcurrentAppendOneRun is 20 goroutines appending to one run's log.
func testConcurrentAppendOneRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "j", Owner: "o"}
	require.NoError(t, s.CreateRun(ctx, &r))
	const workers, batches = 20, 5
	errs := make(chan error, workers*batches)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				errs <- s.AppendLogs(ctx, r.ID,
					store.LogEntry{Level: store.LevelInfo, Message: fmt.Sprintf("%d/%d/a", w, b)},
					store.LogEntry{Level: store.LevelInfo, Message: fmt.Sprintf("%d/%d/b", w, b)})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	logs, err := s.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, logs, workers*batches*2)
	next := make([]int, workers) // next batch expected per worker
	for i := 0; i < len(logs); i += 2 {
		var w, b int
		_, err := fmt.Sscanf(logs[i].Message, "%d/%d/a", &w, &b)
		require.NoError(t, err, "line %d: %q", i, logs[i].Message)
		require.Equal(t, next[w], b, "worker %d's batches in order", w)
		require.Equal(t, fmt.Sprintf("%d/%d/b", w, b), logs[i+1].Message, "one call's lines stay together")
		next[w]++
	}
}

func testCloseTwice(t *testing.T, s store.Store) {
	r := store.Run{Job: "j", Status: store.RunSucceeded}
	require.NoError(t, s.CreateRun(context.Background(), &r))
	require.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "second Close")
}
