package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
)

// These tests run commands in process through run(), as main does.

type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs one command line and returns its output and exit status.
func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, &out, &errb)
	code := exitCode(err, &errb)
	return cliResult{out.String(), errb.String(), code}
}

// cliConfig writes a configuration with a folder source and a local
// destination into a new folder and returns its path. extra is appended to
// the job "app" (indented by four spaces).
func cliConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello\n"), 0o644))
	cfg := `store: sqlite:backupd.db
log_level: warn
destinations:
  local:
    url: file:backups
jobs:
  - name: app
    source: dir:data
    destinations: [local]
` + extra + `
  - name: manual
    source: dir:data
    destinations: [local]
`
	path := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(s), &v), s)
	return v
}

func TestListRunsShowJSON(t *testing.T) {
	cfg := cliConfig(t, "")
	r := cli(t, "backup", "--config", cfg, "--json", "app")
	require.Equal(t, 0, r.code, r.stderr)
	res := decodeJSON[backupResultJSON](t, r.stdout)
	require.NotNil(t, res.Backup)
	assert.Equal(t, "succeeded", res.Run.Status)
	assert.Empty(t, res.Failures)
	require.Equal(t, 0, cli(t, "backup", "--config", cfg, "manual").code)

	r = cli(t, "list", "--config", cfg, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	backups := decodeJSON[[]map[string]any](t, r.stdout)
	require.Len(t, backups, 2)
	for _, key := range []string{"id", "job", "run_id", "status", "protected", "created_at", "size", "sha256",
		"format", "compression", "encryption", "source", "copies", "protected_until", "verify"} {
		assert.Contains(t, backups[0], key, "list --json field")
	}
	r = cli(t, "list", "--config", cfg, "--json", "app")
	require.Len(t, decodeJSON[[]backupJSON](t, r.stdout), 1)

	// runs: the job as an argument or --job, --status, --limit.
	for _, args := range [][]string{{"app"}, {"--job", "app"}} {
		r = cli(t, append([]string{"runs", "--config", cfg, "--json"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		runs := decodeJSON[[]runJSON](t, r.stdout)
		require.Len(t, runs, 1)
		assert.Equal(t, res.Run.ID, runs[0].ID)
		assert.NotNil(t, runs[0].DurationMS)
	}
	r = cli(t, "runs", "--config", cfg, "--json", "--status", "failed")
	assert.Equal(t, "[]\n", r.stdout)
	r = cli(t, "runs", "--config", cfg, "--json", "--limit", "1")
	assert.Len(t, decodeJSON[[]runJSON](t, r.stdout), 1)
	r = cli(t, "runs", "--config", cfg)
	assert.Regexp(t, `(?m)^RUN\s+KIND\s+JOB\s+STARTED\s+STATUS`, r.stdout)
	assert.Equal(t, 2, strings.Count(r.stdout, "succeeded"))

	// show a backup and a run.
	r = cli(t, "show", "--config", cfg, "--json", res.Backup.ID)
	require.Equal(t, 0, r.code, r.stderr)
	shown := decodeJSON[showJSON](t, r.stdout)
	assert.Equal(t, "backup", shown.Type)
	require.NotNil(t, shown.Backup)
	assert.Equal(t, res.Backup.SHA256, shown.Backup.SHA256)
	require.NotNil(t, shown.Run)
	assert.Equal(t, res.Run.ID, shown.Run.ID)
	assert.Nil(t, shown.VerifyRun)
	assert.Nil(t, shown.Backup.Verify)
	assert.Equal(t, "dir", decodeJSON[map[string]any](t, string(shown.Backup.Source))["kind"])
	r = cli(t, "show", "--config", cfg, res.Backup.ID)
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{res.Backup.SHA256, "copies:", "local", "source items:", "files", "verified       never"} {
		assert.Contains(t, r.stdout, want)
	}
	r = cli(t, "show", "--config", cfg, "--json", res.Run.ID)
	shown = decodeJSON[showJSON](t, r.stdout)
	assert.Equal(t, "run", shown.Type)
	require.NotNil(t, shown.Backup)
	assert.Equal(t, res.Backup.ID, shown.Backup.ID)
	r = cli(t, "show", "--config", cfg, res.Run.ID)
	assert.Contains(t, r.stdout, "backupd logs "+res.Run.ID)

	// Mistakes.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"show", "--config", cfg, "nope"}, 1, `no backup or run with ID "nope"`},
		{[]string{"show", "--config", cfg}, 2, "BACKUP_ID or RUN_ID"},
		{[]string{"runs", "--config", cfg, "--status", "great"}, 2, `unknown status "great"`},
		{[]string{"runs", "--config", cfg, "--limit", "0"}, 2, "--limit"},
		{[]string{"runs", "--config", cfg, "app", "manual"}, 2, "at most one JOB"},
		{[]string{"runs", "--config", cfg, "--job", "app", "manual"}, 2, "give the job once"},
		{[]string{"logs", "--config", cfg, "nope"}, 1, `no run with ID "nope"`},
		{[]string{"logs", "--config", cfg}, 2, "RUN_ID"},
	} {
		r := cli(t, tc.args...)
		assert.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
}

// syncWriter is a bytes.Buffer safe to read while another goroutine writes.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestLogsFollow: logs -f prints the lines already there, then those added
// while it waits, and ends when the run is final, with the run's outcome.
func TestLogsFollow(t *testing.T) {
	cfg := cliConfig(t, "")
	rt, err := open(t.Context(), cfg, os.Stderr, nil)
	require.NoError(t, err)
	defer rt.Close()
	st := rt.Store
	for _, final := range []store.RunStatus{store.RunSucceeded, store.RunFailed} {
		t.Run(string(final), func(t *testing.T) {
			ctx := t.Context()
			run := &store.Run{Job: "app", Trigger: store.TriggerManual, Status: store.RunRunning, Owner: "test:1", Attempt: 1}
			require.NoError(t, st.CreateRun(ctx, run))
			require.NoError(t, st.AppendLogs(ctx, run.ID, store.LogEntry{Time: time.Now(), Level: store.LevelInfo, Message: "first",
				Attrs: map[string]string{"k": "two words"}}))

			var out syncWriter
			done := make(chan error, 1)
			go func() { done <- followLogs(ctx, st, run.ID, 0, true, time.Millisecond, false, &out) }()
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "first") }, 10*time.Second, time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("logs -f ended while the run is running: %v", err)
			default:
			}
			for i := range 1500 { // more than one page
				require.NoError(t, st.AppendLogs(ctx, run.ID, store.LogEntry{Level: store.LevelWarn, Message: fmt.Sprintf("line %d", i)}))
			}
			run.Status, run.FinishedAt, run.Reason = final, time.Now(), "because"
			require.NoError(t, st.UpdateRun(ctx, run))
			require.NoError(t, st.AppendLogs(ctx, run.ID, store.LogEntry{Level: store.LevelInfo, Message: "last"}))
			var ferr error
			select {
			case ferr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("logs -f did not end after the run became final")
			}
			text := out.String()
			assert.Contains(t, text, `INFO  first k="two words"`)
			assert.Contains(t, text, "WARN  line 1499")
			assert.Equal(t, 1502, strings.Count(text, "\n"), "every line once")
			if final == store.RunSucceeded {
				assert.NoError(t, ferr)
			} else {
				require.Error(t, ferr)
				assert.Contains(t, ferr.Error(), "failed: because")
			}

			// Without -f, --after and --json.
			r := cli(t, "logs", "--config", cfg, "--json", "--after", "1501", run.ID)
			require.Equal(t, 0, r.code, r.stderr)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			require.Len(t, lines, 1)
			l := decodeJSON[map[string]any](t, lines[0])
			assert.Equal(t, map[string]any{"seq": 1502.0, "time": nil, "level": "info", "message": "last", "attrs": map[string]any{}}, l)
		})
	}
}

func TestSchedulesPauseResume(t *testing.T) {
	cfg := cliConfig(t, "    schedule: daily at 02:30\n    timezone: Europe/Berlin")
	r := cli(t, "schedules", "--config", cfg, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	list := decodeJSON[[]scheduleJSON](t, r.stdout)
	require.Len(t, list, 2)
	app, manual := list[0], list[1]
	assert.Equal(t, "app", app.Job)
	assert.Equal(t, "app", app.Name)
	assert.Equal(t, "config", app.Origin)
	assert.Equal(t, "Europe/Berlin", app.Timezone)
	assert.NotEmpty(t, app.ScheduleID)
	assert.False(t, app.Paused)
	assert.Contains(t, app.Description, "02:30")
	require.Len(t, app.NextRuns, 3)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for i, n := range app.NextRuns {
		assert.True(t, n.After(time.Now()))
		assert.Equal(t, 30, n.In(berlin).Minute(), "slot %d", i)
		if i > 0 {
			assert.True(t, n.After(app.NextRuns[i-1]))
		}
	}
	assert.Nil(t, app.LastRun)
	assert.Equal(t, "manual", manual.Job)
	assert.Empty(t, manual.Schedule)
	assert.Empty(t, manual.NextRuns)

	r = cli(t, "pause", "--config", cfg, "--reason", "maintenance", "app")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "job app paused")
	r = cli(t, "pause", "--config", cfg, "--json", "app")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, fmt.Sprintf(`{"job":"app","schedule_id":%q,"paused":true,"changed":false}`, app.ScheduleID), r.stdout)
	r = cli(t, "schedules", "--config", cfg, "app")
	assert.Regexp(t, `(?m)^app\s+app\s+daily at 02:30\s+Europe/Berlin\s+paused\s`, r.stdout)
	assert.NotContains(t, r.stdout, "manual", "only the job asked for")
	r = cli(t, "resume", "--config", cfg, "app")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "job app resumed")

	rt, err := open(t.Context(), cfg, os.Stderr, nil)
	require.NoError(t, err)
	defer rt.Close()
	s, err := rt.Store.GetSchedule(t.Context(), app.ScheduleID)
	require.NoError(t, err)
	assert.False(t, s.Paused)

	// Through the API: the file's schedule edited, another one created. The
	// stored expressions are the ones in effect.
	s.Cron = "daily at 04:00"
	require.NoError(t, rt.Store.UpdateSchedule(t.Context(), &s))
	require.NoError(t, rt.Store.CreateSchedule(t.Context(), &store.Schedule{Name: "app-hourly", Cron: "@hourly", Timezone: "UTC",
		Job: config.ScheduleJob{Job: "app", Origin: config.OriginAPI}.Marshal()}))
	list = decodeJSON[[]scheduleJSON](t, cli(t, "schedules", "--config", cfg, "--json", "app").stdout)
	require.Len(t, list, 2)
	assert.Equal(t, "daily at 04:00", list[0].Schedule)
	assert.Equal(t, 0, list[0].NextRuns[0].In(berlin).Minute())
	assert.Equal(t, "app-hourly", list[1].Name)
	assert.Equal(t, "app", list[1].Job)
	assert.Equal(t, "api", list[1].Origin)
	assert.Len(t, list[1].NextRuns, 3)
	audit, err := rt.Store.ListAudit(t.Context(), store.AuditFilter{Target: "app"})
	require.NoError(t, err)
	require.Len(t, audit, 2, "the pause that changed nothing is not audited")
	assert.Equal(t, "schedule.resume", audit[0].Action)
	assert.Equal(t, "schedule.pause", audit[1].Action)
	assert.True(t, strings.HasPrefix(audit[1].Actor, "cli:"))
	assert.JSONEq(t, fmt.Sprintf(`{"schedule_id":%q,"reason":"maintenance","via":"cli"}`, app.ScheduleID), string(audit[1].Details))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pause", "--config", cfg, "manual"}, "no schedule"},
		{[]string{"pause", "--config", cfg, "nojob"}, `unknown job "nojob"`},
		{[]string{"resume", "--config", cfg}, "exactly one JOB"},
		{[]string{"schedules", "--config", cfg, "nojob"}, `unknown job "nojob"`},
	} {
		r := cli(t, tc.args...)
		assert.Equal(t, 2, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, tc.want)
	}
}

