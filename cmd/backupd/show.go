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

// showJSON is `show --json`: Type is "backup" or "run". For a backup, Run is
// the run that made it (null when no longer in the history) and Verify its
// latest verification (null when never verified); for a run, Backup is the
// backup it made (null when none).
type showJSON struct {
	Type   string      `json:"type"`
	Backup *backupJSON `json:"backup"`
	Run    *runJSON    `json:"run"`
	Verify *verifyJSON `json:"verify"`
}

// verifyJSON is a backup's latest verification: the run that recorded it.
type verifyJSON struct {
	RunID      string     `json:"run_id"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason"`
	FinishedAt *time.Time `json:"finished_at"`
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
	verify, err := latestVerify(ctx, st, b)
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	if asJSON {
		bj := toBackupJSON(b)
		out := showJSON{Type: "backup", Backup: &bj, Verify: verify}
		if run != nil {
			rj := toRunJSON(*run)
			out.Run = &rj
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
	row("size", fmt.Sprintf("%s (%d bytes)", humanBytes(b.Size), b.Size))
	row("sha256", b.SHA256)
	row("format", b.Format)
	row("compression", b.Compression)
	enc := b.Encryption
	if enc == "" {
		enc = "none"
	}
	row("encryption", enc)
	if run != nil {
		row("run", fmt.Sprintf("%s (%s, %s, %s read)", run.ID, run.Status, run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond), humanBytes(run.BytesRead)))
	} else if b.RunID != "" {
		row("run", b.RunID+" (no longer in the history)")
	}
	if verify != nil {
		when := ""
		if verify.FinishedAt != nil {
			when = " at " + verify.FinishedAt.Local().Format(time.RFC3339)
		}
		v := fmt.Sprintf("%s%s (run %s)", verify.Status, when, verify.RunID)
		if verify.Reason != "" {
			v += ": " + verify.Reason
		}
		row("verified", v)
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
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Destination, humanBytes(c.Size), c.CreatedAt.Local().Format(time.DateTime), c.Key)
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
				bytes = humanBytes(it.Bytes)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", it.Name, it.Count, bytes, it.Checksum)
		}
		return tw.Flush()
	}
	return nil
}

// latestVerify finds the newest run, other than the one that made b, that
// recorded a verification of b: a run of b's job whose BackupID is b's and
// whose trigger or author says "verify". Nil when there is none.
func latestVerify(ctx context.Context, st store.Store, b store.Backup) (*verifyJSON, error) {
	runs, err := st.ListRuns(ctx, store.RunFilter{Job: b.Job, Limit: 500})
	if err != nil {
		return nil, err
	}
	for _, r := range runs { // newest first
		if r.ID == b.RunID || r.BackupID != b.ID || !r.Status.Final() {
			continue
		}
		if !strings.Contains(strings.ToLower(string(r.Trigger)+" "+r.TriggeredBy+" "+r.ScheduleID), "verify") {
			continue
		}
		return &verifyJSON{RunID: r.ID, Status: string(r.Status), Reason: r.Reason, FinishedAt: jsonTime(r.FinishedAt)}, nil
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
	row("read", humanBytes(r.BytesRead))
	row("written", humanBytes(r.BytesWritten))
	switch {
	case made != nil:
		row("backup", fmt.Sprintf("%s (%s, %s, sha256 %s)", made.ID, made.Status, humanBytes(made.Size), made.SHA256))
	case r.BackupID != "":
		row("backup", r.BackupID+" (no longer in the catalog)")
	}
	row("log", "backupd logs "+r.ID)
	return tw.Flush()
}
