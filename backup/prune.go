package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/store"
)

// PruneOptions control Engine.Prune.
type PruneOptions struct {
	// DryRun plans without deleting anything.
	DryRun bool
}

// PruneResult is the outcome of Engine.Prune.
type PruneResult struct {
	// Plan is the retention plan for the job's backups, newest first.
	Plan retention.Result
	// DryRun is set when nothing was deleted on purpose.
	DryRun bool
	// Deleted lists the backups deleted entirely, oldest first: every copy's
	// artifact and manifest, and the catalog entry.
	Deleted []string
	// Failures lists the copies that could not be deleted. They stay in the
	// catalog, so the next prune retries them; the other copies of the same
	// backup are gone and forgotten.
	Failures []CopyError
}

// CopyError is a copy Prune could not delete, and why.
type CopyError struct {
	BackupID    string
	Destination string
	Key         string
	Err         error
}

func (c CopyError) Error() string {
	return fmt.Sprintf("backup %s on %s (%s): %v", c.BackupID, c.Destination, c.Key, c.Err)
}

func (c CopyError) Unwrap() error { return c.Err }

// ErrOutsideJob is matched (errors.Is) by the CopyError of a copy whose key
// is not under the job's prefix and name, or whose backup belongs to another
// job: Prune refuses to delete it.
var ErrOutsideJob = errors.New("outside the job's keys: refused")

// Prune applies the job's retention policy (job.Retention; nil keeps
// everything) to its backups in the catalog.
//
// It lists the job's backups, asks the store whether the job's latest
// finished run failed (runs that are running, canceled, skipped or missed are
// passed over; failed and interrupted count as failed), and plans with
// retention.Plan at the engine's clock. Partial backups are the catalog's
// partial ones; every other status counts as successful.
//
// Unless opts.DryRun, for each backup to delete, oldest first, and for each
// of its copies, it deletes the artifact and then its manifest from the
// destination of the job's target of that name, and then forgets the copy in
// the catalog (forgetting the last copy forgets the backup). Nothing is
// deleted that is not in the catalog, nor any key that is not under
// "<prefix>/<job>/". A copy that cannot be deleted (its destination fails,
// is no longer a target of the job, or its key is refused) stays in the
// catalog and is reported in Failures; the next Prune retries it.
//
// The error is non-nil when the plan could not be made, or, with the result
// complete, when some copies could not be deleted (it joins Failures).
func (e *Engine) Prune(ctx context.Context, job *Job, opts PruneOptions) (PruneResult, error) {
	if err := job.Validate(); err != nil {
		return PruneResult{}, err
	}
	var policy retention.Policy
	if job.Retention != nil {
		policy = *job.Retention
	}
	backups, err := e.store.ListBackups(ctx, store.BackupFilter{Job: job.Name})
	if err != nil {
		return PruneResult{}, fmt.Errorf("job %s: prune: list backups: %w", job.Name, err)
	}
	failed, err := e.latestRunFailed(ctx, job.Name)
	if err != nil {
		return PruneResult{}, fmt.Errorf("job %s: prune: %w", job.Name, err)
	}
	byID := make(map[string]store.Backup, len(backups))
	in := retention.Input{Now: e.opts.Now(), LatestRunFailed: failed, Backups: make([]retention.Backup, 0, len(backups))}
	for _, b := range backups {
		byID[b.ID] = b
		in.Backups = append(in.Backups, retention.Backup{
			ID: b.ID, CreatedAt: b.CreatedAt, Size: b.Size, Partial: b.Status == store.BackupPartial, Protected: protectedAt(b, in.Now),
		})
	}
	res := PruneResult{Plan: retention.Plan(policy, in), DryRun: opts.DryRun}
	if opts.DryRun {
		return res, nil
	}
	targets := make(map[string]destination.Destination, len(job.Destinations))
	for _, t := range job.Destinations {
		targets[t.Name] = t.Destination
	}
	for _, rb := range res.Plan.Delete() {
		b := byID[rb.ID]
		if ok := e.deleteBackup(ctx, job, b, targets, &res); ok {
			res.Deleted = append(res.Deleted, b.ID)
			e.opts.Logger.Info("backup pruned", "job", job.Name, "backup", b.ID, "created", b.CreatedAt)
		}
	}
	if len(res.Failures) > 0 {
		errs := make([]error, len(res.Failures))
		for i, f := range res.Failures {
			errs[i] = f
		}
		return res, fmt.Errorf("job %s: prune: %d copies could not be deleted (they stay cataloged and are retried by the next prune): %w",
			job.Name, len(res.Failures), errors.Join(errs...))
	}
	return res, nil
}

