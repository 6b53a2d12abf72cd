package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/adhocore/gronx"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/store"
)

// shutdownGrace is how long serve waits for running backups after a stop
// signal before canceling them.
const shutdownGrace = 30 * time.Second

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("serve", stderr)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rt, err := open(ctx, *path, stderr, nil)
	if err != nil {
		return err
	}
	defer rt.Close()
	return serve(ctx, rt, rt.Logger)
}

// scheduled is a job with its next slot.
type scheduled struct {
	job  *config.ScheduledJob
	next time.Time
}

// serve runs the scheduled jobs until ctx is canceled. It is a simple loop:
// one slot at a time per job, a slot that comes due while the job's previous
// run is still going is recorded as skipped, and slots that passed while the
// process was down are not run. (The schedule package will bring the full
// policies.)
func serve(ctx context.Context, rt *config.Runtime, log *slog.Logger) error {
	if err := rt.Recover(ctx); err != nil {
		return err
	}
	go func() { _ = rt.WatchHealth(ctx) }() // jobs with a health block; ends with ctx
	var jobs []*scheduled
	now := time.Now()
	for _, j := range rt.Jobs {
		if j.Schedule == "" {
			log.Info("job has no schedule: run it with `backupd backup`", "job", j.Job.Name)
			continue
		}
		next, err := nextSlot(j, now)
		if err != nil {
			return fmt.Errorf("job %s: schedule %q: %w", j.Job.Name, j.Schedule, err)
		}
		jobs = append(jobs, &scheduled{job: j, next: next})
		log.Info("job scheduled", "job", j.Job.Name, "schedule", j.Schedule, "timezone", j.Location.String(), "next", next.Format(time.RFC3339))
	}
	log.Info("backupd serving", "jobs", len(jobs), "store", rt.StoreURL)

	// Runs get their own context: a stop signal lets them finish within the
	// grace period before they are canceled.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		running = map[string]bool{}
	)
	for {
		var earliest time.Time
		for _, s := range jobs {
			if earliest.IsZero() || s.next.Before(earliest) {
				earliest = s.next
			}
		}
		var fire <-chan time.Time
		var timer *time.Timer
		if !earliest.IsZero() {
			timer = time.NewTimer(time.Until(earliest))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return shutdown(&wg, cancelRuns, log)
		case <-fire:
		}
		timer.Stop()
		now := time.Now()
		for _, s := range jobs {
			if s.next.After(now) {
				continue
			}
			slot, job := s.next, s.job
			next, err := nextSlot(job, now)
			if err != nil {
				return fmt.Errorf("job %s: %w", job.Job.Name, err)
			}
			s.next = next
			mu.Lock()
			busy := running[job.Job.Name]
			if !busy {
				running[job.Job.Name] = true
			}
			mu.Unlock()
			if busy {
				skip := &store.Run{Job: job.Job.Name, Slot: slot.UTC(), Trigger: store.TriggerSchedule, TriggeredBy: "scheduler",
					Status: store.RunSkipped, Reason: "the previous run is still running", FinishedAt: now.UTC()}
				if err := rt.Store.CreateRun(ctx, skip); err != nil {
					log.Error("cannot record skipped slot", "job", job.Job.Name, "err", err)
				}
				log.Warn("slot skipped: previous run still running", "job", job.Job.Name, "slot", slot.Format(time.RFC3339))
				continue
			}
			wg.Go(func() {
				defer func() { mu.Lock(); delete(running, job.Job.Name); mu.Unlock() }()
				res, err := rt.Engine.Run(runCtx, job.Job, backup.RunOptions{Trigger: store.TriggerSchedule, TriggeredBy: "scheduler", Slot: slot.UTC()})
				if err != nil {
					log.Error("backup did not succeed", "job", job.Job.Name, "err", err)
				} else {
					log.Info("backup done", "job", job.Job.Name, "backup", res.Backup.ID, "size", res.Backup.Size)
				}
			})
			log.Info("next run", "job", job.Job.Name, "at", s.next.Format(time.RFC3339))
		}
	}
}

// shutdown waits for running backups up to shutdownGrace, then cancels them.
func shutdown(wg *sync.WaitGroup, cancelRuns context.CancelFunc, log *slog.Logger) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	log.Info("stopping: waiting for running backups", "grace", shutdownGrace)
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn("grace period over: canceling running backups")
		cancelRuns()
		<-done
	}
	log.Info("stopped")
	return nil
}

// nextSlot is the job's first slot strictly after t, computed on the wall
// clock of the job's time zone.
func nextSlot(j *config.ScheduledJob, t time.Time) (time.Time, error) {
	return gronx.NextTickAfter(j.Schedule, t.In(j.Location), false)
}
