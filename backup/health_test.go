package backup_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// healthEvents collects the health events an engine publishes.
type healthEvents struct {
	mu sync.Mutex
	ev []notify.Event
}

func (h *healthEvents) add(e notify.Event) {
	if e.Type == notify.HealthUnhealthy || e.Type == notify.HealthRecovered {
		h.mu.Lock()
		h.ev = append(h.ev, e)
		h.mu.Unlock()
	}
}

func (h *healthEvents) types() []notify.EventType {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notify.EventType
	for _, e := range h.ev {
		out = append(out, e.Type)
	}
	return out
}

func newHealthFixture(t *testing.T, policy backup.HealthPolicy) (*backup.Engine, *backup.Job, *clock, *healthEvents, *memory.Bucket) {
	st := newStore(t)
	clk := &clock{now: time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)}
	eng := backup.New(st, &backup.Options{Owner: "test", Now: clk.Now})
	bucket := memory.New()
	job := &backup.Job{Name: "app", Source: newBytesSource([]byte("hello, health")),
		Destinations: []backup.Target{{Name: "a", Destination: bucket}}, Health: &policy}
	evs := &healthEvents{}
	t.Cleanup(eng.Subscribe(evs.add))
	return eng, job, clk, evs, bucket
}

func TestHealthMaxAgeAlertsOnceThenRecoversOnce(t *testing.T) {
	ctx := context.Background()
	eng, job, clk, evs, _ := newHealthFixture(t, backup.HealthPolicy{MaxAge: 24 * time.Hour})

	_, err := eng.Run(ctx, job, backup.RunOptions{}) // checked after the run: healthy
	require.NoError(t, err)
	assert.Empty(t, evs.types())

	clk.advance(25 * time.Hour)
	for range 3 { // the periodic check runs again and again: one alert
		h, err := eng.CheckHealth(ctx, job.Name, *job.Health)
		require.NoError(t, err)
		assert.False(t, h.Healthy)
		require.Len(t, h.Reasons, 1)
		assert.Contains(t, h.Reasons[0], "max_age 24h")
		clk.advance(time.Hour)
	}
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy}, evs.types())
	assert.Equal(t, "app", evs.ev[0].Job)
	assert.Contains(t, evs.ev[0].Error, "newest successful backup is")

	_, err = eng.Run(ctx, job, backup.RunOptions{}) // the next success: recovered
	require.NoError(t, err)
	for range 2 {
		h, err := eng.CheckHealth(ctx, job.Name, *job.Health)
		require.NoError(t, err)
		assert.True(t, h.Healthy)
	}
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy, notify.HealthRecovered}, evs.types())
}

func TestHealthNoBackupIsUnhealthy(t *testing.T) {
	eng, job, _, evs, _ := newHealthFixture(t, backup.HealthPolicy{MaxAge: time.Hour})
	h, err := eng.CheckHealth(context.Background(), job.Name, *job.Health)
	require.NoError(t, err)
	assert.False(t, h.Healthy)
	assert.Equal(t, []string{"no successful backup"}, h.Reasons)
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy}, evs.types())
}

func TestHealthConsecutiveFailures(t *testing.T) {
	ctx := context.Background()
	eng, job, _, evs, bucket := newHealthFixture(t, backup.HealthPolicy{MaxFailures: 2})
	_, err := eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)
	good := job.Destinations
	job.Destinations = []backup.Target{{Name: "a", Destination: failingDest{Destination: bucket}}}
	_, err = eng.Run(ctx, job, backup.RunOptions{})
	require.Error(t, err)
	assert.Empty(t, evs.types(), "one failure of two allowed")
	_, err = eng.Run(ctx, job, backup.RunOptions{})
	require.Error(t, err)
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy}, evs.types())
	assert.Contains(t, evs.ev[0].Error, "the last 2 runs failed")
	_, err = eng.Run(ctx, job, backup.RunOptions{})
	require.Error(t, err)
	job.Destinations = good
	_, err = eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy, notify.HealthRecovered}, evs.types())
}

