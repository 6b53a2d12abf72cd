package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
)

// serveConfig writes a config with a folder source and a local destination
// and returns its path; extra is appended to the jobs list.
func serveConfig(t *testing.T, dir, extra string) string {
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("serve test\n"), 0o644))
	cfgPath := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`store: sqlite:`+filepath.Join(dir, "b.db")+`
destinations:
  local:
    url: file:`+filepath.Join(dir, "backups")+`
server:
  listen: 127.0.0.1:0
jobs:
  - name: app
    source: dir:`+data+`
    destinations: [local]
    schedule: daily at 02:30
    timezone: Europe/Berlin
    policy:
      overlap: queue
`+extra), 0o600))
	return cfgPath
}

// inProcess is serve running in the test's process.
type inProcess struct {
	rt     *config.Runtime
	base   string // http://127.0.0.1:PORT
	reload chan os.Signal
	done   chan error // serve's result
	cancel context.CancelFunc
}

// startInProcess runs serve on cfgPath with logs in format and waits for
// it to listen.
func startInProcess(t *testing.T, cfgPath, format string) *inProcess {
	rt, err := open(t.Context(), cfgPath, io.Discard, nil)
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	s := &inProcess{rt: rt, reload: make(chan os.Signal, 1), done: make(chan error, 1), cancel: cancel}
	urls := make(chan string, 1)
	go func() {
		s.done <- serve(ctx, rt, newLogger(io.Discard, format, nil), serveOptions{ConfigPath: cfgPath, Reload: s.reload,
			Listening: func(u string) { urls <- u }})
	}()
	select {
	case u := <-urls:
		s.base = strings.TrimSuffix(u, "/")
	case err := <-s.done:
		t.Fatalf("serve ended: %v", err)
	}
	return s
}

// getJSON GETs url and decodes its JSON body into v.
func getJSON(t *testing.T, url string, v any) int {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if v != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

// TestServe: serve in-process without tokens on loopback: run a job over
// the API and follow its event stream to the end; notice a pause made in
// the store by another process (as `backupd pause` does); reload the file
// on a signal and pick up a new job; stop cleanly.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	cfgPath := serveConfig(t, dir, "")
	d := startInProcess(t, cfgPath, "json")
	rt, base, reload, done, cancel := d.rt, d.base, d.reload, d.done, d.cancel
	assert.Equal(t, 200, getJSON(t, base+"/healthz", nil))
	assert.Equal(t, 200, getJSON(t, base+"/readyz", nil))
	page, err := http.Get(base + "/")
	require.NoError(t, err)
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	assert.Equal(t, 200, page.StatusCode)
	assert.Contains(t, page.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, string(html), "app", "the dashboard lists the job")

	// Run now, follow the run's events to the end.
	runID := postRunNow(t, base, "app")
	resp, err := http.Get(base + "/api/v1/runs/" + runID + "/events")
	require.NoError(t, err)
	var end string
	sc := bufio.NewScanner(resp.Body)
	var event string
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && event == "end" {
			end = d
			break
		}
	}
	resp.Body.Close()
	assert.Contains(t, end, `"status":"succeeded"`)

	// A pause made in the store, as `backupd pause app` does from another
	// process, reaches the scheduler by the poll.
	s, err := rt.Store.GetScheduleByName(t.Context(), "", "app")
	require.NoError(t, err)
	require.NoError(t, rt.Store.SetSchedulePaused(t.Context(), s.ID, true))
	require.Eventually(t, func() bool {
		var js struct {
			Jobs []struct {
				Name    string `json:"name"`
				Paused  bool   `json:"paused"`
				NextRun string `json:"next_run"`
			} `json:"jobs"`
		}
		getJSON(t, base+"/api/v1/jobs", &js)
		return len(js.Jobs) == 1 && js.Jobs[0].Paused && js.Jobs[0].NextRun == ""
	}, 4*pollInterval, 100*time.Millisecond)

	// Reload: a new job with a schedule appears, with its stored schedule.
	serveConfig(t, dir, `  - name: second
    source: dir:`+filepath.Join(dir, "data")+`
    destinations: [local]
    schedule: "@hourly"
`)
	reload <- os.Interrupt
	require.Eventually(t, func() bool {
		var sch struct {
			Name    string `json:"name"`
			NextRun string `json:"next_run"`
		}
		return getJSON(t, base+"/api/v1/schedules/second", &sch) == 200 && sch.NextRun != ""
	}, 10*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		entries, err := rt.Store.ListAudit(t.Context(), store.AuditFilter{Action: "config.reload"})
		return err == nil && len(entries) == 1
	}, 10*time.Second, 20*time.Millisecond)
	entries, err := rt.Store.ListAudit(t.Context(), store.AuditFilter{Action: "run.trigger"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "anonymous", entries[0].Actor)

	cancel()
	require.NoError(t, <-done)
}

