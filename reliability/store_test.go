package reliability_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/internal/faults"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// TestStoreOutageThreeReplicas runs three schedulers (each with its own
// store handle and engine) on one PostgreSQL schema, through a TCP proxy,
// with a one-second schedule and real (tiny) backups. The proxy is cut for
// a few seconds and restored, as a PostgreSQL restart would do to the
// replicas' connections (the machine's PostgreSQL is shared with concurrent
// test runs and is not restarted). Afterwards: every replica claimed slots
// again (they reconnected), no slot ran twice, every run a replica started
// is in the history with a final status, and every slot due during the cut
// is in the history (run late, or skipped or missed with a reason).
func TestStoreOutageThreeReplicas(t *testing.T) {
	raw := testenv.FreshPostgresURL(t)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	proxy, err := faults.NewProxy(u.Host)
	require.NoError(t, err)
	defer proxy.Close()
	u.Host = proxy.Addr()
	ctx := context.Background()

	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "f.txt"), []byte("replicated"), 0o644))
	src, err := dir.New(data)
	require.NoError(t, err)
	disk, err := local.New(t.TempDir(), nil)
	require.NoError(t, err)
	job := &backup.Job{Name: "replicated", Source: src, Destinations: []backup.Target{{Name: "disk", Destination: disk}}}

	const lease = 3 * time.Second
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		mu       sync.Mutex
		started  = map[string]string{} // run ID -> replica
		finished = map[string]schedule.Event{}
		claims   = map[string][]time.Time{} // replica -> claim times
	)
	var scheds []*schedule.Scheduler
	var stores []store.Store
	for i := range 3 {
		owner := fmt.Sprintf("replica-%d", i)
		st, err := sqlstore.Open(ctx, u.String())
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
		eng := backup.New(st, &backup.Options{Owner: owner, Lease: lease, Logger: quiet})
		s := schedule.New(eng, st, schedule.Options{
			Owner: owner, Lease: lease, SweepInterval: time.Second, Logger: quiet, ShutdownGrace: 10 * time.Second,
			OnEvent: func(ev schedule.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch ev.Type {
				case schedule.EventClaimed:
					claims[owner] = append(claims[owner], time.Now())
				case schedule.EventStarted:
					started[ev.RunID] = owner
				case schedule.EventFinished:
					finished[ev.RunID] = ev
				}
			},
		})
		require.NoError(t, s.Add(schedule.Entry{ID: "every-second", Job: job, Cron: "* * * * * *", Timezone: "UTC"}))
		scheds = append(scheds, s)
	}
	for _, s := range scheds {
		require.NoError(t, s.Start(ctx))
	}
	time.Sleep(4 * time.Second)
	proxy.Cut()
	cutAt := time.Now()
	time.Sleep(4 * time.Second)
	proxy.Restore()
	restoredAt := time.Now()
	time.Sleep(3*lease + 2*time.Second) // past any lease taken before the cut
	for _, s := range scheds {
		require.NoError(t, s.Stop(ctx))
	}

	// Check through a direct connection.
	direct, err := sqlstore.Open(ctx, raw)
	require.NoError(t, err)
	defer direct.Close()
	runs, err := direct.ListRuns(ctx, store.RunFilter{Job: job.Name, Limit: 10000})
	require.NoError(t, err)
	type slotAttempt struct {
		slot    time.Time
		attempt int
	}
	seen := map[slotAttempt]string{}
	succeededPerSlot := map[time.Time]int{}
	statuses := map[store.RunStatus]int{}
	for _, r := range runs {
		statuses[r.Status]++
		if r.Trigger == store.TriggerSchedule || r.Trigger == store.TriggerRetry {
			k := slotAttempt{r.Slot.UTC(), r.Attempt}
			require.Empty(t, seen[k], "slot %s attempt %d recorded twice (%s and %s)", k.slot, k.attempt, seen[k], r.ID)
			seen[k] = r.ID
		}
		if r.Status == store.RunSucceeded {
			succeededPerSlot[r.Slot.UTC()]++
			assert.Equal(t, 1, succeededPerSlot[r.Slot.UTC()], "slot %s succeeded twice", r.Slot)
		}
		assert.NotEqual(t, store.RunRunning, r.Status, "run %s (%s) still running after every replica stopped", r.ID, r.Owner)
	}
	mu.Lock()
	defer mu.Unlock()
	byID := map[string]store.Run{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	for id, owner := range started {
		r, ok := byID[id]
		require.True(t, ok, "run %s started by %s is missing from the history", id, owner)
		if ev, ok := finished[id]; ok && ev.Status == store.RunSucceeded && ev.Err == nil {
			assert.Equal(t, store.RunSucceeded, r.Status, "run %s reported succeeded by %s", id, owner)
		}
	}
	for owner, ts := range claims {
		after := 0
		for _, c := range ts {
			if c.After(restoredAt) {
				after++
			}
		}
		t.Logf("%s: %d claims, %d after the restore", owner, len(ts), after)
	}
	reconnected := 0
	for _, ts := range claims {
		if len(ts) > 0 && ts[len(ts)-1].After(restoredAt) {
			reconnected++
		}
	}
	assert.Positive(t, reconnected, "no replica claimed a slot after the store came back")
	// Every slot from two seconds after the restore to the stop ran.
	for sl := restoredAt.Truncate(time.Second).Add(2 * time.Second); sl.Before(restoredAt.Add(3 * lease)); sl = sl.Add(time.Second) {
		_, ok := seen[slotAttempt{sl.UTC(), 1}]
		assert.True(t, ok, "slot %s after the restore was not run", sl.UTC().Format(time.TimeOnly))
	}
	// Every slot due during the cut is accounted for (finding: they used to
	// vanish): run once the store answered, or recorded as skipped or missed
	// with a reason.
	for sl := cutAt.Truncate(time.Second); !sl.After(restoredAt); sl = sl.Add(time.Second) {
		id, ok := seen[slotAttempt{sl.UTC(), 1}]
		if assert.True(t, ok, "slot %s during the cut is not in the history", sl.UTC().Format(time.TimeOnly)) {
			r := byID[id]
			if r.Status == store.RunSkipped || r.Status == store.RunMissed {
				assert.NotEmpty(t, r.Reason, "slot %s %s without a reason", sl.UTC().Format(time.TimeOnly), r.Status)
			}
			t.Logf("slot %s (during the cut): %s %s", sl.UTC().Format(time.TimeOnly), r.Status, r.Reason)
		}
	}
	t.Logf("cut for %s: %d runs recorded %v; %d started, %d finished events", restoredAt.Sub(cutAt).Round(time.Millisecond), len(runs), statuses, len(started), len(finished))
	_ = stores
}
