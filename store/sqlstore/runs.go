package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupkit/backupkit/store"
)

const runColumns = `id, job, schedule_id, slot, trigger_kind, triggered_by, status, reason, owner, attempt,
	lease_until, started_at, finished_at, bytes_read, bytes_written, backup_id, kind`

// runColumnCount is the number of columns in runColumns.
var runColumnCount = strings.Count(runColumns, ",") + 1

// runKind returns the kind stored for k: an empty kind is a backup run.
func runKind(k store.RunKind) store.RunKind {
	if k == "" {
		return store.RunKindBackup
	}
	return k
}

// runArgs returns r's values in runColumns order.
func (db *DB) runArgs(r *store.Run) []any {
	t := db.d.encodeTime
	return []any{r.ID, r.Job, r.ScheduleID, t(r.Slot), string(r.Trigger), r.TriggeredBy, string(r.Status), r.Reason,
		r.Owner, r.Attempt, t(r.LeaseUntil), t(r.StartedAt), t(r.FinishedAt), r.BytesRead, r.BytesWritten, r.BackupID,
		string(runKind(r.Kind))}
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner) (store.Run, error) {
	var r store.Run
	err := s.Scan(&r.ID, &r.Job, &r.ScheduleID, timeScanner{&r.Slot}, &r.Trigger, &r.TriggeredBy, &r.Status, &r.Reason,
		&r.Owner, &r.Attempt, timeScanner{&r.LeaseUntil}, timeScanner{&r.StartedAt}, timeScanner{&r.FinishedAt},
		&r.BytesRead, &r.BytesWritten, &r.BackupID, &r.Kind)
	r.Kind = runKind(r.Kind)
	return r, err
}

// CreateRun inserts r. Beyond store.Runs.CreateRun: an empty Status becomes
// running and a zero Attempt becomes 1. StartedAt and the default lease come
// from the database clock. Besides a duplicate ID, a run that claims a slot
// already claimed (same job, schedule, slot and attempt; see the package
// documentation) fails with store.ErrConflict. On success r holds the assigned
// values; on failure r is unchanged.
func (db *DB) CreateRun(ctx context.Context, r *store.Run) error {
	if r == nil {
		return errors.New("sqlstore: CreateRun: nil run")
	}
	_, err := db.insertRun(ctx, r, false)
	return err
}

// ClaimRun inserts r as CreateRun does, unless its slot (Job, ScheduleID,
// Slot, Attempt) is already claimed: then it returns false and a nil error,
// and r is unchanged. Of any number of concurrent claimers of one slot, in
// any number of processes sharing the database, exactly one gets true. A run
// with a zero Slot (a manual run) claims nothing and is always inserted. A
// duplicate ID fails with store.ErrConflict; a run without Job is refused.
func (db *DB) ClaimRun(ctx context.Context, r *store.Run) (bool, error) {
	if r == nil {
		return false, errors.New("sqlstore: ClaimRun: nil run")
	}
	if r.Job == "" {
		return false, errors.New("sqlstore: ClaimRun: the run has no Job")
	}
	if !r.Slot.IsZero() {
		// Most losers arrive after the winner committed: tell them without
		// a write transaction. The unique key decides the races.
		var one int
		err := db.readRow(ctx, `SELECT 1 FROM runs WHERE job = ? AND schedule_id = ? AND slot = ? AND attempt = ?`,
			r.Job, r.ScheduleID, db.d.encodeTime(r.Slot), max(r.Attempt, 1)).Scan(&one)
		switch {
		case err == nil:
			return false, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("sqlstore: claim slot %s of job %q: %w", r.Slot.UTC().Format(time.RFC3339Nano), r.Job, err)
		}
	}
	return db.insertRun(ctx, r, true)
}