// TestServeRefusesOpenNonLoopback: without tokens serve refuses to listen
// on anything but loopback; the config check says so first.
func TestServeRefusesOpenNonLoopback(t *testing.T) {
	dir := t.TempDir()
	cfgPath := serveConfig(t, dir, "")
	data, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "127.0.0.1:0", "0.0.0.0:0", 1)), 0o600))
	_, err = config.Load(cfgPath)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "server.listen")
	assert.Contains(t, err.Error(), "tokens")
}

// TestTokenCommand: token new prints a token and an entry whose hash
// matches it; token hash reads stdin.
func TestTokenCommand(t *testing.T) {
	var out strings.Builder
	require.NoError(t, tokenCommand([]string{"new", "--name", "ci", "--role", "operator"}, nil, &out, io.Discard))
	var tok, hash string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "token: "); ok {
			tok = v
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "hash: "); ok {
			hash = v
		}
	}
	assert.True(t, config.MatchToken(hash, tok))
	assert.Contains(t, out.String(), "role: operator")
	out.Reset()
	require.NoError(t, tokenCommand([]string{"hash"}, strings.NewReader(tok+"\n"), &out, io.Discard))
	assert.Equal(t, hash+"\n", out.String())
	assert.Error(t, tokenCommand([]string{"hash", tok}, nil, io.Discard, io.Discard))
	assert.Error(t, tokenCommand([]string{"new", "--role", "root"}, nil, io.Discard, io.Discard))
}

// TestReloadKeepsRunningBackup: a SIGHUP reload that changes the running
// job's schedule does not disturb its running backup, which then succeeds.
func TestReloadKeepsRunningBackup(t *testing.T) {
	dir := t.TempDir()
	cfgPath := serveConfig(t, dir, "")
	testenv.WriteNoise(t, filepath.Join(dir, "data", "big.bin"), 32<<20)
	d := startInProcess(t, cfgPath, "text")
	rt, base, reload, done, cancel := d.rt, d.base, d.reload, d.done, d.cancel
	runID := postRunNow(t, base, "app")
	// Hold the run mid-stream so that the reload happens while it runs.
	for {
		if err := rt.Engine.Pause(runID, "test"); err == nil {
			break
		}
		run, err := rt.Store.GetRun(t.Context(), runID)
		require.NoError(t, err)
		require.False(t, run.Status.Final(), "the run ended before the test could pause it")
		time.Sleep(time.Millisecond)
	}
	data, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "daily at 02:30", `"@hourly"`, 1)), 0o600))
	reload <- os.Interrupt
	require.Eventually(t, func() bool {
		var s struct {
			Cron string `json:"cron"`
		}
		return getJSON(t, base+"/api/v1/schedules/app", &s) == 200 && s.Cron == "@hourly"
	}, 10*time.Second, 20*time.Millisecond)
	run, err := rt.Store.GetRun(t.Context(), runID)
	require.NoError(t, err)
	assert.Equal(t, store.RunRunning, run.Status, "the reload left the run alone")
	require.NoError(t, rt.Engine.Resume(runID, "test"))
	require.Eventually(t, func() bool {
		run, err = rt.Store.GetRun(t.Context(), runID)
		return err == nil && run.Status.Final()
	}, time.Minute, 20*time.Millisecond)
	assert.Equal(t, store.RunSucceeded, run.Status, run.Reason)
	cancel()
	require.NoError(t, <-done)
}

// postRunNow asks the API at base to run job now and returns the run's ID.
func postRunNow(t *testing.T, base, job string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/jobs/"+job+"/run", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var acc struct {
		RunID string `json:"run_id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&acc))
	require.Equal(t, 202, resp.StatusCode)
	require.NotEmpty(t, acc.RunID)
	return acc.RunID
}
