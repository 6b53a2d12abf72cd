package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/internal/units"
	"github.com/backupkit/backupkit/store"
)

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("backup", stderr)
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("backup: give exactly one JOB")}
	}
	// Quiet logs: the progress line and the result are the output.
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	job, err := rt.Job(pos[0])
	if err != nil {
		return usageError{err}
	}
	var progress *progressPrinter
	if f, ok := stderr.(*os.File); ok {
		progress = newProgressPrinter(f)
	} else {
		progress = &progressPrinter{w: stderr, lineEvery: 10 * time.Second}
	}
	if *asJSON && !progress.tty {
		progress.finished = true // a script: no progress lines in its logs
	}
	cancel := rt.Engine.Subscribe(progress.event)
	res, runErr := rt.Engine.Run(ctx, job.Job, backup.RunOptions{TriggeredBy: "cli:" + currentUser()})
	cancel()
	progress.done()
	if res == nil {
		return runErr
	}
	r := res.Run
	if *asJSON {
		out := backupResultJSON{Run: toRunJSON(r), Failures: []failureJSON{}}
		if res.Backup != nil {
			b := toBackupJSON(*res.Backup)
			out.Backup = &b
		}
		for _, f := range res.Failures {
			out.Failures = append(out.Failures, failureJSON{Destination: f.Destination, Error: f.Err.Error()})
		}
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
		return runErr
	}
	fmt.Fprintf(stdout, "run %s: %s in %s\n", r.ID, r.Status, r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
	if res.Backup != nil {
		b := res.Backup
		fmt.Fprintf(stdout, "backup %s: %s read, %s stored, sha256 %s\n", b.ID, units.FormatBinary(r.BytesRead), units.FormatBinary(b.Size), b.SHA256)
		for _, c := range b.Copies {
			fmt.Fprintf(stdout, "  %-12s %s\n", c.Destination, c.Key)
		}
	}
	for _, f := range res.Failures {
		fmt.Fprintf(stdout, "  %-12s FAILED: %v\n", f.Destination, f.Err)
	}
	return runErr
}