func TestHealthMaxTotalSize(t *testing.T) {
	ctx := context.Background()
	eng, job, _, evs, _ := newHealthFixture(t, backup.HealthPolicy{MaxTotalSize: 1})
	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)
	h, err := eng.CheckHealth(ctx, job.Name, *job.Health)
	require.NoError(t, err)
	assert.Equal(t, res.Backup.Size, h.TotalSize)
	assert.False(t, h.Healthy)
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy}, evs.types())
	assert.Equal(t, h.TotalSize, evs.ev[0].Size)
}

func TestHealthPolicyValidate(t *testing.T) {
	job := &backup.Job{Name: "app", Source: newBytesSource(nil),
		Destinations: []backup.Target{{Name: "a", Destination: memory.New()}},
		Health:       &backup.HealthPolicy{MaxAge: -time.Hour}}
	assert.ErrorContains(t, job.Validate(), "max_age")
}

func TestWatchHealthStopsWithContext(t *testing.T) {
	eng, job, _, evs, _ := newHealthFixture(t, backup.HealthPolicy{MaxAge: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	fn, ch, stop := notify.Channel(4)
	defer stop()
	unsub := eng.Subscribe(fn)
	defer unsub()
	done := make(chan error, 1)
	go func() { done <- eng.WatchHealth(ctx, time.Hour, []*backup.Job{job}) }()
	e := <-ch // the first check runs at once
	assert.Equal(t, notify.HealthUnhealthy, e.Type)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, []notify.EventType{notify.HealthUnhealthy}, evs.types())
}

func TestRetentionEvents(t *testing.T) {
	f := newPruneFixture(t)
	f.job.Retention = &retention.Policy{KeepLast: 1}
	var mu sync.Mutex
	var got []notify.Event
	defer f.eng.Subscribe(func(e notify.Event) {
		if e.Type == notify.RetentionPruned || e.Type == notify.RetentionFailed {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		}
	})()
	f.backupDaily(t, 2)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1)
	assert.Equal(t, notify.RetentionPruned, got[0].Type)
	assert.Equal(t, 1, got[0].Deleted)
}

func TestFinishedEventErrorIsRedacted(t *testing.T) {
	eng, _ := newEngine(t)
	fn, ch, stop := notify.Channel(16)
	defer stop()
	defer eng.Subscribe(fn)()
	job := &backup.Job{Name: "app", Source: secretFailSource{},
		Destinations: []backup.Target{{Name: "a", Destination: memory.New()}}}
	_, err := eng.Run(context.Background(), job, backup.RunOptions{})
	require.Error(t, err)
	for {
		e := <-ch
		if e.Type == notify.RunFailed {
			assert.Contains(t, e.Error, "mysql://root:xxxxx@db/shop")
			assert.NotContains(t, e.Error, "hunter2")
			return
		}
	}
}

type secretFailSource struct{}

func (secretFailSource) Format() string { return "bin" }
func (secretFailSource) Snapshot(context.Context, io.Writer) (source.Info, error) {
	return source.Info{}, errors.New("dial mysql://root:hunter2@db/shop: refused")
}

// TestHealthCountsBackupRunsOnly: failed restore or verify runs of a job are
// not failed backups (prune's "the latest run failed" rule reads the runs
// with the same filter).
func TestHealthCountsBackupRunsOnly(t *testing.T) {
	ctx := context.Background()
	eng, job, clk, _, _ := newHealthFixture(t, backup.HealthPolicy{MaxFailures: 1})
	_, err := eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)
	for _, kind := range []store.RunKind{store.RunKindVerify, store.RunKindRestore} {
		clk.now = clk.now.Add(time.Minute)
		r := &store.Run{Job: job.Name, Kind: kind, Trigger: store.TriggerManual, TriggeredBy: "test",
			Status: store.RunFailed, Reason: "failed on purpose", StartedAt: clk.now, FinishedAt: clk.now}
		require.NoError(t, eng.Store().CreateRun(ctx, r))
	}
	h, err := eng.CheckHealth(ctx, job.Name, *job.Health)
	require.NoError(t, err)
	assert.True(t, h.Healthy, "reasons: %v", h.Reasons)
	assert.Zero(t, h.Failures)
}
