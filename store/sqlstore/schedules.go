package sqlstore

import (
	"context"

	"github.com/backupkit/backupkit/store"
)

// runFinished records a finished run of a stored schedule on the schedule:
// last run time (the run's start, else its slot), last status, and the
// success or failure counter (succeeded counts as a success; failed, partial
// and interrupted as failures; other statuses count as neither). A schedule
// that does not exist (one that lives only in configuration) is left alone.
func (db *DB) runFinished(ctx context.Context, t *tx, r *store.Run) error {
	var ok, bad int
	switch r.Status {
	case store.RunSucceeded:
		ok = 1
	case store.RunFailed, store.RunPartial, store.RunInterrupted:
		bad = 1
	}
	last := r.StartedAt
	if last.IsZero() {
		last = r.Slot
	}
	_, err := t.exec(ctx, `UPDATE schedules SET last_run_at = ?, last_status = ?,
		success_count = success_count + ?, failure_count = failure_count + ? WHERE id = ?`,
		db.d.encodeTime(last), string(r.Status), ok, bad, r.ScheduleID)
	return err
}
