package schedule

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

// benchExprs are typical backup schedules.
var benchExprs = []string{"0 2 * * *", "30 1 * * *", "*/15 * * * *", "0 * * * *", "0 3 * * 0", "0 0 L * *",
	"0 4 1 * *", "15 2 * * 1-5", "0 */6 * * *", "daily at 02:30", "@hourly", "0 0 13 * 5"}

var benchZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo"}

func benchCrons(b *testing.B, n int) []*Cron {
	cs := make([]*Cron, n)
	for i := range cs {
		c, err := ParseInZone(benchExprs[i%len(benchExprs)], benchZones[(i/len(benchExprs))%len(benchZones)])
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}

// BenchmarkNextAll10k computes the next slot of 10,000 schedules (one op is
// all 10,000).
func BenchmarkNextAll10k(b *testing.B) {
	cs := benchCrons(b, 10000)
	now := utc("2026-03-08T06:59:00Z") // a DST day in New York
	b.ResetTimer()
	for b.Loop() {
		for _, c := range cs {
			if c.Next(now).IsZero() {
				b.Fatal("no next")
			}
		}
	}
}

// nopStore claims every slot and records nothing, so that the benchmarks
// measure the scheduler.
type nopStore struct{ store.Store }

func (nopStore) ClaimRun(ctx context.Context, r *store.Run) (bool, error) {
	r.ID = "r"
	return true, nil
}
func (nopStore) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	return nil, nil
}
func (nopStore) UpdateRun(ctx context.Context, r *store.Run) error         { return nil }
func (nopStore) InterruptExpired(ctx context.Context) ([]store.Run, error) { return nil, nil }

type nopRunner struct{ n *atomic.Int64 }

func (r nopRunner) Run(ctx context.Context, job *backup.Job, opts backup.RunOptions) (*backup.Result, error) {
	if r.n != nil {
		r.n.Add(1)
	}
	return &backup.Result{Run: *opts.Claimed}, nil
}

func benchScheduler(b *testing.B, clock Clock, n int, runs *atomic.Int64) *Scheduler {
	s := New(nopRunner{runs}, nopStore{}, Options{Clock: clock, Logger: newDiscard()})
	cs := benchCrons(b, n)
	for i, c := range cs {
		if err := s.Add(Entry{ID: fmt.Sprint("s", i), Job: testJob, Cron: c.String(), Timezone: c.Location().String()}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// BenchmarkWakeup is the cost of one wake-up of a scheduler holding 10,000
// schedules: the clock reaches the earliest slot, the scheduler pops the
// due entries, starts their runs and re-arms its timer (the store and the
// runner are no-ops).
func BenchmarkWakeup(b *testing.B) {
	clock := NewFakeClock(utc("2026-06-01T00:00:30Z"))
	var runs atomic.Int64
	s := benchScheduler(b, clock, 10000, &runs)
	s.quiesce()
	runs.Store(0)
	b.ResetTimer()
	for b.Loop() {
		s.mu.Lock()
		next := s.heap[0].fire
		s.mu.Unlock()
		clock.Set(next)
		s.quiesce()
	}
	b.ReportMetric(float64(runs.Load())/float64(b.N), "runs/wake")
}

// BenchmarkIdle measures the CPU a started scheduler with 10,000 schedules
// and nothing due uses, on the real clock, over one second per op.
func BenchmarkIdle(b *testing.B) {
	s := New(nopRunner{}, nopStore{}, Options{Logger: newDiscard()})
	for i := range 10000 {
		// Yearly, never due during the benchmark.
		if err := s.Add(Entry{ID: fmt.Sprint("s", i), Job: testJob, Cron: "0 0 1 1 *", Timezone: "Pacific/Kiritimati"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Stop(context.Background())
	runtime.GC()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(time.Second) // measuring idleness, not synchronising
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/time.Since(start).Seconds(), "cpu-µs/s")
}

// BenchmarkIdleBaseline is BenchmarkIdle without a scheduler: the test
// process's own idle CPU, to compare with.
func BenchmarkIdleBaseline(b *testing.B) {
	runtime.GC()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(time.Second)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/time.Since(start).Seconds(), "cpu-µs/s")
}
