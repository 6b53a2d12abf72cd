package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/backupkit/backupkit/store"
)

// AppendLogs adds entries to the run's log, numbered on from its last line.
// Appending to a run that does not exist fails with store.ErrNotFound
// (appending nothing always succeeds). Concurrent appends to one run are
// serialized; each call's entries stay together and in order.
func (db *DB) AppendLogs(ctx context.Context, runID string, entries ...store.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := db.inWrite(ctx, func(t *tx) error {
		// Bumping the run's line counter first locks the run's row on
		// databases with row locks, so concurrent appends cannot pick the
		// same numbers.
		res, err := t.exec(ctx, `UPDATE runs SET log_lines = log_lines + ? WHERE id = ?`, len(entries), runID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: append logs to run %s: %w", runID, store.ErrNotFound)
		}
		var last int64
		if err := t.queryRow(ctx, `SELECT log_lines FROM runs WHERE id = ?`, runID).Scan(&last); err != nil {
			return err
		}
		seq := last - int64(len(entries))
		for _, e := range entries {
			seq++
			var attrs any
			if len(e.Attrs) > 0 {
				b, err := json.Marshal(e.Attrs)
				if err != nil {
					return err
				}
				attrs = string(b)
			}
			_, err := t.exec(ctx, `INSERT INTO run_logs (run_id, seq, logged_at, level, message, attrs) VALUES (?,?,?,?,?,?)`,
				runID, seq, db.d.encodeTime(e.Time), string(e.Level), e.Message, attrs)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sqlstore: append logs to run %s: %w", runID, err)
	}
	return err
}

// RunLogs returns the run's log lines in the order they were appended, or an
// error matching store.ErrNotFound when there is no such run. It never
// returns nil.
func (db *DB) RunLogs(ctx context.Context, runID string) ([]store.LogEntry, error) {
	return db.RunLogsAfter(ctx, runID, 0, 0)
}

// RunLogsAfter returns the run's lines with Seq greater than after, in order,
// at most limit of them (limit <= 0: all), or an error matching
// store.ErrNotFound when there is no such run. It never returns nil.
func (db *DB) RunLogsAfter(ctx context.Context, runID string, after int64, limit int) ([]store.LogEntry, error) {
	out := []store.LogEntry{}
	err := db.inRead(ctx, func(t *tx) error {
		out = out[:0]
		q := `SELECT seq, logged_at, level, message, attrs FROM run_logs WHERE run_id = ? AND seq > ? ORDER BY seq`
		args := []any{runID, after}
		if limit > 0 {
			q += ` LIMIT ?`
			args = append(args, limit)
		}
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.LogEntry
			var attrs sql.NullString
			if err := rows.Scan(&e.Seq, timeScanner{&e.Time}, &e.Level, &e.Message, &attrs); err != nil {
				return err
			}
			if attrs.Valid {
				if err := json.Unmarshal([]byte(attrs.String), &e.Attrs); err != nil {
					return fmt.Errorf("line %d: stored attributes: %w", e.Seq, err)
				}
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) > 0 {
			return nil
		}
		var one int
		err = t.queryRow(ctx, `SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: run %s: %w", runID, store.ErrNotFound)
		}
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sqlstore: run logs of %s: %w", runID, err)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
