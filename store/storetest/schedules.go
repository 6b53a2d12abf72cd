package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

func scheduleIDs(ss []store.Schedule) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.Name
	}
	return ids
}

func testSchedulesCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	sc := store.Schedule{Name: "nightly-db", Tags: []string{"prod", "db", "prod"}, Cron: "0 2 * * *",
		Timezone: "Europe/Paris", Job: json.RawMessage(`{"source":"shop-db","destinations":["s3"]}`),
		NextRunAt: at(60)}
	require.NoError(t, s.CreateSchedule(ctx, &sc))
	assert.NotEmpty(t, sc.ID)
	assert.Equal(t, []string{"db", "prod"}, sc.Tags, "tags are sorted and unique")
	assert.False(t, sc.CreatedAt.IsZero())
	assert.WithinDuration(t, time.Now(), sc.CreatedAt, time.Hour) // units, not speed
	got, err := s.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, sc.Name, got.Name)
	assert.Equal(t, sc.Tags, got.Tags)
	assert.Equal(t, "Europe/Paris", got.Timezone)
	assert.JSONEq(t, string(sc.Job), string(got.Job))
	requireTimeEqual(t, "NextRunAt", at(60), got.NextRunAt)
	requireTimeEqual(t, "CreatedAt", sc.CreatedAt, got.CreatedAt)
	requireUTC(t, got.NextRunAt, got.CreatedAt, got.UpdatedAt)
	assert.Empty(t, got.Connections)
	byName, err := s.GetScheduleByName(ctx, "", "nightly-db")
	require.NoError(t, err)
	assert.Equal(t, sc.ID, byName.ID)

	// Name unique (per tenant), with a clear error.
	dup := store.Schedule{Name: "nightly-db", Cron: "@daily"}
	err = s.CreateSchedule(ctx, &dup)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, `"nightly-db"`)
	assert.Empty(t, dup.ID, "a failed create leaves the schedule unchanged")
	other := store.Schedule{Tenant: "acme", Name: "nightly-db", Cron: "@daily", Paused: true, Tags: []string{"db"}}
	require.NoError(t, s.CreateSchedule(ctx, &other), "another tenant may use the name")
	assert.Equal(t, "UTC", other.Timezone)

	// Update: the definition changes, the history stays.
	sc.Cron, sc.Tags, sc.Name = "30 3 * * *", []string{"staging"}, "nightly-db-v2"
	require.NoError(t, s.UpdateSchedule(ctx, &sc))
	got, err = s.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, "30 3 * * *", got.Cron)
	assert.Equal(t, "nightly-db-v2", got.Name)
	assert.Equal(t, []string{"staging"}, got.Tags)
	assert.False(t, got.UpdatedAt.Before(got.CreatedAt))
	clash := got
	clash.Tenant, clash.Name = "acme", "nightly-db"
	err = s.UpdateSchedule(ctx, &clash)
	require.ErrorIs(t, err, store.ErrConflict, "renaming onto a taken name")
	assert.ErrorContains(t, err, `"nightly-db"`)
	missing := store.Schedule{ID: "no-such-schedule", Name: "x", Cron: "@daily"}
	err = s.UpdateSchedule(ctx, &missing)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-schedule")

	// Pause, resume, next run.
	require.NoError(t, s.SetSchedulePaused(ctx, sc.ID, true))
	got, err = s.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.True(t, got.Paused)
	require.NoError(t, s.SetSchedulePaused(ctx, sc.ID, false))
	require.NoError(t, s.SetNextRun(ctx, sc.ID, at(120)))
	got, err = s.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.False(t, got.Paused)
	requireTimeEqual(t, "NextRunAt", at(120), got.NextRunAt)
	require.ErrorIs(t, s.SetSchedulePaused(ctx, "no-such-schedule", true), store.ErrNotFound)
	require.ErrorIs(t, s.SetNextRun(ctx, "no-such-schedule", at(1)), store.ErrNotFound)

	// Delete.
	require.NoError(t, s.DeleteSchedule(ctx, other.ID))
	_, err = s.GetSchedule(ctx, other.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, other.ID)
	err = s.DeleteSchedule(ctx, other.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetScheduleByName(ctx, "acme", "nightly-db")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.CreateSchedule(ctx, &store.Schedule{Tenant: "acme", Name: "nightly-db", Cron: "@daily"}),
		"a deleted schedule's name is free again")
}

func testSchedulesInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, c := range []struct {
		s    store.Schedule
		want string
	}{
		{store.Schedule{Cron: "@daily"}, "Name"},
		{store.Schedule{Name: "a"}, "Cron"},
		{store.Schedule{Name: "a", Cron: "@daily", Timezone: "Mars/Olympus"}, "Mars/Olympus"},
		{store.Schedule{Name: "a", Cron: "@daily", Job: json.RawMessage(`[1]`)}, "Job"},
		{store.Schedule{Name: "a", Cron: "@daily", Job: json.RawMessage(`{"a":`)}, "Job"},
		{store.Schedule{Name: "a", Cron: "@daily", Tags: []string{"ok", ""}}, "tag"},
	} {
		err := s.CreateSchedule(ctx, &c.s)
		require.Error(t, err, c.want)
		assert.ErrorContains(t, err, c.want)
	}
	err := s.CreateSchedule(ctx, &store.Schedule{Name: "a", Cron: "@daily", Connections: []string{"no-such-conn"}})
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-conn")
	list, err := s.ListSchedules(ctx, store.ScheduleFilter{})
	require.NoError(t, err)
	assert.Empty(t, list, "failed creates store nothing")
}

func testListSchedules(t *testing.T, s store.Store) {
	ctx := t.Context()
	paused, active := true, false
	for _, sc := range []store.Schedule{
		{Name: "b", Cron: "@daily", Tags: []string{"db", "prod"}},
		{Name: "a", Cron: "@daily", Tags: []string{"files"}, Paused: true},
		{Tenant: "acme", Name: "c", Cron: "@hourly", Tags: []string{"db"}},
		{Tenant: "acme", Name: "a", Cron: "@hourly", Paused: true},
	} {
		require.NoError(t, s.CreateSchedule(ctx, &sc))
	}
	list := func(f store.ScheduleFilter) []string {
		t.Helper()
		ss, err := s.ListSchedules(ctx, f)
		require.NoError(t, err)
		out := make([]string, len(ss))
		for i, x := range ss {
			out[i] = x.Tenant + "/" + x.Name
		}
		return out
	}
	assert.Equal(t, []string{"/a", "/b", "acme/a", "acme/c"}, list(store.ScheduleFilter{}))
	assert.Equal(t, []string{"acme/a", "acme/c"}, list(store.ScheduleFilter{Tenant: "acme"}))
	assert.Equal(t, []string{"/b", "acme/c"}, list(store.ScheduleFilter{Tag: "db"}))
	assert.Equal(t, []string{"/a", "acme/a"}, list(store.ScheduleFilter{Paused: &paused}))
	assert.Equal(t, []string{"/b", "acme/c"}, list(store.ScheduleFilter{Paused: &active}))
	assert.Equal(t, []string{"acme/c"}, list(store.ScheduleFilter{Tenant: "acme", Tag: "db", Paused: &active}))
	assert.Empty(t, list(store.ScheduleFilter{Tag: "nope"}))
}

