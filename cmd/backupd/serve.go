package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/schedule"
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

// serve runs the scheduled jobs with a schedule.Scheduler until ctx is
// canceled, with each job's "policy" block; without one, the scheduler's
// default policies apply: a slot that comes due
// while the job's previous run is still going is recorded as skipped; of the
// slots that passed while no backupd ran, the latest (within 7 days) runs
// once and the others are recorded as missed. Each job's slots are claimed
// in the store under the schedule ID "config:<job>", so replicas sharing a
// store run each slot once. On stop, running backups get shutdownGrace to
// finish before they are canceled and recorded as interrupted.
func serve(ctx context.Context, rt *config.Runtime, log *slog.Logger) error {
	if err := rt.Recover(ctx); err != nil {
		return err
	}
	go func() { _ = rt.WatchHealth(ctx) }()        // jobs with a health block; ends with ctx
	go func() { _ = rt.RunVerifySchedules(ctx) }() // jobs with a verify block; ends with ctx
	sched := schedule.New(rt.Engine, rt.Store, schedule.Options{
		Logger: log, ShutdownGrace: shutdownGrace,
		OnEvent: func(ev schedule.Event) { logEvent(log, ev) },
	})
	jobs := 0
	for _, j := range rt.Jobs {
		if j.Schedule == "" {
			log.Info("job has no schedule: run it with `backupd backup`", "job", j.Job.Name)
			continue
		}
		id := "config:" + j.Job.Name
		if err := sched.Add(scheduleEntry(j)); err != nil {
			return fmt.Errorf("job %s: schedule %q: %w", j.Job.Name, j.Schedule, err)
		}
		jobs++
		next, _ := sched.NextRun(id)
		log.Info("job scheduled", "job", j.Job.Name, "schedule", j.Schedule, "timezone", j.Location.String(), "next", next.Format(time.RFC3339))
	}
	if err := sched.Start(ctx); err != nil {
		return err
	}
	log.Info("backupd serving", "jobs", jobs, "store", rt.StoreURL)
	<-ctx.Done()
	log.Info("stopping: waiting for running backups", "grace", shutdownGrace)
	err := sched.Stop(context.WithoutCancel(ctx))
	log.Info("stopped")
	return err
}

// scheduleEntry is the scheduler entry of a configured job: ID
// "config:<job>", its schedule and time zone, and its "policy" block.
func scheduleEntry(j *config.ScheduledJob) schedule.Entry {
	return schedule.Entry{ID: "config:" + j.Job.Name, Job: j.Job, Cron: j.Schedule, Timezone: j.Location.String(), Policy: j.Policy}
}

// logEvent logs what the scheduler does with runs (the engine logs the runs
// themselves).
func logEvent(log *slog.Logger, ev schedule.Event) {
	switch ev.Type {
	case schedule.EventFinished:
		if ev.Err != nil {
			log.Error("backup did not succeed", "job", ev.Job, "run", ev.RunID, "status", string(ev.Status), "err", ev.Err)
		} else {
			log.Info("backup done", "job", ev.Job, "run", ev.RunID)
		}
	case schedule.EventLeaseLost:
		log.Error("backup lease lost: another process interrupted or took over the run", "job", ev.Job, "run", ev.RunID)
	case schedule.EventRetry:
		log.Warn("backup will be retried", "job", ev.Job, "attempt", ev.Attempt, "at", ev.Time.Format(time.RFC3339))
	}
}
