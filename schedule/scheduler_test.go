package schedule

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

// TestClockJumps covers SCHEDULING.md cases 9 and 10: the host clock jumps
// back (no slot runs twice) or forward (the missed-run policy decides).
func TestClockJumps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		missed    Missed
		steps     []string // clock settings, in order
		succeeded []string
		missedRec []string
	}{
		{name: "9 back one hour", steps: []string{"2026-06-01T10:00:00Z", "2026-06-01T09:05:00Z", "2026-06-01T09:59:59Z",
			"2026-06-01T10:00:00Z", "2026-06-01T10:30:00Z", "2026-06-01T11:00:00Z"},
			succeeded: []string{"2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z"}},
		{name: "10 forward three hours, default run_once", steps: []string{"2026-06-01T10:00:00Z", "2026-06-01T13:30:00Z"},
			succeeded: []string{"2026-06-01T10:00:00Z", "2026-06-01T13:00:00Z"},
			missedRec: []string{"2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z"}},
		{name: "10 forward three hours onto a slot", steps: []string{"2026-06-01T10:00:00Z", "2026-06-01T13:00:10Z"},
			succeeded: []string{"2026-06-01T10:00:00Z", "2026-06-01T13:00:00Z"},
			missedRec: []string{"2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z"}},
		{name: "10 forward three hours, skip", missed: MissedSkip, steps: []string{"2026-06-01T10:00:00Z", "2026-06-01T13:30:00Z"},
			succeeded: []string{"2026-06-01T10:00:00Z"},
			missedRec: []string{"2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z", "2026-06-01T13:00:00Z"}},
		{name: "10 forward three hours, all", missed: MissedAll, steps: []string{"2026-06-01T10:00:00Z", "2026-06-01T13:30:00Z"},
			succeeded: []string{"2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z", "2026-06-01T13:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, utc("2026-06-01T09:30:00Z"), Options{})
			h.add(Entry{Cron: "0 * * * *", Policy: Policy{Missed: tc.missed}})
			h.start()
			for _, s := range tc.steps {
				h.set(utc(s))
			}
			rs := h.runs()
			assert.Equal(t, tc.succeeded, byStatus(rs, store.RunSucceeded))
			assert.Equal(t, tc.missedRec, byStatus(rs, store.RunMissed))
			seen := map[time.Time]bool{}
			for _, r := range rs {
				require.False(t, seen[r.Slot], "slot %s recorded twice", r.Slot)
				seen[r.Slot] = true
			}
		})
	}
}

// TestDowntime covers case 11: @hourly, the process down for 3 days.
func TestDowntime(t *testing.T) {
	for _, tc := range []struct {
		missed      Missed
		cap         int
		runs        int
		missedCount int
	}{
		{MissedSkip, 0, 0, 72},
		{MissedRunOnce, 0, 1, 71},
		{"", 0, 1, 71}, // the default is run_once (subtest "default")
		{MissedAll, 5, 5, 67},
	} {
		name := string(tc.missed)
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			st, _ := openSQLite(t)
			last := utc("2026-06-01T00:00:00Z")
			prev := store.Run{Job: testJob.Name, ScheduleID: "s1", Slot: last, Trigger: store.TriggerSchedule,
				Status: store.RunSucceeded, Owner: "old", StartedAt: last, FinishedAt: last.Add(time.Minute)}
			require.NoError(t, st.CreateRun(t.Context(), &prev))
			h := newHarnessOn(t, st, NewFakeClock(last.Add(72*time.Hour+30*time.Minute)), Options{})
			h.add(Entry{Cron: "@hourly", Policy: Policy{Missed: tc.missed, MissedCap: tc.cap}})
			h.start()
			rs := h.runs()
			succeeded := byStatus(rs, store.RunSucceeded)
			assert.Len(t, succeeded, tc.runs+1, "runs besides the one before the downtime: %v", succeeded)
			assert.Len(t, byStatus(rs, store.RunMissed), tc.missedCount)
			if tc.runs > 0 {
				assert.Equal(t, "2026-06-04T00:00:00Z", succeeded[len(succeeded)-1], "the latest slot is run")
			}
			assert.LessOrEqual(t, h.runner.maxRunning, 1, "catch-ups run one at a time")
		})
	}
}

