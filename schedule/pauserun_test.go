package schedule

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// pausingRunner is a fakeRunner that records Pause and Resume calls.
type pausingRunner struct {
	*fakeRunner
	mu    sync.Mutex
	calls []string
}

func (p *pausingRunner) Pause(runID, who string) error { return p.record("pause " + runID + " " + who) }
func (p *pausingRunner) Resume(runID, who string) error {
	return p.record("resume " + runID + " " + who)
}

func (p *pausingRunner) record(call string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	return nil
}

func TestPauseRunDelegatesToTheRunnerWithTheRunID(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T10:00:00Z"), Options{})
	started := make(chan string, 1)
	release := make(chan struct{})
	runner := &pausingRunner{fakeRunner: h.runner}
	h.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
		started <- r.ID
		select {
		case <-release:
			return store.RunSucceeded
		case <-ctx.Done():
			return store.RunCanceled
		}
	}
	s := New(runner, h.st, Options{Clock: h.clock, Logger: newDiscard(), Owner: "replica-a"})
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Stop(ctx)
	})
	require.NoError(t, s.Add(Entry{ID: "s1", Job: testJob, Cron: "0 3 * * *"}))
	require.NoError(t, s.Start(t.Context()))

	require.ErrorIs(t, s.PauseRun("s1", "bob"), ErrNotRunning)
	require.ErrorIs(t, s.PauseRun("nope", "bob"), ErrUnknownSchedule)

	require.NoError(t, s.RunNow("s1", "alice"))
	runID := <-started
	require.NoError(t, s.PauseRun("s1", "bob"))
	require.NoError(t, s.ResumeRun("s1", "carol"))
	close(release)
	s.quiesce()
	assert.Equal(t, []string{"pause " + runID + " bob", "resume " + runID + " carol"}, runner.calls)

	require.ErrorIs(t, s.ResumeRun("s1", "carol"), ErrNotRunning, "the run is over")
	rs := storedRuns(t, h.st, testJob.Name)
	require.Len(t, rs, 1)
	assert.Equal(t, store.RunSucceeded, rs[0].Status)
}

func TestPauseRunUnsupportedRunner(t *testing.T) {
	h := newHarness(t, utc("2026-06-01T10:00:00Z"), Options{})
	h.add(Entry{Cron: "0 3 * * *"})
	require.ErrorIs(t, h.s.PauseRun("s1", "bob"), ErrPauseUnsupported)
	require.ErrorIs(t, h.s.ResumeRun("s1", "bob"), ErrPauseUnsupported)
}

// stepSource writes "first", signals wrote, waits for proceed, then writes
// "second".
type stepSource struct {
	wrote   chan struct{}
	proceed chan struct{}
}

func (s *stepSource) Format() string { return "bin" }

func (s *stepSource) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	if _, err := w.Write([]byte("first")); err != nil {
		return source.Info{}, err
	}
	close(s.wrote)
	select {
	case <-s.proceed:
	case <-ctx.Done():
		return source.Info{}, context.Cause(ctx)
	}
	if _, err := w.Write([]byte("second")); err != nil {
		return source.Info{}, err
	}
	return source.Info{Kind: "bytes", Format: "bin"}, nil
}

func (s *stepSource) Restore(context.Context, io.Reader, source.RestoreOptions) error { return nil }

// TestPauseRunWithTheEngine: PauseRun reaches a backup.Engine's run; paused
// longer than the engine's MaxPause (1 ns, so at once) the run is canceled
// and not retried.
func TestPauseRunWithTheEngine(t *testing.T) {
	st, _ := openSQLite(t)
	eng := backup.New(st, &backup.Options{Owner: "replica-a", MaxPause: time.Nanosecond, Logger: newDiscard()})
	finished := make(chan Event, 4)
	s := New(eng, st, Options{Clock: NewFakeClock(utc("2026-06-01T10:00:00Z")), Logger: newDiscard(), Owner: "replica-a",
		OnEvent: func(ev Event) {
			if ev.Type == EventFinished {
				finished <- ev
			}
		}})
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Stop(ctx)
	})
	src := &stepSource{wrote: make(chan struct{}), proceed: make(chan struct{})}
	job := &backup.Job{Name: "app", Source: src, Compression: backup.None,
		Destinations: []backup.Target{{Name: "m", Destination: memory.New()}}}
	require.NoError(t, s.Add(Entry{ID: "s1", Job: job, Cron: "0 3 * * *", Policy: Policy{Retries: 3}}))
	require.NoError(t, s.Start(t.Context()))
	require.NoError(t, s.RunNow("s1", "alice"))
	<-src.wrote
	require.NoError(t, s.PauseRun("s1", "bob"))
	close(src.proceed)
	ev := <-finished
	assert.Equal(t, store.RunCanceled, ev.Status)
	require.ErrorIs(t, ev.Err, backup.ErrPausedTooLong)
	s.quiesce()
	rs := storedRuns(t, st, "app")
	require.Len(t, rs, 1, "a run canceled for pausing too long is not retried")
	logs, err := st.RunLogs(context.Background(), ev.RunID)
	require.NoError(t, err)
	var text []string
	for _, l := range logs {
		text = append(text, l.Message)
	}
	assert.Contains(t, text, "run paused by=bob max_pause=1ns")
}
