package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/notify"
)

// logBuffer is a log sink safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// recorder records the events it is given; fail decides per call whether
// to fail.
type recorder struct {
	mu     sync.Mutex
	events []notify.Event
	calls  int
	fail   func(call int) error
}

func (r *recorder) Notify(ctx context.Context, e notify.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(r.calls); err != nil {
			return err
		}
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) types() []notify.EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notify.EventType
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

func noWait(context.Context, time.Duration) error { return nil }

func closeNow(t *testing.T, d *notify.Dispatcher) {
	t.Helper()
	require.NoError(t, d.Close(context.Background()))
}

func TestDispatcherDefaultFilter(t *testing.T) {
	rec, all := &recorder{}, &recorder{}
	d := notify.NewDispatcher([]notify.Target{
		{Notifier: rec},
		{Notifier: all, Events: notify.EventTypes},
	}, nil)
	for _, typ := range []notify.EventType{notify.RunStarted, notify.RunProgress, notify.RunSucceeded, notify.RunFailed,
		notify.RunCanceled, notify.RunPartial, notify.RetentionPruned, notify.RetentionFailed, notify.HealthUnhealthy} {
		d.Publish(notify.Event{Type: typ, Job: "app"})
	}
	closeNow(t, d)
	assert.Equal(t, []notify.EventType{notify.RunFailed, notify.RunPartial, notify.RetentionFailed, notify.HealthUnhealthy}, rec.types())
	assert.Len(t, all.types(), 9)
	d.Publish(notify.Event{Type: notify.RunFailed}) // after Close: dropped, no panic
	assert.Len(t, rec.types(), 4)
}

func TestDispatcherDeduplicatesHealthPerJob(t *testing.T) {
	rec := &recorder{}
	d := notify.NewDispatcher([]notify.Target{{Notifier: rec}}, nil)
	pub := func(typ notify.EventType, job string) { d.Publish(notify.Event{Type: typ, Job: job}) }
	pub(notify.HealthRecovered, "a") // never unhealthy: nothing to recover from
	pub(notify.HealthUnhealthy, "a")
	pub(notify.HealthUnhealthy, "a")
	pub(notify.HealthUnhealthy, "b")
	pub(notify.HealthUnhealthy, "a")
	pub(notify.HealthRecovered, "a")
	pub(notify.HealthRecovered, "a")
	pub(notify.HealthUnhealthy, "a")
	closeNow(t, d)
	var got []string
	for _, e := range rec.events {
		got = append(got, e.Job+" "+string(e.Type))
	}
	assert.Equal(t, []string{"a health.unhealthy", "b health.unhealthy", "a health.recovered", "a health.unhealthy"}, got)
}

func TestDispatcherRetriesWithBackoff(t *testing.T) {
	rec := &recorder{fail: func(call int) error {
		if call <= 2 {
			return errors.New("unavailable")
		}
		return nil
	}}
	var mu sync.Mutex
	var waits []time.Duration
	log, logs := newLogger()
	d := notify.NewDispatcher([]notify.Target{{Name: "flaky", Notifier: rec}}, &notify.DispatcherOptions{
		Logger: log, Backoff: notify.DefaultBackoff,
		Sleep: func(_ context.Context, w time.Duration) error {
			mu.Lock()
			waits = append(waits, w)
			mu.Unlock()
			return nil
		},
	})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app"})
	closeNow(t, d)
	assert.Equal(t, 3, rec.calls)
	assert.Equal(t, []notify.EventType{notify.RunFailed}, rec.types())
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, waits)
	assert.Equal(t, 2, strings.Count(logs.String(), "retrying"))
	assert.NotContains(t, logs.String(), "giving up")
}

func TestDefaultBackoffIsCapped(t *testing.T) {
	assert.Equal(t, time.Second, notify.DefaultBackoff(1))
	assert.Equal(t, 8*time.Second, notify.DefaultBackoff(4))
	assert.Equal(t, 5*time.Minute, notify.DefaultBackoff(100))
}

func TestDispatcherGivesUpAfterMaxAttempts(t *testing.T) {
	rec := &recorder{fail: func(int) error { return errors.New("down") }}
	log, logs := newLogger()
	d := notify.NewDispatcher([]notify.Target{{Name: "down", Notifier: rec}},
		&notify.DispatcherOptions{Logger: log, MaxAttempts: 3, Sleep: noWait})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app"})
	closeNow(t, d)
	assert.Equal(t, 3, rec.calls)
	assert.Equal(t, 1, strings.Count(logs.String(), "giving up"))
	assert.Contains(t, logs.String(), "notifier=down")
}

func TestDispatcherAbandonsAHangingNotifier(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := notify.NotifierFunc(func(ctx context.Context, e notify.Event) error {
		<-release // ignores ctx on purpose
		return nil
	})
	rec := &recorder{}
	log, logs := newLogger()
	d := notify.NewDispatcher([]notify.Target{{Name: "hang", Notifier: hang}, {Name: "ok", Notifier: rec}},
		&notify.DispatcherOptions{Logger: log, Timeout: 20 * time.Millisecond, MaxAttempts: 3, Sleep: noWait})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app"}) // returns at once
	closeNow(t, d)                                              // returns although hang never does
	assert.Contains(t, rec.types(), notify.RunFailed, "the other notifier is not held up")
	assert.Contains(t, logs.String(), "did not answer in time")
	assert.Contains(t, logs.String(), "giving up")
}