// TestEditAndResumeNeverRetroactive covers cases 12 and 13.
func TestEditAndResumeNeverRetroactive(t *testing.T) {
	t.Run("12 edit", func(t *testing.T) {
		h := newHarness(t, utc("2026-06-01T00:30:00Z"), Options{})
		h.add(Entry{Cron: "0 3 * * *"})
		h.start()
		h.set(utc("2026-06-01T02:00:00Z"))
		require.NoError(t, h.s.Update(Entry{ID: "s1", Job: testJob, Cron: "0 1 * * *"}))
		next, err := h.s.NextRun("s1")
		require.NoError(t, err)
		assert.Equal(t, utc("2026-06-02T01:00:00Z"), next.UTC())
		h.set(utc("2026-06-02T00:59:00Z"))
		assert.Empty(t, h.runs(), "the 01:00 slot of the edit's day does not fire, nor the old 03:00")
		h.set(utc("2026-06-02T01:00:00Z"))
		assert.Equal(t, []string{"2026-06-02T01:00:00Z"}, byStatus(h.runs(), store.RunSucceeded))
	})
	t.Run("13 pause a day", func(t *testing.T) {
		h := newHarness(t, utc("2026-06-01T00:30:00Z"), Options{})
		h.add(Entry{Cron: "0 * * * *"})
		h.start()
		require.NoError(t, h.s.Pause("s1"))
		h.set(utc("2026-06-02T00:30:00Z"))
		require.NoError(t, h.s.Resume("s1"))
		h.s.quiesce()
		assert.Empty(t, h.runs(), "no missed slot fires on resume")
		h.set(utc("2026-06-02T01:00:00Z"))
		assert.Equal(t, []string{"2026-06-02T01:00:00Z"}, byStatus(h.runs(), store.RunSucceeded))
		require.NoError(t, h.s.RunNow("s1", "alice"), "a catch-up is the caller's choice")
		h.s.quiesce()
		rs := h.runs()
		last := rs[len(rs)-1]
		assert.Equal(t, store.TriggerManual, last.Trigger)
		assert.Equal(t, "alice", last.TriggeredBy)
	})
}

// TestOverlap covers case 15 (and the queue and replace policies): each run
// of an every-minute schedule takes 150 s.
func TestOverlap(t *testing.T) {
	for _, tc := range []struct {
		policy      Overlap
		succeeded   []string
		skipped     []string
		canceled    []string
		skipReasons string
	}{
		{policy: OverlapSkip, succeeded: []string{"2026-06-01T10:00:00Z", "2026-06-01T10:03:00Z", "2026-06-01T10:06:00Z"},
			skipped:     []string{"2026-06-01T10:01:00Z", "2026-06-01T10:02:00Z", "2026-06-01T10:04:00Z", "2026-06-01T10:05:00Z"},
			skipReasons: "the previous run is still running (overlap policy skip)"},
		{policy: OverlapQueue, succeeded: []string{"2026-06-01T10:00:00Z", "2026-06-01T10:01:00Z", "2026-06-01T10:03:00Z"},
			skipped: []string{"2026-06-01T10:02:00Z", "2026-06-01T10:04:00Z"}, skipReasons: "already wait (overlap policy queue)"},
		{policy: OverlapReplace, succeeded: []string{"2026-06-01T10:06:00Z"},
			canceled: []string{"2026-06-01T10:00:00Z", "2026-06-01T10:01:00Z", "2026-06-01T10:02:00Z", "2026-06-01T10:03:00Z", "2026-06-01T10:04:00Z", "2026-06-01T10:05:00Z"}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			h := newHarness(t, utc("2026-06-01T09:59:30Z"), Options{})
			type live struct {
				done    chan struct{}
				unpark  func()
				started time.Time
			}
			var mu sync.Mutex
			lives := map[*store.Run]*live{}
			h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
				l := &live{done: make(chan struct{}), started: h.clock.Now()}
				mu.Lock()
				lives[r] = l
				l.unpark = h.s.park(ctx) // the test unparks it when it releases it
				mu.Unlock()
				select {
				case <-l.done:
					return store.RunSucceeded
				case <-ctx.Done():
					mu.Lock()
					if _, ok := lives[r]; ok {
						delete(lives, r)
						l.unpark()
					}
					mu.Unlock()
					return store.RunCanceled
				}
			}
			h.add(Entry{Cron: "* * * * *", Policy: Policy{Overlap: tc.policy, QueueLimit: 1}})
			h.start()
			end := utc("2026-06-01T10:06:00Z")
			for now := utc("2026-06-01T10:00:00Z"); !now.After(end); now = now.Add(30 * time.Second) {
				h.set(now)
				// Runs 150 s old finish (before the next slot is looked at).
				mu.Lock()
				for r, l := range lives {
					if now.Sub(l.started) >= 150*time.Second || now.Equal(end) {
						l.unpark()
						close(l.done)
						delete(lives, r)
					}
				}
				mu.Unlock()
				h.s.quiesce()
			}
			rs := h.runs()
			got := byStatus(rs, store.RunSucceeded)
			assert.Equal(t, tc.succeeded, got[:min(len(got), len(tc.succeeded))])
			if tc.skipped != nil {
				sk := byStatus(rs, store.RunSkipped)
				assert.Equal(t, tc.skipped, sk[:min(len(sk), len(tc.skipped))])
			}
			assert.Equal(t, tc.canceled, byStatus(rs, store.RunCanceled))
			for _, r := range rs {
				if r.Status == store.RunSkipped {
					assert.Contains(t, r.Reason, tc.skipReasons)
				}
			}
			assert.Equal(t, 1, h.runner.maxRunning, "never two at once")
			assert.Equal(t, len(byStatus(rs, store.RunSkipped)), h.ev.count(EventSkipped))
		})
	}
}
