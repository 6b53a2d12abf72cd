package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/backupkit/backupkit/backup"
)

// cmdCatalog is `backupd catalog rebuild [--dry-run] [--json]`: it scans
// the configured jobs' destinations for manifests and adds what the catalog
// lacks, marks copies that are gone and lists orphans; it deletes nothing.
func cmdCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return usageError{errors.New("catalog: want `backupd catalog rebuild [--dry-run] [--json]`")}
	}
	fs, path := flags("catalog rebuild", stderr)
	dryRun := fs.Bool("dry-run", false, "show what would change, change nothing")
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Errorf("catalog rebuild: unexpected argument %q", pos[0])}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	var jobs []*backup.Job
	for _, j := range rt.Jobs {
		jobs = append(jobs, j.Job)
	}
	rep, err := rt.Engine.RebuildCatalog(ctx, jobs, backup.RebuildOptions{DryRun: *dryRun})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	prefix := ""
	if *dryRun {
		prefix = "(dry run) "
	}
	fmt.Fprintf(stdout, "%s%d backups added, %d copies added, %d copies missing, %d orphans, %d unchanged\n", prefix,
		len(rep.Added), len(rep.CopiesAdded), len(rep.CopiesMissing), len(rep.Orphans), rep.Unchanged)
	for _, l := range []struct {
		what  string
		items []string
	}{{"added", rep.Added}, {"copy added", rep.CopiesAdded}, {"copy missing", rep.CopiesMissing}, {"orphan", rep.Orphans}} {
		for _, it := range l.items {
			fmt.Fprintf(stdout, "  %-13s %s\n", l.what, it)
		}
	}
	return nil
}
