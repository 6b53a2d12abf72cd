package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// OpenOptions configure Open. A nil *OpenOptions means the defaults.
type OpenOptions struct {
	// Logger receives the engine's logs. Default: a text logger on stderr at
	// the configuration's log level.
	Logger *slog.Logger
	// Engine holds engine settings; its Logger is replaced by Logger.
	Engine backup.Options
	// Notify holds notification settings for tests (Sleep, Backoff); the
	// file's settings and Logger replace the others.
	Notify notify.DispatcherOptions
}

// Runtime is a configuration wired up: the store opened, every source and
// destination opened through its URL scheme's adapter, and an engine.
// The adapters' packages must be imported (package all imports them all).
type Runtime struct {
	Config *Config
	Store  store.Store
	// StoreURL is the store's URL with secrets redacted, for display.
	StoreURL string
	Engine   *backup.Engine
	Logger   *slog.Logger
	// Jobs are the configured jobs in file order.
	Jobs []*ScheduledJob
	// Destinations are the opened destinations by name.
	Destinations map[string]destination.Destination
	// Notifications delivers the engine's events to the configured
	// notifiers; nil without a "notifications" block. Close flushes it.
	Notifications *notify.Dispatcher
	// HealthInterval is how often WatchHealth checks the jobs' health.
	HealthInterval time.Duration

	unsubscribe func()
}

// ScheduledJob is a wired job with its schedule.
type ScheduledJob struct {
	Job *backup.Job
	// Schedule is the cron expression (gronx syntax; "@midnight" is given as
	// "@daily"), empty for jobs that only run when triggered.
	Schedule string
	// Location is the time zone the schedule is read in.
	Location *time.Location
	// Policy is the job's "policy" block as a schedule.Policy; its zero
	// fields (all of them without the block) take the scheduler's defaults.
	Policy schedule.Policy
}

// SlogLevel returns the configuration's log level for log/slog.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case LogLevelDebug:
		return slog.LevelDebug
	case LogLevelWarn:
		return slog.LevelWarn
	case LogLevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Open opens everything cfg names. On error, what was opened is closed again.
// The caller must Close the Runtime.
func Open(ctx context.Context, cfg *Config, opts *OpenOptions) (rt *Runtime, err error) {
	var o OpenOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	eo := o.Engine
	eo.Logger = o.Logger
	rt = &Runtime{
		Config: cfg, Store: st, StoreURL: redact.URLString(cfg.Store), Logger: o.Logger,
		Engine: backup.New(st, &eo), Destinations: map[string]destination.Destination{},
	}
	for name, d := range cfg.Destinations {
		dst, err := destination.Open(ctx, d.URL)
		if err != nil {
			return nil, fmt.Errorf("destinations.%s: %w", name, err)
		}
		rt.Destinations[name] = dst
	}
	for _, j := range cfg.Jobs {
		src, err := source.Open(ctx, j.Source)
		if err != nil {
			return nil, fmt.Errorf("job %s: source: %w", j.Name, err)
		}
		loc, err := time.LoadLocation(j.Timezone)
		if err != nil {
			return nil, fmt.Errorf("job %s: timezone: %w", j.Name, err)
		}
		job := &backup.Job{Name: j.Name, Source: src, Compression: backup.Compression(j.Compression),
			Prefix: j.Prefix, Timeout: time.Duration(j.Timeout), StallTimeout: time.Duration(j.StallTimeout)}
		for _, name := range j.Destinations {
			job.Destinations = append(job.Destinations, backup.Target{Name: name, Destination: rt.Destinations[name]})
		}
		if j.Retention != nil {
			policy, err := j.Retention.Policy(loc)
			if err != nil {
				return nil, fmt.Errorf("job %s: retention: %w", j.Name, err)
			}
			job.Retention = &policy
		}
		if j.Health != nil {
			policy := j.Health.Policy()
			job.Health = &policy
		}
		if j.Encryption != nil {
			recipients, passphrase, err := j.Encryption.Keys()
			if err != nil {
				return nil, fmt.Errorf("job %s: encryption: %w", j.Name, err)
			}
			job.Encryption = &backup.Encryption{Recipients: recipients, Passphrase: passphrase, WorkFactor: j.Encryption.WorkFactor}
		}
		if err := job.Validate(); err != nil {
			return nil, err
		}
		expr := j.Schedule
		if strings.EqualFold(expr, "@midnight") {
			expr = "@daily"
		}
		rt.Jobs = append(rt.Jobs, &ScheduledJob{Job: job, Schedule: expr, Location: loc, Policy: j.Policy.Schedule()})
	}
	rt.HealthInterval = DefaultHealthInterval
	if n := cfg.Notifications; n != nil {
		if n.HealthInterval > 0 {
			rt.HealthInterval = time.Duration(n.HealthInterval)
		}
		no := o.Notify
		no.Logger = o.Logger
		no.Secrets = append(no.Secrets, cfg.secrets()...)
		if rt.Notifications, err = openNotifications(ctx, n, no); err != nil {
			return nil, err
		}
		rt.unsubscribe = rt.Engine.Subscribe(rt.Notifications.Publish)
	}
	return rt, nil
}

