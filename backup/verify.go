package backup

// This file declares the verify, download, catalog-rebuild and asynchronous
// restore API of issue 10. The bodies are placeholders until that issue lands;
// the signatures are what the daemon, the HTTP API and the web page code
// against.

import (
	"context"
	"errors"
	"io"
	"time"
)

// errNotImplemented is returned by the placeholders below.
var errNotImplemented = errors.New("not implemented yet")

// VerifyLevel says how thoroughly Verify checks a backup.
type VerifyLevel string

// The verify levels, from cheapest to most thorough.
const (
	// VerifyExists checks that every copy is present with the recorded size.
	VerifyExists VerifyLevel = "exists"
	// VerifyChecksum reads every copy in full and compares its SHA-256.
	VerifyChecksum VerifyLevel = "checksum"
	// VerifyRestore test-restores into a scratch target, compares it with the
	// manifest's items and drops the scratch target.
	VerifyRestore VerifyLevel = "restore"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// Level defaults to VerifyChecksum.
	Level VerifyLevel
	// Restore carries identities for encrypted backups (level restore).
	Restore RestoreOptions
	// TriggeredBy names who asked, for the run record.
	TriggeredBy string
}

// CopyVerdict is the outcome of verifying one copy.
type CopyVerdict struct {
	Destination string `json:"destination"`
	Key         string `json:"key"`
	OK          bool   `json:"ok"`
	// Problem explains a failed copy in one line.
	Problem string `json:"problem,omitempty"`
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	BackupID string      `json:"backup_id"`
	RunID    string      `json:"run_id"`
	Level    VerifyLevel `json:"level"`
	// OK is true when every copy passed (and, at level restore, the test
	// restore matched the manifest).
	OK         bool          `json:"ok"`
	Copies     []CopyVerdict `json:"copies"`
	Problem    string        `json:"problem,omitempty"`
	VerifiedAt time.Time     `json:"verified_at"`
}

// Verify checks backupID of job at opts.Level, records the outcome in the
// catalog and as a run, and publishes verify.succeeded or verify.failed.
// A backup that fails verification is a VerifyResult with OK false and a nil
// error; the error is for verification that could not run.
func (e *Engine) Verify(ctx context.Context, job *Job, backupID string, opts VerifyOptions) (VerifyResult, error) {
	return VerifyResult{}, errNotImplemented
}

// VerifyAsync starts Verify in the background and returns the ID of the run
// that records it as soon as that run exists; done receives the outcome once.
func (e *Engine) VerifyAsync(ctx context.Context, job *Job, backupID string, opts VerifyOptions) (runID string, done <-chan error, err error) {
	return "", nil, errNotImplemented
}

// RestoreAsync starts Restore in the background and returns the ID of the
// run that records it as soon as that run exists; done receives the outcome
// once.
func (e *Engine) RestoreAsync(ctx context.Context, job *Job, backupID string, opts RestoreOptions) (runID string, done <-chan error, err error) {
	return "", nil, errNotImplemented
}

// DownloadOptions control Download.
type DownloadOptions struct {
	// Raw streams the artifact as stored (compressed, encrypted); otherwise it
	// is decrypted and decompressed.
	Raw bool
	// Restore carries identities for encrypted backups.
	Restore RestoreOptions
}

// Download streams backupID of job to w from its best copy, checking the
// SHA-256 as it reads: a mismatch returns ErrChecksum (after the bytes were
// written: callers writing to a file remove it). It returns the number of
// bytes written to w.
func (e *Engine) Download(ctx context.Context, job *Job, backupID string, w io.Writer, opts DownloadOptions) (int64, error) {
	return 0, errNotImplemented
}

// RebuildOptions control RebuildCatalog.
type RebuildOptions struct {
	// DryRun reports what would change without writing to the store.
	DryRun bool
}

// RebuildReport says what RebuildCatalog found.
type RebuildReport struct {
	// Added are backups found on destinations and missing from the catalog.
	Added []string `json:"added"`
	// CopiesAdded and CopiesMissing are "backupID@destination" entries.
	CopiesAdded   []string `json:"copies_added"`
	CopiesMissing []string `json:"copies_missing"`
	// Orphans are artifact keys without a valid manifest ("destination:key").
	Orphans []string `json:"orphans"`
	// Unchanged counts catalog entries that matched.
	Unchanged int `json:"unchanged"`
}

// RebuildCatalog scans the jobs' destinations for manifests and adds or
// reconciles catalog entries; it never deletes an artifact or a manifest.
func (e *Engine) RebuildCatalog(ctx context.Context, jobs []*Job, opts RebuildOptions) (RebuildReport, error) {
	return RebuildReport{}, errNotImplemented
}
