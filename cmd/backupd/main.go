// Command backupd is the reference backupkit daemon and CLI: it runs the jobs
// of a YAML configuration on their schedules, runs a job now, lists the backup
// catalog and restores backups.
//
//	backupd serve   [--config FILE]                 run scheduled jobs until stopped
//	backupd backup  [--config FILE] JOB             run one job now, with progress
//	backupd list    [--config FILE] [--job JOB]     show the backup catalog
//	backupd runs    [--config FILE] [--job JOB]     show run history
//	backupd restore [--config FILE] --target DIR [--force] [--identity FILE] BACKUP_ID
//	backupd prune   [--config FILE] [--dry-run] JOB   apply the job's retention policy
//	backupd protect   [--config FILE] BACKUP_ID       never let retention delete it
//	backupd unprotect [--config FILE] BACKUP_ID
//	backupd secrets rotate [--config FILE]          re-encrypt stored credentials with the current key
//	backupd version
//
// The configuration file defaults to $BACKUPD_CONFIG, then ./backupd.yaml.
// Exit status: 0 on success, 1 when the operation failed (including a partial
// backup), 2 for bad usage or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "github.com/backupkit/backupkit/all"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/redact"
)

// usageError is a mistake in the command line or configuration: exit status 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

const usage = `backupd: scheduled backups (backupkit)

Usage:
  backupd serve   [--config FILE]                  run the scheduled jobs until stopped
  backupd backup  [--config FILE] JOB              run one job now and show progress
  backupd list    [--config FILE] [--job JOB]      list the backup catalog
  backupd runs    [--config FILE] [--job JOB]      list run history
  backupd restore [--config FILE] --target DIR [--force] [--identity FILE] BACKUP_ID
                                                   restore a backup into DIR (--identity:
                                                   age identities for encrypted backups)
  backupd prune   [--config FILE] [--dry-run] JOB  apply the job's retention policy
                                                   (--dry-run: show the plan only)
  backupd protect   [--config FILE] BACKUP_ID      retention never deletes it
  backupd unprotect [--config FILE] BACKUP_ID      retention may delete it again
  backupd secrets rotate [--config FILE]           re-encrypt the store's credentials
                                                   with its current key (key_file=)
  backupd version                                  print the version

The config file defaults to $BACKUPD_CONFIG, then ./backupd.yaml.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "backupd: "+strings.ReplaceAll(redact.Text(err.Error()), "\n", "\n  "))
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// run executes one command line; it is main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command given")}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, args, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, args, stdout, stderr)
	case "list":
		return cmdList(ctx, args, stdout, stderr)
	case "runs":
		return cmdRuns(ctx, args, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, args, stdout, stderr)
	case "prune":
		return cmdPrune(ctx, args, stdout, stderr)
	case "protect", "unprotect":
		return cmdProtect(ctx, cmd, cmd == "protect", args, stdout, stderr)
	case "secrets":
		return cmdSecrets(ctx, args, stdout, stderr)
	case "token":
		return cmdToken(ctx, args, stdout, stderr)
	case "verify":
		return cmdVerify(ctx, args, stdout, stderr)
	case "download":
		return cmdDownload(ctx, args, stdout, stderr)
	case "catalog":
		return cmdCatalog(ctx, args, stdout, stderr)
	case "show":
		return cmdShow(ctx, args, stdout, stderr)
	case "logs":
		return cmdLogs(ctx, args, stdout, stderr)
	case "schedules":
		return cmdSchedules(ctx, args, stdout, stderr)
	case "pause":
		return cmdPauseJob(ctx, args, stdout, stderr)
	case "resume":
		return cmdResumeJob(ctx, args, stdout, stderr)
	case "config":
		return cmdConfig(ctx, args, stdout, stderr)
	case "completion":
		return cmdCompletion(ctx, args, stdout, stderr)
	case "version", "--version":
		return cmdVersion(args, stdout, stderr)
	case "__complete": // hidden: candidates for the shell completion scripts
		return cmdComplete(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", cmd)}
}

// flags returns a FlagSet with the common --config flag.
func flags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("backupd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("BACKUPD_CONFIG")
	if def == "" {
		def = "backupd.yaml"
	}
	path := fs.String("config", def, "configuration `file`")
	return fs, path
}

// parse parses flags allowing them before and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// open loads the configuration and wires it up.
func open(ctx context.Context, path string, stderr io.Writer, level slog.Leveler) (*config.Runtime, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	if level == nil {
		level = cfg.SlogLevel()
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rt, err := config.Open(ctx, cfg, &config.OpenOptions{Logger: logger})
	if err != nil {
		return nil, err
	}
	return rt, nil
}
