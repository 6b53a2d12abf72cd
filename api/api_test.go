package api

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
)

// TestRunNowRateLimit: past the burst, run-now answers 429 with a
// Retry-After; other callers are not affected.
func TestRunNowRateLimit(t *testing.T) {
	f := newFixture(t, true, "  rate_limits:\n    run_now: {burst: 2, every: 1h}\n    restore: {burst: 1, every: 1h}\n")
	op, admin := f.tokens[config.RoleOperator], f.tokens[config.RoleAdmin]
	for range 2 {
		resp, body := f.do("POST", "/api/v1/jobs/manual/run", op, "")
		require.Equal(t, 202, resp.StatusCode, body)
	}
	resp, body := f.do("POST", "/api/v1/jobs/manual/run", op, "")
	assert.Equal(t, 429, resp.StatusCode, body)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Greater(t, secs, 0)
	resp, _ = f.do("POST", "/api/v1/jobs/manual/run", admin, "")
	assert.Equal(t, 202, resp.StatusCode)

	target := filepath.Join(f.dir, "restore-1")
	resp, body = f.do("POST", "/api/v1/backups/"+f.backup+"/restore", admin, `{"target":"`+target+`"}`)
	assert.Equal(t, 202, resp.StatusCode, body)
	resp, _ = f.do("POST", "/api/v1/backups/"+f.backup+"/restore", admin, `{"target":"`+target+`-2"}`)
	assert.Equal(t, 429, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
}

// TestFailedAuthenticationsAreThrottled: past the failed_auth burst, a
// client address gets 429 with a Retry-After, even with a good token (its
// token is not checked), and the refusals are not audited.
func TestFailedAuthenticationsAreThrottled(t *testing.T) {
	f := newFixture(t, true, "  rate_limits:\n    failed_auth: {burst: 3, every: 1h}\n")
	viewer := f.tokens[config.RoleViewer]
	resp, body := f.do("GET", "/api/v1/jobs", viewer, "")
	require.Equal(t, 200, resp.StatusCode, body)
	for _, tok := range []string{"bkd_wrong-1", "", "bkd_wrong-2"} {
		resp, body := f.do("GET", "/api/v1/jobs", tok, "")
		require.Equal(t, 401, resp.StatusCode, body)
	}
	for _, tok := range []string{"bkd_wrong-3", viewer} {
		resp, body := f.do("GET", "/api/v1/jobs", tok, "")
		assert.Equal(t, 429, resp.StatusCode, body)
		assert.Contains(t, body, "too many failed authentications")
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		require.NoError(t, err)
		assert.InDelta(t, 3600, secs, 5)
	}
	entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Action: "auth.failed", Limit: 100})
	require.NoError(t, err)
	assert.Len(t, entries, 3, "only the failures before the limit are audited")
	// Healthz needs no token and is never throttled.
	resp, _ = f.do("GET", "/healthz", "", "")
	assert.Equal(t, 200, resp.StatusCode)
}

// TestLimiterRefund: refund gives back what allow took, never more than
// the burst.
func TestLimiterRefund(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(config.RateLimit{Burst: 1, Every: config.Duration(time.Hour)})
	l.now = func() time.Time { return now }
	for range 3 {
		ok, _ := l.allow("a")
		require.True(t, ok)
		l.refund("a")
	}
	l.refund("a")
	ok, _ := l.allow("a")
	assert.True(t, ok)
	ok, wait := l.allow("a")
	assert.False(t, ok, "refunds never exceed the burst")
	assert.Equal(t, time.Hour, wait)
}

// TestClientAddress: IPv4 addresses as they are, IPv6 by /64.
func TestClientAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5555":                 "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb:cccc::9]:80": "2001:db8:1:2::/64",
		"[::1]:80":                       "::/64",
		"odd":                            "odd",
	} {
		assert.Equal(t, want, clientAddress(&http.Request{RemoteAddr: addr}), addr)
	}
}

