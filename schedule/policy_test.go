package schedule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

// TestAddRejectsInvalid covers cases 8 and 19 on create and update.
func TestAddRejectsInvalid(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T00:00:00Z"), Options{})
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{ID: "a", Job: testJob, Cron: "0 0 30 2 *"}, "schedule never fires"},
		{Entry{ID: "a", Job: testJob, Cron: "61 * * * *"}, "minute field"},
		{Entry{ID: "a", Job: testJob, Cron: "* * *"}, "want 5 fields"},
		{Entry{ID: "a", Job: testJob, Cron: "* * * * *", Timezone: "Mars/Base"}, `unknown time zone "Mars/Base"`},
		{Entry{ID: "a", Job: testJob, Cron: "* * * * *", Policy: Policy{Overlap: "sometimes"}}, "overlap policy"},
		{Entry{ID: "a", Job: testJob, Cron: "* * * * *", Policy: Policy{Missed: "maybe"}}, "missed-run policy"},
		{Entry{Job: testJob, Cron: "* * * * *"}, "without ID"},
	} {
		err := h.s.Add(tc.e)
		require.Error(t, err, tc.e)
		assert.Contains(t, err.Error(), tc.want)
	}
	h.add(Entry{Cron: "@daily"})
	err := h.s.Update(Entry{ID: "s1", Job: testJob, Cron: "0 0 30 2 *"})
	require.ErrorIs(t, err, ErrNeverFires)
	require.ErrorIs(t, h.s.Update(Entry{ID: "nope", Job: testJob, Cron: "@daily"}), ErrUnknownSchedule)
	require.ErrorIs(t, h.s.Add(Entry{ID: "s1", Job: testJob, Cron: "@daily"}), store.ErrConflict)
}

// TestRetries: a failed run is retried with exponential backoff up to the
// policy's count, each attempt a claim of its own.
func TestRetries(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T09:59:00Z"), Options{})
	h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus { return store.RunFailed }
	h.add(Entry{Cron: "0 10 * * *", Policy: Policy{Retries: 3, Backoff: time.Minute, MaxBackoff: 3 * time.Minute}})
	h.start()
	h.set(utc("2026-06-01T10:00:00Z"))
	for _, at := range []string{"10:01:00", "10:03:00", "10:06:00"} { // 1 min, 2 min, capped at 3 min
		h.set(utc("2026-06-01T" + at + "Z").Add(-time.Second))
		before := len(h.runs())
		h.set(utc("2026-06-01T" + at + "Z"))
		require.Equal(t, before+1, len(h.runs()), "a retry at %s", at)
	}
	h.set(utc("2026-06-01T12:00:00Z"))
	rs := h.runs()
	require.Len(t, rs, 4, "one run and three retries, no more")
	for i, r := range rs {
		assert.Equal(t, i+1, r.Attempt)
		assert.Equal(t, store.RunFailed, r.Status)
		assert.Equal(t, utc("2026-06-01T10:00:00Z"), r.Slot.UTC(), "every attempt keeps the slot")
	}
	assert.Equal(t, store.TriggerRetry, rs[1].Trigger)
	assert.Equal(t, 3, h.ev.count(EventRetry))
}

// TestTimeout: the policy's timeout cancels a run on the scheduler's clock.
func TestTimeout(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T09:59:00Z"), Options{})
	var unpark func()
	var mu sync.Mutex
	h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
		mu.Lock()
		unpark = h.s.park(ctx)
		mu.Unlock()
		<-ctx.Done()
		return store.RunFailed
	}
	h.add(Entry{Cron: "0 10 * * *", Policy: Policy{Timeout: 10 * time.Minute}})
	h.start()
	h.set(utc("2026-06-01T10:00:00Z"))
	h.set(utc("2026-06-01T10:09:59Z"))
	require.Empty(t, byStatus(h.runs(), store.RunFailed))
	h.set(utc("2026-06-01T10:10:00Z"))
	mu.Lock()
	unpark()
	mu.Unlock()
	rs := h.runs()
	require.Len(t, rs, 1)
	assert.Equal(t, store.RunFailed, rs[0].Status)
	assert.Contains(t, rs[0].Reason, "timed out")
}

// TestConcurrencyLimits: global and per-source limits hold runs back until
// others finish; every slot still runs.
func TestConcurrencyLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want int
	}{
		{"global 2", Options{MaxConcurrent: 2}, 2},
		{"per source 1", Options{MaxPerSource: 1}, 2}, // two sources
		{"unlimited", Options{}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, utc("2026-06-01T09:59:00Z"), tc.opts)
			release := make(chan struct{})
			var mu sync.Mutex
			var unparks []func()
			h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
				mu.Lock()
				unparks = append(unparks, h.s.park(ctx))
				mu.Unlock()
				<-release
				return store.RunSucceeded
			}
			for i, src := range []string{"a", "a", "b", "b"} {
				job := &backup.Job{Name: "job" + string(rune('0'+i))}
				require.NoError(t, h.s.Add(Entry{ID: job.Name, Job: job, Cron: "0 10 * * *", Source: src}))
			}
			h.start()
			h.clock.Set(utc("2026-06-01T10:00:00Z"))
			h.s.flush()
			// Wait until the runs allowed have started (the others wait on
			// a limit, which counts as parked for no one: wait for the count).
			for {
				mu.Lock()
				n := len(unparks)
				mu.Unlock()
				if n == tc.want {
					break
				}
				h.s.mu.Lock()
				h.s.cond.Wait()
				h.s.mu.Unlock()
			}
			assert.Equal(t, tc.want, h.runner.maxRunning)
			mu.Lock()
			for _, u := range unparks {
				u()
			}
			mu.Unlock()
			close(release)
			h.s.quiesce()
			assert.Equal(t, 4, h.runner.runs, "every slot runs")
			assert.Equal(t, tc.want, h.runner.maxRunning, "never more at once")
		})
	}
}