func cmdList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("list", stderr)
	jobName := fs.String("job", "", "show only this `job`'s backups")
	limit := fs.Int("limit", 0, "show at most `n` backups, newest first (0: all)")
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := jobArg("list", pos, jobName); err != nil {
		return err
	}
	if *limit < 0 {
		return usageError{errors.New("list: --limit must not be negative")}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	backups, err := rt.Store.ListBackups(ctx, store.BackupFilter{Job: *jobName, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]backupJSON, 0, len(backups))
		for _, b := range backups {
			out = append(out, toBackupJSON(b))
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tJOB\tCREATED\tSIZE\tSTATUS\tVERIFIED\tCOPIES")
	for _, b := range backups {
		copies := ""
		for i, c := range b.Copies {
			if i > 0 {
				copies += ","
			}
			copies += c.Destination
			if !c.MissingSince.IsZero() {
				copies += "(missing)"
			}
		}
		status := string(b.Status)
		if b.Protected {
			status += ",protected"
		}
		verified := "-"
		if !b.LastVerifiedAt.IsZero() {
			verified = "ok " + b.LastVerifiedAt.Local().Format(time.DateOnly)
			if !b.VerifyOK {
				verified = "FAILED " + b.LastVerifiedAt.Local().Format(time.DateOnly)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Job, b.CreatedAt.Local().Format(time.DateTime), units.FormatBinary(b.Size), status, verified, copies)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(backups) == 0 {
		fmt.Fprintln(stderr, "no backups yet")
	}
	return nil
}

// runStatuses are the values --status accepts.
var runStatuses = []store.RunStatus{store.RunRunning, store.RunSucceeded, store.RunPartial, store.RunFailed,
	store.RunCanceled, store.RunInterrupted, store.RunSkipped, store.RunMissed}

func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("runs", stderr)
	jobName := fs.String("job", "", "show only this `job`'s runs (or give JOB as an argument)")
	status := fs.String("status", "", "show only runs with this `status` (running, succeeded, partial, failed, canceled, interrupted, skipped, missed)")
	kind := fs.String("kind", "", "show only runs of this `kind` (backup, restore, verify)")
	limit := fs.Int("limit", 20, "show at most `n` runs, newest first")
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := jobArg("runs", pos, jobName); err != nil {
		return err
	}
	switch store.RunKind(*kind) {
	case "", store.RunKindBackup, store.RunKindRestore, store.RunKindVerify:
	default:
		return usageError{fmt.Errorf("runs: --kind: unknown kind %q (want backup, restore or verify)", *kind)}
	}
	if *status != "" && !slices.Contains(runStatuses, store.RunStatus(*status)) {
		names := make([]string, len(runStatuses))
		for i, s := range runStatuses {
			names[i] = string(s)
		}
		return usageError{fmt.Errorf("runs: --status: unknown status %q (want one of %s)", *status, strings.Join(names, ", "))}
	}
	if *limit <= 0 {
		return usageError{fmt.Errorf("runs: --limit must be at least 1, got %d", *limit)}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	if *jobName != "" {
		if _, err := rt.Config.Job(*jobName); err != nil {
			// A job removed from the file still has its history: warn only.
			fmt.Fprintf(stderr, "warning: %v\n", err)
		}
	}
	runs, err := rt.Store.ListRuns(ctx, store.RunFilter{Job: *jobName, Status: store.RunStatus(*status), Kind: store.RunKind(*kind), Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]runJSON, 0, len(runs))
		for _, r := range runs {
			out = append(out, toRunJSON(r))
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tKIND\tJOB\tSTARTED\tSTATUS\tTRIGGER\tBACKUP\tREASON")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Job, r.StartedAt.Local().Format(time.DateTime), r.Status, r.Trigger, r.BackupID, r.Reason)
	}
	return tw.Flush()
}

// jobArg takes a JOB given as the only positional argument into *job (the
// --job flag), refusing both at once or more than one.
func jobArg(cmd string, pos []string, job *string) error {
	switch {
	case len(pos) > 1:
		return usageError{fmt.Errorf("%s: give at most one JOB, got %q", cmd, pos)}
	case len(pos) == 1 && *job != "" && pos[0] != *job:
		return usageError{fmt.Errorf("%s: give the job once (--job %s or %s)", cmd, *job, pos[0])}
	case len(pos) == 1:
		*job = pos[0]
	}
	return nil
}

// cmdVersion prints the version, with --json also the Go version, platform
// and the VCS revision the binary was built from (when known).
func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs, _ := flags("version", stderr)
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Errorf("version: unexpected argument %q", pos[0])}
	}
	v := versionJSON{Version: backup.Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if *asJSON {
		return writeJSON(stdout, v)
	}
	fmt.Fprintln(stdout, "backupd", backup.Version)
	return nil
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// jsonFlag adds the --json flag every listing and show command has.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON (field names in docs/cli.md) instead of a table")
}

// writeJSON writes v as indented JSON and a line break.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// The JSON shapes of --json output. Field names are stable (docs/cli.md);
// times are RFC 3339 in UTC, null when unknown; sizes are bytes.

// versionJSON is `version --json`.
type versionJSON struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Revision string `json:"revision"`
	Modified bool   `json:"modified"`
}

