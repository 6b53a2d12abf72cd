package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
)

// ErrUnknownJob is matched by errors about a job that is not configured.
var ErrUnknownJob = errors.New("unknown job")

// ErrQueued is returned by Control.RunNow when the run was accepted but
// waits behind a running one (overlap policy queue): it has no run ID yet.
var ErrQueued = errors.New("the run is queued behind the running one")

// claimWait is how long RunNow waits for the scheduler to claim the run.
const claimWait = 15 * time.Second

// Control owns the daemon's scheduler entries: it keeps them equal to the
// stored schedules (Reconcile), runs jobs now with a run ID to follow, and
// swaps the configured jobs on reload. It is safe for concurrent use.
//
// Each stored schedule managed by backupd (see config.ScheduleJob) becomes
// one scheduler entry: "config:<job>" for a job's schedule from the file
// (the ID replicas claim its slots under), "api:<name>" for a schedule
// created through the API. Stored schedules whose job is not configured are
// skipped with a warning.
type Control struct {
	st     store.Store
	engine *backup.Engine
	log    *slog.Logger
	owner  string

	mu      sync.Mutex
	sched   *schedule.Scheduler
	jobs    map[string]*config.ScheduledJob
	order   []string
	entries map[string]entryState // by entry ID
	warned  map[string]bool       // stored schedules skipped (job not configured), by ID

	waitMu  sync.Mutex // guards waiters; never held while calling the scheduler
	waiters []*waiter

	runCtx    context.Context
	cancelRun context.CancelCauseFunc
	direct    sync.WaitGroup
}

// entryState is what Control last gave the scheduler for an entry.
type entryState struct {
	storeID  string
	name     string
	job      *config.ScheduledJob
	cron, tz string
	paused   bool
}

// waiter waits for the scheduler to claim a manual run.
type waiter struct {
	entryID, by string
	ch          chan schedule.Event
}

// NewControl returns a Control over st and engine with the configured jobs.
// Call SetScheduler before Reconcile, and hand OnEvent to the scheduler's
// Options.OnEvent.
func NewControl(st store.Store, engine *backup.Engine, jobs []*config.ScheduledJob, log *slog.Logger) *Control {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	c := &Control{st: st, engine: engine, log: log, owner: fmt.Sprintf("%s:%d", host, os.Getpid()), entries: map[string]entryState{}, warned: map[string]bool{}}
	c.runCtx, c.cancelRun = context.WithCancelCause(context.Background())
	c.SetJobs(jobs)
	return c
}

// SetScheduler gives c the scheduler whose entries it manages.
func (c *Control) SetScheduler(s *schedule.Scheduler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sched = s
}

// SetJobs replaces the configured jobs (on reload); Reconcile then updates
// the scheduler's entries. Running backups are not disturbed.
func (c *Control) SetJobs(jobs []*config.ScheduledJob) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jobs = map[string]*config.ScheduledJob{}
	c.order = nil
	for _, j := range jobs {
		c.jobs[j.Job.Name] = j
		c.order = append(c.order, j.Job.Name)
	}
}

// Job returns the configured job of that name.
func (c *Control) Job(name string) (*config.ScheduledJob, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownJob, name)
	}
	return j, nil
}

// Jobs returns the configured jobs in file order.
func (c *Control) Jobs() []*config.ScheduledJob {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*config.ScheduledJob, 0, len(c.order))
	for _, n := range c.order {
		out = append(out, c.jobs[n])
	}
	return out
}

// EntryID returns the scheduler entry ID of a stored schedule.
func EntryID(s store.Schedule, meta config.ScheduleJob) string {
	if meta.Origin == config.OriginConfig {
		return "config:" + meta.Job
	}
	return "api:" + s.Name
}

// NextRun returns the next slot of the stored schedule named name, zero
// when paused or unknown to the scheduler.
func (c *Control) NextRun(name string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if e.name == name && c.sched != nil {
			t, _ := c.sched.NextRun(id)
			return t
		}
	}
	return time.Time{}
}

