package schedule

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// fakeRunner records claimed runs the way backup.Engine does, without
// backing anything up: behave decides each run's status and may block.
type fakeRunner struct {
	st     store.Store
	clock  Clock
	behave func(ctx context.Context, r *store.Run) store.RunStatus

	mu         sync.Mutex
	running    int
	maxRunning int
	runs       int
}

func (f *fakeRunner) Run(ctx context.Context, job *backup.Job, opts backup.RunOptions) (*backup.Result, error) {
	r := opts.Claimed
	if r == nil {
		return nil, errors.New("fakeRunner: the scheduler must pass a claimed run")
	}
	f.mu.Lock()
	f.running++
	f.runs++
	f.maxRunning = max(f.maxRunning, f.running)
	f.mu.Unlock()
	status := store.RunSucceeded
	if f.behave != nil {
		status = f.behave(ctx, r)
	}
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	r.Status, r.FinishedAt = status, f.clock.Now().UTC()
	if ctx.Err() != nil {
		r.Reason = context.Cause(ctx).Error()
	}
	res := &backup.Result{Run: *r}
	if err := f.st.UpdateRun(context.WithoutCancel(ctx), r); err != nil {
		return res, err
	}
	if status != store.RunSucceeded {
		return res, errors.New("run " + string(status))
	}
	return res, nil
}

func openSQLite(t testing.TB) (store.Store, string) {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "store.db")
	st, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, url
}

// testJob is a job that is never really run (the runners are fakes).
var testJob = &backup.Job{Name: "db"}

// events collects a scheduler's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }

func (e *events) count(typ EventType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

type harness struct {
	t      *testing.T
	clock  *FakeClock
	st     store.Store
	runner *fakeRunner
	s      *Scheduler
	ev     *events
}

func newHarness(t *testing.T, start time.Time, opts Options) *harness {
	st, _ := openSQLite(t)
	return newHarnessOn(t, st, NewFakeClock(start), opts)
}

func newHarnessOn(t *testing.T, st store.Store, clock *FakeClock, opts Options) *harness {
	h := &harness{t: t, clock: clock, st: st, ev: &events{}}
	h.runner = &fakeRunner{st: st, clock: clock}
	opts.Clock = clock
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Owner == "" {
		opts.Owner = "replica-a"
	}
	user := opts.OnEvent
	opts.OnEvent = func(ev Event) {
		h.ev.add(ev)
		if user != nil {
			user(ev)
		}
	}
	h.s = New(h.runner, st, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace: interrupt what still runs
		_ = h.s.Stop(ctx)
	})
	return h
}

func (h *harness) add(e Entry) {
	h.t.Helper()
	if e.ID == "" {
		e.ID = "s1"
	}
	if e.Job == nil {
		e.Job = testJob
	}
	if err := h.s.Add(e); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) start() {
	h.t.Helper()
	if err := h.s.Start(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
	h.s.quiesce()
}

// set moves the clock and waits until the scheduler has acted on it.
func (h *harness) set(t time.Time) {
	h.clock.Set(t)
	h.s.quiesce()
}

// runs returns the stored runs of the job, oldest first.
func (h *harness) runs() []store.Run {
	h.t.Helper()
	return storedRuns(h.t, h.st, testJob.Name)
}

func storedRuns(t testing.TB, st store.Store, job string) []store.Run {
	t.Helper()
	rs, err := st.ListRuns(context.Background(), store.RunFilter{Job: job, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs
}

// byStatus returns the slots (UTC, RFC 3339) of the runs with status st.
func byStatus(rs []store.Run, st store.RunStatus) []string {
	var out []string
	for _, r := range rs {
		if r.Status == st {
			out = append(out, r.Slot.UTC().Format(time.RFC3339))
		}
	}
	return out
}

type slogLogger = slog.Logger

func newDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
