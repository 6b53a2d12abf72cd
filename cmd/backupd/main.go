// Command backupd is the reference backupkit daemon and CLI: it runs the jobs
// of a YAML configuration on their schedules with an HTTP API and web page,
// runs a job now, lists, shows, verifies, downloads and restores backups,
// follows run logs, pauses schedules and checks configurations.
//
//	backupd serve     [--config FILE]                       run the scheduled jobs, the API and the web page
//	backupd backup    [--config FILE] [--json] JOB          run one job now, with progress
//	backupd list      [--config FILE] [--json] [JOB]        the backup catalog
//	backupd show      [--config FILE] [--json] ID           a backup (copies, checksum, items, verification) or a run
//	backupd runs      [--config FILE] [--json] [--status S] [--kind K] [--limit N] [JOB]
//	backupd logs      [--config FILE] [--json] [-f] RUN     a run's log; -f follows it until the run ends
//	backupd restore   [--config FILE] [flags] BACKUP_ID     restore a backup (see backupd restore -h)
//	backupd verify    [--config FILE] [flags] BACKUP_ID|JOB check that a backup's copies are intact
//	backupd download  [--config FILE] [-o FILE] BACKUP_ID   stream a backup to stdout or a file
//	backupd prune     [--config FILE] [--dry-run] JOB       apply the job's retention policy
//	backupd protect   [--config FILE] BACKUP_ID             retention never deletes it (unprotect: undo)
//	backupd schedules [--config FILE] [--json] [JOB]        schedules, time zones, paused state, next runs
//	backupd pause     [--config FILE] JOB                   stop running a job's schedule (resume: undo)
//	backupd catalog rebuild [--config FILE] [flags]         rebuild the catalog from the manifests
//	backupd config check [--config FILE] [--connect] [--json]
//	backupd secrets rotate [--config FILE]                  re-encrypt stored credentials with the current key
//	backupd token new|hash                                  make or hash an API token
//	backupd completion bash|zsh|fish                        print a shell completion script
//	backupd version   [--json]
//
// The configuration file defaults to $BACKUPD_CONFIG, then ./backupd.yaml.
// --json output has stable field names, documented in docs/cli.md.
//
// Exit status: 0 on success; 1 when the operation failed (a failed or
// partial backup, a failed connection check, a run followed with logs -f
// that did not succeed, a missing backup or run); 2 for bad usage or an
// invalid configuration. Interrupted by SIGINT or SIGTERM, a command stops
// and exits 1 (serve stops gracefully and exits 0).
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
  backupd serve     [--config FILE]                 run the scheduled jobs, the API and the web page
  backupd backup    [--config FILE] JOB             run one job now and show progress
  backupd list      [--config FILE] [JOB]           list the backup catalog
  backupd show      [--config FILE] ID              show a backup (copies, checksum, items,
                                                    verification) or a run
  backupd runs      [--config FILE] [--status S] [--kind K] [--limit N] [JOB]
                                                    list run history
  backupd logs      [--config FILE] [-f] RUN        print a run's log (-f: follow it to the end)
  backupd restore   [--config FILE] [flags] BACKUP_ID
                                                    restore a backup (backupd restore -h)
  backupd verify    [--config FILE] [flags] BACKUP_ID|JOB
                                                    check a backup's copies (backupd verify -h)
  backupd download  [--config FILE] [-o FILE] [--raw] BACKUP_ID
                                                    stream a backup to stdout or FILE
  backupd prune     [--config FILE] [--dry-run] JOB apply the job's retention policy
                                                    (--dry-run: show the plan only)
  backupd protect   [--config FILE] BACKUP_ID       retention never deletes it
  backupd unprotect [--config FILE] BACKUP_ID       retention may delete it again
  backupd schedules [--config FILE] [JOB]           schedules, time zones, paused state, next runs
  backupd pause     [--config FILE] JOB             stop running the job's schedule
  backupd resume    [--config FILE] JOB             run the job's schedule again
  backupd catalog rebuild [--config FILE] [flags]   rebuild the catalog from the manifests
  backupd config check [--config FILE] [--connect]  validate the configuration (--connect:
                                                    also test every store, destination, source)
  backupd secrets rotate [--config FILE]            re-encrypt the store's credentials
                                                    with its current key (key_file=)
  backupd token new|hash                            make or hash an API token
  backupd completion bash|zsh|fish                  print a shell completion script
  backupd version                                   print the version

list, show, runs, logs, schedules, config check, backup and version take
--json: output with stable field names for scripts (docs/cli.md).
The config file defaults to $BACKUPD_CONFIG, then ./backupd.yaml.
Exit status: 0 success, 1 failure (a partial backup included), 2 bad usage
or configuration.
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
