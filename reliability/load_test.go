package reliability_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// TestLoadManyJobs runs 500 jobs on a one-minute schedule on the
// scheduler's FakeClock, with real backups (backup.Engine, a one-file
// folder source, a local destination, the SQLite store): 10 simulated
// minutes with BACKUPKIT_LONG=1, 2 by default. The clock moves to the next
// minute only when every slot of the current one is accounted for; the
// scheduler runs at most 8 backups at once (MaxConcurrent). Checks:
// every slot is recorded once, and succeeded (none skipped); the heap
// after the last minute is no larger than after the first (within 50% +
// 16 MiB, to absorb GC noise). Reports the scheduler's lag as percentiles:
// the real time from the clock reaching a slot to the slot's claim, and to
// its run starting (which includes waiting for one of the 8 run slots).
func TestLoadManyJobs(t *testing.T) {
	const jobs = 500
	minutes := 2
	if long() {
		minutes = 10
	}
	ctx := context.Background()
	base := t.TempDir()
	data := filepath.Join(base, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "f.txt"), []byte("load"), 0o644))
	src, err := dir.New(data)
	require.NoError(t, err)
	disk, err := local.New(filepath.Join(base, "backups"), nil)
	require.NoError(t, err)
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(base, "store.db"))
	require.NoError(t, err)
	defer st.Close()

	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := schedule.NewFakeClock(t0.Add(-30 * time.Second))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := backup.New(st, &backup.Options{Logger: quiet, Now: clock.Now, Owner: "load"})

	var (
		mu        sync.Mutex
		dueAt     time.Time       // real time the clock reached the current slot
		lags      []time.Duration // slot due -> run started
		claimLags []time.Duration // slot due -> slot claimed
		accounted int
		progress  = make(chan struct{}, 1)
	)
	s := schedule.New(engine, st, schedule.Options{
		Owner: "load", Clock: clock, Logger: quiet, MaxConcurrent: 8,
		OnEvent: func(ev schedule.Event) {
			mu.Lock()
			switch ev.Type {
			case schedule.EventClaimed:
				claimLags = append(claimLags, time.Since(dueAt))
			case schedule.EventStarted:
				lags = append(lags, time.Since(dueAt))
			case schedule.EventFinished, schedule.EventSkipped, schedule.EventMissed:
				accounted++
			}
			mu.Unlock()
			select {
			case progress <- struct{}{}:
			default:
			}
		},
	})
	for i := range jobs {
		job := &backup.Job{Name: fmt.Sprintf("job-%03d", i), Source: src, Destinations: []backup.Target{{Name: "disk", Destination: disk}}, Compression: backup.None}
		require.NoError(t, s.Add(schedule.Entry{ID: job.Name, Job: job, Cron: "* * * * *", Timezone: "UTC"}))
	}
	require.NoError(t, s.Start(ctx))

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var heapFirst uint64
	start := time.Now()
	for k := range minutes {
		mu.Lock()
		dueAt = time.Now()
		mu.Unlock()
		clock.Set(t0.Add(time.Duration(k) * time.Minute))
		deadline := time.Now().Add(10 * time.Minute)
		for {
			mu.Lock()
			n := accounted
			mu.Unlock()
			if n >= jobs*(k+1) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("minute %d: only %d of %d slots accounted for after 10 minutes", k, n-jobs*k, jobs)
			}
			select {
			case <-progress:
			case <-time.After(100 * time.Millisecond):
			}
		}
		if k == 0 {
			heapFirst = heap()
		}
	}
	elapsed := time.Since(start)
	heapLast := heap()
	require.NoError(t, s.Stop(ctx))

	runs, err := st.ListRuns(ctx, store.RunFilter{Limit: jobs * minutes * 2})
	require.NoError(t, err)
	type slotKey struct {
		job  string
		slot time.Time
	}
	seen := map[slotKey]bool{}
	statuses := map[store.RunStatus]int{}
	for _, r := range runs {
		k := slotKey{r.Job, r.Slot.UTC()}
		require.False(t, seen[k], "slot %s of %s recorded twice", k.slot, k.job)
		seen[k] = true
		statuses[r.Status]++
		switch r.Status {
		case store.RunSucceeded:
		default:
			// The clock moves only once every slot of the minute finished,
			// and EventFinished comes after the schedule is free: no slot
			// may be skipped as an overlap (it once was; see
			// docs/reliability.md).
			t.Errorf("run %s (%s, slot %s): %s: %s", r.ID, r.Job, r.Slot, r.Status, r.Reason)
		}
	}
	for i := range jobs {
		for k := range minutes {
			assert.True(t, seen[slotKey{fmt.Sprintf("job-%03d", i), t0.Add(time.Duration(k) * time.Minute)}],
				"job-%03d: slot %d not recorded", i, k)
		}
	}
	slices.Sort(lags)
	slices.Sort(claimLags)
	pcts := func(d []time.Duration) string {
		if len(d) == 0 {
			return "none"
		}
		at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond) }
		return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", at(0.5), at(0.9), at(0.99), at(1))
	}
	t.Logf("%d jobs x %d simulated minutes = %d slots in %s real time: %v", jobs, minutes, jobs*minutes, elapsed.Round(time.Millisecond), statuses)
	t.Logf("lag, clock reaches the slot -> slot claimed (real time): %s", pcts(claimLags))
	t.Logf("lag, clock reaches the slot -> run started (real time; runs queue behind MaxConcurrent 8): %s", pcts(lags))
	t.Logf("heap after GC: %.1f MiB after the first minute, %.1f MiB after the last", float64(heapFirst)/(1<<20), float64(heapLast)/(1<<20))
	assert.LessOrEqual(t, heapLast, heapFirst+heapFirst/2+16<<20, "the heap grew with the number of runs")
}
