// Package notify tells people what happened: the Event type the engine and the
// scheduler publish, the Notifier interface that delivers events somewhere (a
// webhook, email, Slack, a log), the Dispatcher that routes events to
// notifiers without ever blocking the publisher, and the URL-scheme registry
// of notifiers.
//
// The adapters live in their own packages, each registering a scheme:
// notify/webhook ("webhook+https:"), notify/email ("smtp:") and notify/slack
// ("slack+https:"). The log notifier ("log:") is part of this package.
package notify

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/backupkit/backupkit/internal/redact"
)

// EventType names what happened.
type EventType string

// The event types.
const (
	RunStarted     EventType = "run.started"
	RunProgress    EventType = "run.progress"
	RunSucceeded   EventType = "run.succeeded"
	RunPartial     EventType = "run.partial"
	RunFailed      EventType = "run.failed"
	RunCanceled    EventType = "run.canceled"
	RunInterrupted EventType = "run.interrupted"
	// RetentionPruned: retention deleted backups of the job (Event.Deleted
	// counts them). RetentionFailed: pruning failed, in part or entirely.
	RetentionPruned EventType = "retention.pruned"
	RetentionFailed EventType = "retention.failed"
	// VerifyFailed: a backup did not verify (Event.BackupID names it).
	// VerifySucceeded: a backup verified (Event.BackupID names it).
	VerifyFailed    EventType = "verify.failed"
	VerifySucceeded EventType = "verify.succeeded"
	// RestoreStarted, RestoreSucceeded, RestoreFailed: a restore of a
	// backup (Event.BackupID) began, finished or failed (Event.Error says
	// why, including the outcome of rolling back from a safety backup).
	RestoreStarted   EventType = "restore.started"
	RestoreSucceeded EventType = "restore.succeeded"
	RestoreFailed    EventType = "restore.failed"
	// HealthUnhealthy: a job's health check failed (Event.Reasons say why).
	// HealthRecovered: a job that was unhealthy is healthy again. Publishers
	// and the Dispatcher publish each only on a change of state.
	HealthUnhealthy EventType = "health.unhealthy"
	HealthRecovered EventType = "health.recovered"
)

// EventTypes lists every event type: the run events, retention, verify
// failed, health, then the types added later (verify succeeded, restore).
// The order is kept stable: config error messages list the known types in
// it.
var EventTypes = []EventType{
	RunStarted, RunProgress, RunSucceeded, RunPartial, RunFailed, RunCanceled, RunInterrupted,
	RetentionPruned, RetentionFailed, VerifyFailed, HealthUnhealthy, HealthRecovered,
	VerifySucceeded, RestoreStarted, RestoreSucceeded, RestoreFailed,
}

// DefaultEvents are the events a notifier gets unless told otherwise:
// failures (failed, partial and interrupted runs, retention, verify and
// restore failures) and health changes.
var DefaultEvents = []EventType{
	RunFailed, RunPartial, RunInterrupted, RetentionFailed, VerifyFailed, HealthUnhealthy, HealthRecovered,
	RestoreFailed,
}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// Failure reports whether t reports something that went wrong: a failed,
// partial or interrupted run, a retention, verify or restore failure, or an
// unhealthy job.
func (t EventType) Failure() bool {
	switch t {
	case RunFailed, RunPartial, RunInterrupted, RetentionFailed, VerifyFailed, RestoreFailed, HealthUnhealthy:
		return true
	}
	return false
}

// Title is a short human description of t, such as "run failed".
func (t EventType) Title() string {
	s := strings.ReplaceAll(string(t), ".", " ")
	switch t {
	case HealthUnhealthy:
		return "backups unhealthy"
	case HealthRecovered:
		return "backups healthy again"
	case RetentionPruned:
		return "old backups pruned"
	case RetentionFailed:
		return "pruning failed"
	}
	return s
}

// Event is one thing that happened to a job. It holds no secrets: error text is
// redacted before an Event is built, and the Dispatcher redacts it again
// (see Redact) before any notifier sees it.
type Event struct {
	Type EventType
	Time time.Time
	Job  string
	// RunID and BackupID identify the run and the backup it made, if any.
	RunID    string
	BackupID string
	// BytesRead counts source bytes so far, BytesWritten artifact bytes so far;
	// Rate is source bytes per second over the run so far.
	BytesRead    int64
	BytesWritten int64
	Rate         float64
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Error is the failure, in one line, for failed, partial and interrupted
	// runs and failed retention or verify; for health events it joins Reasons.
	Error string
	// Size is the backup's size for finished runs and verify events, and the
	// job's total size for health events.
	Size int64
	// Deleted counts the backups deleted, for RetentionPruned and
	// RetentionFailed.
	Deleted int
	// Reasons say why a job is unhealthy, one per failed check.
	Reasons []string
	// Link is the event's web page (a run's page), built by the Dispatcher
	// from its LinkTemplate when empty.
	Link string
}

// Notifier delivers events. Notify must return promptly when ctx is canceled;
// an error means the event was not delivered and may be retried.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// NotifierFunc adapts a function to a Notifier.
type NotifierFunc func(ctx context.Context, e Event) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, e Event) error { return f(ctx, e) }

// ExpandLink returns template with "{run}", "{job}", "{backup}" and
// "{event}" replaced by e's RunID, Job, BackupID and Type, each escaped for
// a URL path segment. An empty template gives "".
func ExpandLink(template string, e Event) string {
	if template == "" {
		return ""
	}
	return strings.NewReplacer(
		"{run}", pathEscape(e.RunID), "{job}", pathEscape(e.Job),
		"{backup}", pathEscape(e.BackupID), "{event}", pathEscape(string(e.Type)),
	).Replace(template)
}

func pathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// Redact returns s with the passwords and secret query parameters of every
// URL in it masked (as internal/redact does), "password=..."-style values
// masked, and every non-empty string of secrets replaced by a mask.
func Redact(s string, secrets ...string) string {
	return redact.Text(s, secrets...)
}

// Redacted returns e with Error, Reasons and Link passed through Redact.
func (e Event) Redacted(secrets ...string) Event {
	e.Error = Redact(e.Error, secrets...)
	if e.Reasons != nil {
		rs := make([]string, len(e.Reasons))
		for i, r := range e.Reasons {
			rs[i] = Redact(r, secrets...)
		}
		e.Reasons = rs
	}
	e.Link = Redact(e.Link, secrets...)
	return e
}
