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

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/internal/units"
	"github.com/backupkit/backupkit/store"
)

// cmdPrune applies a job's retention policy, or with --dry-run only shows
// what it would do: a table of the job's backups, newest first, with KEEP or
// DELETE and the reasons.
func cmdPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("prune", stderr)
	dryRun := fs.Bool("dry-run", false, "show the plan, delete nothing")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("prune: give exactly one JOB")}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	job, err := rt.Job(pos[0])
	if err != nil {
		return usageError{err}
	}
	if job.Job.Retention == nil {
		fmt.Fprintf(stderr, "job %s has no retention policy: every backup is kept\n", job.Job.Name)
	}
	res, pruneErr := rt.Engine.Prune(ctx, job.Job, backup.PruneOptions{DryRun: *dryRun})
	if res.Plan.Decisions == nil {
		return pruneErr
	}
	failed := map[string][]string{}
	for _, f := range res.Failures {
		failed[f.BackupID] = append(failed[f.BackupID], f.Destination)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSIZE\tACTION\tREASONS")
	for _, d := range res.Plan.Decisions {
		action := "KEEP"
		if !d.Keep {
			action = "DELETE"
			if dests := failed[d.Backup.ID]; len(dests) > 0 {
				action = "DELETE (failed on " + strings.Join(dests, ",") + ")"
			}
		}
		reasons := make([]string, len(d.Reasons))
		for i, r := range d.Reasons {
			reasons[i] = r.String()
		}
		created := d.Backup.CreatedAt.In(job.Location).Format("2006-01-02 15:04 MST")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Backup.ID, created, units.FormatBinary(d.Backup.Size), action, strings.Join(reasons, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	del := res.Plan.Delete()
	switch {
	case res.Plan.Held:
		fmt.Fprintln(stdout, "the latest run failed: nothing is pruned (set prune_on_failure to prune anyway)")
	case *dryRun:
		fmt.Fprintf(stdout, "dry run: would delete %d of %d backups (%s), keeping %s\n",
			len(del), len(res.Plan.Decisions), units.FormatBinary(res.Plan.DeletedSize), units.FormatBinary(res.Plan.KeptSize))
	default:
		fmt.Fprintf(stdout, "deleted %d of %d backups; keeping %d (%s)\n",
			len(res.Deleted), len(del), len(res.Plan.Decisions)-len(del), units.FormatBinary(res.Plan.KeptSize))
	}
	if res.Plan.OverCap {
		fmt.Fprintln(stdout, "warning: "+res.Plan.Warning)
	}
	for _, f := range res.Failures {
		fmt.Fprintf(stdout, "  %s on %s: not deleted, stays in the catalog and is retried next time: %v\n", f.BackupID, f.Destination, f.Err)
	}
	return pruneErr
}

// cmdProtect sets (protect) or clears (unprotect) a backup's protection:
// retention never deletes a protected backup.
func cmdProtect(ctx context.Context, name string, protect bool, args []string, stdout, stderr io.Writer) error {
	fs, path := flags(name, stderr)
	reason := fs.String("reason", "", "why, recorded in the audit trail")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("%s: give exactly one BACKUP_ID", name)}
	}
	rt, err := open(ctx, *path, stderr, nil)
	if err != nil {
		return err
	}
	defer rt.Close()
	id := pos[0]
	if err := rt.Store.SetProtected(ctx, id, protect); err != nil {
		return fmt.Errorf("%s: backup %s: %w", name, id, err)
	}
	details, _ := json.Marshal(map[string]string{"reason": *reason, "via": "cli"})
	entry := &store.AuditEntry{Actor: "cli:" + currentUser(), Action: "backup." + name, Target: id, Details: details}
	if err := rt.Store.AppendAudit(ctx, entry); err != nil {
		return fmt.Errorf("%s: backup %s is %sed, but the audit entry failed: %w", name, id, name, err)
	}
	rt.Logger.Info("backup "+name+"ed", "backup", id, "by", entry.Actor, "reason", *reason)
	state := "protected: retention will never delete it"
	if !protect {
		state = "unprotected: retention may delete it"
	}
	fmt.Fprintf(stdout, "backup %s %s\n", id, state)
	return nil
}
