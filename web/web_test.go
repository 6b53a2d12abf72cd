package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
	"github.com/backupkit/backupkit/web"
)

// fakes records what the page asked the daemon to do.
type fakes struct {
	mu        sync.Mutex
	runNow    []string // job/who
	protect   []string // id/bool/who
	restore   []string // id/target/who
	saved     []string // job/expr/tz/who
	jobs      []web.JobInfo
	runNowErr error
	// failedLogins counts failed LoginAttempts; past maxFailedLogins (when
	// set) LoginAttempt says the client must wait a minute.
	failedLogins, maxFailedLogins int
}

func (f *fakes) add(list *[]string, parts ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, p := range parts {
		s = append(s, fmt.Sprint(p))
	}
	*list = append(*list, strings.Join(s, "|"))
}

func (f *fakes) got(list *[]string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), *list...)
}

// env is a web page over a real SQLite store with fake daemon functions.
type env struct {
	t     *testing.T
	st    store.Store
	f     *fakes
	srv   *httptest.Server
	roles map[string]string // token -> role; nil: open mode
}

func nextRuns(expr, tz string, n int) ([]time.Time, error) {
	c, err := schedule.ParseInZone(expr, tz)
	if err != nil {
		return nil, err
	}
	return c.NextN(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), n), nil
}

