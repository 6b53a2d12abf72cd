// Package store defines the memory of backupkit: schedules, run history with
// slot claims and leases, the backup catalog with every copy's location, per-run
// logs, the audit trail and connections with encrypted credentials, as plain
// records and the Store interface that persists them.
//
// Several replicas may share one store: ClaimRun lets exactly one of them run
// a slot, and UpdateRun and RenewLease are fenced by owner and attempt, so a
// replica whose run was interrupted (its lease expired) or taken over cannot
// overwrite it. Times that decide ownership come from the store's clock.
//
// The records live here, below the engine, so that nothing in the storage layer
// imports upward. The SQL implementation is store/sqlstore; every implementation
// runs the conformance suite in store/storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

var (
	// ErrNotFound is matched (errors.Is) by errors about a missing record.
	ErrNotFound = errors.New("not found")
	// ErrConflict is matched by errors about a record that already exists, or a
	// change refused because the caller no longer owns the record.
	ErrConflict = errors.New("conflict")
	// ErrWrongKey is matched by errors about stored credentials that the
	// store's credentials key cannot decrypt: they were sealed with another
	// key, or altered.
	ErrWrongKey = errors.New("wrong credentials key")
)

// RunStatus is where a run is in its lifecycle.
type RunStatus string

// The run statuses. Running is the only one that is not final.
const (
	RunRunning     RunStatus = "running"     // claimed and in progress
	RunSucceeded   RunStatus = "succeeded"   // every destination holds a copy
	RunPartial     RunStatus = "partial"     // some destinations hold a copy
	RunFailed      RunStatus = "failed"      // no copy was made
	RunCanceled    RunStatus = "canceled"    // stopped on request
	RunInterrupted RunStatus = "interrupted" // its owner died (lease expired)
	RunSkipped     RunStatus = "skipped"     // the slot was not run (Reason says why)
	RunMissed      RunStatus = "missed"      // the slot passed while nobody was running
)

// Final reports whether s is a terminal status.
func (s RunStatus) Final() bool { return s != RunRunning && s != "" }

// Trigger says what started a run.
type Trigger string

// The triggers.
const (
	TriggerSchedule Trigger = "schedule" // a schedule's slot came due
	TriggerManual   Trigger = "manual"   // someone asked ("run now"); Run.TriggeredBy says who
	TriggerRetry    Trigger = "retry"    // a retry of a failed or interrupted attempt
)

// RunKind says what a run does.
type RunKind string

// The run kinds. A run stored without a kind is a backup run.
const (
	RunKindBackup  RunKind = "backup"  // takes a backup of a job (the default)
	RunKindRestore RunKind = "restore" // restores one backup (Run.BackupID)
	RunKindVerify  RunKind = "verify"  // verifies one backup (Run.BackupID)
)

// Run is one attempt to back up one job (or to restore or verify one of its
// backups, see Kind), or a slot that was skipped or missed.
type Run struct {
	// ID is assigned by CreateRun when empty. IDs sort by creation time.
	ID string
	// Job is the name of the job run.
	Job string
	// Kind is what the run does; CreateRun and ClaimRun store an empty Kind
	// as RunKindBackup (and set it in the caller's Run), and reads never
	// return an empty Kind.
	Kind RunKind
	// ScheduleID is the schedule that produced the run; empty for manual runs
	// of jobs without a stored schedule.
	ScheduleID string
	// Slot is the nominal time of the scheduled slot (UTC); zero for manual runs.
	Slot time.Time
	// Trigger says what started the run, TriggeredBy who (a user, "scheduler").
	Trigger     Trigger
	TriggeredBy string
	// Status is the run's status; Reason explains skipped, missed, failed and
	// interrupted runs in one line.
	Status RunStatus
	Reason string
	// Owner identifies the process running it (host and pid); Attempt counts
	// from 1; LeaseUntil is when the run is presumed dead unless renewed.
	Owner      string
	Attempt    int
	LeaseUntil time.Time
	// StartedAt and FinishedAt bound the run; FinishedAt is zero while running.
	StartedAt  time.Time
	FinishedAt time.Time
	// BytesRead counts the source's bytes, BytesWritten the artifact's bytes
	// (after compression and encryption).
	BytesRead    int64
	BytesWritten int64
	// BackupID is the catalog entry the run produced, if any (a backup run),
	// or the one it restores or verifies (restore and verify runs).
	BackupID string
}