func TestConfigCheck(t *testing.T) {
	cfg := cliConfig(t, "")
	r := cli(t, "config", "check", "--config", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "valid: 2 job(s), 1 destination(s)")

	r = cli(t, "config", "check", "--config", cfg, "--connect", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	res := decodeJSON[configCheckJSON](t, r.stdout)
	assert.True(t, res.Valid)
	require.Len(t, res.Checks, 4)
	for _, c := range res.Checks {
		assert.Equal(t, "ok", c.Result, "%+v", c)
	}
	assert.Equal(t, connectionCheckJSON{Kind: "destination", Name: "local", Path: "destinations.local.url", Line: 5, Result: "ok"},
		withoutDuration(res.Checks[1]))
	assert.Equal(t, "jobs[1].source", res.Checks[3].Path)
	assert.Equal(t, 12, res.Checks[3].Line)

	// Connections that fail, with the line of their setting, secrets masked.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o644))
	broken := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte(`store: sqlite:b.db
destinations:
  disk:
    url: file:blocker/sub
  ram:
    url: mem://user:hunter2secret@ram
jobs:
  - name: gone
    source: dir:missing
    destinations: [disk, ram]
`), 0o644))
	r = cli(t, "config", "check", "--config", broken, "--connect")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Regexp(t, `(?m)^destination\s+disk\s+failed\s`, r.stdout)
	assert.Regexp(t, `(?m)^destination\s+ram\s+opened\s`, r.stdout)
	assert.Regexp(t, `(?m)^source\s+gone\s+failed\s`, r.stdout)
	assert.Contains(t, r.stderr, "broken.yaml:4: destinations.disk.url: ")
	assert.Contains(t, r.stderr, "broken.yaml:9: jobs[0].source: ")
	assert.NotContains(t, r.stdout+r.stderr, "hunter2secret")

	// An invalid file: every problem with file, line and key.
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("destinations:\n  local:\n    url: file:x\njobs:\n  - name: q\n    source: dir:data\n    destinatons: [local]\n    schedule: \"61 * * * *\"\n"), 0o644))
	r = cli(t, "config", "check", "--config", bad)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "bad.yaml:7: jobs[0].destinatons: unknown key")
	assert.Contains(t, r.stderr, "bad.yaml:8: jobs[0].schedule: invalid cron expression")
	r = cli(t, "config", "check", "--config", bad, "--json")
	assert.Equal(t, 2, r.code)
	res = decodeJSON[configCheckJSON](t, r.stdout)
	assert.False(t, res.Valid)
	assert.Contains(t, res.Errors, configErrorJSON{File: bad, Line: 8, Path: "jobs[0].schedule",
		Message: `invalid cron expression "61 * * * *": minute field "61": 61 is out of range 0-59`})

	r = cli(t, "config", "--config", cfg)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "the subcommand is check")
	r = cli(t, "config", "check", "--config", filepath.Join(dir, "none.yaml"), "--json")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, decodeJSON[configCheckJSON](t, r.stdout).Errors[0].Message, "no such file")
}

