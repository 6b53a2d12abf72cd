package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/web"
)

// chromium returns the path of a Chromium (or Chrome) binary: $BACKUPKIT_CHROMIUM,
// or the first of the usual names on PATH. Without one the test skips (fails
// under BACKUPKIT_REQUIRE_SERVERS=1).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BACKUPKIT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "install it (apt-get install chromium) or set BACKUPKIT_CHROMIUM; scripts/test-all installs it"
	if testenv.Required() {
		t.Fatal("web: no Chromium, and BACKUPKIT_REQUIRE_SERVERS=1: " + how)
	}
	t.Skip("web: skipped, no Chromium: " + how)
	return ""
}

// artifacts returns the folder for the test's screenshots:
// $BACKUPKIT_ARTIFACTS/web when set (kept), else a temporary folder.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("BACKUPKIT_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "web")
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	t.Logf("screenshots in %s (set BACKUPKIT_ARTIFACTS to keep them)", dir)
	return dir
}

// startBrowser starts headless Chromium (1280 pixels wide, height high) for
// the test and returns a chromedp context with a tab in it, stopped at the
// test's end.
func startBrowser(t *testing.T, chrome string, height int) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, height))
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first Run starts the browser; it must not carry the deadline.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	// A guard against a hang (the steps take seconds), not a timing.
	ctx, stop := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(stop)
	return ctx
}

// gatedSource holds its snapshot until the test opens the gate, so that the
// browser sees the run while it is running.
type gatedSource struct {
	source.Source
	gate chan struct{}
}

func (g *gatedSource) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return source.Info{}, ctx.Err()
	}
	return g.Source.Snapshot(ctx, w)
}

// TestBrowserRunNowLiveLogAndBackup drives the web page in headless Chromium
// against a real engine: dashboard, "Run now", the live log following the
// run to "succeeded", the new backup in the list, and the schedule editor's
// live preview. It saves a screenshot of each step.
func TestBrowserRunNowLiveLogAndBackup(t *testing.T) {
	chrome := chromium(t)
	shots := artifacts(t)
	bg := context.Background()

	// A real engine: SQLite store, a folder source, a local destination.
	st := openStore(t)
	data := t.TempDir()
	for i := range 20 {
		require.NoError(t, os.WriteFile(filepath.Join(data, fmt.Sprintf("photo-%02d.jpg", i)),
			[]byte(strings.Repeat(fmt.Sprintf("pixel %d ", i), 4000)), 0o644))
	}
	src, err := dir.New(data)
	require.NoError(t, err)
	dst, err := local.New(t.TempDir(), nil)
	require.NoError(t, err)
	gate := make(chan struct{})
	job := &backup.Job{Name: "photos", Source: &gatedSource{Source: src, gate: gate},
		Destinations: []backup.Target{{Name: "disk", Destination: dst}}}
	eng := backup.New(st, &backup.Options{Logger: slog.New(slog.DiscardHandler)})
	// An earlier run, so that the dashboard has history.
	close(gate)
	_, err = eng.Run(bg, job, backup.RunOptions{Trigger: store.TriggerSchedule, TriggeredBy: "scheduler"})
	require.NoError(t, err)
	gate = make(chan struct{})
	job.Source = &gatedSource{Source: src, gate: gate}

	finished := make(chan error, 1)
	d := web.Deps{
		Store: st,
		Jobs: func() []web.JobInfo {
			next, _ := nextRuns("30 2 * * *", "Europe/Paris", 1)
			return []web.JobInfo{{Name: "photos", Schedule: "30 2 * * *", Timezone: "Europe/Paris", NextRun: next[0]}}
		},
		RunNow: func(ctx context.Context, name, who string) (string, error) {
			run := &store.Run{Job: name, Trigger: store.TriggerManual, TriggeredBy: who, Status: store.RunRunning,
				Owner: "web-test", Attempt: 1}
			if err := st.CreateRun(ctx, run); err != nil {
				return "", err
			}
			go func() {
				_, err := eng.Run(bg, job, backup.RunOptions{Claimed: run})
				finished <- err
			}()
			return run.ID, nil
		},
		Protect: func(ctx context.Context, id string, on bool, who string) error { return st.SetProtected(ctx, id, on) },
		Restore: func(ctx context.Context, id, target, who string) (string, error) {
			return "", fmt.Errorf("not in this test")
		},
		NextRuns:     nextRuns,
		SaveSchedule: func(ctx context.Context, job, expr, tz, who string) error { return nil },
		Logger:       slog.New(slog.DiscardHandler),
	}
	srv := httptest.NewServer(web.Handler(d))
	t.Cleanup(srv.Close)

	ctx := startBrowser(t, chrome, 860)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name), png, 0o644))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return s
	}

	// 1. The dashboard.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="photos"]`))))
	assert.Contains(t, text(`tr[data-job="photos"]`), "succeeded")
	assert.Contains(t, text(`tr[data-job="photos"]`), "30 2 * * *")
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-job="photos"] svg.spark rect.st-succeeded').length`))
	require.NoError(t, err)
	assert.Equal(t, 1, bars, "the sparkline shows the earlier run")
	shot("1-dashboard.png")

	// 2. Run now: the browser lands on the run page, the run is running and
	// its log has started (the source waits at the gate).
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-run="photos"]`)),
		chromedp.WaitVisible(chromedp.ID("log"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Contains(t, loc, "/runs/")
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('#log').textContent.includes('run started')`))
	require.NoError(t, err, "the log shows the run's start")
	assert.Equal(t, "running", text("#status"))
	// Mark the document: if it is still marked when the run has finished,
	// the page was updated by the live log, not reloaded.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded = true`))
	require.NoError(t, err)
	shot("2-run-running.png")

	// 3. Let the run go; the live log reaches "succeeded".
	close(gate)
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.querySelector('#status').textContent === 'succeeded' && document.querySelector('#log').textContent.includes('run succeeded')`,
		chromedp.WithPollingTimeout(2*time.Minute)))
	require.NoError(t, err, "the live log reaches succeeded")
	require.NoError(t, <-finished)
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`))
	require.NoError(t, err)
	assert.True(t, marked, "the page followed the run without reloading")
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`!document.querySelector('#live')`))
	require.NoError(t, err, "the live marker goes once the run is final")
	backupID := text("#backup code")
	require.NotEmpty(t, backupID)
	runs, err := st.ListRuns(bg, store.RunFilter{Job: "photos", Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, backupID, runs[0].BackupID)
	shot("3-run-succeeded.png")

	// 4. The new backup is in the list, with its download link.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/backups"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-backup="`+backupID+`"]`))))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('tr[data-backup="`+backupID+`"] a[download]').getAttribute('href')`))
	require.NoError(t, err)
	assert.Equal(t, "/api/v1/backups/"+backupID+"/download", href)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#backups tr[data-backup]').length`))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	shot("4-backups.png")

	// 4b. Restore asks for a target, then names it in the confirmation.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr[data-backup="`+backupID+`"] a.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="target"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="target"]`), "/srv/photos-restored"),
		chromedp.Submit(chromedp.CSS(`input[name="target"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm"))))
	assert.Equal(t, "Restore into /srv/photos-restored", text("#confirm"))
	assert.Contains(t, text("#confirm-title"), "/srv/photos-restored")
	shot("4b-restore-confirm.png")

	// 5. The dashboard now shows two successes.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="photos"]`))))
	bars, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-job="photos"] svg.spark rect.st-succeeded').length`))
	require.NoError(t, err)
	assert.Equal(t, 2, bars)

	// 6. The schedule editor previews as one types.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/schedules/photos"),
		chromedp.WaitVisible(chromedp.ID("expr")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(document.querySelector('#expr').value = '') === ''`)(ctx, tg)
			return err
		}),
		chromedp.SendKeys(chromedp.ID("expr"), "15 4 * * 6"),
	))
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.querySelectorAll('#preview-times li').length === 5 && document.querySelector('#preview-times li').textContent.startsWith('Sat ') && document.querySelector('#preview-times li').textContent.includes('04:15')`))
	require.NoError(t, err, "the live preview shows five Saturdays at 04:15")
	shot("5-schedule-preview.png")

	resp, err := http.Get(srv.URL + "/static/app.js")
	require.NoError(t, err)
	resp.Body.Close()
	for _, f := range []string{"1-dashboard.png", "2-run-running.png", "3-run-succeeded.png", "4-backups.png",
		"4b-restore-confirm.png", "5-schedule-preview.png"} {
		fi, err := os.Stat(filepath.Join(shots, f))
		require.NoError(t, err)
		assert.Greater(t, fi.Size(), int64(1000), f)
	}
}