// RunFilter selects runs for ListRuns and ListRunsPage. Zero fields do not
// filter.
type RunFilter struct {
	// Job, ScheduleID and Status select runs with those values.
	Job        string
	ScheduleID string
	Status     RunStatus
	// Kind selects runs of that kind (an empty Kind selects every kind).
	Kind RunKind
	// Since and Until bound StartedAt: Since <= StartedAt < Until.
	Since time.Time
	Until time.Time
	// Cursor continues a listing where the page that returned it as Next
	// ended; it must come with the same other fields.
	Cursor string
	// Limit caps the number of runs returned (newest first); 0 means 100.
	Limit int
}

// RunPage is one page of a run listing.
type RunPage struct {
	// Runs are the page's runs, newest first; never more than the Limit.
	Runs []Run
	// Next is the Cursor of the following page; "" on the last page.
	Next string
}

// BackupStatus says how complete a cataloged backup is.
type BackupStatus string

// The backup statuses.
const (
	BackupComplete   BackupStatus = "complete"    // every destination of the run holds a copy
	BackupPartial    BackupStatus = "partial"     // some destinations failed
	BackupPreRestore BackupStatus = "pre_restore" // a safety backup taken before a restore
)

// Backup is a catalog entry: one artifact, stored as one or more copies.
type Backup struct {
	// ID is assigned by AddBackup when empty.
	ID     string
	Job    string
	RunID  string
	Status BackupStatus
	// CreatedAt is when the snapshot started (UTC).
	CreatedAt time.Time
	// Size and SHA256 (lower-case hex) describe the artifact's bytes, as stored.
	Size   int64
	SHA256 string
	// Format, Compression and Encryption describe how to read the artifact.
	Format      string
	Compression string
	Encryption  string
	// SourceInfo is the source's Info as JSON (see package source).
	SourceInfo json.RawMessage
	// Protected backups are never deleted by retention.
	Protected bool
	// ProtectedUntil, when set on a protected backup, is when its protection
	// may be lifted (safety backups taken before a restore are protected for
	// a while); the engine lifts it, the store only keeps the time.
	// SetProtected clears it.
	ProtectedUntil time.Time
	// LastVerifiedAt is when the backup was last verified (zero: never),
	// VerifyLevel at which level ("exists", "checksum", "restore"), VerifyOK
	// whether it passed and VerifyProblem, when it did not, why, in one line.
	// RecordVerification sets them.
	LastVerifiedAt time.Time
	VerifyLevel    string
	VerifyOK       bool
	VerifyProblem  string
	// Copies lists where the artifact is stored; never empty for a listed backup.
	Copies []Copy
}

// Verification is the outcome of verifying a backup, for RecordVerification.
type Verification struct {
	// At is when it was verified (zero: the store's now).
	At time.Time
	// Level is how thoroughly ("exists", "checksum", "restore"); required.
	Level string
	// OK is whether the backup passed; Problem says why not, in one line.
	OK      bool
	Problem string
}

// Copy is one stored copy of a backup's artifact.
type Copy struct {
	// Destination is the destination's name in the configuration.
	Destination string
	// Key is the artifact's key there; its manifest is at Key + ".manifest.json".
	Key  string
	Size int64
	// CreatedAt is when the copy was completed.
	CreatedAt time.Time
	// MissingSince, when set, is when the copy was found missing from its
	// destination (see SetCopyMissing); readers should skip it.
	MissingSince time.Time
}