func withoutDuration(c connectionCheckJSON) connectionCheckJSON {
	c.DurationMS = 0
	return c
}

func TestVersion(t *testing.T) {
	r := cli(t, "version")
	assert.Equal(t, 0, r.code)
	assert.Regexp(t, `^backupd backupkit/\S+\n$`, r.stdout)
	r = cli(t, "version", "--json")
	require.Equal(t, 0, r.code)
	v := decodeJSON[map[string]any](t, r.stdout)
	for _, k := range []string{"version", "go", "os", "arch", "revision", "modified"} {
		assert.Contains(t, v, k)
	}
}

// TestCompletionKnowsEveryCommand: the commands completion offers are those
// of the usage text, and each one's flags come from its own flag set.
func TestCompletionKnowsEveryCommand(t *testing.T) {
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "backupd" {
			continue
		}
		assert.True(t, strings.Contains(cli(t, "__complete", "commands").stdout, "\n"+f[1]+"\n") ||
			strings.HasPrefix(cli(t, "__complete", "commands").stdout, f[1]+"\n"), "usage lists %q but completion does not", f[1])
	}
	flags := cli(t, "__complete", "flags", "logs").stdout
	assert.Equal(t, "--after\n--config\n-f\n--follow\n--interval\n--json\n", flags)
	assert.Contains(t, cli(t, "__complete", "flags", "config").stdout, "--connect\n")
	assert.Contains(t, cli(t, "__complete", "flags", "token").stdout, "--role\n")
	assert.Empty(t, cli(t, "__complete", "flags", "nonsense").stdout)

	cfg := cliConfig(t, "")
	assert.Equal(t, "app\nmanual\n", cli(t, "__complete", "args", "--config", cfg, "backup").stdout)
	assert.Equal(t, "app\nmanual\n", cli(t, "__complete", "args", "--config", cfg, "job").stdout)
	assert.Equal(t, "bash\nzsh\nfish\n", cli(t, "__complete", "args", "completion").stdout)
	require.Equal(t, 0, cli(t, "backup", "--config", cfg, "app").code)
	ids := strings.Fields(cli(t, "__complete", "args", "--config", cfg, "show").stdout)
	assert.Len(t, ids, 2, "a backup and a run")
	assert.Empty(t, cli(t, "__complete", "args", "--config", "/nonexistent.yaml", "show").stdout)

	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := cli(t, "completion", shell)
		assert.Equal(t, 0, r.code)
		assert.Contains(t, r.stdout, "backupd __complete")
	}
	assert.Equal(t, 2, cli(t, "completion", "tcsh").code)
}