// testScheduleRunStats: finishing runs keeps the schedule's last run, last
// status and counters current, including runs interrupted by lease expiry.
func testScheduleRunStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	sc := store.Schedule{Name: "n", Cron: "* * * * *"}
	require.NoError(t, s.CreateSchedule(ctx, &sc))
	finish := func(i int, status store.RunStatus) store.Run {
		t.Helper()
		r := store.Run{Job: "j", ScheduleID: sc.ID, Slot: at(i).Truncate(time.Minute), StartedAt: at(i), Owner: "o"}
		won, err := s.ClaimRun(ctx, &r)
		require.NoError(t, err)
		require.True(t, won)
		if status != store.RunRunning {
			r.Status, r.FinishedAt = status, at(i+1)
			require.NoError(t, s.UpdateRun(ctx, &r))
		}
		return r
	}
	finish(1, store.RunSucceeded)
	finish(2, store.RunFailed)
	finish(3, store.RunSucceeded)
	finish(4, store.RunPartial)
	finish(5, store.RunCanceled)
	got, err := s.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.SuccessCount)
	assert.Equal(t, int64(2), got.FailureCount)
	assert.Equal(t, store.RunCanceled, got.LastStatus)
	requireTimeEqual(t, "LastRunAt", at(5), got.LastRunAt)

	r := finish(6, store.RunRunning)
	require.NoError(t, s.RenewLease(ctx, r.ID, "o", -time.Second))
	_, err = s.InterruptExpired(ctx)
	require.NoError(t, err)
	got, err = s.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.FailureCount)
	assert.Equal(t, store.RunInterrupted, got.LastStatus)

	// Updating the definition keeps the history.
	got.Cron = "*/5 * * * *"
	got.SuccessCount = 99
	require.NoError(t, s.UpdateSchedule(ctx, &got))
	assert.Equal(t, int64(2), got.SuccessCount, "counters are the store's")
	assert.Equal(t, store.RunInterrupted, got.LastStatus)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	list := func(f store.AuditFilter) []string {
		t.Helper()
		es, err := s.ListAudit(ctx, f)
		require.NoError(t, err)
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.Target
			requireUTC(t, e.Time)
		}
		return out
	}
	assert.Empty(t, list(store.AuditFilter{}))
	specs := []struct {
		actor, action string
		minutes       int
	}{
		{"alice", "schedule.create", 1}, {"bob", "run.trigger", 2}, {"alice", "backup.delete", 3},
		{"alice", "run.trigger", 4}, {"scheduler", "run.trigger", 5},
	}
	for _, sp := range specs {
		e := store.AuditEntry{Actor: sp.actor, Action: sp.action, Target: fmt.Sprint("t", sp.minutes), Time: at(sp.minutes).In(zone),
			Details: json.RawMessage(`{"why":"test ✓"}`)}
		require.NoError(t, s.AppendAudit(ctx, &e))
		assert.NotEmpty(t, e.ID)
	}
	now := store.AuditEntry{Actor: "carol", Action: "schedule.update", Target: "now"}
	require.NoError(t, s.AppendAudit(ctx, &now))
	assert.WithinDuration(t, time.Now(), now.Time, time.Hour) // units, not speed

	assert.Equal(t, []string{"now", "t5", "t4", "t3", "t2", "t1"}, list(store.AuditFilter{}))
	assert.Equal(t, []string{"t4", "t3", "t1"}, list(store.AuditFilter{Actor: "alice"}))
	assert.Equal(t, []string{"t5", "t4", "t2"}, list(store.AuditFilter{Action: "run.trigger"}))
	assert.Equal(t, []string{"t3"}, list(store.AuditFilter{Target: "t3"}))
	assert.Equal(t, []string{"t4", "t3", "t2"}, list(store.AuditFilter{Since: at(2), Until: at(5)}))
	page1, err := s.ListAudit(ctx, store.AuditFilter{Limit: 4})
	require.NoError(t, err)
	require.Len(t, page1, 4)
	assert.Equal(t, []string{"t2", "t1"}, list(store.AuditFilter{Before: page1[3].ID, Limit: 4}))
	assert.JSONEq(t, `{"why":"test ✓"}`, string(page1[1].Details))
	_, err = s.ListAudit(ctx, store.AuditFilter{Before: "no-such-entry"})
	require.ErrorIs(t, err, store.ErrNotFound)

	require.ErrorContains(t, s.AppendAudit(ctx, &store.AuditEntry{Action: "x"}), "Actor")
	require.ErrorContains(t, s.AppendAudit(ctx, &store.AuditEntry{Actor: "x"}), "Action")
	require.ErrorContains(t, s.AppendAudit(ctx, &store.AuditEntry{Actor: "x", Action: "y", Details: json.RawMessage(`{`)}), "Details")
}

func testLogsAfter(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "j", Owner: "o"}
	require.NoError(t, s.CreateRun(ctx, &r))
	got, err := s.RunLogsAfter(ctx, r.ID, 0, 0)
	require.NoError(t, err)
	assert.Empty(t, got)
	require.NoError(t, s.AppendLogs(ctx, r.ID,
		store.LogEntry{Seq: 42, Level: store.LevelInfo, Message: "one", Attrs: map[string]string{"destination": "s3", "bytes": "12"}},
		store.LogEntry{Level: store.LevelInfo, Message: "two"}))
	require.NoError(t, s.AppendLogs(ctx, r.ID, store.LogEntry{Level: store.LevelWarn, Message: "three"}))

	all, err := s.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, all, 3)
	for i, l := range all {
		assert.Equal(t, int64(i+1), l.Seq, "Seq numbers lines from 1, whatever the caller set")
	}
	assert.Equal(t, map[string]string{"destination": "s3", "bytes": "12"}, all[0].Attrs)
	assert.Nil(t, all[1].Attrs)

	got, err = s.RunLogsAfter(ctx, r.ID, 1, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"two", "three"}, []string{got[0].Message, got[1].Message})
	got, err = s.RunLogsAfter(ctx, r.ID, 0, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	got, err = s.RunLogsAfter(ctx, r.ID, got[1].Seq, 2)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "three", got[0].Message)
	got, err = s.RunLogsAfter(ctx, r.ID, 3, 0)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing new")
	_, err = s.RunLogsAfter(ctx, "no-such-run", 0, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
}