// openStore opens a SQLite store in a temporary folder, closed at the
// test's end.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, roles map[string]string) *env {
	t.Helper()
	st := openStore(t)
	e := &env{t: t, st: st, f: &fakes{}, roles: roles}
	e.f.jobs = []web.JobInfo{
		{Name: "photos", Schedule: "0 2 * * *", Timezone: "Europe/Paris", NextRun: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)},
		{Name: "db", Schedule: "@hourly", Paused: true},
	}
	d := web.Deps{
		Store: st,
		Jobs: func() []web.JobInfo {
			e.f.mu.Lock()
			defer e.f.mu.Unlock()
			return append([]web.JobInfo(nil), e.f.jobs...)
		},
		RunNow: func(ctx context.Context, job, who string) (string, error) {
			e.f.mu.Lock()
			fail := e.f.runNowErr
			e.f.mu.Unlock()
			if fail != nil {
				return "", fail
			}
			e.f.add(&e.f.runNow, job, who)
			r := store.Run{Job: job, Trigger: store.TriggerManual, TriggeredBy: who, Status: store.RunRunning, Owner: "test", Attempt: 1}
			if err := st.CreateRun(ctx, &r); err != nil {
				return "", err
			}
			return r.ID, nil
		},
		Protect: func(ctx context.Context, id string, on bool, who string) error {
			e.f.add(&e.f.protect, id, on, who)
			return st.SetProtected(ctx, id, on)
		},
		Restore: func(ctx context.Context, id, target, who string) (string, error) {
			e.f.add(&e.f.restore, id, target, who)
			return "restore-run-1", nil
		},
		NextRuns: nextRuns,
		SaveSchedule: func(ctx context.Context, job, expr, tz, who string) error {
			e.f.add(&e.f.saved, job, expr, tz, who)
			return nil
		},
		Who: func(r *http.Request) string { return "tester" },
		LoginAttempt: func(*http.Request) (func(bool), time.Duration, bool) {
			e.f.mu.Lock()
			defer e.f.mu.Unlock()
			if e.f.maxFailedLogins > 0 && e.f.failedLogins >= e.f.maxFailedLogins {
				return nil, time.Minute, false
			}
			return func(ok bool) {
				if !ok {
					e.f.mu.Lock()
					defer e.f.mu.Unlock()
					e.f.failedLogins++
				}
			}, 0, true
		},
	}
	if roles != nil {
		d.Role = func(r *http.Request) string {
			tok := web.TokenFromCookie(r)
			if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
				tok = strings.TrimPrefix(h, "Bearer ")
			}
			return roles[tok]
		}
	}
	e.srv = httptest.NewServer(web.Handler(d))
	t.Cleanup(e.srv.Close)
	return e
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// login sets the login cookie directly (as /login would).
func (b *browser) withToken(tok string) *browser {
	u, _ := url.Parse(b.e.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.TokenCookie, Value: tok, Path: "/"}})
	return b
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.e.t.Helper()
	res, err := b.c.Get(b.e.srv.URL + path)
	require.NoError(b.e.t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

var csrfRE = regexp.MustCompile(`data-csrf="([^"]+)"`)

// csrf loads a page and returns the CSRF token its forms carry.
func (b *browser) csrf() string {
	b.e.t.Helper()
	_, body, _ := b.get("/login")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(b.e.t, m, "no CSRF token on the page")
	return m[1]
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	res, err := b.c.PostForm(b.e.srv.URL+path, form)
	require.NoError(b.e.t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

// postCSRF posts form with a valid CSRF token.
func (b *browser) postCSRF(path string, form url.Values) (int, string, http.Header) {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf())
	return b.post(path, form)
}

func (e *env) addRun(job string, status store.RunStatus, started time.Time) store.Run {
	e.t.Helper()
	r := store.Run{Job: job, Trigger: store.TriggerSchedule, TriggeredBy: "scheduler", Status: store.RunRunning,
		Owner: "o", Attempt: 1, StartedAt: started}
	require.NoError(e.t, e.st.CreateRun(context.Background(), &r))
	if status != store.RunRunning {
		r.Status, r.FinishedAt, r.BytesRead, r.BytesWritten = status, started.Add(3*time.Second), 2048, 1024
		if status != store.RunSucceeded {
			r.Reason = "source: connection refused"
		}
		require.NoError(e.t, e.st.UpdateRun(context.Background(), &r))
	}
	return r
}

func (e *env) addBackup(job, runID string, created time.Time) store.Backup {
	e.t.Helper()
	b := store.Backup{Job: job, RunID: runID, Status: store.BackupComplete, CreatedAt: created, Size: 5 << 20,
		SHA256: strings.Repeat("ab", 32), Format: "tar", Compression: "zstd",
		Copies: []store.Copy{{Destination: "disk", Key: job + "/k", Size: 5 << 20, CreatedAt: created}}}
	require.NoError(e.t, e.st.AddBackup(context.Background(), &b))
	return b
}

func TestDashboardShowsJobsNextRunLastStatusAndSparkline(t *testing.T) {
	e := newEnv(t, nil)
	t0 := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	for i, st := range []store.RunStatus{store.RunSucceeded, store.RunFailed, store.RunSucceeded, store.RunSucceeded} {
		e.addRun("photos", st, t0.Add(time.Duration(i)*time.Hour))
	}
	verify := store.Run{Job: "photos", Kind: store.RunKindVerify, Status: store.RunRunning, Owner: "o", Attempt: 1,
		StartedAt: t0.Add(-time.Hour)}
	require.NoError(t, e.st.CreateRun(context.Background(), &verify))
	code, body, h := e.browser().get("/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	assert.Contains(t, body, `<tr data-job="photos">`)
	assert.Contains(t, body, "2026-11-30 01:00:00 UTC", "next run")
	assert.Contains(t, body, `class="badge st-succeeded">succeeded</a>`, "last status")
	assert.Contains(t, body, "75% of the last 4 finished runs succeeded")
	assert.Equal(t, 4, strings.Count(body[strings.Index(body, `data-job="photos"`):strings.Index(body, `data-job="db"`)], `<rect x=`))
	assert.Contains(t, body, "st-paused", "paused job")
	assert.Contains(t, body, "never run")
	assert.Contains(t, body, `action="/jobs/photos/run"`, "open mode offers run now")
}

func TestRunHistoryFiltersAndCursorPagination(t *testing.T) {
	e := newEnv(t, nil)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var failed []string
	for i := range 25 {
		st := store.RunSucceeded
		if i%5 == 0 {
			st = store.RunFailed
		}
		r := e.addRun("photos", st, t0.Add(time.Duration(i)*time.Hour))
		if st == store.RunFailed {
			failed = append(failed, r.ID)
		}
	}
	e.addRun("db", store.RunSucceeded, t0)
	restore := store.Run{Job: "photos", Kind: store.RunKindRestore, Trigger: store.TriggerManual, TriggeredBy: "ann",
		Status: store.RunRunning, Owner: "o", Attempt: 1, StartedAt: t0.Add(-time.Hour)}
	require.NoError(t, e.st.CreateRun(context.Background(), &restore))
	b := e.browser()

	code, body, _ := b.get("/runs?kind=restore")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, restore.ID)
	assert.Contains(t, body, `<span class="kind">restore</span>`)
	assert.Equal(t, 1, strings.Count(body, `<a href="/runs/`))
	code, body, _ = b.get("/runs?kind=bogus")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "kind: unknown run kind")
	code, body, _ = b.get("/runs/" + restore.ID)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<dd id="kind">restore</dd>`)

	code, body, _ = b.get("/runs?job=photos&status=failed")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 5, strings.Count(body, `class="badge st-failed"`))
	for _, id := range failed {
		assert.Contains(t, body, id)
	}
	assert.NotContains(t, body, `<td>db</td>`)
	assert.Contains(t, body, `<option value="failed" selected>`)

	// Pages of 10: 10, 10, 6 runs, newest first, then no "Older" link.
	seen := map[string]bool{}
	path := "/runs?limit=10"
	for page := 0; page < 3; page++ {
		code, body, _ = b.get(path)
		require.Equal(t, http.StatusOK, code, body)
		ids := regexp.MustCompile(`<a href="/runs/([^"]+)"><code>`).FindAllStringSubmatch(body, -1)
		assert.Len(t, ids, []int{10, 10, 7}[page])
		for _, m := range ids {
			assert.False(t, seen[m[1]], "run %s on two pages", m[1])
			seen[m[1]] = true
		}
		next := regexp.MustCompile(`href="(/runs\?[^"]*cursor=[^"]*)" id="older"`).FindStringSubmatch(body)
		if page < 2 {
			require.NotNil(t, next, "page %d has no Older link", page)
			path = strings.ReplaceAll(next[1], "&amp;", "&")
			assert.Contains(t, path, "limit=10")
		} else {
			assert.Nil(t, next)
			assert.Contains(t, body, `id="newest"`)
		}
	}
	assert.Len(t, seen, 27)

	code, body, _ = b.get("/runs?status=bogus")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "status: unknown run status")
	code, body, _ = b.get("/runs?cursor=%21%21")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "malformed Cursor")
	code, _, _ = b.get("/runs?limit=0")
	assert.Equal(t, http.StatusBadRequest, code)
}