// backupJSON is a catalog entry.
type backupJSON struct {
	ID          string     `json:"id"`
	Job         string     `json:"job"`
	RunID       string     `json:"run_id"`
	Status      string     `json:"status"`
	Protected   bool       `json:"protected"`
	CreatedAt   *time.Time `json:"created_at"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	Format      string     `json:"format"`
	Compression string     `json:"compression"`
	Encryption  string     `json:"encryption"`
	// ProtectedUntil is when a temporary protection (a safety backup taken
	// before a restore) may be lifted; null when none.
	ProtectedUntil *time.Time      `json:"protected_until"`
	Source         json.RawMessage `json:"source"`
	Copies         []copyJSON      `json:"copies"`
	// Verify is the backup's latest verification; null when never verified.
	Verify *verifyJSON `json:"verify"`
}

// verifyJSON is a backup's latest verification.
type verifyJSON struct {
	VerifiedAt *time.Time `json:"verified_at"`
	Level      string     `json:"level"`
	OK         bool       `json:"ok"`
	Problem    string     `json:"problem"`
}

// copyJSON is one stored copy of a backup.
type copyJSON struct {
	Destination string     `json:"destination"`
	Key         string     `json:"key"`
	Size        int64      `json:"size"`
	CreatedAt   *time.Time `json:"created_at"`
	// MissingSince is when the copy was found missing from its destination;
	// null while it is there.
	MissingSince *time.Time `json:"missing_since"`
}

// runJSON is a run.
type runJSON struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	Job          string     `json:"job"`
	ScheduleID   string     `json:"schedule_id"`
	Slot         *time.Time `json:"slot"`
	Trigger      string     `json:"trigger"`
	TriggeredBy  string     `json:"triggered_by"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason"`
	Owner        string     `json:"owner"`
	Attempt      int        `json:"attempt"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	DurationMS   *int64     `json:"duration_ms"`
	BytesRead    int64      `json:"bytes_read"`
	BytesWritten int64      `json:"bytes_written"`
	BackupID     string     `json:"backup_id"`
}

// backupResultJSON is `backup --json`.
type backupResultJSON struct {
	Run      runJSON       `json:"run"`
	Backup   *backupJSON   `json:"backup"`
	Failures []failureJSON `json:"failures"`
}

// failureJSON is a destination that failed during a backup.
type failureJSON struct {
	Destination string `json:"destination"`
	Error       string `json:"error"`
}

// jsonTime is t in UTC, or nil for the zero time.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toBackupJSON(b store.Backup) backupJSON {
	out := backupJSON{ID: b.ID, Job: b.Job, RunID: b.RunID, Status: string(b.Status), Protected: b.Protected,
		CreatedAt: jsonTime(b.CreatedAt), Size: b.Size, SHA256: b.SHA256, Format: b.Format,
		Compression: b.Compression, Encryption: b.Encryption, Copies: make([]copyJSON, 0, len(b.Copies))}
	if len(b.SourceInfo) > 0 && json.Valid(b.SourceInfo) {
		out.Source = b.SourceInfo
	} else {
		out.Source = json.RawMessage("null")
	}
	for _, c := range b.Copies {
		out.Copies = append(out.Copies, copyJSON{Destination: c.Destination, Key: c.Key, Size: c.Size,
			CreatedAt: jsonTime(c.CreatedAt), MissingSince: jsonTime(c.MissingSince)})
	}
	out.ProtectedUntil = jsonTime(b.ProtectedUntil)
	if !b.LastVerifiedAt.IsZero() {
		out.Verify = &verifyJSON{VerifiedAt: jsonTime(b.LastVerifiedAt), Level: b.VerifyLevel, OK: b.VerifyOK, Problem: b.VerifyProblem}
	}
	return out
}

func toRunJSON(r store.Run) runJSON {
	out := runJSON{ID: r.ID, Kind: string(r.Kind), Job: r.Job, ScheduleID: r.ScheduleID, Slot: jsonTime(r.Slot), Trigger: string(r.Trigger),
		TriggeredBy: r.TriggeredBy, Status: string(r.Status), Reason: r.Reason, Owner: r.Owner, Attempt: r.Attempt,
		StartedAt: jsonTime(r.StartedAt), FinishedAt: jsonTime(r.FinishedAt), BytesRead: r.BytesRead,
		BytesWritten: r.BytesWritten, BackupID: r.BackupID}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		ms := r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		out.DurationMS = &ms
	}
	return out
}
