package schedule

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

// downStore fails ClaimRun with a connection error while down is set, as an
// unreachable database does.
type downStore struct {
	store.Store
	down *atomic.Bool
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (d downStore) ClaimRun(ctx context.Context, r *store.Run) (bool, error) {
	if d.down.Load() {
		return false, errUnreachable
	}
	return d.Store.ClaimRun(ctx, r)
}

// advanceEach advances the clock by d, n times, letting every scheduler act each
// time.
func advanceEach(clock *FakeClock, d time.Duration, n int, ss ...*Scheduler) {
	for range n {
		clock.Advance(d)
		for _, s := range ss {
			s.quiesce()
		}
	}
}

// TestStoreOutageSlotRunsWhenTheStoreIsBack: a slot whose claim fails with a
// store error is claimed again, with backoff, and runs once the store is
// back (it is within its missed-run window); the slot that came due
// meanwhile is recorded as skipped (overlap) once the store answers. No slot
// is lost.
func TestStoreOutageSlotRunsWhenTheStoreIsBack(t *testing.T) {
	st, _ := openSQLite(t)
	down := &atomic.Bool{}
	h := newHarnessOn(t, downStore{st, down}, NewFakeClock(utc("2026-03-01T10:00:30Z")), Options{})
	h.add(Entry{Cron: "* * * * *"})
	h.start()
	down.Store(true)
	h.set(utc("2026-03-01T10:01:00Z"))
	h.set(utc("2026-03-01T10:02:00Z"))
	assert.Empty(t, h.runs())
	assert.Zero(t, h.runner.runs)
	down.Store(false)
	advanceEach(h.clock, time.Second, 5, h.s)
	rs := h.runs()
	assert.Equal(t, []string{"2026-03-01T10:01:00Z"}, byStatus(rs, store.RunSucceeded))
	assert.Equal(t, []string{"2026-03-01T10:02:00Z"}, byStatus(rs, store.RunSkipped))
	assert.Len(t, rs, 2)
	assert.Equal(t, 1, h.ev.count(EventFinished))
}

// TestStoreOutagePastTheWindowIsRecordedMissed: with two replicas and the
// missed-run policy skip, a slot that cannot be claimed within the
// tolerance is recorded as missed (store unreachable) once the store is
// back, exactly once across the replicas.
func TestStoreOutagePastTheWindowIsRecordedMissed(t *testing.T) {
	st, _ := openSQLite(t)
	down := &atomic.Bool{}
	clock := NewFakeClock(utc("2026-03-01T10:00:30Z"))
	opts := Options{Tolerance: 10 * time.Second}
	a := newHarnessOn(t, downStore{st, down}, clock, opts)
	opts.Owner = "replica-b"
	b := newHarnessOn(t, downStore{st, down}, clock, opts)
	for _, h := range []*harness{a, b} {
		h.add(Entry{Cron: "* * * * *", Policy: Policy{Missed: MissedSkip}})
		h.start()
	}
	down.Store(true)
	clock.Set(utc("2026-03-01T10:01:00Z"))
	a.s.quiesce()
	b.s.quiesce()
	advanceEach(clock, time.Second, 20, a.s, b.s) // past 10:01:10, the end of the window
	assert.Empty(t, a.runs())
	down.Store(false)
	advanceEach(clock, time.Second, 10, a.s, b.s)
	rs := a.runs()
	require.Len(t, rs, 1)
	assert.Equal(t, store.RunMissed, rs[0].Status)
	assert.Equal(t, "2026-03-01T10:01:00Z", rs[0].Slot.UTC().Format(time.RFC3339))
	assert.Contains(t, rs[0].Reason, "store was unreachable")
	assert.Zero(t, a.runner.runs+b.runner.runs)
	assert.Equal(t, 1, a.ev.count(EventMissed)+b.ev.count(EventMissed))
}

// TestRunNowFromTheFinishedEvent: a listener that reacts to EventFinished
// with RunNow finds the schedule free (overlap policy skip), and its run
// runs.
func TestRunNowFromTheFinishedEvent(t *testing.T) {
	var s atomic.Pointer[Scheduler]
	var mu sync.Mutex
	var errs []error
	h := newHarness(t, utc("2026-03-01T09:59:30Z"), Options{OnEvent: func(ev Event) {
		if ev.Type == EventFinished && ev.TriggeredBy == "scheduler" {
			err := s.Load().RunNow("s1", "listener")
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}})
	s.Store(h.s)
	h.add(Entry{Cron: "0 10 * * *"})
	h.start()
	h.set(utc("2026-03-01T10:00:00Z"))
	mu.Lock()
	assert.Equal(t, []error{nil}, errs)
	mu.Unlock()
	rs := h.runs()
	require.Len(t, rs, 2)
	assert.Equal(t, store.TriggerSchedule, rs[0].Trigger)
	assert.Equal(t, "listener", rs[1].TriggeredBy)
	assert.Equal(t, store.RunSucceeded, rs[1].Status)
}