// insertRun inserts r with its defaults. With claim set, losing the slot
// returns false and no error.
func (db *DB) insertRun(ctx context.Context, r *store.Run, claim bool) (bool, error) {
	c := *r
	if c.ID == "" {
		c.ID = db.newID()
	}
	if c.Status == "" {
		c.Status = store.RunRunning
	}
	if c.Attempt == 0 {
		c.Attempt = 1
	}
	c.Kind = runKind(c.Kind)
	if c.Attempt < 0 {
		return false, fmt.Errorf("sqlstore: run %s: Attempt %d is negative", c.ID, c.Attempt)
	}
	inserted := true
	err := db.inWrite(ctx, func(t *tx) error {
		inserted = true
		if c.StartedAt.IsZero() || (c.Status == store.RunRunning && c.LeaseUntil.IsZero()) {
			now, err := t.now(ctx)
			if err != nil {
				return err
			}
			if r.StartedAt.IsZero() {
				c.StartedAt = now
			}
			if c.Status == store.RunRunning && r.LeaseUntil.IsZero() {
				c.LeaseUntil = now.Add(store.DefaultLease)
			}
		}
		q := `INSERT INTO runs (` + runColumns + `) VALUES (` + placeholders(runColumnCount) + `)`
		if claim {
			q += db.d.claimConflict
		}
		res, err := t.exec(ctx, q, db.runArgs(&c)...)
		if err != nil {
			return err
		}
		if claim && db.d.claimConflict != "" {
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			inserted = n == 1
		}
		return nil
	})
	switch {
	case err != nil && claim && db.d.isSlotTaken != nil && db.d.isSlotTaken(err):
		return false, nil
	case err != nil && db.d.isUnique(err):
		return false, db.runConflict(ctx, &c, err)
	case err != nil:
		return false, fmt.Errorf("sqlstore: create run %s: %w", c.ID, err)
	case !inserted:
		return false, nil
	}
	*r = c
	return true, nil
}

// runConflict explains a unique violation on inserting or updating r: either
// its ID exists or its slot is claimed. It runs after the failed transaction,
// which some databases abort on the first error.
func (db *DB) runConflict(ctx context.Context, r *store.Run, cause error) error {
	var other string
	err := db.readRow(ctx, `SELECT id FROM runs WHERE job = ? AND schedule_id = ? AND slot = ? AND attempt = ?`,
		r.Job, r.ScheduleID, db.d.encodeTime(r.Slot), r.Attempt).Scan(&other)
	switch {
	case err == nil && other != r.ID:
		return fmt.Errorf("sqlstore: run %s: %w: slot %s of job %q (schedule %q) attempt %d already claimed by run %s",
			r.ID, store.ErrConflict, r.Slot.UTC().Format(time.RFC3339Nano), r.Job, r.ScheduleID, r.Attempt, other)
	case err == nil || errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: run %s: %w: id already exists", r.ID, store.ErrConflict)
	default:
		return fmt.Errorf("sqlstore: run %s: %w (%v)", r.ID, store.ErrConflict, cause)
	}
}

