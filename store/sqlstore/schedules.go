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
	_ "time/tzdata" // schedules name IANA zones; hosts may have no zoneinfo

	"github.com/backupkit/backupkit/store"
)

const scheduleColumns = `id, tenant, name, tags, cron, timezone, paused, job, next_run_at, last_run_at, last_status,
	success_count, failure_count, created_at, updated_at`

func scanSchedule(s scanner) (store.Schedule, error) {
	var sc store.Schedule
	var tags, job string
	err := s.Scan(&sc.ID, &sc.Tenant, &sc.Name, &tags, &sc.Cron, &sc.Timezone, &sc.Paused, &job,
		timeScanner{&sc.NextRunAt}, timeScanner{&sc.LastRunAt}, &sc.LastStatus, &sc.SuccessCount, &sc.FailureCount,
		timeScanner{&sc.CreatedAt}, timeScanner{&sc.UpdatedAt})
	if err != nil {
		return sc, err
	}
	if err := json.Unmarshal([]byte(tags), &sc.Tags); err != nil {
		return sc, fmt.Errorf("schedule %s: stored tags are not a JSON array: %w", sc.ID, err)
	}
	if len(sc.Tags) == 0 {
		sc.Tags = nil
	}
	sc.Job = json.RawMessage(job)
	return sc, nil
}

// normalizeSchedule checks s's definition and brings it to its stored form
// (sorted unique tags, "UTC" for an empty zone, "{}" for no job). Errors name
// the field at fault.
func normalizeSchedule(s *store.Schedule) error {
	what := "schedule"
	if s.ID != "" {
		what += " " + s.ID
	}
	if strings.TrimSpace(s.Name) == "" {
		return fmt.Errorf("sqlstore: %s: Name is empty", what)
	}
	if strings.TrimSpace(s.Cron) == "" {
		return fmt.Errorf("sqlstore: %s %q: Cron is empty", what, s.Name)
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
		return fmt.Errorf("sqlstore: %s %q: Timezone %q is not an IANA time zone name", what, s.Name, s.Timezone)
	}
	if len(s.Job) == 0 {
		s.Job = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(s.Job, &obj); err != nil {
		return fmt.Errorf("sqlstore: %s %q: Job is not a JSON object: %v", what, s.Name, err)
	}
	tags := slices.Clone(s.Tags)
	for _, t := range tags {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("sqlstore: %s %q: a tag is empty", what, s.Name)
		}
	}
	slices.Sort(tags)
	s.Tags = slices.Compact(tags)
	if len(s.Tags) == 0 {
		s.Tags = nil
	}
	conns := slices.Clone(s.Connections)
	for _, c := range conns {
		if c == "" {
			return fmt.Errorf("sqlstore: %s %q: a connection name is empty", what, s.Name)
		}
	}
	slices.Sort(conns)
	s.Connections = slices.Compact(conns)
	if len(s.Connections) == 0 {
		s.Connections = nil
	}
	return nil
}

