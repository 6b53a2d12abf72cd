package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// TestPauseResumeReachesServe: `backupd pause JOB` run beside a serve that
// shares the store stops the job's slots there, and `resume` starts them
// again; no slot between the pause taking effect and the resume is run.
func TestPauseResumeReachesServe(t *testing.T) {
	dir := quickstart(t, "* * * * * *") // every second
	serve := exec.Command(backupdBin, "serve", "--config", "backupd.yaml")
	serve.Dir = dir
	serve.Env = append(os.Environ(), "BACKUPD_CONFIG=") // TestMain sets BACKUPD_LISTEN to a free port
	var logs syncBuffer
	serve.Stdout, serve.Stderr = &logs, &logs
	require.NoError(t, serve.Start())
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	t.Cleanup(func() { _ = serve.Process.Kill() })

	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "backupd.db"))
	require.NoError(t, err)
	defer st.Close()
	scheduled := func() []store.Run {
		runs, err := st.ListRuns(context.Background(), store.RunFilter{Job: "quickstart", Limit: 1000})
		require.NoError(t, err)
		var out []store.Run
		for _, r := range runs {
			if !r.Slot.IsZero() {
				out = append(out, r)
			}
		}
		return out
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 90 s for %s; serve said:\n%s", what, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("a scheduled backup", func() bool { return len(scheduled()) > 0 })

	r := backupd(t, dir, "pause", "--config", "backupd.yaml", "--reason", "e2e", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	waitFor("serve to apply the pause", func() bool { return strings.Contains(logs.String(), "paused=true") })
	pausedSeen := time.Now()
	r = backupd(t, dir, "schedules", "--config", "backupd.yaml")
	assert.Regexp(t, `(?m)^quickstart\s+quickstart\s+\* \* \* \* \* \*\s+UTC\s+paused\s`, r.stdout)
	// Let several slots pass while paused.
	time.Sleep(3 * time.Second)

	resumeSent := time.Now()
	r = backupd(t, dir, "resume", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	waitFor("a scheduled backup after the resume", func() bool {
		for _, run := range scheduled() {
			if run.Slot.After(resumeSent) {
				return true
			}
		}
		return false
	})
	for _, run := range scheduled() {
		in := run.Slot.After(pausedSeen) && run.Slot.Before(resumeSent)
		assert.False(t, in, "slot %s ran while the job was paused (paused seen %s, resumed %s)",
			run.Slot.Format(time.RFC3339Nano), pausedSeen.Format(time.RFC3339Nano), resumeSent.Format(time.RFC3339Nano))
	}
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-done, logs.String())

	audit, err := st.ListAudit(context.Background(), store.AuditFilter{Target: "quickstart"})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		if strings.HasPrefix(a.Actor, "cli:") {
			actions = append(actions, a.Action)
		}
	}
	assert.Equal(t, []string{"schedule.resume", "schedule.pause"}, actions)
}
