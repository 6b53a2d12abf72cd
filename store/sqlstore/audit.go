package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/backupkit/backupkit/store"
)

// DefaultAuditLimit is the number of entries ListAudit returns when the
// filter sets no limit.
const DefaultAuditLimit = 100

// AppendAudit records e; see store.Audit.AppendAudit. On success e holds the
// assigned ID and Time.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if e == nil {
		return errors.New("sqlstore: AppendAudit: nil entry")
	}
	c := *e
	switch {
	case c.Actor == "":
		return errors.New("sqlstore: audit entry: Actor is empty")
	case c.Action == "":
		return errors.New("sqlstore: audit entry: Action is empty")
	case c.Details != nil && !json.Valid(c.Details):
		return fmt.Errorf("sqlstore: audit entry %q by %q: Details is not valid JSON", c.Action, c.Actor)
	}
	if c.ID == "" {
		c.ID = db.newID()
	}
	err := db.inWrite(ctx, func(t *tx) error {
		if e.Time.IsZero() {
			now, err := t.now(ctx)
			if err != nil {
				return err
			}
			c.Time = now
		}
		_, err := t.exec(ctx, `INSERT INTO audit_log (id, occurred_at, actor, action, target, details) VALUES (?,?,?,?,?,?)`,
			c.ID, db.d.encodeTime(c.Time), c.Actor, c.Action, c.Target, nullJSON(c.Details))
		return err
	})
	switch {
	case err != nil && db.d.isUnique(err):
		return fmt.Errorf("sqlstore: audit entry %s: %w: id already exists", c.ID, store.ErrConflict)
	case err != nil:
		return fmt.Errorf("sqlstore: append audit entry: %w", err)
	}
	*e = c
	return nil
}

// ListAudit returns the entries f selects, newest first (by Time, then ID).
// A Before cursor naming no entry fails with store.ErrNotFound. It never
// returns nil.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "occurred_at >= ?")
		args = append(args, db.d.encodeTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "occurred_at < ?")
		args = append(args, db.d.encodeTime(f.Until))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	out := []store.AuditEntry{}
	err := db.inRead(ctx, func(t *tx) error {
		out = out[:0]
		w, a := where, args
		if f.Before != "" {
			var atTime time.Time
			err := t.queryRow(ctx, `SELECT occurred_at FROM audit_log WHERE id = ?`, f.Before).Scan(timeScanner{&atTime})
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: audit cursor %q: %w", f.Before, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			at := db.d.encodeTime(atTime)
			w = append(w, "(occurred_at < ? OR (occurred_at = ? AND id < ?))")
			a = append(a, at, at, f.Before)
		}
		rows, err := t.query(ctx, `SELECT id, occurred_at, actor, action, target, details FROM audit_log`+whereClause(w)+
			` ORDER BY occurred_at DESC, id DESC LIMIT ?`, append(a, limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.AuditEntry
			var details sql.NullString
			if err := rows.Scan(&e.ID, timeScanner{&e.Time}, &e.Actor, &e.Action, &e.Target, &details); err != nil {
				return err
			}
			if details.Valid {
				e.Details = json.RawMessage(details.String)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sqlstore: list audit entries: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