// UpdateRun replaces the stored run with r, matched by r.ID, except its Owner
// and Attempt, which identify the caller, and its StartedAt when r's is zero. It is fenced: only a running run can
// be updated, and only by its owner and attempt (r.Owner and r.Attempt equal
// to the stored ones); otherwise it fails with store.ErrConflict, naming who
// holds the run or its status, so that a process whose run was interrupted
// (lease expired) or taken over learns it and changes nothing. Its log lines
// are kept. Moving it onto a claimed slot fails with store.ErrConflict. When
// the update finishes a run of a stored schedule (running to a final status),
// the schedule's last run, last status and counters are updated in the same
// transaction.
func (db *DB) UpdateRun(ctx context.Context, r *store.Run) error {
	if r == nil {
		return errors.New("sqlstore: UpdateRun: nil run")
	}
	if r.Status == "" {
		return fmt.Errorf("sqlstore: update run %s: Status is empty", r.ID)
	}
	err := db.inWrite(ctx, func(t *tx) error {
		t2 := db.d.encodeTime
		res, err := t.exec(ctx, `UPDATE runs SET job = ?, schedule_id = ?, slot = ?, trigger_kind = ?, triggered_by = ?,
			status = ?, reason = ?, lease_until = ?, started_at = COALESCE(?, started_at), finished_at = ?,
			bytes_read = ?, bytes_written = ?, backup_id = ?, kind = ?
			WHERE id = ? AND status = ? AND owner = ? AND attempt = ?`,
			r.Job, r.ScheduleID, t2(r.Slot), string(r.Trigger), r.TriggeredBy, string(r.Status), r.Reason,
			t2(r.LeaseUntil), t2(r.StartedAt), t2(r.FinishedAt), r.BytesRead, r.BytesWritten, r.BackupID, string(runKind(r.Kind)),
			r.ID, string(store.RunRunning), r.Owner, r.Attempt)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return db.fenced(ctx, t, "update run", r.ID, r.Owner, r.Attempt)
		}
		if r.Status.Final() && r.ScheduleID != "" {
			return db.runFinished(ctx, t, r)
		}
		return nil
	})
	switch {
	case err != nil && db.d.isUnique(err):
		return db.runConflict(ctx, r, err)
	case err != nil && (errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict)):
		return err
	case err != nil:
		return fmt.Errorf("sqlstore: update run %s: %w", r.ID, err)
	}
	return nil
}

// fenced explains why a fenced change of run id matched no row: the run is
// missing (store.ErrNotFound), no longer running, or held by another owner or
// attempt (store.ErrConflict). attempt < 0 skips the attempt check.
func (db *DB) fenced(ctx context.Context, t *tx, what, id, owner string, attempt int) error {
	var status, current string
	var curAttempt int
	err := t.queryRow(ctx, `SELECT status, owner, attempt FROM runs WHERE id = ?`, id).Scan(&status, &current, &curAttempt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s %s: %w", what, id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlstore: %s %s: %w", what, id, err)
	case status != string(store.RunRunning):
		return fmt.Errorf("sqlstore: %s %s: %w: run is %s, no longer running", what, id, store.ErrConflict, status)
	case current != owner:
		return fmt.Errorf("sqlstore: %s %s: %w: owned by %q, not %q", what, id, store.ErrConflict, current, owner)
	default:
		return fmt.Errorf("sqlstore: %s %s: %w: stored attempt is %d, not %d", what, id, store.ErrConflict, curAttempt, attempt)
	}
}

// GetRun returns the run with the given id, or an error matching
// store.ErrNotFound.
func (db *DB) GetRun(ctx context.Context, id string) (store.Run, error) {
	r, err := scanRun(db.readRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Run{}, fmt.Errorf("sqlstore: run %s: %w", id, store.ErrNotFound)
	case err != nil:
		return store.Run{}, fmt.Errorf("sqlstore: get run %s: %w", id, err)
	}
	return r, nil
}

// DefaultRunLimit is the number of runs ListRuns returns when the filter sets
// no limit.
const DefaultRunLimit = 100

// ListRuns returns the runs f selects, newest first: by StartedAt, then, for
// equal start times, by creation (ID). A zero Limit means DefaultRunLimit; a
// malformed Cursor fails naming it. It never returns nil.
func (db *DB) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	where, args, err := db.runWhere(f)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultRunLimit
	}
	q := `SELECT ` + runColumns + ` FROM runs` + db.d.forceIndex(runIndex(f)) + whereClause(where) +
		` ORDER BY started_at ` + db.d.descNullsLast + `, id DESC LIMIT ?`
	rows, err := db.read.QueryContext(ctx, db.d.rebind(q), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list runs: %w", err)
	}
	defer rows.Close()
	out := []store.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list runs: %w", err)
	}
	return out, nil
}

