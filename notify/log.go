package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// LogNotifier writes each event as one structured log line: failures at
// warn level (error for failed runs and unhealthy jobs), the rest at info.
// It never fails.
type LogNotifier struct {
	// Logger receives the lines; nil means slog.Default() at the time of
	// each event.
	Logger *slog.Logger
}

var _ Notifier = (*LogNotifier)(nil)

// Notify logs e.
func (l *LogNotifier) Notify(ctx context.Context, e Event) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	level := slog.LevelInfo
	switch {
	case e.Type == RunFailed || e.Type == HealthUnhealthy:
		level = slog.LevelError
	case e.Type.Failure():
		level = slog.LevelWarn
	}
	args := []any{"event", string(e.Type), "job", e.Job}
	add := func(k string, v any, ok bool) {
		if ok {
			args = append(args, k, v)
		}
	}
	add("run", e.RunID, e.RunID != "")
	add("backup", e.BackupID, e.BackupID != "")
	add("bytes_written", e.BytesWritten, e.BytesWritten > 0)
	add("size", e.Size, e.Size > 0)
	add("elapsed", e.Elapsed, e.Elapsed > 0)
	add("deleted", e.Deleted, e.Deleted > 0)
	add("error", e.Error, e.Error != "")
	add("link", e.Link, e.Link != "")
	lg.Log(ctx, level, "backup "+e.Type.Title(), args...)
	return nil
}

func init() {
	// "log:" (or "log://") logs through slog.Default().
	Register("log", func(_ context.Context, u *url.URL) (Notifier, error) {
		if rest := strings.Trim(u.Opaque+u.Host+u.Path, "/"); rest != "" {
			return nil, fmt.Errorf("log notifier takes no path, got %q", rest)
		}
		return &LogNotifier{}, nil
	})
}
