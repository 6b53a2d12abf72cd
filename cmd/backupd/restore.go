package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/source"
)

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("restore", stderr)
	target := fs.String("target", "", "restore into this `location` (a folder for dir sources); required")
	force := fs.Bool("force", false, "replace what is at the target")
	dryRun := fs.Bool("dry-run", false, "read and check the whole backup, write nothing")
	var identityFiles []string
	fs.Func("identity", "age identity `file` (AGE-SECRET-KEY-1… lines, as age-keygen writes) for encrypted backups; repeatable; also $BACKUPD_AGE_IDENTITY_FILE, or the identities themselves in $BACKUPD_AGE_IDENTITY",
		func(s string) error { identityFiles = append(identityFiles, s); return nil })
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("restore: give exactly one BACKUP_ID")}
	}
	if *target == "" && !*dryRun {
		return usageError{errors.New("restore: --target is required (restoring over the source itself is not offered by the CLI yet)")}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	b, err := rt.Store.GetBackup(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	job, err := rt.Job(b.Job)
	if err != nil {
		return fmt.Errorf("restore: backup %s: %w", b.ID, err)
	}
	identities, err := restoreIdentities(identityFiles)
	if err != nil {
		return usageError{fmt.Errorf("restore: %w", err)}
	}
	opts := backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: *target, DropExisting: *force, DryRun: *dryRun},
		Identities: identities}
	start := time.Now()
	if err := rt.Engine.Restore(ctx, job.Job, b.ID, opts); err != nil {
		if errors.Is(err, backup.ErrIdentity) {
			err = fmt.Errorf("%w (give the identity with --identity FILE, $BACKUPD_AGE_IDENTITY_FILE or $BACKUPD_AGE_IDENTITY)", err)
		}
		return err
	}
	verb := "restored"
	if *dryRun {
		verb = "checked (dry run)"
	}
	fmt.Fprintf(stdout, "backup %s %s into %s in %s\n", b.ID, verb, *target, time.Since(start).Round(time.Millisecond))
	return nil
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
