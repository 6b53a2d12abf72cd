package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupkit/backupkit/store"
)

// RemoveUnfinished deletes the artifacts a backup run left on the job's
// destinations without a manifest, and returns them as "destination:key".
//
// A backup process killed after a destination completed the artifact but
// before the manifest beside it was written leaves exactly that: an object
// no catalog lists and no rebuild can describe (its size and SHA-256 were
// never recorded). Only an artifact of this run is removed: a key of the
// job whose timestamp is the second the run started (or the second before,
// for a store that rounds times up) and whose manifest is absent. Temporary
// objects are not listed (destination.Cleaner removes them), and artifacts
// with a manifest are never touched.
//
// The caller must know that run's process is gone, and that no other live
// run of the job started in those seconds: Runtime.Recover calls it only for
// runs of dead local processes, and skips it when another run of the job
// that started within two seconds is still running.
func (e *Engine) RemoveUnfinished(ctx context.Context, job *Job, run store.Run) ([]string, error) {
	if run.Job != job.Name {
		return nil, fmt.Errorf("run %s is of job %q, not %q", run.ID, run.Job, job.Name)
	}
	var removed []string
	var errs []error
	started := run.StartedAt.UTC().Truncate(time.Second)
	for _, t := range job.Destinations {
		for _, sec := range []time.Time{started, started.Add(-time.Second)} {
			stem := artifactStem(job.Prefix, job.Name, sec)
			keys := map[string]bool{}
			var listErr error
			for obj, err := range t.Destination.List(ctx, stem) {
				if err != nil {
					listErr = err
					break
				}
				keys[obj.Key] = true
			}
			if listErr != nil {
				errs = append(errs, fmt.Errorf("%s: list %s: %w", t.Name, stem, listErr))
				continue
			}
			for key := range keys {
				if strings.HasSuffix(key, ManifestSuffix) || keys[key+ManifestSuffix] {
					continue
				}
				if err := t.Destination.Delete(ctx, key); err != nil {
					errs = append(errs, fmt.Errorf("%s: delete %s: %w", t.Name, key, err))
					continue
				}
				removed = append(removed, t.Name+":"+key)
			}
		}
	}
	return removed, errors.Join(errs...)
}