// TestShowVerified: show reports a backup's latest verification and the run
// that made it; runs --kind selects verify runs.
func TestShowVerified(t *testing.T) {
	cfg := cliConfig(t, "")
	r := cli(t, "backup", "--config", cfg, "--json", "app")
	require.Equal(t, 0, r.code, r.stderr)
	id := decodeJSON[backupResultJSON](t, r.stdout).Backup.ID

	rt, err := open(t.Context(), cfg, os.Stderr, nil)
	require.NoError(t, err)
	j, err := rt.Job("app")
	require.NoError(t, err)
	res, err := rt.Engine.Verify(t.Context(), j.Job, id, backup.VerifyOptions{Level: backup.VerifyChecksum})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
	require.NoError(t, rt.Close())

	r = cli(t, "show", "--config", cfg, "--json", id)
	require.Equal(t, 0, r.code, r.stderr)
	shown := decodeJSON[showJSON](t, r.stdout)
	require.NotNil(t, shown.Backup.Verify)
	assert.True(t, shown.Backup.Verify.OK)
	assert.Equal(t, "checksum", shown.Backup.Verify.Level)
	require.NotNil(t, shown.VerifyRun)
	assert.Equal(t, res.RunID, shown.VerifyRun.ID)
	assert.Equal(t, "verify", shown.VerifyRun.Kind)
	r = cli(t, "show", "--config", cfg, id)
	assert.Regexp(t, `verified\s+passed, level checksum, at \S+ \(run `+res.RunID+`\)`, r.stdout)

	r = cli(t, "list", "--config", cfg)
	assert.Regexp(t, `(?m)^ID\s+JOB\s+CREATED\s+SIZE\s+STATUS\s+VERIFIED\s+COPIES$`, r.stdout)
	assert.Regexp(t, `(?m)^`+id+`\s.*\scomplete\s+ok \d{4}-\d\d-\d\d\s+local$`, r.stdout)

	r = cli(t, "runs", "--config", cfg, "--json", "--kind", "verify")
	runs := decodeJSON[[]runJSON](t, r.stdout)
	require.Len(t, runs, 1)
	assert.Equal(t, id, runs[0].BackupID)
	assert.Equal(t, 2, cli(t, "runs", "--config", cfg, "--kind", "nap").code)
}