// BackupFilter selects backups for ListBackups and ListBackupsPage. Zero
// fields do not filter.
type BackupFilter struct {
	// Job and Status select backups with those values.
	Job    string
	Status BackupStatus
	// Since and Until bound CreatedAt: Since <= CreatedAt < Until.
	Since time.Time
	Until time.Time
	// Protected, when set, selects protected (true) or unprotected (false)
	// backups.
	Protected *bool
	// Cursor continues a listing where the page that returned it as Next
	// ended; it must come with the same other fields.
	Cursor string
	// Limit caps the number of backups returned (newest first); 0 means all
	// for ListBackups and 100 for ListBackupsPage.
	Limit int
}

// BackupPage is one page of a catalog listing.
type BackupPage struct {
	// Backups are the page's backups with their copies, newest first.
	Backups []Backup
	// Next is the Cursor of the following page; "" on the last page.
	Next string
}

// StatsFilter selects the runs Stats summarizes. Zero fields do not filter.
type StatsFilter struct {
	// ScheduleID and Job select the runs of a stored schedule or of a job.
	ScheduleID string
	Job        string
	// Since and Until bound the runs' StartedAt: Since <= StartedAt < Until
	// (the window).
	Since time.Time
	Until time.Time
}

// Stats summarizes the finished backup runs a StatsFilter selects (skipped
// and missed slots, running runs, and restore and verify runs are not
// counted).
type Stats struct {
	// Total counts finished runs; Succeeded, Failed and Partial count those
	// statuses (Total also counts canceled and interrupted runs).
	Total     int64
	Succeeded int64
	Failed    int64
	Partial   int64
	// AvgDuration and P95Duration are over runs with a start and a finish
	// (nearest-rank 95th percentile); zero when there are none.
	AvgDuration time.Duration
	P95Duration time.Duration
	// BytesWritten sums the runs' BytesWritten.
	BytesWritten int64
	// SuccessRate is Succeeded / Total, 0 when Total is 0.
	SuccessRate float64
}

// LogLevel is a log line's severity, as in log/slog.
type LogLevel string

// The log levels.
const (
	LevelDebug LogLevel = "debug"
	LevelInfo  LogLevel = "info"
	LevelWarn  LogLevel = "warn"
	LevelError LogLevel = "error"
)

// LogEntry is one line of a run's log. Messages and attributes must already
// be free of secrets.
type LogEntry struct {
	// Seq numbers a run's lines from 1 in append order; it is assigned by
	// AppendLogs (any value given there is ignored).
	Seq int64
	// Time is when the line was logged (the caller's clock; may be zero),
	// Level its severity and Message its text.
	Time    time.Time
	Level   LogLevel
	Message string
	// Attrs are the line's structured attributes (key and value, as in
	// log/slog); nil when it has none.
	Attrs map[string]string
}

// Runs persists run history.
type Runs interface {
	// CreateRun inserts r, assigning r.ID when empty and r.StartedAt when zero.
	// A running run with a zero LeaseUntil gets a lease of DefaultLease from the
	// store's clock. A run whose ID exists fails with ErrConflict.
	CreateRun(ctx context.Context, r *Run) error
	// ClaimRun inserts r as CreateRun does, unless its slot (Job, ScheduleID,
	// Slot, Attempt) is already claimed: then it returns false and a nil
	// error and leaves r unchanged. Of any number of concurrent claimers of a
	// slot, in any number of processes sharing the store, exactly one gets
	// true. A run with a zero Slot (manual) is always inserted. A duplicate ID
	// fails with ErrConflict; a run without Job fails.
	ClaimRun(ctx context.Context, r *Run) (claimed bool, err error)
	// UpdateRun replaces the stored run with r (matched by r.ID), keeping its
	// Owner and Attempt. It is fenced: it fails with ErrConflict unless the
	// stored run is running and r.Owner and r.Attempt are its owner and
	// attempt, so that a process whose run was interrupted or taken over
	// changes nothing; it fails with ErrNotFound when there is no such run.
	UpdateRun(ctx context.Context, r *Run) error
	// GetRun returns the run, or fails with ErrNotFound.
	GetRun(ctx context.Context, id string) (Run, error)
	// ListRuns returns runs, newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// ListRunsPage is ListRuns a page at a time: Next continues it. Pages cost
	// the same whatever their position. A malformed Cursor fails naming it.
	ListRunsPage(ctx context.Context, f RunFilter) (RunPage, error)
	// Stats summarizes the runs f selects.
	Stats(ctx context.Context, f StatsFilter) (Stats, error)
	// RenewLease extends a running run's lease to ttl from the store's clock.
	// It fails with ErrConflict when the run is no longer running or is owned by
	// another owner, so a process that lost its run learns it.
	RenewLease(ctx context.Context, id, owner string, ttl time.Duration) error
	// InterruptExpired marks every running run whose lease has expired, by the
	// store's clock, as interrupted, and returns them.
	InterruptExpired(ctx context.Context) ([]Run, error)
	// SetInterruptedBackup records that the interrupted run id left backup
	// backupID, found and cataloged after its process was gone, and appends
	// note to its Reason ("; " between). Unlike UpdateRun it is not fenced
	// by owner: it changes only an interrupted run that has no BackupID yet,
	// and fails with ErrConflict for any other (ErrNotFound when there is no
	// such run).
	SetInterruptedBackup(ctx context.Context, id, backupID, note string) error
}

