package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/store"
)

// logPage is how many lines one poll of the store reads.
const logPage = 1000

// logTail is how long logs -f keeps reading once the run is final.
const logTail = time.Second

// cmdLogs prints a run's log. With -f it follows the log until the run is
// final, polling the store (it works against a daemon on another machine
// sharing the store), and then exits with the run's outcome: 0 for
// succeeded or skipped, 1 for any other final status.
func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("logs", stderr)
	follow := fs.Bool("f", false, "follow the log until the run ends; exit 1 unless it succeeded")
	fs.BoolVar(follow, "follow", false, "same as -f")
	after := fs.Int64("after", 0, "print only lines after sequence number `n`")
	interval := fs.Duration("interval", 500*time.Millisecond, "with -f, how often to poll the store")
	asJSON := fs.Bool("json", false, "print one JSON object per line (JSON Lines; fields in docs/cli.md)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("logs: give exactly one RUN_ID")}
	}
	if *after < 0 {
		return usageError{errors.New("logs: --after must not be negative")}
	}
	if *interval <= 0 {
		return usageError{errors.New("logs: --interval must be greater than 0")}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	return followLogs(ctx, rt.Store, pos[0], *after, *follow, *interval, *asJSON, stdout)
}

// followLogs prints runID's lines after seq after; with follow, until the run
// is final.
func followLogs(ctx context.Context, st store.Store, runID string, after int64, follow bool, interval time.Duration, asJSON bool, w io.Writer) error {
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("logs: no run with ID %q (see backupd runs)", runID)
		}
		return fmt.Errorf("logs: %w", err)
	}
	drain := func() error {
		for {
			lines, err := st.RunLogsAfter(ctx, runID, after, logPage)
			if err != nil {
				return fmt.Errorf("logs: %w", err)
			}
			for _, l := range lines {
				if err := writeLogLine(w, l, asJSON); err != nil {
					return err
				}
				after = l.Seq
			}
			if len(lines) < logPage {
				return nil
			}
		}
	}
	if err := drain(); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for !run.Status.Final() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if run, err = st.GetRun(ctx, runID); err != nil {
			return fmt.Errorf("logs: %w", err)
		}
		// Read after the status: lines logged before the run became final
		// are all there.
		if err := drain(); err != nil {
			return err
		}
	}
	// The engine may log a little after the run is final (retention after a
	// backup): keep reading for logTail.
	for end := time.Now().Add(logTail); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := drain(); err != nil {
			return err
		}
	}
	switch run.Status {
	case store.RunSucceeded, store.RunSkipped:
		return nil
	}
	msg := fmt.Sprintf("run %s %s", run.ID, run.Status)
	if run.Reason != "" {
		msg += ": " + run.Reason
	}
	return errors.New(msg)
}

// logLineJSON is one line of `logs --json`.
type logLineJSON struct {
	Seq     int64             `json:"seq"`
	Time    *time.Time        `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs"`
}

func writeLogLine(w io.Writer, l store.LogEntry, asJSON bool) error {
	if asJSON {
		attrs := l.Attrs
		if attrs == nil {
			attrs = map[string]string{}
		}
		b, err := json.Marshal(logLineJSON{Seq: l.Seq, Time: jsonTime(l.Time), Level: string(l.Level), Message: l.Message, Attrs: attrs})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var b strings.Builder
	if !l.Time.IsZero() {
		b.WriteString(l.Time.Local().Format("2006-01-02 15:04:05.000"))
		b.WriteByte(' ')
	}
	fmt.Fprintf(&b, "%-5s %s", strings.ToUpper(string(l.Level)), l.Message)
	for _, k := range slices.Sorted(maps.Keys(l.Attrs)) {
		v := l.Attrs[k]
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