func tagsJSON(tags []string) string {
	if len(tags) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// CreateSchedule inserts s with its tags and connection links in one
// transaction; see store.Schedules.CreateSchedule. On success s holds the
// assigned and normalized values; on failure s is unchanged.
func (db *DB) CreateSchedule(ctx context.Context, s *store.Schedule) error {
	if s == nil {
		return errors.New("sqlstore: CreateSchedule: nil schedule")
	}
	c := *s
	if err := normalizeSchedule(&c); err != nil {
		return err
	}
	if c.ID == "" {
		c.ID = db.newID()
	}
	c.LastRunAt, c.LastStatus, c.SuccessCount, c.FailureCount = time.Time{}, "", 0, 0
	t := db.d.encodeTime
	err := db.inWrite(ctx, func(tx *tx) error {
		now, err := tx.now(ctx)
		if err != nil {
			return err
		}
		c.CreatedAt, c.UpdatedAt = now, now
		_, err = tx.exec(ctx, `INSERT INTO schedules (`+scheduleColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			c.ID, c.Tenant, c.Name, tagsJSON(c.Tags), c.Cron, c.Timezone, c.Paused, string(c.Job),
			t(c.NextRunAt), nil, "", 0, 0, t(now), t(now))
		if err != nil {
			return err
		}
		return db.linkSchedule(ctx, tx, &c)
	})
	if err != nil {
		return db.scheduleError(ctx, "create", &c, err)
	}
	*s = c
	return nil
}

// linkSchedule (re)writes the schedule's tag and connection rows.
func (db *DB) linkSchedule(ctx context.Context, t *tx, s *store.Schedule) error {
	if _, err := t.exec(ctx, `DELETE FROM schedule_tags WHERE schedule_id = ?`, s.ID); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM schedule_connections WHERE schedule_id = ?`, s.ID); err != nil {
		return err
	}
	for _, tag := range s.Tags {
		if _, err := t.exec(ctx, `INSERT INTO schedule_tags (schedule_id, tag) VALUES (?, ?)`, s.ID, tag); err != nil {
			return err
		}
	}
	for _, name := range s.Connections {
		var id string
		err := t.queryRow(ctx, `SELECT id FROM connections WHERE tenant = ? AND name = ?`, s.Tenant, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: schedule %q: connection %q: %w", s.Name, name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO schedule_connections (schedule_id, connection_id) VALUES (?, ?)`, s.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// scheduleError explains a failed write of s.
func (db *DB) scheduleError(ctx context.Context, op string, s *store.Schedule, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict):
		return err
	case db.d.isUnique(err):
		var other string
		if e := db.readRow(ctx, `SELECT id FROM schedules WHERE tenant = ? AND name = ?`, s.Tenant, s.Name).Scan(&other); e == nil && other != s.ID {
			if s.Tenant != "" {
				return fmt.Errorf("sqlstore: %w: schedule name %q already exists in tenant %q (schedule %s)", store.ErrConflict, s.Name, s.Tenant, other)
			}
			return fmt.Errorf("sqlstore: %w: schedule name %q already exists (schedule %s)", store.ErrConflict, s.Name, other)
		}
		return fmt.Errorf("sqlstore: schedule %s: %w: id already exists", s.ID, store.ErrConflict)
	}
	return fmt.Errorf("sqlstore: %s schedule %s: %w", op, s.ID, err)
}

// GetSchedule returns the schedule with its tags and connections, or an error
// matching store.ErrNotFound.
func (db *DB) GetSchedule(ctx context.Context, id string) (store.Schedule, error) {
	return db.getSchedule(ctx, "schedule "+id, `id = ?`, id)
}

// GetScheduleByName returns the tenant's schedule of that name, or an error
// matching store.ErrNotFound.
func (db *DB) GetScheduleByName(ctx context.Context, tenant, name string) (store.Schedule, error) {
	what := fmt.Sprintf("schedule %q", name)
	if tenant != "" {
		what += fmt.Sprintf(" of tenant %q", tenant)
	}
	return db.getSchedule(ctx, what, `tenant = ? AND name = ?`, tenant, name)
}

func (db *DB) getSchedule(ctx context.Context, what, where string, args ...any) (store.Schedule, error) {
	var out []store.Schedule
	err := db.inRead(ctx, func(t *tx) error {
		var err error
		out, err = db.schedules(ctx, t, where, args)
		return err
	})
	switch {
	case err != nil:
		return store.Schedule{}, fmt.Errorf("sqlstore: get %s: %w", what, err)
	case len(out) == 0:
		return store.Schedule{}, fmt.Errorf("sqlstore: %s: %w", what, store.ErrNotFound)
	}
	return out[0], nil
}