// TestLimiterRefills: a bucket refills at one token per "every".
func TestLimiterRefills(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(config.RateLimit{Burst: 2, Every: config.Duration(10 * time.Second)})
	l.now = func() time.Time { return now }
	ok, _ := l.allow("a")
	assert.True(t, ok)
	ok, _ = l.allow("a")
	assert.True(t, ok)
	ok, wait := l.allow("a")
	assert.False(t, ok)
	assert.Equal(t, 10*time.Second, wait)
	ok, _ = l.allow("b")
	assert.True(t, ok, "buckets are per caller")
	now = now.Add(5 * time.Second)
	ok, wait = l.allow("a")
	assert.False(t, ok)
	assert.Equal(t, 5*time.Second, wait)
	now = now.Add(5 * time.Second)
	ok, _ = l.allow("a")
	assert.True(t, ok)
}

// TestCORS: off by default (no headers at all); with origins configured,
// only those get them, and preflights are answered.
func TestCORS(t *testing.T) {
	f := newFixture(t, true, "")
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/jobs", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	f = newFixture(t, true, "  cors_origins: [\"https://ops.example\"]\n")
	for origin, want := range map[string]string{"https://ops.example": "https://ops.example", "https://evil.example": ""} {
		req, _ := http.NewRequest("OPTIONS", f.srv.URL+"/api/v1/jobs/app/run", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.Header.Get("Access-Control-Allow-Origin"), origin)
		if want != "" {
			assert.Equal(t, 204, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
		}
	}
}

// TestRunsPagesAndCSV: the runs listing pages with a cursor, and comes as
// CSV with the next cursor in a header.
func TestRunsPagesAndCSV(t *testing.T) {
	f := newFixture(t, true, "")
	j, err := f.control.Job("app")
	require.NoError(t, err)
	for range 4 {
		_, err := f.rt.Engine.Run(t.Context(), j.Job, backup.RunOptions{TriggeredBy: "=cmd|' /C calc'!A0"})
		require.NoError(t, err)
	}
	v := f.tokens[config.RoleViewer]
	seen := map[string]bool{}
	path := "/api/v1/runs?job=app&limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		resp, body := f.do("GET", path, v, "")
		require.Equal(t, 200, resp.StatusCode, body)
		page := decode[runPage](t, body)
		for _, r := range page.Runs {
			assert.False(t, seen[r.ID], "run listed twice")
			seen[r.ID] = true
			assert.Equal(t, "app", r.Job)
		}
		if page.Next == "" {
			break
		}
		path = "/api/v1/runs?job=app&limit=2&cursor=" + page.Next
	}
	assert.Len(t, seen, 5)
	resp, body := f.do("GET", "/api/v1/stats?job=app", v, "")
	require.Equal(t, 200, resp.StatusCode, body)
	st := decode[statsJSON](t, body)
	assert.Equal(t, int64(5), st.Total)
	assert.Equal(t, int64(5), st.Succeeded)
	assert.InDelta(t, 1.0, st.SuccessRate, 1e-9)
	assert.Greater(t, st.BytesWritten, int64(0))

	resp, body = f.do("GET", "/api/v1/runs?job=app&limit=3&format=csv", v, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.NotEmpty(t, resp.Header.Get("X-Next-Cursor"))
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	assert.Equal(t, runsCSVHeader, rows[0])
	assert.Equal(t, "succeeded", rows[1][7])
	assert.Equal(t, "backup", rows[1][2])
	assert.True(t, strings.HasPrefix(rows[1][6], "'="), "a formula-like cell is defused: %q", rows[1][6])
}

// TestRunLogsAndEvents: logs poll from a sequence number; a finished run's
// event stream replays its log and ends with "end".
func TestRunLogsAndEvents(t *testing.T) {
	f := newFixture(t, true, "")
	v := f.tokens[config.RoleViewer]
	resp, body := f.do("GET", "/api/v1/runs/"+f.run+"/logs", v, "")
	require.Equal(t, 200, resp.StatusCode, body)
	all := decode[logPage](t, body)
	require.NotEmpty(t, all.Entries)
	assert.True(t, all.Final)
	last := all.Entries[len(all.Entries)-1].Seq
	assert.Equal(t, last, all.After)
	resp, body = f.do("GET", "/api/v1/runs/"+f.run+"/logs?after=1", v, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Len(t, decode[logPage](t, body).Entries, len(all.Entries)-1)

	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/runs/"+f.run+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+v)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := readSSE(resp.Body, func(e sseEvent) bool { return e.event == "end" })
	require.NotEmpty(t, events)
	assert.Equal(t, "end", events[len(events)-1].event)
	assert.Equal(t, "succeeded", decode[runJSON](t, events[len(events)-1].data).Status)
	assert.Len(t, events, len(all.Entries)) // lines 2..n, then end
	assert.Equal(t, "2", events[0].id)
}

// TestLiveRunEvents: a run started over the API is followed live on its
// stream and on the global one.
func TestLiveRunEvents(t *testing.T) {
	f := newFixture(t, true, "")
	op := f.tokens[config.RoleOperator]
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/events?job=app", nil)
	req.Header.Set("Authorization", "Bearer "+op)
	global, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer global.Body.Close()

	resp, body := f.do("POST", "/api/v1/schedules/app/run", op, "")
	require.Equal(t, 202, resp.StatusCode, body)
	id := decode[accepted](t, body).RunID
	require.NotEmpty(t, id)
	req, _ = http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+op)
	stream, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	events := readSSE(stream.Body, func(e sseEvent) bool { return e.event == "end" })
	require.NotEmpty(t, events)
	end := decode[runJSON](t, events[len(events)-1].data)
	assert.Equal(t, "succeeded", end.Status)
	assert.Equal(t, "operator-token", end.TriggeredBy)
	assert.Equal(t, "config:app", end.ScheduleID)

	got := readSSE(global.Body, func(e sseEvent) bool { return e.event == "run.succeeded" })
	require.NotEmpty(t, got)
	assert.Equal(t, id, decode[eventJSON](t, got[len(got)-1].data).RunID)
}

// TestSchedulesCRUD: create, update, pause, resume and delete a schedule;
// each reaches the scheduler at once and the audit trail; a schedule from
// the file cannot be deleted.
func TestSchedulesCRUD(t *testing.T) {
	f := newFixture(t, true, "")
	admin := f.tokens[config.RoleAdmin]
	resp, body := f.do("POST", "/api/v1/schedules", admin, `{"name":"nightly","job":"manual","cron":"0 3 * * *","timezone":"Europe/Berlin"}`)
	require.Equal(t, 201, resp.StatusCode, body)
	s := decode[scheduleJSON](t, body)
	assert.Equal(t, "api", s.Origin)
	require.NotNil(t, s.NextRun)
	assert.Equal(t, 3, s.NextRun.In(mustLoc(t, "Europe/Berlin")).Hour())
	resp, _ = f.do("POST", "/api/v1/schedules", admin, `{"name":"nightly","job":"manual","cron":"0 3 * * *"}`)
	assert.Equal(t, 409, resp.StatusCode)

	resp, body = f.do("PUT", "/api/v1/schedules/nightly", admin, `{"cron":"30 4 * * *"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	s = decode[scheduleJSON](t, body)
	assert.Equal(t, "30 4 * * *", s.Cron)
	assert.Equal(t, 4, s.NextRun.In(mustLoc(t, "Europe/Berlin")).Hour())

	resp, body = f.do("POST", "/api/v1/schedules/nightly/pause", admin, "")
	require.Equal(t, 200, resp.StatusCode, body)
	s = decode[scheduleJSON](t, body)
	assert.True(t, s.Paused)
	assert.Nil(t, s.NextRun)
	resp, body = f.do("POST", "/api/v1/schedules/nightly/resume", admin, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.NotNil(t, decode[scheduleJSON](t, body).NextRun)

	resp, _ = f.do("DELETE", "/api/v1/schedules/app", admin, "")
	assert.Equal(t, 409, resp.StatusCode, "the file's schedule")
	resp, _ = f.do("DELETE", "/api/v1/schedules/nightly", admin, "")
	assert.Equal(t, 204, resp.StatusCode)
	assert.True(t, f.control.NextRun("nightly").IsZero())
	resp, _ = f.do("GET", "/api/v1/schedules/nightly", admin, "")
	assert.Equal(t, 404, resp.StatusCode)

	entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Target: "nightly"})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
		assert.Equal(t, "admin-token", e.Actor)
	}
	assert.Equal(t, []string{"schedule.delete", "schedule.resume", "schedule.pause", "schedule.update", "schedule.create"}, actions)
}

func mustLoc(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// TestSyncKeepsAPIEditsUntilTheFileChanges: an edit of a file schedule
// through the API survives a re-sync; a change in the file wins.
func TestSyncKeepsAPIEditsUntilTheFileChanges(t *testing.T) {
	f := newFixture(t, true, "")
	admin := f.tokens[config.RoleAdmin]
	resp, body := f.do("PUT", "/api/v1/schedules/app", admin, `{"cron":"15 1 * * *"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	list, err := f.rt.SyncSchedules(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "15 1 * * *", list[0].Cron, "an API edit survives a sync")

	j, err := f.control.Job("app")
	require.NoError(t, err)
	j.Schedule = "@monthly"
	list, err = f.rt.SyncSchedules(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "@monthly", list[0].Cron, "the file changed: it wins")

	// A job whose schedule left the file loses its stored schedule.
	j.Schedule = ""
	list, err = f.rt.SyncSchedules(t.Context())
	require.NoError(t, err)
	assert.Empty(t, list)
	_, err = f.rt.Store.GetScheduleByName(t.Context(), "", "app")
	assert.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, f.control.Reconcile(t.Context()))
	assert.True(t, f.control.NextRun("app").IsZero())
}

// TestPauseByAnotherProcess: a pause written to the store (as `backupd
// pause` does) reaches the scheduler at the next Reconcile.
func TestPauseByAnotherProcess(t *testing.T) {
	f := newFixture(t, true, "")
	require.False(t, f.control.NextRun("app").IsZero())
	s, err := f.rt.Store.GetScheduleByName(t.Context(), "", "app")
	require.NoError(t, err)
	require.NoError(t, f.rt.Store.SetSchedulePaused(t.Context(), s.ID, true))
	require.NoError(t, f.control.Reconcile(t.Context()))
	assert.True(t, f.control.NextRun("app").IsZero())
	require.NoError(t, f.rt.Store.SetSchedulePaused(t.Context(), s.ID, false))
	require.NoError(t, f.control.Reconcile(t.Context()))
	assert.False(t, f.control.NextRun("app").IsZero())
}

// TestDownloadDeleteProtect: a raw download matches the catalog's SHA-256;
// a protected backup cannot be deleted; delete removes the files and the
// catalog entry, and is audited.
func TestDownloadDeleteProtect(t *testing.T) {
	f := newFixture(t, true, "")
	op, admin := f.tokens[config.RoleOperator], f.tokens[config.RoleAdmin]
	resp, body := f.do("GET", "/api/v1/backups/"+f.backup+"/download?raw=true", op, "")
	require.Equal(t, 200, resp.StatusCode, body)
	sum := sha256.Sum256([]byte(body))
	b, err := f.rt.Store.GetBackup(t.Context(), f.backup)
	require.NoError(t, err)
	assert.Equal(t, b.SHA256, hex.EncodeToString(sum[:]))
	assert.Equal(t, b.SHA256, resp.Header.Get("X-Backup-SHA256"))
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")

	resp, _ = f.do("POST", "/api/v1/backups/"+f.backup+"/protect", op, "")
	require.Equal(t, 200, resp.StatusCode)
	resp, body = f.do("DELETE", "/api/v1/backups/"+f.backup, admin, "")
	assert.Equal(t, 409, resp.StatusCode, body)
	resp, _ = f.do("POST", "/api/v1/backups/"+f.backup+"/unprotect", admin, "")
	require.Equal(t, 200, resp.StatusCode)
	resp, body = f.do("DELETE", "/api/v1/backups/"+f.backup, admin, "")
	require.Equal(t, 204, resp.StatusCode, body)
	_, err = f.rt.Store.GetBackup(t.Context(), f.backup)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = os.Stat(filepath.Join(f.dir, "backups", b.Copies[0].Key))
	assert.True(t, os.IsNotExist(err), "the artifact is deleted")
	entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Target: f.backup})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	assert.Equal(t, []string{"backup.delete", "backup.unprotect", "backup.protect"}, actions)
}