// Reconcile makes the scheduler's entries match the stored schedules: new
// ones are added, changed ones updated (a running backup continues), paused
// or resumed ones paused or resumed, and gone ones removed. backupd serve
// calls it at start, after every change through the API, after a reload
// and every few seconds, so that changes made by the CLI or another
// replica are noticed.
func (c *Control) Reconcile(ctx context.Context) error {
	stored, err := c.st.ListSchedules(ctx, store.ScheduleFilter{})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sched == nil {
		return errors.New("api: Control has no scheduler")
	}
	seen := map[string]bool{}
	var errs []error
	for _, s := range stored {
		if s.Tenant != "" {
			continue
		}
		meta, err := config.ParseScheduleJob(s)
		if err != nil {
			continue // not one of backupd's
		}
		j, ok := c.jobs[meta.Job]
		if !ok {
			if !c.warned[s.ID] {
				c.warned[s.ID] = true
				c.log.Warn("stored schedule skipped: its job is not configured", "schedule", s.Name, "job", meta.Job)
			}
			continue
		}
		delete(c.warned, s.ID)
		id := EntryID(s, meta)
		seen[id] = true
		want := entryState{storeID: s.ID, name: s.Name, job: j, cron: s.Cron, tz: s.Timezone, paused: s.Paused}
		have, exists := c.entries[id]
		entry := schedule.Entry{ID: id, Job: j.Job, Cron: s.Cron, Timezone: s.Timezone, Paused: s.Paused, Policy: j.Policy}
		switch {
		case !exists:
			err = c.sched.Add(entry)
			if err == nil {
				c.log.Info("schedule added", "schedule", s.Name, "job", meta.Job, "cron", s.Cron, "timezone", s.Timezone, "paused", s.Paused)
			}
		case have.job != j || have.cron != want.cron || have.tz != want.tz:
			err = c.sched.Update(entry)
			if err == nil {
				c.log.Info("schedule updated", "schedule", s.Name, "job", meta.Job, "cron", s.Cron, "timezone", s.Timezone, "paused", s.Paused)
			}
		case have.paused != want.paused:
			if want.paused {
				err = c.sched.Pause(id)
			} else {
				err = c.sched.Resume(id)
			}
			if err == nil {
				c.log.Info("schedule paused or resumed", "schedule", s.Name, "paused", want.paused)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", s.Name, err))
			continue
		}
		c.entries[id] = want
		if next, _ := c.sched.NextRun(id); !next.Equal(s.NextRunAt) && !next.IsZero() {
			_ = c.st.SetNextRun(ctx, s.ID, next) // informational only
		}
	}
	for id := range c.entries {
		if seen[id] {
			continue
		}
		if err := c.sched.Remove(id); err != nil && !errors.Is(err, schedule.ErrUnknownSchedule) {
			errs = append(errs, err)
			continue
		}
		c.log.Info("schedule removed", "entry", id)
		delete(c.entries, id)
	}
	return errors.Join(errs...)
}

// Poll calls Reconcile every interval until ctx ends, logging failures.
func (c *Control) Poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("cannot reconcile schedules with the store", "err", err)
			}
		}
	}
}

// OnEvent is the scheduler's Options.OnEvent hook (chain it with yours): it
// hands manual runs' claims to RunNow. It never blocks.
func (c *Control) OnEvent(ev schedule.Event) {
	if (ev.Type != schedule.EventClaimed && ev.Type != schedule.EventSkipped) || !ev.Slot.IsZero() || ev.Attempt > 1 {
		return // not the first claim of a manual run (a slot, or a retry)
	}
	// The scheduler may call this holding its own lock: take only waitMu,
	// which is never held while calling the scheduler.
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	for i, w := range c.waiters {
		if w.entryID == ev.ScheduleID && w.by == ev.TriggeredBy {
			w.ch <- ev // buffered, one send per waiter
			c.waiters = slices.Delete(c.waiters, i, i+1)
			return
		}
	}
}