func TestRunPageShowsLogWithoutJSAndLogJSONPolls(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r := e.addRun("photos", store.RunRunning, time.Now().UTC())
	require.NoError(t, e.st.AppendLogs(ctx, r.ID,
		store.LogEntry{Level: store.LevelInfo, Message: "run started", Time: time.Now()},
		store.LogEntry{Level: store.LevelWarn, Message: "slow <disk>", Attrs: map[string]string{"dest": "disk"}}))
	b := e.browser()

	code, body, _ := b.get("/runs/" + r.ID)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "run started")
	assert.Contains(t, body, "slow &lt;disk&gt;", "escaped")
	assert.Contains(t, body, `dest=disk`)
	assert.Contains(t, body, `data-after="2"`)
	assert.Contains(t, body, `data-final="false"`)
	assert.Contains(t, body, `<noscript><meta http-equiv="refresh" content="5"></noscript>`, "reloads without JS while running")

	type answer struct {
		Run struct {
			Status   string `json:"status"`
			Final    bool   `json:"final"`
			BackupID string `json:"backup_id"`
		} `json:"run"`
		Lines []struct {
			Seq     int64  `json:"seq"`
			Message string `json:"message"`
		} `json:"lines"`
		LastSeq int64 `json:"last_seq"`
	}
	poll := func(after string) answer {
		code, body, h := b.get("/runs/" + r.ID + "/log.json?after=" + after)
		require.Equal(t, http.StatusOK, code, body)
		assert.Contains(t, h.Get("Content-Type"), "application/json")
		var a answer
		require.NoError(t, json.Unmarshal([]byte(body), &a))
		return a
	}
	a := poll("0")
	assert.Len(t, a.Lines, 2)
	assert.Equal(t, int64(2), a.LastSeq)
	assert.False(t, a.Run.Final)
	a = poll("2")
	assert.Empty(t, a.Lines)
	assert.Equal(t, int64(2), a.LastSeq)

	require.NoError(t, e.st.AppendLogs(ctx, r.ID, store.LogEntry{Level: store.LevelInfo, Message: "run succeeded"}))
	r.Status, r.FinishedAt, r.BackupID = store.RunSucceeded, time.Now().UTC(), "b1"
	require.NoError(t, e.st.UpdateRun(ctx, &r))
	a = poll("2")
	require.Len(t, a.Lines, 1)
	assert.Equal(t, "run succeeded", a.Lines[0].Message)
	assert.Equal(t, int64(3), a.Lines[0].Seq)
	assert.True(t, a.Run.Final)
	assert.Equal(t, "succeeded", a.Run.Status)
	assert.Equal(t, "b1", a.Run.BackupID)

	code, body, _ = b.get("/runs/" + r.ID)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, `http-equiv="refresh"`, "a final run does not reload")

	assert.Contains(t, body, `data-more="false"`)

	// A long log: the page shows the first 5000 lines and tells the script
	// to fetch the rest.
	long := e.addRun("photos", store.RunSucceeded, time.Now().UTC())
	lines := make([]store.LogEntry, 5003)
	for i := range lines {
		lines[i] = store.LogEntry{Level: store.LevelInfo, Message: fmt.Sprintf("line %d", i+1)}
	}
	require.NoError(t, e.st.AppendLogs(ctx, long.ID, lines...))
	code, body, _ = b.get("/runs/" + long.ID)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `data-after="5000"`)
	assert.Contains(t, body, `data-more="true"`)
	assert.Contains(t, body, "line 5000\n")
	assert.NotContains(t, body, "line 5001")
	code, body, _ = b.get("/runs/" + long.ID + "/log.json?after=5000")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"message":"line 5003"`)

	code, body, _ = b.get("/runs/" + r.ID + "/log.json?after=x")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "after:")
	code, _, _ = b.get("/runs/nope/log.json")
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = b.get("/runs/nope")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestBackupsListDownloadProtectRestore(t *testing.T) {
	e := newEnv(t, nil)
	r := e.addRun("photos", store.RunSucceeded, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	bk := e.addBackup("photos", r.ID, r.StartedAt)
	b := e.browser()

	code, body, _ := b.get("/backups")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `data-backup="`+bk.ID+`"`)
	assert.Contains(t, body, `href="/api/v1/backups/`+bk.ID+`/download"`)
	assert.Contains(t, body, "5.0 MiB")
	assert.Contains(t, body, ">Protect</button>")
	assert.Contains(t, body, `href="/backups/`+bk.ID+`/restore"`)
	assert.Contains(t, body, `<span class="muted">never</span>`, "not verified yet")
	require.NoError(t, e.st.RecordVerification(context.Background(), bk.ID,
		store.Verification{Level: "checksum", OK: false, Problem: "disk: sha256 mismatch"}))
	_, body, _ = b.get("/backups")
	assert.Contains(t, body, "✗ checksum")
	assert.Contains(t, body, "disk: sha256 mismatch")

	// Protect, then the list says so; the redirect goes back to the list.
	code, _, h := b.postCSRF("/backups/"+bk.ID+"/protect", url.Values{"protected": {"true"}, "next": {"/backups?job=photos"}})
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/backups?job=photos", h.Get("Location"))
	assert.Equal(t, []string{bk.ID + "|true|tester"}, e.f.got(&e.f.protect))
	_, body, _ = b.get("/backups")
	assert.Contains(t, body, ">Unprotect</button>")
	assert.Contains(t, body, "st-protected")
	code, _, h = b.postCSRF("/backups/"+bk.ID+"/protect", url.Values{"protected": {"false"}, "next": {"//evil.example/"}})
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/", h.Get("Location"), "no open redirect")
	code, body, _ = b.postCSRF("/backups/"+bk.ID+"/protect", url.Values{"protected": {"maybe"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "protected: must be true or false")

	// Restore: the form, then a confirmation naming the target, then the run.
	code, body, _ = b.get("/backups/" + bk.ID + "/restore")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `name="target"`)
	code, body, _ = b.postCSRF("/backups/"+bk.ID+"/restore", url.Values{"target": {""}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "target: required")
	code, body, _ = b.postCSRF("/backups/"+bk.ID+"/restore", url.Values{"target": {"/srv/photos-restored"}})
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `Restore into <code class="target">/srv/photos-restored</code>?`)
	assert.Contains(t, body, `name="confirm" value="/srv/photos-restored"`)
	assert.Empty(t, e.f.got(&e.f.restore), "nothing restored before the confirmation")
	code, _, _ = b.postCSRF("/backups/"+bk.ID+"/restore", url.Values{"target": {"/srv/photos-restored"}, "confirm": {"/srv/other"}})
	assert.Equal(t, http.StatusOK, code, "a confirmation for another target asks again")
	assert.Empty(t, e.f.got(&e.f.restore))
	code, _, h = b.postCSRF("/backups/"+bk.ID+"/restore", url.Values{"target": {"/srv/photos-restored"}, "confirm": {"/srv/photos-restored"}})
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/runs/restore-run-1", h.Get("Location"))
	assert.Equal(t, []string{bk.ID + "|/srv/photos-restored|tester"}, e.f.got(&e.f.restore))

	code, _, _ = b.get("/backups/nope/restore")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestRunNowRedirectsToTheRun(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	code, _, h := b.postCSRF("/jobs/photos/run", nil)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(h.Get("Location"), "/runs/"))
	assert.Equal(t, []string{"photos|tester"}, e.f.got(&e.f.runNow))
	code, body, _ := b.get(h.Get("Location"))
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `id="status" class="badge st-running"`)

	code, body, _ = b.postCSRF("/jobs/nope/run", nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, `job &#34;nope&#34;: no such job`)

	e.f.mu.Lock()
	e.f.runNowErr = errors.New("job photos: dial mysql://root:hunter2@db/x: refused")
	e.f.mu.Unlock()
	code, body, _ = b.postCSRF("/jobs/photos/run", nil)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Contains(t, body, "refused")
	assert.NotContains(t, body, "hunter2", "errors are redacted")
}