// TestMetrics: a finished run shows in the runs counter, the histograms
// and the last-success gauge.
func TestMetrics(t *testing.T) {
	f := newFixture(t, true, "")
	defer f.rt.Engine.Subscribe(f.api.o.Metrics.EngineEvent)()
	j, err := f.control.Job("manual")
	require.NoError(t, err)
	_, err = f.rt.Engine.Run(t.Context(), j.Job, backup.RunOptions{})
	require.NoError(t, err)
	var text string
	require.Eventually(t, func() bool {
		_, text = f.do("GET", "/metrics", f.tokens[config.RoleViewer], "")
		return strings.Contains(text, `backupkit_destination_written_bytes_total{destination="local"}`)
	}, 10*time.Second, 20*time.Millisecond)
	for _, want := range []string{
		`backupkit_runs_total{job="manual",status="succeeded"} 1`,
		`backupkit_run_duration_seconds_count{job="manual"} 1`,
		`backupkit_backup_size_bytes_count{job="manual"} 1`,
		`backupkit_last_success_timestamp_seconds{job="manual"}`,
		`backupkit_scheduler_lag_seconds_count`,
		`go_goroutines`,
	} {
		assert.True(t, strings.Contains(text, want), "metrics lack %s", want)
	}
}

// TestNoSecretsInResponses: a token never appears in any answer or in the
// audit trail, and the config's secret-bearing URLs are never served.
func TestNoSecretsInResponses(t *testing.T) {
	f := newFixture(t, true, "")
	admin := f.tokens[config.RoleAdmin]
	var all strings.Builder
	for _, p := range []string{"/api/v1/jobs", "/api/v1/schedules", "/api/v1/runs", "/api/v1/backups", "/api/v1/audit", "/api/v1/runs/" + f.run + "/logs"} {
		_, body := f.do("GET", p, admin, "")
		all.WriteString(body)
	}
	f.do("GET", "/api/v1/jobs", "bkd_wrong-"+admin, "")
	_, body := f.do("GET", "/api/v1/audit", admin, "")
	all.WriteString(body)
	assert.NotContains(t, all.String(), admin)
	assert.NotContains(t, all.String(), "sqlite:")
	assert.NotContains(t, all.String(), "file:")
}

