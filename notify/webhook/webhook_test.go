package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/notify"
	_ "github.com/backupkit/backupkit/notify/slack"
	"github.com/backupkit/backupkit/notify/webhook"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store/sqlstore"
)

const secret = "hook-SECRET-key"

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

// receiver is a webhook endpoint that verifies every request and answers
// with the statuses in order (then 200).
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	statuses []int
	requests []*http.Request
	bodies   [][]byte
	verified []error
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := webhook.VerifyRequest(req, []byte(secret))
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.bodies = append(r.bodies, body)
	r.verified = append(r.verified, err)
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func open(t *testing.T, rawURL string) notify.Notifier {
	n, err := notify.Open(context.Background(), rawURL)
	require.NoError(t, err)
	return n
}

func hookURL(srv *httptest.Server) string {
	return "webhook+" + srv.URL + "/hook?secret=" + secret + "&header.X-Foo=bar&keep=1"
}

func TestWebhookSignsAndSendsHeaders(t *testing.T) {
	rec := &receiver{t: t}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := open(t, hookURL(srv))
	e := notify.Event{Type: notify.RunFailed, Time: time.Unix(1_700_000_000, 0), Job: "app", RunID: "r1",
		Elapsed: 1500 * time.Millisecond, Error: "boom", Link: "https://backupd.example/runs/r1"}
	require.NoError(t, n.Notify(context.Background(), e))
	require.Len(t, rec.requests, 1)
	req := rec.requests[0]
	require.NoError(t, rec.verified[0], "the signature verifies with the shared secret")
	assert.Equal(t, "bar", req.Header.Get("X-Foo"))
	assert.Equal(t, "run.failed", req.Header.Get(webhook.HeaderEvent))
	assert.Equal(t, "/hook", req.URL.Path)
	assert.Equal(t, "keep=1", req.URL.RawQuery, "secret and header.* are not sent in the URL")
	var p webhook.Payload
	require.NoError(t, json.Unmarshal(rec.bodies[0], &p))
	assert.Equal(t, webhook.Payload{Type: notify.RunFailed, Time: e.Time.UTC(), Job: "app", RunID: "r1",
		DurationSeconds: 1.5, Error: "boom", Link: e.Link}, p)

	// A wrong secret, or a changed body, does not verify.
	ts, sig := req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature)
	now := time.Now()
	assert.ErrorIs(t, webhook.Verify([]byte("other"), ts, sig, rec.bodies[0], now, time.Minute), webhook.ErrBadSignature)
	assert.ErrorIs(t, webhook.Verify([]byte(secret), ts, sig, append(rec.bodies[0], ' '), now, time.Minute), webhook.ErrBadSignature)
	assert.NoError(t, webhook.Verify([]byte(secret), ts, sig, rec.bodies[0], now, time.Minute))
}

func TestVerifyRejectsReplays(t *testing.T) {
	body := []byte(`{"type":"run.failed"}`)
	then := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(then.Unix(), 10)
	sig := webhook.Sign([]byte(secret), ts, body)
	assert.NoError(t, webhook.Verify([]byte(secret), ts, sig, body, then.Add(4*time.Minute), 5*time.Minute))
	assert.ErrorIs(t, webhook.Verify([]byte(secret), ts, sig, body, then.Add(6*time.Minute), 5*time.Minute), webhook.ErrStale)
	assert.ErrorIs(t, webhook.Verify([]byte(secret), "x", webhook.Sign([]byte(secret), "x", body), body, then, time.Minute), webhook.ErrBadSignature)
	// The timestamp is signed: moving it breaks the signature.
	assert.ErrorIs(t, webhook.Verify([]byte(secret), strconv.FormatInt(then.Unix()+1, 10), sig, body, then, time.Minute), webhook.ErrBadSignature)
}

func newDispatcher(t *testing.T, n notify.Notifier, maxAttempts int) (*notify.Dispatcher, *logBuffer) {
	logs := &logBuffer{}
	d := notify.NewDispatcher([]notify.Target{{Name: "hook", Notifier: n}}, &notify.DispatcherOptions{
		Logger: slog.New(slog.NewTextHandler(logs, nil)), MaxAttempts: maxAttempts,
		Sleep: func(context.Context, time.Duration) error { return nil }, Timeout: 10 * time.Second,
	})
	return d, logs
}

