package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backupkit/backupkit/store"
)

// testHookAfterBackupRow, when set by a test, runs inside AddBackup's
// transaction between the backup's row and its copies (a crash test exits
// the process there).
var testHookAfterBackupRow func()

const backupColumns = `id, job, run_id, status, created_at, size, sha256, format, compression, encryption, source_info, protected,
	protected_until, last_verified_at, verify_level, verify_ok, verify_problem`

// backupColumnCount is the number of columns in backupColumns.
const backupColumnCount = 17

// copyColumns are the columns db.copies selects, after backup_id.
const copyColumns = `destination, object_key, size, created_at, missing_since`

func scanBackup(s scanner) (store.Backup, error) {
	var b store.Backup
	var info sql.NullString
	err := s.Scan(&b.ID, &b.Job, &b.RunID, &b.Status, timeScanner{&b.CreatedAt}, &b.Size, &b.SHA256,
		&b.Format, &b.Compression, &b.Encryption, &info, &b.Protected,
		timeScanner{&b.ProtectedUntil}, timeScanner{&b.LastVerifiedAt}, &b.VerifyLevel, &b.VerifyOK, &b.VerifyProblem)
	if info.Valid {
		b.SourceInfo = json.RawMessage(info.String)
	}
	return b, err
}

// AddBackup inserts b and its copies in one transaction, assigning b.ID when
// empty. It requires at least one copy, valid JSON (or nothing) in
// SourceInfo and distinct copy destinations. A zero CreatedAt, of the backup
// or of a copy, becomes the database clock's now. A backup whose ID exists
// fails with store.ErrConflict. On success b holds the assigned values; on
// failure b is unchanged and nothing is stored.
func (db *DB) AddBackup(ctx context.Context, b *store.Backup) error {
	if b == nil {
		return errors.New("sqlstore: AddBackup: nil backup")
	}
	c := *b
	c.Copies = slices.Clone(b.Copies)
	if c.ID == "" {
		c.ID = db.newID()
	}
	if len(c.Copies) == 0 {
		return fmt.Errorf("sqlstore: add backup %s: a backup needs at least one copy", c.ID)
	}
	if c.SourceInfo != nil && !json.Valid(c.SourceInfo) {
		return fmt.Errorf("sqlstore: add backup %s: SourceInfo is not valid JSON", c.ID)
	}
	seen := map[string]bool{}
	for _, cp := range c.Copies {
		if seen[cp.Destination] {
			return fmt.Errorf("sqlstore: add backup %s: %w: two copies on destination %q", c.ID, store.ErrConflict, cp.Destination)
		}
		seen[cp.Destination] = true
	}
	t := db.d.encodeTime
	err := db.inWrite(ctx, func(tx *tx) error {
		needNow := c.CreatedAt.IsZero()
		for _, cp := range c.Copies {
			needNow = needNow || cp.CreatedAt.IsZero()
		}
		if needNow {
			now, err := tx.now(ctx)
			if err != nil {
				return err
			}
			if c.CreatedAt.IsZero() {
				c.CreatedAt = now
			}
			for i := range c.Copies {
				if c.Copies[i].CreatedAt.IsZero() {
					c.Copies[i].CreatedAt = now
				}
			}
		}
		_, err := tx.exec(ctx, `INSERT INTO backups (`+backupColumns+`) VALUES (`+placeholders(backupColumnCount)+`)`,
			c.ID, c.Job, c.RunID, string(c.Status), t(c.CreatedAt), c.Size, c.SHA256, c.Format, c.Compression,
			c.Encryption, nullJSON(c.SourceInfo), c.Protected,
			t(c.ProtectedUntil), t(c.LastVerifiedAt), c.VerifyLevel, c.VerifyOK, c.VerifyProblem)
		if err != nil {
			return err
		}
		if testHookAfterBackupRow != nil {
			testHookAfterBackupRow()
		}
		for _, cp := range c.Copies {
			_, err := tx.exec(ctx, `INSERT INTO backup_copies (backup_id, `+copyColumns+`) VALUES (?,?,?,?,?,?)`,
				c.ID, cp.Destination, cp.Key, cp.Size, t(cp.CreatedAt), t(cp.MissingSince))
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil && db.d.isUnique(err):
		return fmt.Errorf("sqlstore: backup %s: %w: id already exists", c.ID, store.ErrConflict)
	case err != nil:
		return fmt.Errorf("sqlstore: add backup %s: %w", c.ID, err)
	}
	*b = c
	return nil
}

// GetBackup returns the backup with its copies, or an error matching
// store.ErrNotFound.
func (db *DB) GetBackup(ctx context.Context, id string) (store.Backup, error) {
	var b store.Backup
	err := db.inRead(ctx, func(t *tx) error {
		var err error
		b, err = scanBackup(t.queryRow(ctx, `SELECT `+backupColumns+` FROM backups WHERE id = ?`, id))
		if err != nil {
			return err
		}
		copies, err := db.copies(ctx, t, `SELECT backup_id, `+copyColumns+`
			FROM backup_copies WHERE backup_id = ? ORDER BY id`, id)
		b.Copies = copies[id]
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Backup{}, fmt.Errorf("sqlstore: backup %s: %w", id, store.ErrNotFound)
	case err != nil:
		return store.Backup{}, fmt.Errorf("sqlstore: get backup %s: %w", id, err)
	}
	return b, nil
}

// copies runs a query selecting backup_id and copyColumns and groups the copies by backup, in the query's order.
func (db *DB) copies(ctx context.Context, t *tx, q string, args ...any) (map[string][]store.Copy, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]store.Copy{}
	for rows.Next() {
		var backupID string
		var c store.Copy
		if err := rows.Scan(&backupID, &c.Destination, &c.Key, &c.Size, timeScanner{&c.CreatedAt}, timeScanner{&c.MissingSince}); err != nil {
			return nil, err
		}
		out[backupID] = append(out[backupID], c)
	}
	return out, rows.Err()
}

// ListBackups returns the backups f selects with their copies, newest first:
// by CreatedAt, then, for equal times, by ID. A malformed Cursor fails naming
// it. It never returns nil.
func (db *DB) ListBackups(ctx context.Context, f store.BackupFilter) ([]store.Backup, error) {
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
	if f.Protected != nil {
		where = append(where, "protected = ?")
		args = append(args, *f.Protected)
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, db.d.encodeTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, db.d.encodeTime(f.Until))
	}
	if f.Cursor != "" {
		t, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		cond, a := db.after("created_at", t, id)
		where = append(where, cond)
		args = append(args, a...)
	}
	q := `SELECT ` + backupColumns + ` FROM backups` + db.d.forceIndex(backupIndex(f)) + whereClause(where) + ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	out := []store.Backup{}
	err := db.inRead(ctx, func(t *tx) error {
		out = out[:0]
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			b, err := scanBackup(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, b)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Copies of the listed backups, a chunk of ids at a time.
		const chunk = 500
		for start := 0; start < len(out); start += chunk {
			part := out[start:min(start+chunk, len(out))]
			ids := make([]any, len(part))
			for i, b := range part {
				ids[i] = b.ID
			}
			copies, err := db.copies(ctx, t, `SELECT backup_id, `+copyColumns+`
				FROM backup_copies WHERE backup_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY id`, ids...)
			if err != nil {
				return err
			}
			for i := range part {
				part[i].Copies = copies[part[i].ID]
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list backups: %w", err)
	}
	return out, nil
}

// DeleteCopy forgets the backup's copy on destination, and the backup with it
// when no copy is left. A missing copy or backup is not an error.
func (db *DB) DeleteCopy(ctx context.Context, backupID, destination string) error {
	err := db.inWrite(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM backup_copies WHERE backup_id = ? AND destination = ?`, backupID, destination); err != nil {
			return err
		}
		var left int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM backup_copies WHERE backup_id = ?`, backupID).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			_, err := t.exec(ctx, `DELETE FROM backups WHERE id = ?`, backupID)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete copy of backup %s on %q: %w", backupID, destination, err)
	}
	return nil
}

// DeleteBackup forgets the backup and its copies. A missing backup is not an
// error. Runs that produced it keep its ID in their history.
func (db *DB) DeleteBackup(ctx context.Context, id string) error {
	err := db.inWrite(ctx, func(t *tx) error {
		// The foreign key cascades too; deleting explicitly does not depend on it.
		if _, err := t.exec(ctx, `DELETE FROM backup_copies WHERE backup_id = ?`, id); err != nil {
			return err
		}
		_, err := t.exec(ctx, `DELETE FROM backups WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete backup %s: %w", id, err)
	}
	return nil
}

// SetProtected sets or clears the backup's protection from retention, and
// clears its ProtectedUntil, or fails with an error matching
// store.ErrNotFound.
func (db *DB) SetProtected(ctx context.Context, id string, protected bool) error {
	return db.updateOne(ctx, "protect backup "+id, "backup "+id,
		`UPDATE backups SET protected = ?, protected_until = NULL WHERE id = ?`, fixedArgs(protected, id))
}

// fixedArgs returns args, for updateOne.
func fixedArgs(args ...any) func(*tx) ([]any, error) {
	return func(*tx) ([]any, error) { return args, nil }
}

// updateOne runs the UPDATE q with the arguments args returns, in a write
// transaction (args may read it); an UPDATE that matched no row fails with
// an error naming missing and matching store.ErrNotFound, other errors name
// what.
func (db *DB) updateOne(ctx context.Context, what, missing, q string, args func(t *tx) ([]any, error)) error {
	var n int64
	err := db.inWrite(ctx, func(t *tx) error {
		a, err := args(t)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, q, a...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	case n == 0:
		return fmt.Errorf("sqlstore: %s: %w", missing, store.ErrNotFound)
	}
	return nil
}

// RecordVerification stores v as the backup's last verification; a zero At
// becomes the database clock's now. An empty Level fails naming it; a
// missing backup fails with an error matching store.ErrNotFound.
func (db *DB) RecordVerification(ctx context.Context, id string, v store.Verification) error {
	if v.Level == "" {
		return fmt.Errorf("sqlstore: record verification of backup %s: Level is empty", id)
	}
	return db.updateOne(ctx, "record verification of backup "+id, "backup "+id,
		`UPDATE backups SET last_verified_at = ?, verify_level = ?, verify_ok = ?, verify_problem = ? WHERE id = ?`,
		func(t *tx) ([]any, error) {
			at := v.At
			if at.IsZero() {
				now, err := t.now(ctx)
				if err != nil {
					return nil, err
				}
				at = now
			}
			return []any{db.d.encodeTime(at), v.Level, v.OK, v.Problem, id}, nil
		})
}

// AddCopy adds c to the existing backup backupID; a zero CreatedAt becomes
// the database clock's now. A missing backup fails with store.ErrNotFound, a
// destination that already holds a copy with store.ErrConflict.
func (db *DB) AddCopy(ctx context.Context, backupID string, c store.Copy) error {
	if c.Destination == "" {
		return fmt.Errorf("sqlstore: add copy of backup %s: Destination is empty", backupID)
	}
	err := db.inWrite(ctx, func(t *tx) error {
		var one int
		if err := t.queryRow(ctx, `SELECT 1 FROM backups WHERE id = ?`, backupID).Scan(&one); err != nil {
			return err
		}
		if c.CreatedAt.IsZero() {
			now, err := t.now(ctx)
			if err != nil {
				return err
			}
			c.CreatedAt = now
		}
		_, err := t.exec(ctx, `INSERT INTO backup_copies (backup_id, `+copyColumns+`) VALUES (?,?,?,?,?,?)`,
			backupID, c.Destination, c.Key, c.Size, db.d.encodeTime(c.CreatedAt), db.d.encodeTime(c.MissingSince))
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: backup %s: %w", backupID, store.ErrNotFound)
	case err != nil && db.d.isUnique(err):
		return fmt.Errorf("sqlstore: add copy of backup %s: %w: destination %q already holds one", backupID, store.ErrConflict, c.Destination)
	case err != nil:
		return fmt.Errorf("sqlstore: add copy of backup %s on %q: %w", backupID, c.Destination, err)
	}
	return nil
}

// SetCopyMissing sets (or, with a zero since, clears) the MissingSince of
// the backup's copy on destination. A missing copy fails with an error
// matching store.ErrNotFound.
func (db *DB) SetCopyMissing(ctx context.Context, backupID, destination string, since time.Time) error {
	return db.updateOne(ctx, fmt.Sprintf("mark copy of backup %s on %q", backupID, destination),
		fmt.Sprintf("copy of backup %s on %q", backupID, destination),
		`UPDATE backup_copies SET missing_since = ? WHERE backup_id = ? AND destination = ?`,
		fixedArgs(db.d.encodeTime(since), backupID, destination))
}
