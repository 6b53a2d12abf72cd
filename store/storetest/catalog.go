package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

func testListBackupsFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := map[int]string{}
	for i := range 10 {
		status := store.BackupComplete
		if i%3 == 0 {
			status = store.BackupPartial
		}
		b := store.Backup{Job: []string{"a", "b"}[i%2], Status: status, CreatedAt: at(i), Protected: i%4 == 0,
			Copies: []store.Copy{{Destination: "d", Key: fmt.Sprint(i)}, {Destination: "e", Key: fmt.Sprint(i)}}}
		require.NoError(t, s.AddBackup(ctx, &b))
		ids[i] = b.ID
	}
	list := func(f store.BackupFilter) []string {
		t.Helper()
		bs, err := s.ListBackups(ctx, f)
		require.NoError(t, err)
		out := []string{}
		for _, b := range bs {
			require.Len(t, b.Copies, 2)
			out = append(out, b.Copies[0].Key)
		}
		return out
	}
	yes, no := true, false
	assert.Equal(t, []string{"9", "6", "3", "0"}, list(store.BackupFilter{Status: store.BackupPartial}))
	assert.Equal(t, []string{"8", "4", "0"}, list(store.BackupFilter{Protected: &yes}))
	assert.Equal(t, []string{"9", "7", "6", "5", "3", "2", "1"}, list(store.BackupFilter{Protected: &no}))
	assert.Equal(t, []string{"4", "3", "2"}, list(store.BackupFilter{Since: at(2), Until: at(5)}))
	assert.Equal(t, []string{"4", "2"}, list(store.BackupFilter{Job: "a", Since: at(2), Until: at(5)}))
	assert.Equal(t, []string{"6", "0"}, list(store.BackupFilter{Job: "a", Status: store.BackupPartial}))

	// Pages of 3: every backup once, in order, whatever the page.
	var got []string
	f := store.BackupFilter{Limit: 3}
	pages := 0
	for {
		p, err := s.ListBackupsPage(ctx, f)
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, len(p.Backups), 3)
		for _, b := range p.Backups {
			require.Len(t, b.Copies, 2)
			got = append(got, b.ID)
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	assert.Equal(t, 4, pages)
	want := []string{}
	for i := 9; i >= 0; i-- {
		want = append(want, ids[i])
	}
	assert.Equal(t, want, got)

	// Filtered pages; an exact multiple ends without an empty page.
	p, err := s.ListBackupsPage(ctx, store.BackupFilter{Job: "b", Limit: 5})
	require.NoError(t, err)
	assert.Len(t, p.Backups, 5)
	assert.Empty(t, p.Next, "exactly one page")
	p, err = s.ListBackupsPage(ctx, store.BackupFilter{Job: "b", Limit: 2})
	require.NoError(t, err)
	p, err = s.ListBackupsPage(ctx, store.BackupFilter{Job: "b", Limit: 2, Cursor: p.Next})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[5], ids[3]}, backupIDs(p.Backups))

	_, err = s.ListBackupsPage(ctx, store.BackupFilter{Cursor: "not a cursor!"})
	require.Error(t, err)
	assert.ErrorContains(t, err, "Cursor")
}

func testListRunsPages(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 25
	var ids []string
	for i := range n {
		r := store.Run{Job: []string{"a", "b"}[i%2], ScheduleID: "s", Status: store.RunSucceeded, StartedAt: at(i / 2), Attempt: 1}
		require.NoError(t, s.CreateRun(ctx, &r))
		ids = append(ids, r.ID)
	}
	var got []string
	f := store.RunFilter{Limit: 4}
	for {
		p, err := s.ListRunsPage(ctx, f)
		require.NoError(t, err)
		got = append(got, runIDs(p.Runs)...)
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	// Newest first: by start, then by creation; equal start times (i/2)
	// straddle page boundaries.
	want := []string{}
	for i := n - 1; i >= 0; i-- {
		want = append(want, ids[i])
	}
	assert.Equal(t, want, got)

	p, err := s.ListRunsPage(ctx, store.RunFilter{Job: "a", Since: at(2), Until: at(4), Limit: 100})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[6], ids[4]}, runIDs(p.Runs))
	assert.Empty(t, p.Next)
	runs, err := s.ListRuns(ctx, store.RunFilter{ScheduleID: "nope"})
	require.NoError(t, err)
	assert.Empty(t, runs)
	_, err = s.ListRunsPage(ctx, store.RunFilter{Cursor: "%%%"})
	require.ErrorContains(t, err, "Cursor")
}

func testStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	empty, err := s.Stats(ctx, store.StatsFilter{ScheduleID: "s"})
	require.NoError(t, err)
	assert.Equal(t, store.Stats{}, empty)

	// 20 runs of schedule s, 1..20 minutes long, every 4th failed and every
	// 5th partial; plus runs that do not count.
	for i := 1; i <= 20; i++ {
		status := store.RunSucceeded
		switch {
		case i%4 == 0:
			status = store.RunFailed
		case i%5 == 0:
			status = store.RunPartial
		}
		r := store.Run{Job: "j", ScheduleID: "s", Status: status, Attempt: 1, StartedAt: at(100 * i),
			FinishedAt: at(100*i + i), BytesWritten: int64(i)}
		require.NoError(t, s.CreateRun(ctx, &r))
	}
	for _, r := range []store.Run{
		{Job: "j", ScheduleID: "s", Status: store.RunSkipped, Reason: "overlap", StartedAt: at(5)},
		{Job: "j", ScheduleID: "s", Status: store.RunRunning, Owner: "o", StartedAt: at(6)},
		{Job: "j", ScheduleID: "other", Status: store.RunSucceeded, StartedAt: at(7), FinishedAt: at(8)},
	} {
		require.NoError(t, s.CreateRun(ctx, &r))
	}
	st, err := s.Stats(ctx, store.StatsFilter{ScheduleID: "s"})
	require.NoError(t, err)
	assert.Equal(t, int64(20), st.Total)
	assert.Equal(t, int64(5), st.Failed)  // 4 8 12 16 20
	assert.Equal(t, int64(3), st.Partial) // 5 10 15
	assert.Equal(t, int64(12), st.Succeeded)
	assert.Equal(t, int64(210), st.BytesWritten)
	assert.InDelta(t, 0.6, st.SuccessRate, 1e-9)
	assert.Equal(t, 630*time.Second, st.AvgDuration) // 10.5 minutes
	assert.Equal(t, 19*time.Minute, st.P95Duration)

	// A window: runs 11..20.
	st, err = s.Stats(ctx, store.StatsFilter{ScheduleID: "s", Since: at(1100)})
	require.NoError(t, err)
	assert.Equal(t, int64(10), st.Total)
	assert.Equal(t, int64(3), st.Failed) // 12 16 20
	st, err = s.Stats(ctx, store.StatsFilter{Job: "j"})
	require.NoError(t, err)
	assert.Equal(t, int64(21), st.Total, "by job, every schedule")
}