// placeholders returns n comma-separated "?" bind markers.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// RenewLease sets a running run's lease to ttl from the database clock. A
// non-positive ttl expires the lease at once, so the next InterruptExpired
// takes the run. A lease that has expired can still be renewed by its owner
// until InterruptExpired has marked the run. It fails with store.ErrConflict
// when the run is not running or has another owner, and store.ErrNotFound
// when there is no such run.
func (db *DB) RenewLease(ctx context.Context, id, owner string, ttl time.Duration) error {
	return db.inWrite(ctx, func(t *tx) error {
		now, err := t.now(ctx)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `UPDATE runs SET lease_until = ? WHERE id = ? AND owner = ? AND status = ?`,
			db.d.encodeTime(now.Add(ttl)), id, owner, string(store.RunRunning))
		if err != nil {
			return fmt.Errorf("sqlstore: renew lease of run %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return db.fenced(ctx, t, "renew lease of run", id, owner, -1)
	})
}

// InterruptExpired marks as interrupted every running run whose lease ended
// at or before the database clock's now (a running run without a lease
// counts as expired), setting FinishedAt to now and Reason, and returns them
// as stored, oldest first.
func (db *DB) InterruptExpired(ctx context.Context) ([]store.Run, error) {
	out := []store.Run{}
	err := db.inWrite(ctx, func(t *tx) error {
		out = out[:0]
		now, err := t.now(ctx)
		if err != nil {
			return err
		}
		const expired = `status = ? AND (lease_until IS NULL OR lease_until <= ?)`
		nowArg := db.d.encodeTime(now)
		rows, err := t.query(ctx, `SELECT `+runColumns+` FROM runs WHERE `+expired+` ORDER BY id`+db.d.forUpdate,
			string(store.RunRunning), nowArg)
		if err != nil {
			return err
		}
		var candidates []store.Run
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return err
			}
			candidates = append(candidates, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range candidates {
			reason := fmt.Sprintf("owner %q stopped renewing its lease", r.Owner)
			if !r.LeaseUntil.IsZero() {
				reason += " (expired " + r.LeaseUntil.Format(time.RFC3339Nano) + ")"
			}
			res, err := t.exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, reason = ? WHERE id = ? AND `+expired,
				string(store.RunInterrupted), nowArg, reason, r.ID, string(store.RunRunning), nowArg)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // renewed or finished meanwhile (databases without serialized writers)
			}
			r.Status, r.FinishedAt, r.Reason = store.RunInterrupted, now, reason
			if r.ScheduleID != "" {
				if err := db.runFinished(ctx, t, &r); err != nil {
					return err
				}
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: interrupt expired runs: %w", err)
	}
	return out, nil
}

// SetInterruptedBackup records the backup an interrupted run left (see
// store.Runs.SetInterruptedBackup).
func (db *DB) SetInterruptedBackup(ctx context.Context, id, backupID, note string) error {
	if backupID == "" {
		return fmt.Errorf("sqlstore: set backup of run %s: empty backup ID", id)
	}
	err := db.inWrite(ctx, func(t *tx) error {
		var status, reason string
		var current sql.NullString
		err := t.queryRow(ctx, `SELECT status, reason, backup_id FROM runs WHERE id = ?`+db.d.forUpdate, id).Scan(&status, &reason, &current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case status != string(store.RunInterrupted):
			return fmt.Errorf("%w: run is %s, not interrupted", store.ErrConflict, status)
		case current.String != "":
			return fmt.Errorf("%w: run already has backup %s", store.ErrConflict, current.String)
		}
		if note != "" {
			if reason != "" {
				reason += "; "
			}
			reason += note
		}
		_, err = t.exec(ctx, `UPDATE runs SET backup_id = ?, reason = ? WHERE id = ? AND status = ?`,
			backupID, reason, id, string(store.RunInterrupted))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: set backup of run %s: %w", id, err)
	}
	return nil
}
