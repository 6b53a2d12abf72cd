package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("restore", stderr)
	target := fs.String("target", "", "restore into this `location` (a folder for dir sources, a database name for database sources) instead of the source's own")
	to := fs.String("to", "", "restore through this source `URL` (another server or folder of the job's kind) instead of the job's source")
	force := fs.Bool("force", false, "replace data at the target (a safety backup of it is taken first, and restored if the restore fails)")
	dryRun := fs.Bool("dry-run", false, "read and check the whole backup, write nothing")
	noSafety := fs.Bool("no-safety-backup", false, "with --force: replace the data without taking a safety backup first")
	identityFiles := identityFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("restore: give exactly one BACKUP_ID")}
	}
	if *noSafety && !*force {
		return usageError{errors.New("restore: --no-safety-backup only applies with --force")}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	b, job, err := backupAndJob(ctx, rt, "restore", pos[0])
	if err != nil {
		return err
	}
	if *to != "" {
		src, err := source.Open(ctx, *to)
		if err != nil {
			return usageError{fmt.Errorf("restore: --to: %w", err)}
		}
		if src.Format() != job.Source.Format() {
			return usageError{fmt.Errorf("restore: --to: a %s source cannot read backup %s (format %s)", src.Format(), b.ID, b.Format)}
		}
		clone := *job
		clone.Source = src
		job = &clone
	}
	identities, err := restoreIdentities(*identityFiles)
	if err != nil {
		return usageError{fmt.Errorf("restore: %w", err)}
	}
	opts := backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: *target, DropExisting: *force, DryRun: *dryRun},
		Identities: identities, NoSafetyBackup: *noSafety, TriggeredBy: "cli:" + currentUser()}
	progress := terminalProgress(stderr)
	if progress != nil {
		defer rt.Engine.Subscribe(progress.event)()
	}
	start := time.Now()
	err = rt.Engine.Restore(ctx, job, b.ID, opts)
	if progress != nil {
		progress.done()
	}
	if err != nil {
		switch {
		case errors.Is(err, backup.ErrIdentity):
			err = fmt.Errorf("%w (give the identity with --identity FILE, $BACKUPD_AGE_IDENTITY_FILE or $BACKUPD_AGE_IDENTITY)", err)
		case errors.Is(err, backup.ErrTargetHasData):
			err = fmt.Errorf("%w (add --force to replace it; a safety backup is taken first)", err)
		}
		return err
	}
	verb := "restored"
	if *dryRun {
		verb = "checked (dry run)"
	}
	where := *target
	switch {
	case where == "" && *to != "":
		where = "the source at --to"
	case where == "":
		where = "the job's source"
	}
	fmt.Fprintf(stdout, "backup %s %s into %s in %s\n", b.ID, verb, where, time.Since(start).Round(time.Millisecond))
	return nil
}

// identityFlag adds the repeatable --identity flag of the commands that
// read encrypted backups.
func identityFlag(fs *flag.FlagSet) *[]string {
	var files []string
	fs.Func("identity", "age identity `file` (AGE-SECRET-KEY-1… lines, as age-keygen writes) for encrypted backups; repeatable; also $BACKUPD_AGE_IDENTITY_FILE, or the identities themselves in $BACKUPD_AGE_IDENTITY",
		func(s string) error { files = append(files, s); return nil })
	return &files
}

// backupAndJob returns the catalog entry id and its configured job; errors
// start with cmd.
func backupAndJob(ctx context.Context, rt *config.Runtime, cmd, id string) (store.Backup, *backup.Job, error) {
	b, err := rt.Store.GetBackup(ctx, id)
	if err != nil {
		return b, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	sj, err := rt.Job(b.Job)
	if err != nil {
		return b, nil, fmt.Errorf("%s: backup %s: %w", cmd, b.ID, err)
	}
	return b, sj.Job, nil
}

// terminalProgress returns a progress printer on stderr when it is a
// terminal, else nil (no progress lines in logs and pipes).
func terminalProgress(stderr io.Writer) *progressPrinter {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil
	}
	p := newProgressPrinter(f)
	if !p.tty {
		return nil
	}
	return p
}

// restoreIdentities reads the age identities for a restore: from the files
// given with --identity, else from $BACKUPD_AGE_IDENTITY_FILE, plus those in
// $BACKUPD_AGE_IDENTITY. Errors never quote the identities.
func restoreIdentities(files []string) ([]age.Identity, error) {
	if len(files) == 0 {
		if f := os.Getenv("BACKUPD_AGE_IDENTITY_FILE"); f != "" {
			files = []string{f}
		}
	}
	var ids []age.Identity
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("identity file: %w", err)
		}
		parsed, err := parseIdentities(string(data))
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", f, err)
		}
		ids = append(ids, parsed...)
	}
	if env := os.Getenv("BACKUPD_AGE_IDENTITY"); env != "" {
		parsed, err := parseIdentities(env)
		if err != nil {
			return nil, fmt.Errorf("$BACKUPD_AGE_IDENTITY: %w", err)
		}
		ids = append(ids, parsed...)
	}
	return ids, nil
}

// parseIdentities parses age identities, keeping only the line number of
// age's error: the rest may quote part of a key.
func parseIdentities(text string) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		msg := "not an age identity file"
		if l, _, ok := strings.Cut(err.Error(), ":"); ok && strings.HasPrefix(l, "error at line ") {
			msg += " (" + strings.TrimPrefix(l, "error at ") + ")"
		}
		return nil, errors.New(msg + `: want lines "AGE-SECRET-KEY-1…", as age-keygen writes them`)
	}
	return ids, nil
}