// follow reads run id's event stream to its end and returns the final run.
func (f *fixture) follow(id, token string) runJSON {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.srv.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	events := readSSE(resp.Body, func(e sseEvent) bool { return e.event == "end" })
	require.NotEmpty(f.t, events)
	require.Equal(f.t, "end", events[len(events)-1].event)
	return decode[runJSON](f.t, events[len(events)-1].data)
}

// TestRestoreAndVerifyRuns: restore and verify answer with a run that the
// event stream follows to its end; the runs listing tells them by kind.
func TestRestoreAndVerifyRuns(t *testing.T) {
	f := newFixture(t, true, "")
	defer f.rt.Engine.Subscribe(f.api.o.Metrics.EngineEvent)()
	admin := f.tokens[config.RoleAdmin]
	target := filepath.Join(f.dir, "restored")
	resp, body := f.do("POST", "/api/v1/backups/"+f.backup+"/restore", admin, `{"target":"`+target+`"}`)
	require.Equal(t, 202, resp.StatusCode, body)
	run := f.follow(decode[accepted](t, body).RunID, admin)
	assert.Equal(t, "succeeded", run.Status, run.Reason)
	assert.Equal(t, "restore", run.Kind)
	got, err := os.ReadFile(filepath.Join(target, "hello.txt"))
	require.NoError(t, err)
	assert.Equal(t, "hello, backupkit\n", string(got))

	resp, body = f.do("POST", "/api/v1/backups/"+f.backup+"/verify", f.tokens[config.RoleOperator], `{"level":"checksum"}`)
	require.Equal(t, 202, resp.StatusCode, body)
	run = f.follow(decode[accepted](t, body).RunID, admin)
	assert.Equal(t, "succeeded", run.Status, run.Reason)
	assert.Equal(t, "verify", run.Kind)
	require.Eventually(t, func() bool { // the events may come just after the runs end
		_, text := f.do("GET", "/metrics", admin, "")
		return strings.Contains(text, `backupkit_restores_total{job="app",outcome="succeeded"} 1`) &&
			strings.Contains(text, `backupkit_verifications_total{job="app",outcome="succeeded"} 1`)
	}, 10*time.Second, 10*time.Millisecond, "restores and verifications counted")
	resp, _ = f.do("POST", "/api/v1/backups/"+f.backup+"/verify", admin, `{"level":"deep"}`)
	assert.Equal(t, 400, resp.StatusCode)

	for kind, want := range map[string]int{"restore": 1, "verify": 1, "backup": 1} {
		resp, body = f.do("GET", "/api/v1/runs?kind="+kind, admin, "")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Len(t, decode[runPage](t, body).Runs, want, kind)
	}
	entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Target: f.backup})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "backup.verify", entries[0].Action)
	assert.Equal(t, "operator-token", entries[0].Actor)
	assert.Equal(t, "backup.restore", entries[1].Action)
	assert.Contains(t, string(entries[1].Details), target)
}