// WatchHealth checks the health of the jobs that have a "health" block
// every HealthInterval (see backup.Engine.WatchHealth) until ctx ends, and
// returns ctx's error; without such jobs it returns nil at once.
func (rt *Runtime) WatchHealth(ctx context.Context) error {
	var jobs []*backup.Job
	for _, j := range rt.Jobs {
		if j.Job.Health != nil {
			jobs = append(jobs, j.Job)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	return rt.Engine.WatchHealth(ctx, rt.HealthInterval, jobs)
}

// Job returns the wired job of that name; the error lists the known jobs.
func (rt *Runtime) Job(name string) (*ScheduledJob, error) {
	if _, err := rt.Config.Job(name); err != nil {
		return nil, err
	}
	for _, j := range rt.Jobs {
		if j.Job.Name == name {
			return j, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownJob, name)
}

// Recover cleans up after processes that died (see docs/restore.md for the
// two assumptions it relies on: owners "host:pid" unique among the
// processes sharing the store, and a job's keys written by one catalog): it removes the leftovers of
// interrupted writes on every destination that can tell them apart
// (destination.Cleaner), and marks as interrupted the runs of this host whose
// process is gone and the runs whose lease expired, telling the notifiers
// (notify.RunInterrupted). Call it when a daemon starts; it is safe while
// other processes run backups.
//
// A backup run killed after writing its manifests but before cataloging its
// backup leaves a complete backup nothing lists. For the backup runs it marks
// interrupted, Recover rebuilds the catalog from the manifests of those runs
// only (backup.RebuildOptions.RunIDs, on their jobs' destinations): such a
// backup is cataloged (complete when every destination of the job holds a
// copy, else partial; see docs/restore.md). A run of a dead local process
// gets the backup's ID (BackupID) and a Reason saying it was recovered, as
// does a run interrupted because its lease expired (through
// store.Runs.SetInterruptedBackup, since UpdateRun is fenced). The
// run stays interrupted: its process died before finishing its work
// (cataloging, retention, the success notification); the backup's status
// tells how many copies exist. Recover deletes only what the destinations
// can tell is debris: temporary objects (destination.Cleaner) and, for a run
// of a dead local process, the artifacts it completed without writing their
// manifests (backup.Engine.RemoveUnfinished); never a backup with a manifest.
func (rt *Runtime) Recover(ctx context.Context) error {
	var errs []error
	for name, d := range rt.Destinations {
		c, ok := d.(destination.Cleaner)
		if !ok {
			continue
		}
		n, err := c.Cleanup(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("destinations.%s: cleanup: %w", name, err))
		}
		if n > 0 {
			rt.Logger.Info("removed leftovers of interrupted writes", "destination", name, "count", n)
		}
	}
	// Runs of dead local processes first, while they are still running in
	// the store, so that their record can take the recovered backup.
	running, err := rt.Store.ListRuns(ctx, store.RunFilter{Status: store.RunRunning, Limit: 1000})
	if err != nil {
		errs = append(errs, fmt.Errorf("store: list running runs: %w", err))
	}
	var dead []store.Run
	for _, r := range running {
		if deadLocalOwner(r.Owner) {
			r.Status, r.Reason, r.FinishedAt = store.RunInterrupted, "its process ("+r.Owner+") is gone", time.Now().UTC()
			dead = append(dead, r)
		}
	}
	recovered := rt.recoverBackups(ctx, dead)
	rt.removeUnfinished(ctx, dead, running)
	for _, r := range dead {
		if id := recovered[r.ID]; id != "" {
			r.BackupID, r.Reason = id, r.Reason+"; "+recoveredReason(id)
		}
		if err := rt.Store.UpdateRun(ctx, &r); err != nil {
			errs = append(errs, fmt.Errorf("store: mark run %s interrupted: %w", r.ID, err))
			continue
		}
		rt.Logger.Warn("run interrupted: its process is gone", "job", r.Job, "run", r.ID, "owner", r.Owner, "recovered_backup", r.BackupID)
		rt.notifyInterrupted(r)
	}
	expired, err := rt.Store.InterruptExpired(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("store: interrupt expired runs: %w", err))
	}
	recovered = rt.recoverBackups(ctx, expired)
	for _, r := range expired {
		if r.Reason == "" {
			r.Reason = "its lease expired (owner " + r.Owner + ")"
		}
		if id := recovered[r.ID]; id != "" {
			r.Reason += "; " + recoveredReason(id)
			if err := rt.Store.SetInterruptedBackup(ctx, r.ID, id, recoveredReason(id)); err != nil {
				errs = append(errs, fmt.Errorf("store: record the recovered backup of run %s: %w", r.ID, err))
			}
		}
		rt.Logger.Warn("run interrupted: its lease expired", "job", r.Job, "run", r.ID, "owner", r.Owner, "recovered_backup", recovered[r.ID])
		rt.notifyInterrupted(r)
	}
	return errors.Join(errs...)
}

// recoveredReason is what an interrupted run's Reason adds about its
// recovered backup.
func recoveredReason(backupID string) string {
	return "its backup " + backupID + " was found on the destinations and is cataloged (recovered from its manifests)"
}

// recoverBackups catalogs the backups the given interrupted backup runs left
// on their jobs' destinations (see Recover) and returns their IDs by run ID.
// A failure (a destination unreachable) is logged, not returned: it must not
// keep a daemon from starting, and `backupd catalog rebuild` can do it later.
func (rt *Runtime) recoverBackups(ctx context.Context, runs []store.Run) map[string]string {
	var ids []string
	var started []time.Time
	var jobs []*backup.Job
	for _, r := range runs {
		if r.Kind != store.RunKindBackup || r.BackupID != "" {
			continue
		}
		j, err := rt.Job(r.Job)
		if err != nil {
			continue // a job no longer configured: nowhere to look
		}
		ids, started = append(ids, r.ID), append(started, r.StartedAt)
		if !slices.Contains(jobs, j.Job) {
			jobs = append(jobs, j.Job)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rep, err := rt.Engine.RebuildCatalog(ctx, jobs, backup.RebuildOptions{RunIDs: ids, Started: started})
	if err != nil {
		rt.Logger.Error("could not look for the backups of interrupted runs; run `backupd catalog rebuild` later",
			"runs", strings.Join(ids, ","), "error", err)
	}
	for run, id := range rep.Runs {
		rt.Logger.Warn("found the backup of an interrupted run on its destinations; it is cataloged", "run", run, "backup", id)
	}
	return rep.Runs
}

// removeUnfinished deletes, for each backup run of a dead local process,
// the artifacts it left without a manifest (backup.Engine.RemoveUnfinished).
// It skips a run when another run of its job that is still running started
// within two seconds of it: that run's artifacts share the key's timestamp
// and may be one step from their manifest. A failure is logged: the objects
// stay, and `backupd catalog rebuild` lists them as orphans.
func (rt *Runtime) removeUnfinished(ctx context.Context, dead, running []store.Run) {
	for _, r := range dead {
		if r.Kind != store.RunKindBackup {
			continue
		}
		j, err := rt.Job(r.Job)
		if err != nil {
			continue
		}
		live := slices.ContainsFunc(running, func(o store.Run) bool {
			return o.ID != r.ID && o.Job == r.Job && !slices.ContainsFunc(dead, func(d store.Run) bool { return d.ID == o.ID }) &&
				o.StartedAt.Sub(r.StartedAt).Abs() <= 2*time.Second
		})
		if live {
			rt.Logger.Warn("left the interrupted run's artifacts alone: another run of the job started at the same time",
				"job", r.Job, "run", r.ID)
			continue
		}
		removed, err := rt.Engine.RemoveUnfinished(ctx, j.Job, r)
		for _, k := range removed {
			rt.Logger.Warn("removed an artifact the interrupted run left without a manifest", "job", r.Job, "run", r.ID, "object", k)
		}
		if err != nil {
			rt.Logger.Error("could not remove the artifacts the interrupted run left without a manifest; `backupd catalog rebuild` lists them as orphans",
				"job", r.Job, "run", r.ID, "error", err)
		}
	}
}

// notifyInterrupted sends notify.RunInterrupted for r to the notifiers.
func (rt *Runtime) notifyInterrupted(r store.Run) {
	if rt.Notifications == nil {
		return
	}
	reason := r.Reason
	if reason == "" {
		reason = "its lease expired (owner " + r.Owner + ")"
	}
	rt.Notifications.Publish(notify.Event{Type: notify.RunInterrupted, Time: time.Now().UTC(), Job: r.Job, RunID: r.ID,
		BytesRead: r.BytesRead, BytesWritten: r.BytesWritten, Error: reason})
}

// deadLocalOwner reports whether owner ("host:pid", as the engine writes it)
// names a process of this host that no longer exists.
func deadLocalOwner(owner string) bool {
	host, pidText, ok := strings.Cut(owner, ":")
	me, _ := os.Hostname()
	if !ok || host != me {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Close delivers the notifications still queued (waiting up to 30 seconds)
// and closes the store.
func (rt *Runtime) Close() error {
	var err error
	if rt.Notifications != nil {
		rt.unsubscribe()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = rt.Notifications.Close(ctx)
		cancel()
	}
	return errors.Join(err, rt.Store.Close())
}
