// Package notify tells people what happened: the Event type the engine and the
// scheduler publish, the Notifier interface that delivers events somewhere (a
// webhook, email, Slack, a log), and the URL-scheme registry of notifiers.
package notify

import (
	"context"
	"time"
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
)

// Event is one thing that happened to a job. It holds no secrets: error text is
// redacted before an Event is built.
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
	// Error is the failure, in one line, for failed, partial and interrupted runs.
	Error string
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