// TestDownloadEncrypted: a backup encrypted to an age recipient downloads
// as stored; decrypted, it needs an identity the daemon does not have: 422
// saying how to get it.
func TestDownloadEncrypted(t *testing.T) {
	f := newFixture(t, true, "")
	j, err := f.control.Job("sealed")
	require.NoError(t, err)
	res, err := f.rt.Engine.Run(t.Context(), j.Job, backup.RunOptions{})
	require.NoError(t, err)
	op := f.tokens[config.RoleOperator]
	resp, body := f.do("GET", "/api/v1/backups/"+res.Backup.ID+"/download", op, "")
	assert.Equal(t, 422, resp.StatusCode)
	assert.Contains(t, decode[apiError](t, body).Error, "raw=true")
	resp, body = f.do("GET", "/api/v1/backups/"+res.Backup.ID+"/download?raw=true", op, "")
	require.Equal(t, 200, resp.StatusCode)
	sum := sha256.Sum256([]byte(body))
	assert.Equal(t, res.Backup.SHA256, hex.EncodeToString(sum[:]))
}

// TestPauseAndResumeRun: a running backup is held and let go over the API,
// and both are audited.
func TestPauseAndResumeRun(t *testing.T) {
	f := newFixture(t, true, "")
	testenv.WriteNoise(t, filepath.Join(f.dir, "data", "big.bin"), 32<<20)
	op := f.tokens[config.RoleOperator]
	resp, body := f.do("POST", "/api/v1/jobs/manual/run", op, "")
	require.Equal(t, 202, resp.StatusCode, body)
	id := decode[accepted](t, body).RunID
	for {
		resp, body = f.do("POST", "/api/v1/runs/"+id+"/pause", op, "")
		if resp.StatusCode == 200 {
			break
		}
		require.Equal(t, 409, resp.StatusCode, body)
		run, err := f.rt.Store.GetRun(t.Context(), id)
		require.NoError(t, err)
		require.False(t, run.Status.Final(), "the run ended before it could be paused")
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, "running", decode[runJSON](t, body).Status)
	resp, body = f.do("POST", "/api/v1/runs/"+id+"/resume", op, "")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "succeeded", f.follow(id, op).Status)
	_, body = f.do("GET", "/api/v1/runs/"+id+"/logs", op, "")
	var msgs []string
	for _, e := range decode[logPage](t, body).Entries {
		msgs = append(msgs, e.Message)
	}
	assert.Contains(t, strings.Join(msgs, "\n"), "paused")
	entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Target: id})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "run.resume", entries[0].Action)
	assert.Equal(t, "run.pause", entries[1].Action)
}