// deleteBackup deletes every copy of b and reports whether all went.
func (e *Engine) deleteBackup(ctx context.Context, job *Job, b store.Backup, targets map[string]destination.Destination, res *PruneResult) bool {
	if len(b.Copies) == 0 {
		if err := e.store.DeleteBackup(ctx, b.ID); err != nil {
			res.Failures = append(res.Failures, CopyError{BackupID: b.ID, Err: fmt.Errorf("catalog: %w", err)})
			return false
		}
		return true
	}
	all := true
	for _, c := range b.Copies {
		if err := e.deleteCopy(ctx, job, b, c, targets); err != nil {
			all = false
			res.Failures = append(res.Failures, CopyError{BackupID: b.ID, Destination: c.Destination, Key: c.Key, Err: err})
			e.opts.Logger.Warn("cannot prune copy; it stays in the catalog and is retried next time",
				"job", job.Name, "backup", b.ID, "destination", c.Destination, "err", err)
		}
	}
	return all
}

// deleteCopy deletes one copy's artifact and manifest, then forgets it.
func (e *Engine) deleteCopy(ctx context.Context, job *Job, b store.Backup, c store.Copy, targets map[string]destination.Destination) error {
	if b.Job != job.Name {
		return fmt.Errorf("backup of job %q: %w", b.Job, ErrOutsideJob)
	}
	if err := ownedKey(job, c.Key); err != nil {
		return err
	}
	d, ok := targets[c.Destination]
	if !ok {
		return fmt.Errorf("destination %q is not a target of job %s", c.Destination, job.Name)
	}
	if err := d.Delete(ctx, c.Key); err != nil {
		return fmt.Errorf("delete artifact: %w", err)
	}
	if err := d.Delete(ctx, c.Key+ManifestSuffix); err != nil {
		return fmt.Errorf("delete manifest: %w", err)
	}
	if err := e.store.DeleteCopy(ctx, b.ID, c.Destination); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}

// ownedKey checks that key is a valid key under "<prefix>/<job>/".
func ownedKey(job *Job, key string) error {
	if err := destination.ValidateKey(key); err != nil {
		return fmt.Errorf("%w: %w", ErrOutsideJob, err)
	}
	root := job.Name + "/"
	if p := strings.Trim(job.Prefix, "/"); p != "" {
		root = p + "/" + root
	}
	if !strings.HasPrefix(key, root) {
		return fmt.Errorf("key %q is not under %q: %w", key, root, ErrOutsideJob)
	}
	return nil
}

// latestRunFailed reports whether the job's most recent finished run failed.
func (e *Engine) latestRunFailed(ctx context.Context, jobName string) (bool, error) {
	runs, err := e.store.ListRuns(ctx, store.RunFilter{Job: jobName, Kind: store.RunKindBackup, Limit: 100})
	if err != nil {
		return false, fmt.Errorf("list runs: %w", err)
	}
	for _, r := range runs { // newest first
		switch r.Status {
		case store.RunFailed, store.RunInterrupted:
			return true, nil
		case store.RunSucceeded, store.RunPartial:
			return false, nil
		}
	}
	return false, nil
}

// pruneAfterRun applies the job's policy after a successful run and writes
// the outcome to the run's log. It never changes the run's outcome.
func (e *Engine) pruneAfterRun(ctx context.Context, job *Job, log runLog) {
	res, err := e.Prune(ctx, job, PruneOptions{})
	e.publishPrune(job, log.run.ID, res, err)
	switch {
	case res.Plan.Held:
		log.info("prune skipped: the latest run failed")
	case err != nil && res.Plan.Decisions == nil: // no plan
		log.warn("prune failed", "err", err)
		return
	default:
		log.info("prune finished", "kept", len(res.Plan.Keep()), "deleted", len(res.Deleted), "copies_failed", len(res.Failures))
	}
	for _, f := range res.Failures {
		log.warn("prune: copy not deleted, retried next time", "backup", f.BackupID, "destination", f.Destination, "err", f.Err)
	}
	if res.Plan.OverCap {
		log.warn("prune: " + res.Plan.Warning)
	}
}

// publishPrune publishes notify.RetentionFailed when pruning failed, else
// notify.RetentionPruned when it deleted backups.
func (e *Engine) publishPrune(job *Job, runID string, res PruneResult, err error) {
	ev := notify.Event{Time: e.opts.Now().UTC(), Job: job.Name, RunID: runID, Deleted: len(res.Deleted)}
	switch {
	case err != nil:
		ev.Type, ev.Error = notify.RetentionFailed, oneLine(err.Error())
	case len(res.Deleted) > 0:
		ev.Type = notify.RetentionPruned
	default:
		return
	}
	e.publish(ev)
}
