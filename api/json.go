package api

import (
	"encoding/json"
	"time"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/store"
)

// The JSON documents of the API. Field names are snake_case; times are
// RFC 3339 in UTC; zero times and empty strings are left out.

type runJSON struct {
	ID           string     `json:"id"`
	Job          string     `json:"job"`
	Kind         string     `json:"kind"`
	ScheduleID   string     `json:"schedule_id,omitempty"`
	Slot         *time.Time `json:"slot,omitempty"`
	Trigger      string     `json:"trigger"`
	TriggeredBy  string     `json:"triggered_by,omitempty"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason,omitempty"`
	Attempt      int        `json:"attempt"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	BytesRead    int64      `json:"bytes_read"`
	BytesWritten int64      `json:"bytes_written"`
	BackupID     string     `json:"backup_id,omitempty"`
}

func ptime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toRun(r store.Run) runJSON {
	return runJSON{ID: r.ID, Job: r.Job, Kind: string(r.Kind), ScheduleID: r.ScheduleID, Slot: ptime(r.Slot), Trigger: string(r.Trigger),
		TriggeredBy: r.TriggeredBy, Status: string(r.Status), Reason: r.Reason, Attempt: r.Attempt,
		StartedAt: ptime(r.StartedAt), FinishedAt: ptime(r.FinishedAt), BytesRead: r.BytesRead,
		BytesWritten: r.BytesWritten, BackupID: r.BackupID}
}

type runPage struct {
	Runs []runJSON `json:"runs"`
	Next string    `json:"next,omitempty"`
}

type logJSON struct {
	Seq     int64             `json:"seq"`
	Time    *time.Time        `json:"time,omitempty"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

func toLog(e store.LogEntry) logJSON {
	return logJSON{Seq: e.Seq, Time: ptime(e.Time), Level: string(e.Level), Message: e.Message, Attrs: e.Attrs}
}

type logPage struct {
	Entries []logJSON `json:"entries"`
	// After is the Seq to poll from next.
	After int64 `json:"after"`
	// Final is true when the run has ended (no more lines will come).
	Final bool `json:"final"`
}

type copyJSON struct {
	Destination string     `json:"destination"`
	Key         string     `json:"key"`
	Size        int64      `json:"size"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
}

type backupJSON struct {
	ID          string          `json:"id"`
	Job         string          `json:"job"`
	RunID       string          `json:"run_id,omitempty"`
	Status      string          `json:"status"`
	CreatedAt   *time.Time      `json:"created_at,omitempty"`
	Size        int64           `json:"size"`
	SHA256      string          `json:"sha256"`
	Format      string          `json:"format,omitempty"`
	Compression string          `json:"compression,omitempty"`
	Encryption  string          `json:"encryption,omitempty"`
	SourceInfo  json.RawMessage `json:"source_info,omitempty"`
	Protected   bool            `json:"protected"`
	Copies      []copyJSON      `json:"copies"`
}

func toBackup(b store.Backup) backupJSON {
	out := backupJSON{ID: b.ID, Job: b.Job, RunID: b.RunID, Status: string(b.Status), CreatedAt: ptime(b.CreatedAt),
		Size: b.Size, SHA256: b.SHA256, Format: b.Format, Compression: b.Compression, Encryption: b.Encryption,
		Protected: b.Protected, Copies: make([]copyJSON, 0, len(b.Copies))}
	if json.Valid(b.SourceInfo) {
		out.SourceInfo = b.SourceInfo
	}
	for _, c := range b.Copies {
		out.Copies = append(out.Copies, copyJSON{Destination: c.Destination, Key: c.Key, Size: c.Size, CreatedAt: ptime(c.CreatedAt)})
	}
	return out
}

type backupPage struct {
	Backups []backupJSON `json:"backups"`
	Next    string       `json:"next,omitempty"`
}

type scheduleJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Job          string     `json:"job"`
	Origin       string     `json:"origin"`
	Cron         string     `json:"cron"`
	Timezone     string     `json:"timezone"`
	Paused       bool       `json:"paused"`
	NextRun      *time.Time `json:"next_run,omitempty"`
	LastRun      *time.Time `json:"last_run,omitempty"`
	LastStatus   string     `json:"last_status,omitempty"`
	SuccessCount int64      `json:"success_count"`
	FailureCount int64      `json:"failure_count"`
	CreatedAt    *time.Time `json:"created_at,omitempty"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
}

func toSchedule(s store.Schedule, meta config.ScheduleJob, next time.Time) scheduleJSON {
	return scheduleJSON{ID: s.ID, Name: s.Name, Job: meta.Job, Origin: meta.Origin, Cron: s.Cron, Timezone: s.Timezone,
		Paused: s.Paused, NextRun: ptime(next), LastRun: ptime(s.LastRunAt), LastStatus: string(s.LastStatus),
		SuccessCount: s.SuccessCount, FailureCount: s.FailureCount, CreatedAt: ptime(s.CreatedAt), UpdatedAt: ptime(s.UpdatedAt)}
}

type jobJSON struct {
	Name         string   `json:"name"`
	Destinations []string `json:"destinations"`
	// Schedules are the names of the stored schedules that run the job.
	Schedules []string   `json:"schedules"`
	Paused    bool       `json:"paused"`
	NextRun   *time.Time `json:"next_run,omitempty"`
	LastRun   *runJSON   `json:"last_run,omitempty"`
}

type statsJSON struct {
	Total        int64   `json:"total"`
	Succeeded    int64   `json:"succeeded"`
	Failed       int64   `json:"failed"`
	Partial      int64   `json:"partial"`
	AvgSeconds   float64 `json:"avg_duration_seconds"`
	P95Seconds   float64 `json:"p95_duration_seconds"`
	BytesWritten int64   `json:"bytes_written"`
	SuccessRate  float64 `json:"success_rate"`
}

type auditJSON struct {
	ID      string          `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

type auditPage struct {
	Entries []auditJSON `json:"entries"`
	// Next is the "before" parameter of the following page.
	Next string `json:"next,omitempty"`
}

// eventJSON is an engine event on an event stream.
type eventJSON struct {
	Type         string     `json:"type"`
	Time         *time.Time `json:"time,omitempty"`
	Job          string     `json:"job,omitempty"`
	RunID        string     `json:"run_id,omitempty"`
	BackupID     string     `json:"backup_id,omitempty"`
	BytesRead    int64      `json:"bytes_read,omitempty"`
	BytesWritten int64      `json:"bytes_written,omitempty"`
	Rate         float64    `json:"rate,omitempty"`
	Elapsed      float64    `json:"elapsed_seconds,omitempty"`
	Size         int64      `json:"size,omitempty"`
	Error        string     `json:"error,omitempty"`
	Reasons      []string   `json:"reasons,omitempty"`
}

func toEvent(e notify.Event) eventJSON {
	return eventJSON{Type: string(e.Type), Time: ptime(e.Time), Job: e.Job, RunID: e.RunID, BackupID: e.BackupID,
		BytesRead: e.BytesRead, BytesWritten: e.BytesWritten, Rate: e.Rate, Elapsed: e.Elapsed.Seconds(), Size: e.Size,
		Error: e.Error, Reasons: e.Reasons}
}

// accepted is the body of 202 answers: the run to follow.
type accepted struct {
	RunID string `json:"run_id,omitempty"`
	// Queued is true when the run waits behind a running one and has no ID
	// yet.
	Queued bool `json:"queued,omitempty"`
}