func TestWebhookRetriesOn500UntilSuccess(t *testing.T) {
	rec := &receiver{t: t, statuses: []int{500, 500}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	d, logs := newDispatcher(t, open(t, hookURL(srv)), 5)
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app", RunID: "r1"})
	require.NoError(t, d.Close(context.Background()))
	require.Len(t, rec.requests, 3)
	for _, err := range rec.verified {
		assert.NoError(t, err)
	}
	assert.Equal(t, 2, strings.Count(logs.String(), "retrying"))
	assert.Contains(t, logs.String(), "500 Internal Server Error")
	assert.NotContains(t, logs.String(), "giving up")
}

func TestWebhookGivesUpAfterTheCapAndLogsIt(t *testing.T) {
	rec := &receiver{t: t, statuses: []int{500, 500, 500, 500, 500, 500}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	d, logs := newDispatcher(t, open(t, hookURL(srv)), 4)
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "app", RunID: "r1"})
	require.NoError(t, d.Close(context.Background()))
	assert.Len(t, rec.requests, 4)
	assert.Equal(t, 1, strings.Count(logs.String(), "giving up"))
	assert.NotContains(t, logs.String(), secret)
}

// failingSource fails with an error that holds credentials.
type failingSource struct{}

func (failingSource) Format() string { return "bin" }
func (failingSource) Snapshot(context.Context, io.Writer) (source.Info, error) {
	return source.Info{}, errors.New("dial mysql://root:db-SECRET-pw@db.internal/shop: connection refused")
}

func TestHangingWebhookDoesNotDelayTheBackup(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(entered) })
		<-release
	}))
	defer srv.Close()
	defer close(release) // runs before srv.Close

	logs := &logBuffer{}
	d := notify.NewDispatcher([]notify.Target{{Name: "hook", Notifier: open(t, hookURL(srv))}}, &notify.DispatcherOptions{
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Timeout: 50 * time.Millisecond, MaxAttempts: 1,
	})
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	defer st.Close()
	eng := backup.New(st, &backup.Options{Owner: "test"})
	defer eng.Subscribe(d.Publish)()
	job := &backup.Job{Name: "app", Source: failingSource{}, Destinations: []backup.Target{{Name: "m", Destination: memory.New()}}}

	res, err := eng.Run(context.Background(), job, backup.RunOptions{})
	require.Error(t, err) // Run returned while the webhook has not answered (it answers only after release)
	assert.Equal(t, "failed", string(res.Run.Status))
	<-entered
	require.NoError(t, d.Close(context.Background())) // the hanging delivery is abandoned at its timeout
	assert.Contains(t, logs.String(), "giving up")
	assert.NotContains(t, logs.String(), "SECRET")
}

// TestNoSecretInAnyDelivery runs a job that fails with credentials in its
// error and greps every request the webhook and Slack notifiers sent (URL,
// headers, body) for the test secrets.
func TestNoSecretInAnyDelivery(t *testing.T) {
	var mu sync.Mutex
	var dumps []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var h strings.Builder
		_ = r.Header.Write(&h)
		mu.Lock()
		dumps = append(dumps, r.URL.String()+"\n"+h.String()+"\n"+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	hook := open(t, hookURL(srv))
	sl := open(t, "slack+"+srv.URL+"/services/T/B/slack-token")
	logs := &logBuffer{}
	d := notify.NewDispatcher([]notify.Target{
		{Name: "hook", Notifier: hook, Events: notify.EventTypes},
		{Name: "slack", Notifier: sl},
		{Name: "log", Notifier: &notify.LogNotifier{Logger: slog.New(slog.NewTextHandler(logs, nil))}, Events: notify.EventTypes},
	}, &notify.DispatcherOptions{LinkTemplate: "https://backupd.example/runs/{run}"})
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	defer st.Close()
	eng := backup.New(st, &backup.Options{Owner: "test", Logger: slog.New(slog.DiscardHandler)})
	defer eng.Subscribe(d.Publish)()
	job := &backup.Job{Name: "app", Source: failingSource{}, Destinations: []backup.Target{{Name: "m", Destination: memory.New()}},
		Health: &backup.HealthPolicy{MaxFailures: 1}}
	_, err = eng.Run(context.Background(), job, backup.RunOptions{})
	require.Error(t, err)
	require.NoError(t, d.Close(context.Background()))

	require.Len(t, dumps, 3+2, "webhook: started, failed, unhealthy; slack: failed, unhealthy")
	all := strings.Join(dumps, "\n") + logs.String()
	assert.Contains(t, all, "mysql://root:xxxxx@db.internal/shop")
	for _, s := range []string{"SECRET", secret} {
		assert.NotContains(t, all, s)
	}
}
