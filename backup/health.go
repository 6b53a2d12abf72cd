package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/store"
)

// HealthPolicy says when a job's backups are unhealthy. Zero fields do not
// check; a policy with every field zero is always healthy.
type HealthPolicy struct {
	// MaxAge: unhealthy when the job's newest successful backup (complete or
	// partial) is older than this, or when it has none.
	MaxAge time.Duration
	// MaxTotalSize: unhealthy when the job's cataloged backups together are
	// larger than this many bytes.
	MaxTotalSize int64
	// MaxFailures: unhealthy when the job's last MaxFailures finished runs
	// all failed (failed or interrupted; canceled, skipped and missed runs
	// are passed over).
	MaxFailures int
}

// Validate reports a negative field.
func (p *HealthPolicy) Validate() error {
	var errs []error
	if p.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("health: max_age %s is negative", p.MaxAge))
	}
	if p.MaxTotalSize < 0 {
		errs = append(errs, fmt.Errorf("health: max_total_size %d is negative", p.MaxTotalSize))
	}
	if p.MaxFailures < 0 {
		errs = append(errs, fmt.Errorf("health: max_failures %d is negative", p.MaxFailures))
	}
	return errors.Join(errs...)
}

// Health is the outcome of a health check of one job.
type Health struct {
	// Job is the job checked.
	Job string
	// Healthy is false when any check failed; Reasons says which, one line
	// each.
	Healthy bool
	Reasons []string
	// CheckedAt is the engine's clock at the check.
	CheckedAt time.Time
	// LastSuccess is when the newest successful backup was created (zero:
	// none); LastBackupID names it.
	LastSuccess  time.Time
	LastBackupID string
	// TotalSize is the sum of the sizes of the job's cataloged backups.
	TotalSize int64
	// Failures counts the consecutive failed runs, newest first (up to 100
	// runs are looked at).
	Failures int
}

// healthState remembers, per job, whether the last check was unhealthy, so
// that the engine publishes changes only.
type healthState struct {
	mu        sync.Mutex
	unhealthy map[string]bool
}

// CheckHealth evaluates policy for the job named job against the store at
// the engine's clock. When the outcome differs from this engine's previous
// check of the job, it publishes notify.HealthUnhealthy (the first check
// that finds the job unhealthy) or notify.HealthRecovered (the first healthy
// check after an unhealthy one) to the engine's subscribers; a first check
// that finds the job healthy publishes nothing. The error is non-nil only
// when the store could not be read; then nothing is published.
func (e *Engine) CheckHealth(ctx context.Context, job string, policy HealthPolicy) (Health, error) {
	h := Health{Job: job, CheckedAt: e.opts.Now().UTC(), Healthy: true}
	backups, err := e.store.ListBackups(ctx, store.BackupFilter{Job: job})
	if err != nil {
		return h, fmt.Errorf("job %s: health: list backups: %w", job, err)
	}
	for _, b := range backups { // newest first
		if b.Status == store.BackupPreRestore {
			continue
		}
		h.TotalSize += b.Size
		if h.LastSuccess.IsZero() {
			h.LastSuccess, h.LastBackupID = b.CreatedAt, b.ID
		}
	}
	if policy.MaxFailures > 0 {
		runs, err := e.store.ListRuns(ctx, store.RunFilter{Job: job, Kind: store.RunKindBackup, Limit: 100})
		if err != nil {
			return h, fmt.Errorf("job %s: health: list runs: %w", job, err)
		}
	count:
		for _, r := range runs { // newest first
			switch r.Status {
			case store.RunFailed, store.RunInterrupted:
				h.Failures++
			case store.RunSucceeded, store.RunPartial:
				break count
			}
		}
	}
	if policy.MaxAge > 0 {
		switch age := h.CheckedAt.Sub(h.LastSuccess); {
		case h.LastSuccess.IsZero():
			h.Reasons = append(h.Reasons, "no successful backup")
		case age > policy.MaxAge:
			h.Reasons = append(h.Reasons, fmt.Sprintf("newest successful backup is %s old (max_age %s)",
				age.Round(time.Minute), policy.MaxAge))
		}
	}
	if policy.MaxTotalSize > 0 && h.TotalSize > policy.MaxTotalSize {
		h.Reasons = append(h.Reasons, fmt.Sprintf("backups use %d bytes (max_total_size %d)", h.TotalSize, policy.MaxTotalSize))
	}
	if policy.MaxFailures > 0 && h.Failures >= policy.MaxFailures {
		h.Reasons = append(h.Reasons, fmt.Sprintf("the last %d runs failed (max_failures %d)", h.Failures, policy.MaxFailures))
	}
	h.Healthy = len(h.Reasons) == 0

	e.health.mu.Lock()
	if e.health.unhealthy == nil {
		e.health.unhealthy = map[string]bool{}
	}
	was := e.health.unhealthy[job]
	if h.Healthy {
		delete(e.health.unhealthy, job)
	} else {
		e.health.unhealthy[job] = true
	}
	e.health.mu.Unlock()
	ev := notify.Event{Time: h.CheckedAt, Job: job, BackupID: h.LastBackupID, Size: h.TotalSize, Reasons: h.Reasons}
	switch {
	case !h.Healthy && !was:
		ev.Type, ev.Error = notify.HealthUnhealthy, strings.Join(h.Reasons, "; ")
		e.opts.Logger.Warn("job unhealthy", "job", job, "reasons", ev.Error)
		e.publish(ev)
	case h.Healthy && was:
		ev.Type = notify.HealthRecovered
		e.opts.Logger.Info("job healthy again", "job", job)
		e.publish(ev)
	}
	return h, nil
}

// checkHealthAfterRun runs the job's health check after a run, logging a
// failure to read the store.
func (e *Engine) checkHealthAfterRun(ctx context.Context, job *Job) {
	if job.Health == nil {
		return
	}
	if _, err := e.CheckHealth(ctx, job.Name, *job.Health); err != nil {
		e.opts.Logger.Warn("health check failed", "job", job.Name, "err", err)
	}
}

// WatchHealth checks the health of every job of jobs that has a Health
// policy, at once and then every interval, until ctx ends; it returns
// ctx's error. Checks that cannot read the store are logged and retried at
// the next tick. Run it in a goroutine of its own (backupd serve does).
func (e *Engine) WatchHealth(ctx context.Context, interval time.Duration, jobs []*Job) error {
	if interval <= 0 {
		return fmt.Errorf("health: interval %s must be positive", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, j := range jobs {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.checkHealthAfterRun(ctx, j)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
