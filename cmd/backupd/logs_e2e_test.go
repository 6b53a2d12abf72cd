package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
)

// TestLogsFollowRunningBackup follows, with the binary, the log of a backup
// another backupd process is running, from while it runs to its end.
func TestLogsFollowRunningBackup(t *testing.T) {
	dir := quickstart(t, "")
	// A large incompressible file, stored without compression: the backup
	// runs long enough to be followed.
	testenv.WriteNoise(t, filepath.Join(dir, "data", "big.bin"), 96<<20)
	cfg := filepath.Join(dir, "backupd.yaml")
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, bytes.Replace(data, []byte("compression: zstd"), []byte("compression: none"), 1), 0o644))

	bk := exec.Command(backupdBin, "backup", "--config", "backupd.yaml", "quickstart")
	bk.Dir = dir
	bk.Env = append(os.Environ(), "BACKUPD_CONFIG=")
	require.NoError(t, bk.Start())
	t.Cleanup(func() { _ = bk.Process.Kill() })

	// The run, as soon as it is stored. It is usually still running when
	// `logs -f` starts (96 MiB to copy); on a fast machine it may already
	// have ended, which -f must handle too, so the test does not depend on
	// winning that race.
	var runID string
	deadline := time.Now().Add(60 * time.Second)
	for runID == "" {
		r := backupd(t, dir, "runs", "--config", "backupd.yaml", "--json")
		var runs []struct{ ID string }
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &runs) == nil && len(runs) > 0 {
			runID = runs[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup's run never showed in the history")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := backupd(t, dir, "logs", "--config", "backupd.yaml", "-f", "--interval", "20ms", runID)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.NoError(t, bk.Wait())
	assert.Contains(t, r.stdout, "run started")
	assert.Contains(t, r.stdout, "run succeeded")
	assert.Equal(t, 1, strings.Count(r.stdout, "run succeeded"))

	// The whole log again, without -f: the same lines.
	again := backupd(t, dir, "logs", "--config", "backupd.yaml", runID)
	assert.Equal(t, again.stdout, r.stdout)
}
