package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/store"
)

// DefaultPageSize is the page size of ListRunsPage and ListBackupsPage when
// the filter sets no limit.
const DefaultPageSize = 100

// A cursor is the sort key of the last row of a page: its time (Unix
// nanoseconds) and its id, base64url-encoded. Rows after it sort strictly
// after that key, so a page costs one index range scan wherever it is.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		ns, id, ok := strings.Cut(string(b), "|")
		if n, perr := strconv.ParseInt(ns, 10, 64); ok && perr == nil && id != "" {
			return time.Unix(0, n).UTC(), id, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("sqlstore: malformed Cursor %q: use the Next of a previous page", c)
}

// after returns the condition selecting rows that sort after (col, id) =
// (t, id) in "col DESC, id DESC" order, with its arguments. SQLite and
// PostgreSQL compare row values along the index; MySQL gets the expanded
// form, which its range optimizer turns into index ranges.
func (db *DB) after(col string, t time.Time, id string) (string, []any) {
	v := db.d.encodeTime(t)
	if !db.d.rowValues {
		return "(" + col + " < ? OR (" + col + " = ? AND id < ?))", []any{v, v, id}
	}
	return "(" + col + ", id) < (?, ?)", []any{v, id}
}

// runIndex is the index a run listing with filter f walks.
func runIndex(f store.RunFilter) string {
	switch {
	case f.Job != "":
		return "runs_job_started"
	case f.ScheduleID != "":
		return "runs_schedule_started"
	case f.Status != "":
		return "runs_status"
	case f.Kind != "":
		return "runs_kind_started"
	}
	return "runs_started"
}

// backupIndex is the index a catalog listing with filter f walks.
func backupIndex(f store.BackupFilter) string {
	switch {
	case f.Job != "":
		return "backups_job_created"
	case f.Protected != nil:
		return "backups_protected"
	}
	return "backups_created"
}

// runWhere turns a run filter into conditions and arguments.
func (db *DB) runWhere(f store.RunFilter) ([]string, []any, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"job", f.Job}, {"schedule_id", f.ScheduleID}, {"status", string(f.Status)}, {"kind", string(f.Kind)}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, db.d.encodeTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "started_at < ?")
		args = append(args, db.d.encodeTime(f.Until))
	}
	if f.Cursor != "" {
		t, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, nil, err
		}
		cond, a := db.after("started_at", t, id)
		where = append(where, cond)
		args = append(args, a...)
	}
	return where, args, nil
}

// ListRunsPage returns one page of the runs f selects, newest first (as
// ListRuns), and the cursor of the next page ("" after the last one).
func (db *DB) ListRunsPage(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	f.Limit = limit + 1
	runs, err := db.ListRuns(ctx, f)
	if err != nil {
		return store.RunPage{}, err
	}
	page := store.RunPage{Runs: runs}
	if len(runs) > limit {
		page.Runs = runs[:limit]
		last := page.Runs[limit-1]
		page.Next = encodeCursor(last.StartedAt, last.ID)
	}
	return page, nil
}

// ListBackupsPage returns one page of the backups f selects with their
// copies, newest first (as ListBackups), and the cursor of the next page (""
// after the last one). A zero Limit means DefaultPageSize.
func (db *DB) ListBackupsPage(ctx context.Context, f store.BackupFilter) (store.BackupPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	f.Limit = limit + 1
	bs, err := db.ListBackups(ctx, f)
	if err != nil {
		return store.BackupPage{}, err
	}
	page := store.BackupPage{Backups: bs}
	if len(bs) > limit {
		page.Backups = bs[:limit]
		last := page.Backups[limit-1]
		page.Next = encodeCursor(last.CreatedAt, last.ID)
	}
	return page, nil
}

// Stats summarizes the finished runs f selects; see store.Stats.
func (db *DB) Stats(ctx context.Context, f store.StatsFilter) (store.Stats, error) {
	where, args, err := db.runWhere(store.RunFilter{Job: f.Job, ScheduleID: f.ScheduleID, Kind: store.RunKindBackup, Since: f.Since, Until: f.Until})
	if err != nil {
		return store.Stats{}, err
	}
	final := []store.RunStatus{store.RunSucceeded, store.RunFailed, store.RunPartial, store.RunCanceled, store.RunInterrupted}
	where = append(where, "status IN (?,?,?,?,?)")
	for _, s := range final {
		args = append(args, string(s))
	}
	var st store.Stats
	var durations []time.Duration
	err = db.inRead(ctx, func(t *tx) error {
		st, durations = store.Stats{}, durations[:0]
		rows, err := t.query(ctx, `SELECT status, started_at, finished_at, bytes_written FROM runs`+whereClause(where), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status store.RunStatus
			var started, finished time.Time
			var bytes int64
			if err := rows.Scan(&status, timeScanner{&started}, timeScanner{&finished}, &bytes); err != nil {
				return err
			}
			st.Total++
			switch status {
			case store.RunSucceeded:
				st.Succeeded++
			case store.RunFailed:
				st.Failed++
			case store.RunPartial:
				st.Partial++
			}
			st.BytesWritten += bytes
			if !started.IsZero() && !finished.IsZero() && !finished.Before(started) {
				durations = append(durations, finished.Sub(started))
			}
		}
		return rows.Err()
	})
	if err != nil {
		return store.Stats{}, fmt.Errorf("sqlstore: run stats: %w", err)
	}
	if st.Total > 0 {
		st.SuccessRate = float64(st.Succeeded) / float64(st.Total)
	}
	if n := len(durations); n > 0 {
		var sum time.Duration
		for _, d := range durations {
			sum += d
		}
		st.AvgDuration = sum / time.Duration(n)
		slices.Sort(durations)
		st.P95Duration = durations[int(math.Ceil(0.95*float64(n)))-1]
	}
	return st, nil
}
