package config

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/notify/webhook"
	"github.com/backupkit/backupkit/store"
)

func TestNotificationsParse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hook.url"), []byte("webhook+https://hooks.example/x?secret=s3cr3t\n"), 0o600))
	src := valid + `    health:
      max_age: 2d
      max_total_size: 5GiB
      max_failures: 3
notifications:
  link: https://backupd.example/runs/{run}
  timeout: 10s
  max_attempts: 3
  health_interval: 1m
  notifiers:
    - name: ops
      url: smtp://u:p@mail.example:587?from=a@example.com&to=b@example.com
      events: [run.failed, health.unhealthy]
    - url_file: hook.url
      events: [all]
    - url: "log:"
`
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	h := cfg.Jobs[0].Health
	require.NotNil(t, h)
	assert.Equal(t, backup.HealthPolicy{MaxAge: 48 * time.Hour, MaxTotalSize: 5 << 30, MaxFailures: 3}, h.Policy())
	n := cfg.Notifications
	require.NotNil(t, n)
	assert.Equal(t, "https://backupd.example/runs/{run}", n.Link)
	assert.Equal(t, Duration(10*time.Second), n.Timeout)
	assert.Equal(t, 3, n.MaxAttempts)
	assert.Equal(t, Duration(time.Minute), n.HealthInterval)
	require.Len(t, n.Notifiers, 3)
	assert.Equal(t, "webhook+https://hooks.example/x?secret=s3cr3t", n.Notifiers[1].URL)
	assert.Equal(t, []notify.EventType{notify.RunFailed, notify.HealthUnhealthy}, n.Notifiers[0].events())
	assert.Equal(t, notify.EventTypes, n.Notifiers[1].events())
	assert.Nil(t, n.Notifiers[2].events())
	assert.Subset(t, cfg.secrets(), []string{"p", "s3cr3t"})
}

func TestNotificationsErrors(t *testing.T) {
	t.Parallel()
	src := valid + `    health: {}
notifications:
  link: ftp//nope
  timeout: -1s
  notifiers:
    - name: Bad Name
      url: "smtp://u:topsecret@h?from=a@example.com"
      events: [run.exploded]
    - name: x
    - name: x
      url: "log:"
`
	_, err := Parse([]byte(src), "/cfg", "backupd.yaml")
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"backupd.yaml:8: jobs[0].health: set at least one of max_age, max_total_size and max_failures",
		`notifications.link: invalid link template "ftp//nope"`,
		"notifications.timeout: must not be negative, got -1s",
		`notifications.notifiers[0].name: invalid notifier name "Bad Name"`,
		`notifications.notifiers[0].events[0]: unknown event "run.exploded"`,
		"notifications.notifiers[1].url: required",
		`notifications.notifiers[2].name: duplicate notifier name "x"`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "topsecret")
}

func TestNotificationsWired(t *testing.T) {
	var mu sync.Mutex
	var got []webhook.Payload
	var raw []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, []byte("hook-secret"))
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		got = append(got, p)
		raw = append(raw, r.URL.String()+string(body))
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	dir := t.TempDir()
	src := `store: sqlite:` + filepath.Join(dir, "b.db") + `
destinations:
  mem:
    url: mem://notifications-wired
jobs:
  - name: app
    source: dir:` + t.TempDir() + `
    destinations: [mem]
    health:
      max_failures: 1
  - name: other
    source: dir:` + t.TempDir() + `
    destinations: [mem]
notifications:
  link: https://backupd.example/runs/{run}
  notifiers:
    - name: hook
      url: webhook+` + srv.URL + `/hook?secret=hook-secret
      events: [all]
`
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(context.Background(), cfg, &OpenOptions{Notify: notify.DispatcherOptions{
		Sleep: func(context.Context, time.Duration) error { return nil }}})
	require.NoError(t, err)
	require.NotNil(t, rt.Notifications)
	assert.Equal(t, DefaultHealthInterval, rt.HealthInterval)
	j, err := rt.Job("app")
	require.NoError(t, err)
	require.NotNil(t, j.Job.Health)
	assert.Equal(t, 1, j.Job.Health.MaxFailures)
	o, err := rt.Job("other")
	require.NoError(t, err)
	assert.Nil(t, o.Job.Health)

	res, err := rt.Engine.Run(context.Background(), j.Job, backup.RunOptions{})
	require.NoError(t, err)
	require.NoError(t, rt.Close()) // flushes the notifications

	var types []notify.EventType
	for _, p := range got {
		if p.Type != notify.RunProgress {
			types = append(types, p.Type)
		}
	}
	assert.Equal(t, []notify.EventType{notify.RunStarted, notify.RunSucceeded}, types)
	assert.Equal(t, "https://backupd.example/runs/"+res.Run.ID, got[len(got)-1].Link)
	assert.NotContains(t, strings.Join(raw, "\n"), "hook-secret")
}

func TestRuntimeWatchHealthWithoutHealthJobs(t *testing.T) {
	rt := &Runtime{Jobs: []*ScheduledJob{{Job: &backup.Job{Name: "a"}}}}
	assert.NoError(t, rt.WatchHealth(context.Background()))
}

func TestRecoverNotifiesInterruptedRuns(t *testing.T) {
	var mu sync.Mutex
	var got []notify.Event
	rec := notify.NotifierFunc(func(_ context.Context, e notify.Event) error {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
		return nil
	})
	notify.Register("test-recorder", func(context.Context, *url.URL) (notify.Notifier, error) { return rec, nil })
	dir := t.TempDir()
	src := `store: sqlite:` + filepath.Join(dir, "b.db") + `
destinations:
  mem:
    url: mem://recover-notified
jobs:
  - name: app
    source: dir:` + t.TempDir() + `
    destinations: [mem]
notifications:
  notifiers:
    - url: "test-recorder:"
`
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	run := &store.Run{Job: "app", Status: store.RunRunning, Owner: "elsewhere:1", Attempt: 1,
		StartedAt: time.Now().Add(-time.Hour).UTC(), LeaseUntil: time.Now().Add(-time.Minute).UTC()}
	require.NoError(t, rt.Store.CreateRun(context.Background(), run))
	require.NoError(t, rt.Recover(context.Background()))
	require.NoError(t, rt.Close())
	require.Len(t, got, 1)
	assert.Equal(t, notify.RunInterrupted, got[0].Type)
	assert.Equal(t, run.ID, got[0].RunID)
	assert.Contains(t, got[0].Error, "elsewhere:1")
}