// TestJitter: the delay is deterministic, within the bound, and the slot
// key stays the nominal time.
func TestJitter(t *testing.T) {
	d1 := jitter("s1", utc("2026-06-01T10:00:00Z"), 10*time.Minute)
	assert.Equal(t, d1, jitter("s1", utc("2026-06-01T10:00:00Z"), 10*time.Minute))
	assert.Less(t, d1, 10*time.Minute)
	assert.GreaterOrEqual(t, d1, time.Duration(0))

	h := newHarness(t, utc("2026-06-01T09:59:00Z"), Options{})
	h.add(Entry{Cron: "0 10 * * *", Policy: Policy{Jitter: 10 * time.Minute}})
	h.start()
	d := jitter("s1", utc("2026-06-01T10:00:00Z"), 10*time.Minute)
	if d > 0 {
		h.set(utc("2026-06-01T10:00:00Z").Add(d - time.Nanosecond))
		assert.Empty(t, h.runs(), "not before its jitter")
	}
	h.set(utc("2026-06-01T10:00:00Z").Add(d))
	rs := h.runs()
	require.Len(t, rs, 1)
	assert.Equal(t, utc("2026-06-01T10:00:00Z"), rs[0].Slot.UTC(), "the slot key is nominal")
	assert.Equal(t, utc("2026-06-01T10:00:00Z").Add(d), rs[0].StartedAt.UTC())
}

// TestRunNow: a manual run records who asked; with overlap skip a running
// schedule refuses it.
func TestRunNow(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T09:59:00Z"), Options{})
	release := make(chan struct{})
	var mu sync.Mutex
	var unpark func()
	h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
		mu.Lock()
		unpark = h.s.park(ctx)
		mu.Unlock()
		<-release
		return store.RunSucceeded
	}
	h.add(Entry{Cron: "0 10 * * *"})
	h.start()
	require.NoError(t, h.s.RunNow("s1", "alice"))
	h.s.quiesce()
	require.ErrorIs(t, h.s.RunNow("s1", "bob"), ErrBusy)
	require.ErrorIs(t, h.s.RunNow("nope", "bob"), ErrUnknownSchedule)
	mu.Lock()
	unpark()
	mu.Unlock()
	close(release)
	h.s.quiesce()
	rs := h.runs()
	require.Len(t, rs, 1)
	assert.Equal(t, "alice", rs[0].TriggeredBy)
	assert.Equal(t, store.TriggerManual, rs[0].Trigger)
	assert.True(t, rs[0].Slot.IsZero())
}

// TestGracefulShutdown: Stop stops claiming, waits for running backups up to
// the grace period, then interrupts them.
func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T09:59:00Z"), Options{ShutdownGrace: time.Minute})
	var mu sync.Mutex
	var unpark func()
	h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
		mu.Lock()
		unpark = h.s.park(ctx)
		mu.Unlock()
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), backup.ErrInterrupted) {
			return store.RunInterrupted
		}
		return store.RunCanceled
	}
	h.add(Entry{Cron: "* * * * *"})
	h.start()
	h.set(utc("2026-06-01T10:00:00Z"))
	stopped := make(chan error)
	go func() { stopped <- h.s.Stop(context.Background()) }()
	// Stop waits on the grace timer; the clock moves past it.
	for h.clock.Pending() == 0 || !h.hasGraceTimer() {
	}
	h.clock.Set(utc("2026-06-01T10:01:00Z"))
	require.NoError(t, <-stopped)
	mu.Lock()
	unpark()
	mu.Unlock()
	rs := h.runs()
	require.Len(t, rs, 1, "no slot is claimed after Stop")
	assert.Equal(t, store.RunInterrupted, rs[0].Status)
	assert.Contains(t, rs[0].Reason, "shutting down")
	require.ErrorIs(t, h.s.RunNow("s1", "alice"), ErrStopped)
}

// hasGraceTimer reports whether Stop is waiting on its grace timer.
func (h *harness) hasGraceTimer() bool {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.s.stopping && h.s.graceArmed
}

// TestCancel: a running backup is canceled on request, recorded as
// canceled with who asked, and not retried.
func TestCancel(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T09:59:00Z"), Options{})
	var mu sync.Mutex
	var unpark func()
	h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
		mu.Lock()
		unpark = h.s.park(ctx)
		mu.Unlock()
		<-ctx.Done()
		return store.RunCanceled
	}
	h.add(Entry{Cron: "0 10 * * *", Policy: Policy{Retries: 3}})
	h.start()
	ok, err := h.s.Cancel("s1", "alice")
	require.NoError(t, err)
	assert.False(t, ok, "nothing runs yet")
	h.set(utc("2026-06-01T10:00:00Z"))
	ok, err = h.s.Cancel("s1", "alice")
	require.NoError(t, err)
	assert.True(t, ok)
	h.s.quiesce()
	mu.Lock()
	unpark()
	mu.Unlock()
	h.set(utc("2026-06-01T11:00:00Z"))
	rs := h.runs()
	require.Len(t, rs, 1, "not retried")
	assert.Equal(t, store.RunCanceled, rs[0].Status)
	assert.Contains(t, rs[0].Reason, "canceled by alice")
}