// Catalog persists the backup catalog.
type Catalog interface {
	// AddBackup inserts b with its copies, assigning b.ID when empty, in one
	// transaction: a backup is never listed without its copies.
	AddBackup(ctx context.Context, b *Backup) error
	// GetBackup returns the backup with its copies, or fails with ErrNotFound.
	GetBackup(ctx context.Context, id string) (Backup, error)
	// ListBackups returns backups with their copies, newest first.
	ListBackups(ctx context.Context, f BackupFilter) ([]Backup, error)
	// ListBackupsPage is ListBackups a page at a time: Next continues it. A
	// malformed Cursor fails naming it.
	ListBackupsPage(ctx context.Context, f BackupFilter) (BackupPage, error)
	// DeleteCopy forgets one copy (after its objects were deleted). Forgetting
	// the last copy deletes the backup. A missing copy is not an error.
	DeleteCopy(ctx context.Context, backupID, destination string) error
	// DeleteBackup forgets the backup and all its copies. A missing backup is
	// not an error.
	DeleteBackup(ctx context.Context, id string) error
	// SetProtected sets or clears the backup's protection, and clears its
	// ProtectedUntil, or fails with ErrNotFound.
	SetProtected(ctx context.Context, id string, protected bool) error
	// RecordVerification stores the outcome of verifying the backup in its
	// LastVerifiedAt, VerifyLevel, VerifyOK and VerifyProblem, or fails with
	// ErrNotFound. An empty Level fails naming it.
	RecordVerification(ctx context.Context, id string, v Verification) error
	// AddCopy adds a copy to an existing backup (a zero CreatedAt becomes the
	// store's now). A missing backup fails with ErrNotFound, a destination
	// that already holds a copy of it with ErrConflict.
	AddCopy(ctx context.Context, backupID string, c Copy) error
	// SetCopyMissing records that the backup's copy on destination was found
	// missing since the given time, or, with a zero time, that it is present
	// again. A missing backup or copy fails with ErrNotFound.
	SetCopyMissing(ctx context.Context, backupID, destination string, since time.Time) error
}

// Logs persists per-run log lines.
type Logs interface {
	// AppendLogs adds lines to a run's log, in order.
	AppendLogs(ctx context.Context, runID string, entries ...LogEntry) error
	// RunLogs returns a run's log lines in the order they were appended.
	RunLogs(ctx context.Context, runID string) ([]LogEntry, error)
	// RunLogsAfter returns the run's lines whose Seq is greater than after, in
	// order, at most limit of them (0: all), so that a reader can poll with the
	// last Seq it has. It fails with ErrNotFound when the run does not exist.
	RunLogsAfter(ctx context.Context, runID string, after int64, limit int) ([]LogEntry, error)
}

