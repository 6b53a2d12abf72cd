package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupkit/backupkit/internal/units"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// cmdShow prints one backup (its copies, size, checksum, what the source
// reported, the run that made it and its latest verification) or, for a run
// ID, the run's details.
func cmdShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("show", stderr)
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("show: give exactly one BACKUP_ID or RUN_ID")}
	}
	id := pos[0]
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	st := rt.Store

	b, err := st.GetBackup(ctx, id)
	switch {
	case err == nil:
		return showBackup(ctx, st, b, *asJSON, stdout)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("show: %w", err)
	}
	r, err := st.GetRun(ctx, id)
	switch {
	case err == nil:
		return showRun(ctx, st, r, *asJSON, stdout)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("show: no backup or run with ID %q (see backupd list and backupd runs)", id)
	}
	return fmt.Errorf("show: %w", err)
}

// showJSON is `show --json`: Type is "backup" or "run". For a backup, Run
// is the run that made it (null when no longer in the history) and
// VerifyRun the newest run that verified it (null when none); for a run,
// Backup is the backup it made, restored or verified (null when none).
type showJSON struct {
	Type      string      `json:"type"`
	Backup    *backupJSON `json:"backup"`
	Run       *runJSON    `json:"run"`
	VerifyRun *runJSON    `json:"verify_run"`
}

func showBackup(ctx context.Context, st store.Store, b store.Backup, asJSON bool, stdout io.Writer) error {
	var run *store.Run
	if b.RunID != "" {
		if r, err := st.GetRun(ctx, b.RunID); err == nil {
			run = &r
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("show: run %s: %w", b.RunID, err)
		}
	}
	verifyRun, err := latestVerifyRun(ctx, st, b)
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	bj := toBackupJSON(b)
	if asJSON {
		out := showJSON{Type: "backup", Backup: &bj}
		if run != nil {
			rj := toRunJSON(*run)
			out.Run = &rj
		}
		if verifyRun != nil {
			vj := toRunJSON(*verifyRun)
			out.VerifyRun = &vj
		}
		return writeJSON(stdout, out)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("backup", b.ID)
	row("job", b.Job)
	status := string(b.Status)
	if b.Protected {
		status += ", protected (retention never deletes it)"
	}
	row("status", status)
	row("created", b.CreatedAt.Local().Format(time.RFC3339))
	row("size", fmt.Sprintf("%s (%d bytes)", units.FormatBinary(b.Size), b.Size))
	row("sha256", b.SHA256)
	row("format", b.Format)
	row("compression", b.Compression)
	enc := b.Encryption
	if enc == "" {
		enc = "none"
	}
	row("encryption", enc)
	if run != nil {
		row("run", fmt.Sprintf("%s (%s, %s, %s read)", run.ID, run.Status, run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond), units.FormatBinary(run.BytesRead)))
	} else if b.RunID != "" {
		row("run", b.RunID+" (no longer in the history)")
	}
	if !b.ProtectedUntil.IsZero() {
		row("protected until", b.ProtectedUntil.Local().Format(time.RFC3339))
	}
	if v := bj.Verify; v != nil {
		text := "passed"
		if !v.OK {
			text = "FAILED: " + v.Problem
		}
		text = fmt.Sprintf("%s, level %s, at %s", text, v.Level, v.VerifiedAt.Local().Format(time.RFC3339))
		if verifyRun != nil {
			text += " (run " + verifyRun.ID + ")"
		}
		row("verified", text)
	} else {
		row("verified", "never")
	}
	var info source.Info
	if len(b.SourceInfo) > 0 && json.Unmarshal(b.SourceInfo, &info) == nil {
		row("source", strings.TrimSpace(info.Kind+" "+info.Location))
		if info.ServerVersion != "" {
			row("server version", info.ServerVersion)
		}
		row("point in time", fmt.Sprint(info.PointInTime))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\ncopies:")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  DESTINATION\tSIZE\tCREATED\tKEY")
	for _, c := range b.Copies {
		key := c.Key
		if !c.MissingSince.IsZero() {
			key += " (MISSING since " + c.MissingSince.Local().Format(time.DateTime) + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Destination, units.FormatBinary(c.Size), c.CreatedAt.Local().Format(time.DateTime), key)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(info.Items) > 0 {
		fmt.Fprintln(stdout, "\nsource items:")
		tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tCOUNT\tBYTES\tCHECKSUM")
		for _, it := range info.Items {
			bytes := ""
			if it.Bytes > 0 {
				bytes = units.FormatBinary(it.Bytes)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", it.Name, it.Count, bytes, it.Checksum)
		}
		return tw.Flush()
	}
	return nil
}

// latestVerifyRun returns the newest finished verify run of b, or nil.
func latestVerifyRun(ctx context.Context, st store.Store, b store.Backup) (*store.Run, error) {
	runs, err := st.ListRuns(ctx, store.RunFilter{Job: b.Job, Kind: store.RunKindVerify, Limit: 500})
	if err != nil {
		return nil, err
	}
	for _, r := range runs { // newest first
		if r.BackupID == b.ID && r.Status.Final() {
			return &r, nil
		}
	}
	return nil, nil
}

func showRun(ctx context.Context, st store.Store, r store.Run, asJSON bool, stdout io.Writer) error {
	var made *store.Backup
	if r.BackupID != "" {
		if b, err := st.GetBackup(ctx, r.BackupID); err == nil {
			made = &b
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("show: backup %s: %w", r.BackupID, err)
		}
	}
	if asJSON {
		rj := toRunJSON(r)
		out := showJSON{Type: "run", Run: &rj}
		if made != nil {
			bj := toBackupJSON(*made)
			out.Backup = &bj
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("run", r.ID)
	row("kind", string(r.Kind))
	row("job", r.Job)
	status := string(r.Status)
	if r.Reason != "" {
		status += ": " + r.Reason
	}
	row("status", status)
	trigger := string(r.Trigger)
	if r.TriggeredBy != "" {
		trigger += " by " + r.TriggeredBy
	}
	row("trigger", trigger)
	if r.ScheduleID != "" {
		row("schedule", r.ScheduleID)
	}
	if !r.Slot.IsZero() {
		row("slot", r.Slot.Local().Format(time.RFC3339))
	}
	if r.Attempt > 1 {
		row("attempt", fmt.Sprint(r.Attempt))
	}
	if r.Owner != "" {
		row("owner", r.Owner)
	}
	if !r.StartedAt.IsZero() {
		row("started", r.StartedAt.Local().Format(time.RFC3339))
	}
	if !r.FinishedAt.IsZero() {
		row("finished", fmt.Sprintf("%s (%s)", r.FinishedAt.Local().Format(time.RFC3339), r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond)))
	} else if r.Status == store.RunRunning {
		row("running for", time.Since(r.StartedAt).Round(time.Second).String())
	}
	row("read", units.FormatBinary(r.BytesRead))
	row("written", units.FormatBinary(r.BytesWritten))
	switch {
	case made != nil:
		row("backup", fmt.Sprintf("%s (%s, %s, sha256 %s)", made.ID, made.Status, units.FormatBinary(made.Size), made.SHA256))
		if r.Kind == store.RunKindVerify && !made.LastVerifiedAt.IsZero() && !made.VerifyOK {
			row("problem", made.VerifyProblem)
		}
	case r.BackupID != "":
		row("backup", r.BackupID+" (no longer in the catalog)")
	}
	row("log", "backupd logs "+r.ID)
	return tw.Flush()
}
