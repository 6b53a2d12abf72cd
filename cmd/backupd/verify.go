package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

// errVerifyFailed is returned (exit status 1) when a backup did not verify.
var errVerifyFailed = errors.New("verify: the backup did not verify")

// cmdVerify is `backupd verify ID|JOB [--level exists|checksum|restore]
// [--json]`: it verifies a backup, or a job's latest backup, and exits 1
// when it does not verify.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("verify", stderr)
	level := fs.String("level", string(backup.VerifyChecksum), "how thoroughly: exists (every copy present, right size), checksum (read every copy, compare SHA-256) or restore (also test-restore into a scratch target and compare)")
	asJSON := jsonFlag(fs)
	identityFiles := identityFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("verify: give exactly one BACKUP_ID or JOB")}
	}
	switch backup.VerifyLevel(*level) {
	case backup.VerifyExists, backup.VerifyChecksum, backup.VerifyRestore:
	default:
		return usageError{fmt.Errorf("verify: --level %q: want exists, checksum or restore", *level)}
	}
	identities, err := restoreIdentities(*identityFiles)
	if err != nil {
		return usageError{fmt.Errorf("verify: %w", err)}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	id := pos[0]
	var jobName string
	if sj, jerr := rt.Job(id); jerr == nil {
		jobName = sj.Job.Name
		if id, err = rt.LatestBackup(ctx, jobName); err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("verify: job %s has no backup", jobName)
		}
	} else {
		b, err := rt.Store.GetBackup(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("verify: %q is neither a backup ID nor a job: %w", id, err)
		}
		if err != nil {
			return err
		}
		jobName = b.Job
	}
	sj, err := rt.Job(jobName)
	if err != nil {
		return fmt.Errorf("verify: backup %s: %w", id, err)
	}
	progress := terminalProgress(stderr)
	if progress != nil {
		defer rt.Engine.Subscribe(progress.event)()
	}
	res, err := rt.Engine.Verify(ctx, sj.Job, id, backup.VerifyOptions{Level: backup.VerifyLevel(*level),
		Restore: backup.RestoreOptions{Identities: identities}, TriggeredBy: "cli:" + currentUser()})
	if progress != nil {
		progress.done()
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	} else {
		verdict := "OK"
		if !res.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(stdout, "backup %s: %s at level %s (run %s)\n", res.BackupID, verdict, res.Level, res.RunID)
		for _, c := range res.Copies {
			if c.OK {
				fmt.Fprintf(stdout, "  %-12s ok      %s\n", c.Destination, c.Key)
			} else {
				fmt.Fprintf(stdout, "  %-12s FAILED  %s: %s\n", c.Destination, c.Key, c.Problem)
			}
		}
		if !res.OK {
			fmt.Fprintf(stdout, "problem: %s\n", res.Problem)
		}
	}
	if !res.OK {
		return errVerifyFailed
	}
	return nil
}
