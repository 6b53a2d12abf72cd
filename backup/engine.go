package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/store"
)

// Options configure an Engine. The zero value is usable: every field has a
// default.
type Options struct {
	// Logger receives the engine's log lines (each run's lines also go to the
	// store). Default: slog.Default().
	Logger *slog.Logger
	// Owner identifies this process in run records and leases. Default:
	// "<hostname>:<pid>".
	Owner string
	// Lease is how long a run stays "running" without a renewal before another
	// process may declare it interrupted. The engine renews it every Lease/3.
	// Default: store.DefaultLease.
	Lease time.Duration
	// ProgressInterval is how often progress events are published. Default: 1s.
	ProgressInterval time.Duration
	// ChunkSize is the size of the chunks the artifact is cut into for the
	// destinations; QueueLength is how many chunks each destination may lag
	// behind the fastest. Memory for a run is about
	// (destinations × QueueLength + 2) × ChunkSize for the fan-out, plus the
	// compressor's (zstd: 2 × (cores+3) × 1 MiB at most, plus a 1 MiB window per core).
	// Defaults: 1 MiB and 4.
	ChunkSize   int
	QueueLength int
	// Now is the clock, for tests. Default: time.Now.
	Now func() time.Time
	// MaxPause is how long a run may stay paused (see Engine.Pause) before
	// it is canceled. Default: DefaultMaxPause.
	MaxPause time.Duration
	// StallTimeout is how long a destination may take no data while the
	// run waits on it (its share of the fan-out stays full, or the stream
	// has ended and it has not read all of it) before its copy is given up:
	// its Put's context is canceled with ErrDestinationStalled and the other
	// destinations go on (see Run). Once a destination has read the whole
	// stream, the time it takes to commit is not timed (Job.Timeout is). A Put that ignores the
	// cancellation is left behind a minute later. Destinations that detect
	// stalls themselves (destination.StallGuard: S3, Drive) are exempt.
	// Job.StallTimeout overrides it. Default: DefaultStallTimeout;
	// negative: never. Keep it to minutes: on a loaded machine a healthy
	// destination can go a few hundred milliseconds without taking data
	// (seen under -race).
	StallTimeout time.Duration
}

// DefaultStallTimeout is Options.StallTimeout's default.
const DefaultStallTimeout = 5 * time.Minute

// Engine runs backup jobs and restores their backups, recording everything in
// a store. It is safe for concurrent use; several jobs may run at once.
type Engine struct {
	store store.Store
	opts  Options

	mu      sync.Mutex
	subs    map[int]func(notify.Event)
	nextSub int

	health healthState // see CheckHealth

	runs   map[string]*control // running runs by ID, under mu (see Pause)
	onHold func(runID string)  // tests: a write blocks in a paused run's gate
}

// New returns an Engine that records runs, backups and run logs in st. A nil
// opts means the defaults.
func New(st store.Store, opts *Options) *Engine {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = host + ":" + strconv.Itoa(os.Getpid())
	}
	if o.Lease <= 0 {
		o.Lease = store.DefaultLease
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	if o.QueueLength <= 0 {
		o.QueueLength = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPause <= 0 {
		o.MaxPause = DefaultMaxPause
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	return &Engine{store: st, opts: o, subs: map[int]func(notify.Event){}}
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// Subscribe calls fn with every event the engine publishes (run started,
// progress, finished; retention pruned or failed after a run; health
// unhealthy or recovered, see CheckHealth) until the returned cancel function is called. fn is
// called synchronously from the run's goroutines, possibly concurrently: it
// must be safe for concurrent use and must not block; hand slow work (network
// notifications) to a goroutine of your own.
func (e *Engine) Subscribe(fn func(notify.Event)) (cancel func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextSub
	e.nextSub++
	e.subs[id] = fn
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.subs, id)
	}
}

func (e *Engine) publish(ev notify.Event) {
	e.mu.Lock()
	fns := make([]func(notify.Event), 0, len(e.subs))
	for _, fn := range e.subs {
		fns = append(fns, fn)
	}
	e.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// runLog writes a run's log lines to the engine's logger and to the store.
type runLog struct {
	e   *Engine
	run *store.Run
	ctx context.Context // not canceled with the run: lines must be kept
}

func (l runLog) add(level store.LogLevel, msg string, args ...any) {
	var lv slog.Level
	switch level {
	case store.LevelDebug:
		lv = slog.LevelDebug
	case store.LevelWarn:
		lv = slog.LevelWarn
	case store.LevelError:
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	// Values that are text (errors above all: a driver may quote its DSN)
	// are redacted before they reach the log or the store.
	for i := 1; i < len(args); i += 2 {
		switch v := args[i].(type) {
		case error:
			args[i] = redact.Text(v.Error())
		case string:
			args[i] = redact.Text(v)
		}
	}
	l.e.opts.Logger.Log(l.ctx, lv, msg, append([]any{"job", l.run.Job, "run", l.run.ID}, args...)...)
	line := msg
	for i := 0; i+1 < len(args); i += 2 {
		line += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	entry := store.LogEntry{Time: l.e.opts.Now().UTC(), Level: level, Message: line}
	if err := l.e.store.AppendLogs(l.ctx, l.run.ID, entry); err != nil {
		l.e.opts.Logger.Warn("cannot store run log line", "run", l.run.ID, "err", err)
	}
}

func (l runLog) info(msg string, args ...any)  { l.add(store.LevelInfo, msg, args...) }
func (l runLog) warn(msg string, args ...any)  { l.add(store.LevelWarn, msg, args...) }
func (l runLog) error(msg string, args ...any) { l.add(store.LevelError, msg, args...) }

// keepLease renews the run's lease until ctx ends. If the store says the run
// is no longer ours, it cancels the run with errLeaseLost.
func (e *Engine) keepLease(ctx context.Context, cancel context.CancelCauseFunc, run *store.Run, log runLog) {
	t := time.NewTicker(e.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := e.store.RenewLease(ctx, run.ID, run.Owner, e.opts.Lease)
			switch {
			case errors.Is(err, store.ErrConflict):
				log.error("lease lost: another process took over or interrupted this run")
				cancel(errLeaseLost)
				return
			case err != nil && ctx.Err() == nil:
				log.warn("cannot renew lease", "err", err)
			}
		}
	}
}

var errLeaseLost = errors.New("run lease lost")
