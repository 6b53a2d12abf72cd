package sqlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
)

// envBench turns TestBenchStore on; scripts/bench-store sets it.
const envBench = "BACKUPKIT_BENCH_STORE"

// TestBenchStore measures, on each dialect whose server is available, the
// claim rate of 4 replicas (4 store handles, one claimer each) contending for
// the same slots, and the time to list 100,000 runs a page at a time (first,
// median and last page). It prints figures and asserts nothing about speed.
// It runs only with BACKUPKIT_BENCH_STORE=1 (scripts/bench-store).
func TestBenchStore(t *testing.T) {
	if os.Getenv(envBench) != "1" {
		t.Skip("benchmark: set " + envBench + "=1 or run scripts/bench-store")
	}
	slots := benchInt(t, "BACKUPKIT_BENCH_STORE_SLOTS", 2000)
	runs := benchInt(t, "BACKUPKIT_BENCH_STORE_RUNS", 100_000)
	pageSize := benchInt(t, "BACKUPKIT_BENCH_STORE_PAGE", 100)
	for _, d := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "bench.db") }},
		{"postgres", testenv.FreshPostgresURL},
		{"mysql", testenv.FreshMySQLURL},
	} {
		t.Run(d.name, func(t *testing.T) {
			raw := d.url(t)
			benchClaims(t, d.name, raw, slots)
			benchPages(t, d.name, raw, runs, pageSize)
		})
	}
}

func benchInt(t *testing.T, env string, def int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, env)
		return n
	}
	return def
}

// benchClaims: 4 handles claim the same slots in the same order, as 4
// replicas woken by the same schedule would: every slot is contended.
func benchClaims(t *testing.T, dialect, raw string, slots int) {
	ctx := t.Context()
	const claimers = 4
	dbs := make([]*DB, claimers)
	for i := range dbs {
		dbs[i] = openURLTest(t, raw)
		defer dbs[i].Close()
	}
	base := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	won := make([]int, claimers)
	errs := make([]error, claimers)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Go(func() {
			for k := range slots {
				i := k // every replica wakes for the same slot at the same time
				r := store.Run{Job: "bench", ScheduleID: "s", Slot: base.Add(time.Duration(i) * time.Minute),
					Trigger: store.TriggerSchedule, Owner: fmt.Sprintf("replica-%d", c)}
				ok, err := dbs[c].ClaimRun(ctx, &r)
				if err != nil {
					errs[c] = err
					return
				}
				if ok {
					won[c]++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		require.NoError(t, err)
	}
	total := 0
	for _, w := range won {
		total += w
	}
	require.Equal(t, slots, total, "every slot won exactly once")
	fmt.Printf("bench-store %-8s claims: %d slots, %d claimers, %d attempts in %.2fs: %.0f slots claimed/s, %.0f claim attempts/s (won per claimer %v)\n",
		dialect, slots, claimers, slots*claimers, elapsed.Seconds(), float64(slots)/elapsed.Seconds(),
		float64(slots*claimers)/elapsed.Seconds(), won)
}

// benchPages loads n runs in bulk, then lists them all a page at a time.
func benchPages(t *testing.T, dialect, raw string, n, pageSize int) {
	ctx := t.Context()
	db := openURLTest(t, raw)
	defer db.Close()
	start := time.Now()
	require.NoError(t, bulkRuns(ctx, db, n))
	load := time.Since(start)

	var times []time.Duration
	f := store.RunFilter{Job: "listed", Limit: pageSize}
	seen := 0
	for {
		t0 := time.Now()
		p, err := db.ListRunsPage(ctx, f)
		times = append(times, time.Since(t0))
		require.NoError(t, err)
		seen += len(p.Runs)
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	require.Equal(t, n, seen, "every run listed once")
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
	fmt.Printf("bench-store %-8s pages: %d runs (loaded in %.1fs), %d pages of %d: first %s, median %s, last %s, max %s, total %.2fs\n",
		dialect, n, load.Seconds(), len(times), pageSize, ms(times[0]), ms(sorted[len(sorted)/2]), ms(times[len(times)-1]),
		ms(sorted[len(sorted)-1]), sumDurations(times).Seconds())
}

func sumDurations(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// bulkRuns inserts n finished runs of job "listed", one a minute, in one
// transaction with multi-row inserts.
func bulkRuns(ctx context.Context, db *DB, n int) error {
	const batch = 500
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	row := "(" + placeholders(runColumnCount) + ")"
	return db.inWrite(ctx, func(t *tx) error {
		for start := 0; start < n; start += batch {
			k := min(batch, n-start)
			args := make([]any, 0, runColumnCount*k)
			for i := start; i < start+k; i++ {
				st := base.Add(time.Duration(i) * time.Minute)
				r := store.Run{ID: fmt.Sprintf("run-%08d", i), Job: "listed", ScheduleID: "s", Slot: st, Trigger: store.TriggerSchedule,
					Status: store.RunSucceeded, Owner: "bench", Attempt: 1, StartedAt: st, FinishedAt: st.Add(time.Second),
					BytesRead: 1 << 20, BytesWritten: 1 << 19}
				args = append(args, db.runArgs(&r)...)
			}
			q := `INSERT INTO runs (` + runColumns + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", k), ",")
			if _, err := t.exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
}