// TestBrowserLoginWithToken logs in through /login in headless Chromium with
// a viewer's token: the page redirects there, sets the cookie, and the
// dashboard then shows the viewer no "Run now".
func TestBrowserLoginWithToken(t *testing.T) {
	chrome := chromium(t)
	shots := artifacts(t)
	st := openStore(t)
	srv := httptest.NewServer(web.Handler(web.Deps{
		Store: st,
		Jobs: func() []web.JobInfo {
			return []web.JobInfo{{Name: "photos", Schedule: "@daily", Timezone: "UTC"}}
		},
		RunNow: func(ctx context.Context, job, who string) (string, error) { return "", fmt.Errorf("not in this test") },
		Role: func(r *http.Request) string {
			return map[string]string{"view-token": "viewer"}[web.TokenFromCookie(r)]
		},
		Logger: slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv.Close)

	ctx := startBrowser(t, chrome, 600)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Contains(t, loc, "/login?next=%2Fruns")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(shots, "6-login.png"), png, 0o644))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), "view-token"),
		chromedp.Submit(chromedp.CSS(`input[name="token"]`)),
		chromedp.WaitVisible(chromedp.ID("filters"))))
	loc, err = chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/runs", loc, "back where the user was going")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("jobs"))))
	role, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("role")))
	require.NoError(t, err)
	assert.Equal(t, "viewer", role)
	runButtons, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('button[data-run]').length`))
	require.NoError(t, err)
	assert.Zero(t, runButtons, "a viewer gets no Run now")
	cookieVisible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.cookie.includes('backupkit_token')`))
	require.NoError(t, err)
	assert.False(t, cookieVisible, "the login cookie is HttpOnly")
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(shots, "7-viewer-dashboard.png"), png, 0o644))
}