func TestDispatcherCloseDeadlineAbandonsQueue(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 10)
	hang := notify.NotifierFunc(func(ctx context.Context, e notify.Event) error {
		started <- struct{}{}
		<-release
		return nil
	})
	d := notify.NewDispatcher([]notify.Target{{Notifier: hang}}, &notify.DispatcherOptions{Timeout: time.Hour})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app"})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app"})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, d.Close(ctx), context.Canceled)
	assert.Len(t, started, 0, "the queued event was abandoned, not delivered")
}

func TestDispatcherQueueDropsProgressFirst(t *testing.T) {
	gate, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rec := &recorder{}
	blocking := notify.NotifierFunc(func(ctx context.Context, e notify.Event) error {
		if e.RunID == "0" {
			once.Do(func() { close(started) })
			<-gate
		}
		return rec.Notify(ctx, e)
	})
	log, logs := newLogger()
	d := notify.NewDispatcher([]notify.Target{{Notifier: blocking, Events: notify.EventTypes}},
		&notify.DispatcherOptions{Logger: log, QueueSize: 2, Timeout: time.Hour})
	pub := func(typ notify.EventType, id string) { d.Publish(notify.Event{Type: typ, Job: "app", RunID: id}) }
	pub(notify.RunFailed, "0")
	<-started // "0" is being delivered; the queue is empty
	pub(notify.RunProgress, "1")
	pub(notify.RunFailed, "2")
	pub(notify.RunFailed, "3")   // full: drops progress "1"
	pub(notify.RunProgress, "4") // full, no progress queued: the new progress is dropped
	pub(notify.RunFailed, "5")   // full, no progress: drops the oldest, "2"
	close(gate)
	closeNow(t, d)
	var ids []string
	for _, e := range rec.events {
		ids = append(ids, e.RunID)
	}
	assert.Equal(t, []string{"0", "3", "5"}, ids)
	assert.Equal(t, 3, strings.Count(logs.String(), "notification queue full"))
	assert.Equal(t, 1, strings.Count(logs.String(), "progress event dropped"))
}

func TestDispatcherLinksAndRedacts(t *testing.T) {
	rec := &recorder{}
	log, logs := newLogger()
	d := notify.NewDispatcher([]notify.Target{{Notifier: rec, Events: notify.EventTypes},
		{Notifier: notify.NotifierFunc(func(context.Context, notify.Event) error {
			return errors.New(`post "https://h.example/x?token=tok-SECRET-1": refused`)
		})}},
		&notify.DispatcherOptions{Logger: log, LinkTemplate: "https://backupd.example/runs/{run}?job={job}",
			Secrets: []string{"literal-SECRET-2"}, MaxAttempts: 1})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app", RunID: "r 1",
		Error:   "source: dial mysql://root:pw-SECRET-3@db/shop: refused; password=pw-SECRET-4 literal-SECRET-2",
		Reasons: []string{"s3://AKIA:sk-SECRET-5@bucket"}})
	closeNow(t, d)
	require.Len(t, rec.events, 1)
	e := rec.events[0]
	assert.Equal(t, "https://backupd.example/runs/r%201?job=app", e.Link)
	assert.Contains(t, e.Error, "mysql://root:xxxxx@db/shop")
	for _, s := range []string{e.Error, e.Link, strings.Join(e.Reasons, " "), logs.String()} {
		assert.NotContains(t, s, "SECRET")
	}
}

func TestChannel(t *testing.T) {
	fn, ch, stop := notify.Channel(1)
	fn(notify.Event{Type: notify.RunStarted})
	fn(notify.Event{Type: notify.RunFailed}) // full: dropped, no block
	stop()
	fn(notify.Event{Type: notify.RunFailed}) // after stop: dropped, no panic
	var got []notify.EventType
	for e := range ch {
		got = append(got, e.Type)
	}
	assert.Equal(t, []notify.EventType{notify.RunStarted}, got)
}

func TestOpenLog(t *testing.T) {
	n, err := notify.Open(context.Background(), "log:")
	require.NoError(t, err)
	require.NoError(t, n.Notify(context.Background(), notify.Event{Type: notify.RunFailed, Job: "app", Error: "x"}))
	_, err = notify.Open(context.Background(), "nope://user:pw-SECRET@x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestLogNotifier(t *testing.T) {
	log, logs := newLogger()
	n := &notify.LogNotifier{Logger: log}
	require.NoError(t, n.Notify(context.Background(), notify.Event{Type: notify.RunFailed, Job: "app", RunID: "r1", Error: "boom", Link: "https://x/r1"}))
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "run=r1")
	assert.Contains(t, logs.String(), "error=boom")
}

func TestExpandLinkAndEventTypes(t *testing.T) {
	assert.Equal(t, "", notify.ExpandLink("", notify.Event{RunID: "x"}))
	assert.Equal(t, "/j/a%2Fb/b", notify.ExpandLink("/j/{job}/{backup}", notify.Event{Job: "a/b", BackupID: "b"}))
	for _, typ := range notify.EventTypes {
		assert.True(t, typ.Valid())
		assert.NotEmpty(t, typ.Title())
	}
	assert.False(t, notify.EventType("run.exploded").Valid())
	assert.True(t, notify.RunFailed.Failure())
	assert.False(t, notify.HealthRecovered.Failure())
}
