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
	lease_until, started_at, finished_at, bytes_read, bytes_written, backup_id`

// runArgs returns r's values in runColumns order.
func (db *DB) runArgs(r *store.Run) []any {
	t := db.d.encodeTime
	return []any{r.ID, r.Job, r.ScheduleID, t(r.Slot), string(r.Trigger), r.TriggeredBy, string(r.Status), r.Reason,
		r.Owner, r.Attempt, t(r.LeaseUntil), t(r.StartedAt), t(r.FinishedAt), r.BytesRead, r.BytesWritten, r.BackupID}
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner) (store.Run, error) {
	var r store.Run
	err := s.Scan(&r.ID, &r.Job, &r.ScheduleID, timeScanner{&r.Slot}, &r.Trigger, &r.TriggeredBy, &r.Status, &r.Reason,
		&r.Owner, &r.Attempt, timeScanner{&r.LeaseUntil}, timeScanner{&r.StartedAt}, timeScanner{&r.FinishedAt},
		&r.BytesRead, &r.BytesWritten, &r.BackupID)
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
	err := db.inWrite(ctx, func(t *tx) error {
		if c.StartedAt.IsZero() || (c.Status == store.RunRunning && c.LeaseUntil.IsZero()) {
			now, err := t.now(ctx)
			if err != nil {
				return err
			}
			if c.StartedAt.IsZero() {
				c.StartedAt = now
			}
			if c.Status == store.RunRunning && c.LeaseUntil.IsZero() {
				c.LeaseUntil = now.Add(store.DefaultLease)
			}
		}
		_, err := t.exec(ctx, `INSERT INTO runs (`+runColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, db.runArgs(&c)...)
		return err
	})
	if err != nil {
		if db.d.isUnique(err) {
			return db.runConflict(ctx, &c, err)
		}
		return fmt.Errorf("sqlstore: create run %s: %w", c.ID, err)
	}
	*r = c
	return nil
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

// UpdateRun replaces the stored run with r, matched by r.ID. Its log lines
// are kept. Moving it onto a claimed slot fails with store.ErrConflict.
func (db *DB) UpdateRun(ctx context.Context, r *store.Run) error {
	if r == nil {
		return errors.New("sqlstore: UpdateRun: nil run")
	}
	var n int64
	err := db.inWrite(ctx, func(t *tx) error {
		args := db.runArgs(r)
		res, err := t.exec(ctx, `UPDATE runs SET job = ?, schedule_id = ?, slot = ?, trigger_kind = ?, triggered_by = ?,
			status = ?, reason = ?, owner = ?, attempt = ?, lease_until = ?, started_at = ?, finished_at = ?,
			bytes_read = ?, bytes_written = ?, backup_id = ? WHERE id = ?`, append(args[1:], r.ID)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	switch {
	case err != nil && db.d.isUnique(err):
		return db.runConflict(ctx, r, err)
	case err != nil:
		return fmt.Errorf("sqlstore: update run %s: %w", r.ID, err)
	case n == 0:
		return fmt.Errorf("sqlstore: run %s: %w", r.ID, store.ErrNotFound)
	}
	return nil
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
// equal start times, by creation (ID). It never returns nil.
func (db *DB) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	var where []string
	var args []any
	if f.Job != "" {
		where = append(where, "job = ?")
		args = append(args, f.Job)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultRunLimit
	}
	q := `SELECT ` + runColumns + ` FROM runs` + whereClause(where) +
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
		var status, current string
		err = t.queryRow(ctx, `SELECT status, owner FROM runs WHERE id = ?`, id).Scan(&status, &current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlstore: renew lease of run %s: %w", id, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("sqlstore: renew lease of run %s: %w", id, err)
		case status != string(store.RunRunning):
			return fmt.Errorf("sqlstore: renew lease of run %s: %w: run is %s", id, store.ErrConflict, status)
		default:
			return fmt.Errorf("sqlstore: renew lease of run %s: %w: owned by %q, not %q", id, store.ErrConflict, current, owner)
		}
	})
}

// InterruptExpired marks as interrupted every running run whose lease ended
// at or before the database clock's now (a running run without a lease
// counts as expired), setting FinishedAt to now and Reason, and returns them
// as stored, oldest first.
func (db *DB) InterruptExpired(ctx context.Context) ([]store.Run, error) {
	out := []store.Run{}
	err := db.inWrite(ctx, func(t *tx) error {
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
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: interrupt expired runs: %w", err)
	}
	return out, nil
}
