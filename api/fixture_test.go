package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	_ "github.com/backupkit/backupkit/all"
	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/schedule"
)

// fixture is a daemon in a test: a sqlite store, a folder source, a local
// destination, two jobs ("app" with a yearly schedule from the file and a
// queueing overlap policy, "manual" without one), one backup of "app", and
// the API behind an httptest server.
type fixture struct {
	t       testing.TB
	dir     string
	rt      *config.Runtime
	control *Control
	sched   *schedule.Scheduler
	api     *API
	auth    *Auth
	srv     *httptest.Server
	tokens  map[string]string // role -> token
	backup  string            // ID of the backup made at setup
	run     string            // ID of its run
}

// newFixture builds a fixture; server is the "server" block's YAML body
// (indented by 2), "" for none. tokens adds a viewer, an operator and an
// admin token.
func newFixture(t testing.TB, tokens bool, server string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), tokens: map[string]string{}}
	data := filepath.Join(f.dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello, backupkit\n"), 0o644))
	var tok strings.Builder
	if tokens {
		tok.WriteString("  tokens:\n")
		for _, role := range []string{config.RoleViewer, config.RoleOperator, config.RoleAdmin} {
			secret, hash, err := config.NewToken()
			require.NoError(t, err)
			f.tokens[role] = secret
			tok.WriteString("    - name: " + role + "-token\n      role: " + role + "\n      hash: " + hash + "\n")
		}
	}
	yaml := `store: sqlite:` + filepath.Join(f.dir, "b.db") + `
destinations:
  local:
    url: file:` + filepath.Join(f.dir, "backups") + `
jobs:
  - name: app
    source: dir:` + data + `
    destinations: [local]
    schedule: "@yearly"
    policy:
      overlap: queue
      queue_limit: 20
  - name: manual
    source: dir:` + data + `
    destinations: [local]
  - name: sealed
    source: dir:` + data + `
    destinations: [local]
    encryption:
      recipients: [` + recipient(t) + `]
server:
  listen: 127.0.0.1:0
` + tok.String() + server
	cfg, err := config.Parse([]byte(yaml), f.dir, "backupd.yaml")
	require.NoError(t, err)
	ctx := context.Background()
	f.rt, err = config.Open(ctx, cfg, &config.OpenOptions{Logger: discard()})
	require.NoError(t, err)
	t.Cleanup(func() { f.rt.Close() })
	f.control = NewControl(f.rt.Store, f.rt.Engine, f.rt.Jobs, discard())
	f.sched = schedule.New(f.rt.Engine, f.rt.Store, schedule.Options{Logger: discard(), OnEvent: f.control.OnEvent})
	f.control.SetScheduler(f.sched)
	_, err = f.rt.SyncSchedules(ctx)
	require.NoError(t, err)
	require.NoError(t, f.control.Reconcile(ctx))
	runCtx, cancel := context.WithCancel(ctx)
	require.NoError(t, f.sched.Start(runCtx))
	t.Cleanup(func() {
		cancel()
		_ = f.sched.Stop(context.Background())
		f.control.Stop(10 * time.Second)
	})
	j, err := f.control.Job("app")
	require.NoError(t, err)
	res, err := f.rt.Engine.Run(ctx, j.Job, backup.RunOptions{TriggeredBy: "setup"})
	require.NoError(t, err)
	f.backup, f.run = res.Backup.ID, res.Run.ID
	f.auth = NewAuth(cfg.ServerSettings())
	apiCtx, stopAPI := context.WithCancel(ctx)
	f.api = New(Options{Store: f.rt.Store, Engine: f.rt.Engine, Control: f.control, Auth: f.auth, Metrics: NewMetrics(f.rt.Store), Logger: discard(), Context: apiCtx})
	t.Cleanup(func() { stopAPI(); _ = f.api.Wait(context.Background()) })
	f.srv = httptest.NewServer(f.api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// recipient returns a new age recipient (its identity is thrown away).
func recipient(t testing.TB) string {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id.Recipient().String()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// do sends a request with token ("" for none) and returns the response
// with its body read.
func (f *fixture) do(method, path, token, body string) (*http.Response, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	require.NoError(f.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return resp, string(b)
}

// status returns only the status of a request; event streams are closed
// as soon as their headers arrive.
func (f *fixture) status(method, path, token, body string) int {
	f.t.Helper()
	if strings.HasSuffix(strings.SplitN(path, "?", 2)[0], "/events") {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, nil)
		require.NoError(f.t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := f.srv.Client().Do(req)
		require.NoError(f.t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	resp, _ := f.do(method, path, token, body)
	return resp.StatusCode
}

// decode decodes a JSON body.
func decode[T any](t testing.TB, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// readSSE reads events from r until the stream ends or stop returns true.
func readSSE(r io.Reader, stop func(sseEvent) bool) []sseEvent {
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" || cur.data != "" {
				out = append(out, cur)
				if stop(cur) {
					return out
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}