// TestConfigCheckConnectServers: config check --connect against MariaDB and
// MinIO: reachable connections pass; a missing bucket, a wrong S3 secret and
// a wrong database password fail, each with the line of its setting and
// without the secret.
func TestConfigCheckConnectServers(t *testing.T) {
	srcURL := testenv.FreshMySQLURL(t)
	minio := s3test.MinIO(t)
	bucket := s3test.NewBucket(t, minio)
	const wrongSecret, wrongPassword = "wrong-Secret9911", "bad-Pass8822"
	s3URL := func(bucket, secret string) string {
		return fmt.Sprintf("s3://%s/check?endpoint=%s&path_style=true&region=%s&access_key_id=%s&secret_access_key=%s&max_attempts=1",
			bucket, url.QueryEscape(minio.Endpoint), minio.Region, url.QueryEscape(minio.AccessKey), url.QueryEscape(secret))
	}
	u, err := url.Parse(srcURL)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), wrongPassword)
	badSrc := u.String()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`store: sqlite:backupd.db
destinations:
  minio:
    url: `+s3URL(bucket, minio.SecretKey)+`
  nobucket:
    url: `+s3URL(bucket+"-missing", minio.SecretKey)+`
  wrongkey:
    url: `+s3URL(bucket, wrongSecret)+`
jobs:
  - name: db
    source: `+srcURL+`
    destinations: [minio]
  - name: baddb
    source: `+badSrc+`
    destinations: [minio]
`), 0o600))
	r := cli(t, "config", "check", "--config", cfg, "--connect", "--json", "--timeout", "20s")
	assert.Equal(t, 1, r.code, r.stderr)
	res := decodeJSON[configCheckJSON](t, r.stdout)
	got := map[string]connectionCheckJSON{}
	for _, c := range res.Checks {
		got[c.Kind+" "+c.Name] = c
	}
	assert.Equal(t, "ok", got["store store"].Result)
	assert.Equal(t, "ok", got["destination minio"].Result, got["destination minio"].Error)
	assert.Equal(t, "ok", got["source db"].Result, got["source db"].Error)
	for key, line := range map[string]int{"destination nobucket": 6, "destination wrongkey": 8, "source baddb": 14} {
		assert.Equal(t, "failed", got[key].Result, key)
		assert.NotEmpty(t, got[key].Error, key)
		assert.Equal(t, line, got[key].Line, key)
		assert.Contains(t, r.stderr, fmt.Sprintf("backupd.yaml:%d: %s: ", line, got[key].Path))
	}
	for _, secret := range []string{wrongSecret, wrongPassword, minio.SecretKey} {
		assert.NotContains(t, r.stdout+r.stderr, secret)
	}
	t.Logf("errors: nobucket: %s; wrongkey: %s; baddb: %s", got["destination nobucket"].Error,
		got["destination wrongkey"].Error, got["source baddb"].Error)
}