// schedules selects schedules with their connections, by tenant and name.
func (db *DB) schedules(ctx context.Context, t *tx, where string, args []any) ([]store.Schedule, error) {
	q := `SELECT ` + scheduleColumns + ` FROM schedules`
	if where != "" {
		q += ` WHERE ` + where
	}
	rows, err := t.query(ctx, q+` ORDER BY tenant, name`, args...)
	if err != nil {
		return nil, err
	}
	out := []store.Schedule{}
	index := map[string]int{}
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[s.ID] = len(out)
		out = append(out, s)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = t.query(ctx, `SELECT sc.schedule_id, c.name FROM schedule_connections sc
		JOIN connections c ON c.id = sc.connection_id ORDER BY c.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sid, name string
		if err := rows.Scan(&sid, &name); err != nil {
			return nil, err
		}
		if i, ok := index[sid]; ok {
			out[i].Connections = append(out[i].Connections, name)
		}
	}
	return out, rows.Err()
}

// ListSchedules returns the schedules f selects, by tenant and name. It never
// returns nil.
func (db *DB) ListSchedules(ctx context.Context, f store.ScheduleFilter) ([]store.Schedule, error) {
	var where []string
	var args []any
	if f.Tenant != "" {
		where = append(where, "tenant = ?")
		args = append(args, f.Tenant)
	}
	if f.Tag != "" {
		where = append(where, "EXISTS (SELECT 1 FROM schedule_tags st WHERE st.schedule_id = schedules.id AND st.tag = ?)")
		args = append(args, f.Tag)
	}
	if f.Paused != nil {
		where = append(where, "paused = ?")
		args = append(args, *f.Paused)
	}
	var out []store.Schedule
	err := db.inRead(ctx, func(t *tx) error {
		var err error
		out, err = db.schedules(ctx, t, strings.Join(where, " AND "), args)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list schedules: %w", err)
	}
	return out, nil
}

// UpdateSchedule replaces s's definition; see store.Schedules.UpdateSchedule.
// On success s holds the stored schedule; on failure s is unchanged.
func (db *DB) UpdateSchedule(ctx context.Context, s *store.Schedule) error {
	if s == nil {
		return errors.New("sqlstore: UpdateSchedule: nil schedule")
	}
	c := *s
	if c.ID == "" {
		return errors.New("sqlstore: UpdateSchedule: the schedule has no ID")
	}
	if err := normalizeSchedule(&c); err != nil {
		return err
	}
	var stored store.Schedule
	err := db.inWrite(ctx, func(tx *tx) error {
		now, err := tx.now(ctx)
		if err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE schedules SET tenant = ?, name = ?, tags = ?, cron = ?, timezone = ?, paused = ?,
			job = ?, next_run_at = ?, updated_at = ? WHERE id = ?`,
			c.Tenant, c.Name, tagsJSON(c.Tags), c.Cron, c.Timezone, c.Paused, string(c.Job),
			db.d.encodeTime(c.NextRunAt), db.d.encodeTime(now), c.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: schedule %s: %w", c.ID, store.ErrNotFound)
		}
		if err := db.linkSchedule(ctx, tx, &c); err != nil {
			return err
		}
		got, err := db.schedules(ctx, tx, `id = ?`, []any{c.ID})
		if err != nil {
			return err
		}
		stored = got[0]
		return nil
	})
	if err != nil {
		return db.scheduleError(ctx, "update", &c, err)
	}
	*s = stored
	return nil
}

// SetSchedulePaused pauses or resumes the schedule, or fails with an error
// matching store.ErrNotFound.
func (db *DB) SetSchedulePaused(ctx context.Context, id string, paused bool) error {
	return db.setSchedule(ctx, "pause schedule", id, `paused = ?`, paused)
}

// SetNextRun records the schedule's next slot (the zero time clears it), or
// fails with an error matching store.ErrNotFound.
func (db *DB) SetNextRun(ctx context.Context, id string, next time.Time) error {
	return db.setSchedule(ctx, "set next run of schedule", id, `next_run_at = ?`, db.d.encodeTime(next))
}

func (db *DB) setSchedule(ctx context.Context, op, id, set string, arg any) error {
	err := db.inWrite(ctx, func(t *tx) error {
		now, err := t.now(ctx)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `UPDATE schedules SET `+set+`, updated_at = ? WHERE id = ?`, arg, db.d.encodeTime(now), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: schedule %s: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sqlstore: %s %s: %w", op, id, err)
	}
	return err
}

// DeleteSchedule deletes the schedule with its tags and connection links; its
// runs stay. A missing schedule fails with an error matching
// store.ErrNotFound.
func (db *DB) DeleteSchedule(ctx context.Context, id string) error {
	err := db.inWrite(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM schedule_tags WHERE schedule_id = ?`, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM schedule_connections WHERE schedule_id = ?`, id); err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM schedules WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: schedule %s: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sqlstore: delete schedule %s: %w", id, err)
	}
	return err
}

// runFinished records a finished run of a stored schedule on the schedule:
// last run time (the run's start, else its slot), last status, and the
// success or failure counter (succeeded counts as a success; failed, partial
// and interrupted as failures; other statuses count as neither). A schedule
// that does not exist (one that lives only in configuration) is left alone,
// and so are restore and verify runs.
func (db *DB) runFinished(ctx context.Context, t *tx, r *store.Run) error {
	if runKind(r.Kind) != store.RunKindBackup {
		return nil // restore and verify runs do not count for a schedule
	}
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