func TestScheduleEditorPreviewsAndSaves(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	code, body, _ := b.get("/schedules/photos")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `value="0 2 * * *"`)
	assert.Equal(t, 5, strings.Count(body, "<li><time"), body)
	assert.Contains(t, body, "Mon 2026-11-30 02:00 CET")

	// Server-side preview of the submitted values; nothing saved.
	code, body, _ = b.postCSRF("/schedules/photos", url.Values{"action": {"preview"}, "schedule": {"30 6 * * 1"}, "timezone": {"America/New_York"}})
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Mon 2026-11-30 06:30 EST")
	assert.Contains(t, body, "Mon 2026-12-28 06:30 EST")
	assert.Empty(t, e.f.got(&e.f.saved))

	code, body, _ = b.postCSRF("/schedules/photos", url.Values{"action": {"save"}, "schedule": {"61 * * * *"}, "timezone": {"UTC"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `id="preview-error"`)
	assert.Empty(t, e.f.got(&e.f.saved))

	code, _, h := b.postCSRF("/schedules/photos", url.Values{"action": {"save"}, "schedule": {"30 6 * * 1"}, "timezone": {"America/New_York"}})
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/schedules/photos?saved=1", h.Get("Location"))
	assert.Equal(t, []string{"photos|30 6 * * 1|America/New_York|tester"}, e.f.got(&e.f.saved))
	_, body, _ = b.get(h.Get("Location"))
	assert.Contains(t, body, "Saved.")

	// The live preview endpoint.
	code, body, _ = b.get("/schedules/preview.json?expr=" + url.QueryEscape("@daily") + "&tz=UTC")
	require.Equal(t, http.StatusOK, code)
	var p struct {
		Times []string `json:"times"`
		ISO   []string `json:"iso"`
		Error string   `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	assert.Len(t, p.Times, 5)
	assert.Equal(t, "2026-11-30T00:00:00Z", p.ISO[0])
	code, body, _ = b.get("/schedules/preview.json?expr=nonsense&tz=UTC")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `"error"`)
	code, body, _ = b.get("/schedules/preview.json?expr=&tz=UTC")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "schedule: required")

	code, _, _ = b.get("/schedules/nope")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestRolesGatePagesAndActions(t *testing.T) {
	e := newEnv(t, map[string]string{"v": "viewer", "o": "operator", "a": "admin"})
	r := e.addRun("photos", store.RunSucceeded, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	bk := e.addBackup("photos", r.ID, r.StartedAt)

	// Nobody: pages redirect to /login, JSON says 401, posts 401.
	anon := e.browser()
	code, _, h := anon.get("/runs?job=photos")
	assert.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/login?next="+url.QueryEscape("/runs?job=photos"), h.Get("Location"))
	code, _, _ = anon.get("/runs/" + r.ID + "/log.json")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = anon.postCSRF("/jobs/photos/run", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = anon.get("/static/app.js")
	assert.Equal(t, http.StatusOK, code, "static files need no login")

	type action struct {
		path string
		form url.Values
		need int // 1 viewer, 2 operator, 3 admin
	}
	actions := []action{
		{"/jobs/photos/run", nil, 2},
		{"/backups/" + bk.ID + "/protect", url.Values{"protected": {"true"}}, 3},
		{"/backups/" + bk.ID + "/restore", url.Values{"target": {"/x"}, "confirm": {"/x"}}, 3},
		{"/schedules/photos", url.Values{"action": {"save"}, "schedule": {"@daily"}, "timezone": {"UTC"}}, 3},
		{"/schedules/photos", url.Values{"action": {"preview"}, "schedule": {"@daily"}}, 1},
	}
	for i, tok := range []string{"v", "o", "a"} {
		b := e.browser().withToken(tok)
		code, body, _ := b.get("/")
		require.Equal(t, http.StatusOK, code, tok)
		assert.Contains(t, body, `<span class="role" id="role">`+map[string]string{"v": "viewer", "o": "operator", "a": "admin"}[tok])
		assert.Equal(t, i >= 1, strings.Contains(body, "Run now"), "run now shown to %s", tok)
		_, body, _ = b.get("/backups")
		assert.Equal(t, i >= 2, strings.Contains(body, "Restore…"), "restore shown to %s", tok)
		assert.Equal(t, i >= 2, strings.Contains(body, ">Protect</button>"), "protect shown to %s", tok)
		_, body, _ = b.get("/schedules/photos")
		assert.Equal(t, i >= 2, strings.Contains(body, `value="save"`), "save shown to %s", tok)
		for _, a := range actions {
			code, _, _ := b.postCSRF(a.path, a.form)
			if i+1 >= a.need {
				assert.Contains(t, []int{http.StatusOK, http.StatusSeeOther}, code, "%s %s %v", tok, a.path, a.form)
			} else {
				assert.Equal(t, http.StatusForbidden, code, "%s %s %v", tok, a.path, a.form)
			}
		}
	}
	assert.Len(t, e.f.got(&e.f.runNow), 2)
	assert.Len(t, e.f.got(&e.f.restore), 1)
	assert.Len(t, e.f.got(&e.f.saved), 1)
}

func TestCSRFIsRequired(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	token := b.csrf()

	code, body, _ := b.post("/jobs/photos/run", url.Values{})
	assert.Equal(t, http.StatusForbidden, code, "no token")
	assert.Contains(t, body, "reload the page")
	code, _, _ = b.post("/jobs/photos/run", url.Values{"csrf": {token + "x"}})
	assert.Equal(t, http.StatusForbidden, code, "bad token")
	// Another browser's token does not fit this browser's cookie.
	other := e.browser().csrf()
	code, _, _ = b.post("/jobs/photos/run", url.Values{"csrf": {other}})
	assert.Equal(t, http.StatusForbidden, code, "another browser's token")
	// A cross-site Origin is refused even with a token.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/jobs/photos/run", strings.NewReader("csrf="+url.QueryEscape(token)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	res, err := b.c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "cross-site origin")
	assert.Empty(t, e.f.got(&e.f.runNow))

	// The header form, for scripts, and a same-site Origin.
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/jobs/photos/run", nil)
	req.Header.Set("X-CSRF-Token", token)
	req.Header.Set("Origin", e.srv.URL)
	res, err = b.c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
}

func TestLoginSetsAStrictHttpOnlyCookieThatRoleAccepts(t *testing.T) {
	e := newEnv(t, map[string]string{"secret-admin-token": "admin"})
	b := e.browser()
	code, body, _ := b.get("/login?next=/backups")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `name="next" value="/backups"`)

	code, body, _ = b.postCSRF("/login", url.Values{"token": {"wrong"}, "next": {"/backups"}})
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, body, "That token is not valid.")
	assert.NotContains(t, body, "wrong", "the typed token is not echoed")

	form := url.Values{"token": {"secret-admin-token"}, "next": {"/backups"}, "csrf": {b.csrf()}}
	res, err := b.c.PostForm(e.srv.URL+"/login", form)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/backups", res.Header.Get("Location"))
	var c *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == web.TokenCookie {
			c = k
		}
	}
	require.NotNil(t, c)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.Equal(t, "/", c.Path)

	code, body, _ = b.get("/backups")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Log out")

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	assert.Empty(t, web.TokenFromCookie(req))
	req.AddCookie(&http.Cookie{Name: web.TokenCookie, Value: "tok"})
	assert.Equal(t, "tok", web.TokenFromCookie(req))

	code, _, h := b.postCSRF("/logout", nil)
	assert.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/login", h.Get("Location"))
	code, _, _ = b.get("/backups")
	assert.Equal(t, http.StatusSeeOther, code, "logged out")
}

// Past the failed-login limit the login form answers 429 and does not
// check the token, not even a good one.
func TestLoginIsThrottledAfterFailures(t *testing.T) {
	e := newEnv(t, map[string]string{"secret-admin-token": "admin"})
	e.f.maxFailedLogins = 2
	b := e.browser()
	for range 2 {
		code, body, _ := b.postCSRF("/login", url.Values{"token": {"wrong"}})
		require.Equal(t, http.StatusUnauthorized, code, body)
	}
	code, body, h := b.postCSRF("/login", url.Values{"token": {"secret-admin-token"}})
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Contains(t, body, "Too many failed attempts from your address: try again in 1m0s.")
	assert.Equal(t, "60", h.Get("Retry-After"))
	e.f.mu.Lock()
	assert.Equal(t, 2, e.f.failedLogins, "a throttled attempt is not checked, so not counted")
	e.f.maxFailedLogins = 0
	e.f.mu.Unlock()
	code, _, _ = b.postCSRF("/login", url.Values{"token": {"secret-admin-token"}})
	assert.Equal(t, http.StatusSeeOther, code, "logged in once the wait is over")
}

// Pages check a presented token under the same limit: a bad one counts
// as a failure and its cookie is cleared; past the limit even a good token
// gets no page.
func TestPagesWithATokenAreThrottledToo(t *testing.T) {
	e := newEnv(t, map[string]string{"secret-admin-token": "admin"})
	e.f.maxFailedLogins = 2
	b := e.browser().withToken("a-guess")
	code, _, h := b.get("/runs")
	assert.Equal(t, http.StatusSeeOther, code, "a bad cookie: to the login page")
	assert.Contains(t, strings.Join(h.Values("Set-Cookie"), ";"), web.TokenCookie+"=;", "the stale cookie is cleared")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/runs", nil)
	req.Header.Set("Authorization", "Bearer another-guess")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	e.f.mu.Lock()
	assert.Equal(t, 2, e.f.failedLogins, "both guesses counted")
	e.f.mu.Unlock()
	good := e.browser().withToken("secret-admin-token")
	code, _, _ = good.get("/runs")
	assert.Equal(t, http.StatusSeeOther, code, "past the limit, even a good token gets no page")
	e.f.mu.Lock()
	e.f.maxFailedLogins = 0
	e.f.mu.Unlock()
	code, _, _ = good.get("/runs")
	assert.Equal(t, http.StatusOK, code)
	e.f.mu.Lock()
	assert.Equal(t, 2, e.f.failedLogins, "a good token costs nothing")
	e.f.mu.Unlock()
}

func TestHostileNamesAreEscaped(t *testing.T) {
	e := newEnv(t, nil)
	e.f.mu.Lock()
	e.f.jobs = []web.JobInfo{{Name: `<script>alert(1)</script>`, Schedule: `"><img src=x onerror=alert(2)>`}}
	e.f.mu.Unlock()
	_, body, _ := e.browser().get("/")
	assert.NotContains(t, body, "<script>alert(1)</script>")
	assert.NotContains(t, body, `<img src=x`)
	assert.Contains(t, body, "&lt;script&gt;")
}

func TestNilDepsDoNotPanic(t *testing.T) {
	srv := httptest.NewServer(web.Handler(web.Deps{}))
	defer srv.Close()
	for _, p := range []string{"/", "/runs", "/backups", "/runs/x", "/runs/x/log.json", "/schedules/x", "/login", "/static/app.css"} {
		res, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		res.Body.Close()
		assert.Less(t, res.StatusCode, 600, p)
	}
	res, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.Contains(t, string(body), "Deps.Store is nil")

	// With a store but no daemon functions: reading works, actions are absent.
	st, err := sqlstore.OpenSQLite(context.Background(), sqlstore.Memory)
	require.NoError(t, err)
	defer st.Close()
	srv2 := httptest.NewServer(web.Handler(web.Deps{Store: st}))
	defer srv2.Close()
	res, err = http.Get(srv2.URL + "/")
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "No jobs are configured.")
	assert.NotContains(t, string(body), "Run now")
}

func TestStaticFilesAreEmbedded(t *testing.T) {
	e := newEnv(t, nil)
	for path, ctype := range map[string]string{"/static/app.js": "javascript", "/static/app.css": "text/css"} {
		code, body, h := e.browser().get(path)
		require.Equal(t, http.StatusOK, code, path)
		assert.Contains(t, h.Get("Content-Type"), ctype)
		assert.NotEmpty(t, body)
	}
}
