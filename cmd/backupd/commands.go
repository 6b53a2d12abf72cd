package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("backup", stderr)
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
	cancel := rt.Engine.Subscribe(progress.event)
	res, runErr := rt.Engine.Run(ctx, job.Job, backup.RunOptions{TriggeredBy: "cli:" + currentUser()})
	cancel()
	progress.done()
	if res == nil {
		return runErr
	}
	r := res.Run
	fmt.Fprintf(stdout, "run %s: %s in %s\n", r.ID, r.Status, r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
	if res.Backup != nil {
		b := res.Backup
		fmt.Fprintf(stdout, "backup %s: %s read, %s stored, sha256 %s\n", b.ID, humanBytes(r.BytesRead), humanBytes(b.Size), b.SHA256)
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
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	backups, err := rt.Store.ListBackups(ctx, store.BackupFilter{Job: *jobName})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tJOB\tCREATED\tSIZE\tSTATUS\tCOPIES")
	for _, b := range backups {
		copies := ""
		for i, c := range b.Copies {
			if i > 0 {
				copies += ","
			}
			copies += c.Destination
		}
		status := string(b.Status)
		if b.Protected {
			status += ",protected"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Job, b.CreatedAt.Local().Format(time.DateTime), humanBytes(b.Size), status, copies)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(backups) == 0 {
		fmt.Fprintln(stderr, "no backups yet")
	}
	return nil
}

func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("runs", stderr)
	jobName := fs.String("job", "", "show only this `job`'s runs")
	limit := fs.Int("limit", 20, "show at most `n` runs")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	runs, err := rt.Store.ListRuns(ctx, store.RunFilter{Job: *jobName, Limit: *limit})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tJOB\tSTARTED\tSTATUS\tTRIGGER\tBACKUP\tREASON")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Job, r.StartedAt.Local().Format(time.DateTime), r.Status, r.Trigger, r.BackupID, r.Reason)
	}
	return tw.Flush()
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