// scheduleEntryOf returns the entry ID that runs job now: its schedule from
// the file, else the first stored schedule of the job; "" when none.
func (c *Control) scheduleEntryOf(job string) string {
	if _, ok := c.entries["config:"+job]; ok {
		return "config:" + job
	}
	var ids []string
	for id, e := range c.entries {
		if e.job.Job.Name == job {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// RunNow starts a manual run of job on behalf of who and returns its run
// ID. A job with a schedule runs through the scheduler, so its overlap
// policy applies (schedule.ErrBusy; ErrQueued when it waits); a job without
// one runs at once in the engine.
func (c *Control) RunNow(ctx context.Context, job, who string) (string, error) {
	c.mu.Lock()
	j, ok := c.jobs[job]
	if !ok {
		c.mu.Unlock()
		return "", fmt.Errorf("%w %q", ErrUnknownJob, job)
	}
	id := c.scheduleEntryOf(job)
	if id == "" {
		c.mu.Unlock()
		return c.runDirect(ctx, j, who)
	}
	return c.runScheduled(ctx, id, who) // unlocks
}

// RunSchedule is RunNow for the stored schedule named name.
func (c *Control) RunSchedule(ctx context.Context, name, who string) (string, error) {
	c.mu.Lock()
	for id, e := range c.entries {
		if e.name == name {
			return c.runScheduled(ctx, id, who) // unlocks
		}
	}
	c.mu.Unlock()
	return "", fmt.Errorf("schedule %q: %w", name, store.ErrNotFound)
}

// runScheduled asks the scheduler to run entry id now and waits for the
// claim (c.mu held; it unlocks).
func (c *Control) runScheduled(ctx context.Context, id, who string) (string, error) {
	sched := c.sched
	c.mu.Unlock()
	w := &waiter{entryID: id, by: who, ch: make(chan schedule.Event, 1)}
	c.waitMu.Lock()
	c.waiters = append(c.waiters, w)
	c.waitMu.Unlock()
	drop := func() {
		c.waitMu.Lock()
		defer c.waitMu.Unlock()
		if i := slices.Index(c.waiters, w); i >= 0 {
			c.waiters = slices.Delete(c.waiters, i, i+1)
		}
	}
	if err := sched.RunNow(id, who); err != nil {
		drop()
		return "", err
	}
	t := time.NewTimer(claimWait)
	defer t.Stop()
	select {
	case ev := <-w.ch:
		if ev.Type == schedule.EventSkipped {
			return "", fmt.Errorf("%w: %s", schedule.ErrBusy, ev.Reason)
		}
		return ev.RunID, nil
	case <-t.C:
		drop()
		return "", ErrQueued
	case <-ctx.Done():
		drop()
		return "", ctx.Err()
	}
}

// runDirect records a manual run of j and runs it in the background.
func (c *Control) runDirect(ctx context.Context, j *config.ScheduledJob, who string) (string, error) {
	if c.runCtx.Err() != nil {
		return "", schedule.ErrStopped
	}
	run := store.Run{Job: j.Job.Name, Trigger: store.TriggerManual, TriggeredBy: who, Status: store.RunRunning,
		Owner: c.owner, Attempt: 1, StartedAt: time.Now().UTC()}
	if _, err := c.st.ClaimRun(ctx, &run); err != nil {
		return "", err
	}
	c.direct.Add(1)
	go func() {
		defer c.direct.Done()
		if _, err := c.engine.Run(c.runCtx, j.Job, backup.RunOptions{Claimed: &run}); err != nil {
			c.log.Error("backup did not succeed", "job", j.Job.Name, "run", run.ID, "err", err)
		}
	}()
	return run.ID, nil
}

// Stop waits for the runs RunNow started outside the scheduler, up to
// grace, then interrupts them and waits for them to record it.
func (c *Control) Stop(grace time.Duration) {
	done := make(chan struct{})
	go func() { c.direct.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		c.cancelRun(backup.ErrInterrupted)
		<-done
	}
	c.cancelRun(backup.ErrInterrupted)
}