// Schedule is a stored schedule: when a job runs, and what it runs.
type Schedule struct {
	// ID is assigned by CreateSchedule when empty.
	ID string
	// Tenant scopes Name ("" for single-tenant installations); Name is unique
	// within its tenant.
	Tenant string
	Name   string
	// Tags label the schedule for filtering; kept sorted and without duplicates.
	Tags []string
	// Cron is the cron expression and Timezone the IANA zone it is read in
	// ("" means UTC).
	Cron     string
	Timezone string
	// Paused schedules are not run.
	Paused bool
	// Job is the job's configuration as a JSON object (nil: "{}"); secrets
	// belong in connections, not here.
	Job json.RawMessage
	// Connections are the names (in Tenant) of the stored connections the
	// job uses; each must exist.
	Connections []string
	// NextRunAt is the next slot the scheduler computed; LastRunAt,
	// LastStatus, SuccessCount and FailureCount are kept by the store as the
	// schedule's runs finish (succeeded counts as a success; failed, partial
	// and interrupted as failures).
	NextRunAt    time.Time
	LastRunAt    time.Time
	LastStatus   RunStatus
	SuccessCount int64
	FailureCount int64
	// CreatedAt and UpdatedAt come from the store's clock.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ScheduleFilter selects schedules for ListSchedules. Zero fields do not
// filter.
type ScheduleFilter struct {
	// Tenant selects one tenant's schedules ("" selects every tenant's).
	Tenant string
	// Tag selects schedules carrying the tag.
	Tag string
	// Paused, when set, selects paused (true) or active (false) schedules.
	Paused *bool
}

// Schedules persists schedules.
type Schedules interface {
	// CreateSchedule inserts s, assigning s.ID when empty and CreatedAt and
	// UpdatedAt from the store's clock. A name taken in the tenant fails with
	// ErrConflict naming it; an unknown connection fails with ErrNotFound
	// naming it; an empty Name or Cron, an unknown Timezone or a Job that is
	// not a JSON object fails naming the field.
	CreateSchedule(ctx context.Context, s *Schedule) error
	// GetSchedule returns the schedule, or fails with ErrNotFound.
	GetSchedule(ctx context.Context, id string) (Schedule, error)
	// GetScheduleByName returns the tenant's schedule of that name, or fails
	// with ErrNotFound.
	GetScheduleByName(ctx context.Context, tenant, name string) (Schedule, error)
	// ListSchedules returns the schedules f selects, by tenant and name.
	ListSchedules(ctx context.Context, f ScheduleFilter) ([]Schedule, error)
	// UpdateSchedule replaces s's definition (Tenant, Name, Tags, Cron,
	// Timezone, Paused, Job, Connections, NextRunAt), matched by s.ID, and
	// sets UpdatedAt; the run history fields (LastRunAt, LastStatus, counts)
	// are the store's and are left as stored (s receives them). It fails as
	// CreateSchedule does, and with ErrNotFound for a missing schedule.
	UpdateSchedule(ctx context.Context, s *Schedule) error
	// SetSchedulePaused pauses or resumes the schedule, or fails with
	// ErrNotFound.
	SetSchedulePaused(ctx context.Context, id string, paused bool) error
	// SetNextRun records the schedule's next slot, or fails with ErrNotFound.
	SetNextRun(ctx context.Context, id string, next time.Time) error
	// DeleteSchedule deletes the schedule (its runs stay in the history), or
	// fails with ErrNotFound.
	DeleteSchedule(ctx context.Context, id string) error
}

// AuditEntry is one entry of the audit trail: who did what to what, when.
type AuditEntry struct {
	// ID is assigned by AppendAudit when empty; IDs sort by creation.
	ID string
	// Time is when it happened; AppendAudit sets a zero Time from the store's
	// clock.
	Time time.Time
	// Actor is who (a user, a token's name, "scheduler"), Action what
	// ("schedule.update", "backup.delete", "run.trigger", ...), Target what
	// it was done to (an id or a name).
	Actor  string
	Action string
	Target string
	// Details is a JSON document free of secrets; nil when none.
	Details json.RawMessage
}

// AuditFilter selects audit entries for ListAudit. Zero fields do not filter.
type AuditFilter struct {
	// Actor, Action and Target select entries with those values.
	Actor  string
	Action string
	Target string
	// Since and Until bound Time: Since <= Time < Until.
	Since time.Time
	Until time.Time
	// Before continues a listing: only entries older than the entry with this
	// ID (the last one of the previous page) are returned.
	Before string
	// Limit caps the number of entries returned (newest first); 0 means 100.
	Limit int
}

// Audit persists the audit trail. Entries are never changed.
type Audit interface {
	// AppendAudit records e, assigning ID and a zero Time. Actor and Action
	// are required; Details must be valid JSON when set.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the entries f selects, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// ConnectionKind says what a connection connects to.
type ConnectionKind string

// The connection kinds.
const (
	ConnectionSource      ConnectionKind = "source"
	ConnectionDestination ConnectionKind = "destination"
)

// Connection is a named source or destination definition that schedules
// refer to. Its Secrets are encrypted at rest with a key the host supplies.
type Connection struct {
	// ID is assigned by CreateConnection when empty.
	ID string
	// Tenant scopes Name, which is unique within its tenant.
	Tenant string
	Name   string
	// Kind says whether it is a source or a destination.
	Kind ConnectionKind
	// Type is the adapter ("mysql", "s3", ...).
	Type string
	// Config is the non-secret settings, a JSON object (nil: "{}").
	Config json.RawMessage
	// Secrets are the credentials (password, secret key, token, ...). They
	// are stored encrypted; GetConnection and GetConnectionByName decrypt
	// them, ListConnections leaves them nil.
	Secrets map[string]string
	// HasSecrets reports, on read, whether credentials are stored.
	HasSecrets bool
	// CreatedAt and UpdatedAt come from the store's clock.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Connections persists connections.
type Connections interface {
	// CreateConnection inserts c, sealing its Secrets. A name taken in the
	// tenant fails with ErrConflict naming it; an empty Name, an unknown
	// Kind or a Config that is not a JSON object fails naming the field;
	// Secrets without a credentials key fail.
	CreateConnection(ctx context.Context, c *Connection) error
	// GetConnection returns the connection with its Secrets decrypted, or
	// fails with ErrNotFound, or with ErrWrongKey when the store's key cannot
	// decrypt them.
	GetConnection(ctx context.Context, id string) (Connection, error)
	// GetConnectionByName is GetConnection by tenant and name.
	GetConnectionByName(ctx context.Context, tenant, name string) (Connection, error)
	// ListConnections returns the tenant's connections ("": every tenant's),
	// by tenant and name, without their Secrets.
	ListConnections(ctx context.Context, tenant string) ([]Connection, error)
	// UpdateConnection replaces c's Name, Kind, Type and Config, matched by
	// c.ID; nil Secrets keep the stored ones, a non-nil map replaces them
	// (empty: none). It fails as CreateConnection does, and with ErrNotFound.
	UpdateConnection(ctx context.Context, c *Connection) error
	// DeleteConnection deletes the connection. When schedules use it, it
	// fails with ErrConflict naming them, unless cascade is set: then those
	// schedules are deleted with it. A missing connection fails with
	// ErrNotFound.
	DeleteConnection(ctx context.Context, id string, cascade bool) error
}

// KeyRotator is implemented by stores that encrypt connections' credentials
// with a current key while older keys still decrypt (store/sqlstore does);
// check for it with a type assertion on a Store.
type KeyRotator interface {
	// RotateKeys re-encrypts with the current key the credentials of every
	// connection sealed with an older one, and reports how many it rewrote.
	// It is idempotent and safe to interrupt and run again. A store without
	// a credentials key fails.
	RotateKeys(ctx context.Context) (n int, err error)
}

// Store is everything backupkit persists. Implementations are safe for
// concurrent use.
type Store interface {
	Runs
	Catalog
	Logs
	Schedules
	Audit
	Connections
	// Close releases the store's connections.
	Close() error
}

// DefaultLease is the lease a new running run gets when none is given.
const DefaultLease = time.Minute
