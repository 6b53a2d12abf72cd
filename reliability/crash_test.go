package reliability_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	_ "github.com/backupkit/backupkit/destination/local"
	_ "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/faults"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// crashKills is the number of SIGKILLs per destination: 3 by default, 20
// with BACKUPKIT_LONG=1.
func crashKills() int {
	if long() {
		return 20
	}
	return 3
}

// crashSetup is one folder with a backupd config: a data folder of about
// 24 MiB of incompressible bytes, backed up uncompressed (so the backup
// lasts long enough to be killed in the middle) to destURL, every second
// once served.
type crashSetup struct {
	dir  string
	dest destination.Destination
	bin  string
	// leftovers reports what a killed write left that a restart must clean
	// up (temp files, multipart uploads).
	leftovers func() []string
}

// newCrashSetup writes the config with destURL; the test checks what the
// destination holds through checkURL (the same destination, reached
// directly).
func newCrashSetup(t *testing.T, destURL, checkURL string) *crashSetup {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 6 {
		buf := make([]byte, 4<<20)
		for j := 0; j+8 <= len(buf); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(data, fmt.Sprintf("f%d.bin", i)), buf, 0o644))
	}
	cfg := fmt.Sprintf(`store: sqlite:backupd.db
destinations:
  target:
    url: %q
jobs:
  - name: crash
    source: dir:data
    destinations: [target]
    schedule: "* * * * * *"
    timezone: UTC
    compression: none
`, destURL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "backupd.yaml"), []byte(cfg), 0o644))
	d, err := destination.Open(context.Background(), strings.Replace(checkURL, "file:", "file:"+dir+"/", 1))
	require.NoError(t, err)
	return &crashSetup{dir: dir, dest: d, bin: backupd(t)}
}

func (s *crashSetup) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, append(args[:1:1], append([]string{"--config", "backupd.yaml"}, args[1:]...)...)...)
	cmd.Dir = s.dir
	// BACKUPD_LISTEN: serve's HTTP API on a free port, never a fixed one
	// that another test or a developer's backupd may hold.
	cmd.Env = append(os.Environ(), "BACKUPD_CONFIG=", "BACKUPD_LISTEN=127.0.0.1:0")
	return cmd
}

func (s *crashSetup) openStore(t *testing.T) store.Store {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(s.dir, "backupd.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// TestCrashLocal kills backupd at random points of a backup to local disk.
func TestCrashLocal(t *testing.T) {
	s := newCrashSetup(t, "file:backups", "file:backups")
	s.leftovers = func() []string {
		var out []string
		_ = filepath.WalkDir(filepath.Join(s.dir, "backups"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".backupkit-") {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	crashLoop(t, s)
}

// TestCrashMinIO kills backupd at random points of a backup to MinIO
// (multipart uploads of 5 MiB parts, through an 8 MiB/s proxy).
func TestCrashMinIO(t *testing.T) {
	srv := s3test.MinIO(t)
	bucket := s3test.NewBucket(t, srv)
	client := srv.Client(t)
	// backupd reaches MinIO through a proxy that forwards 8 MiB/s, so that
	// the upload lasts long enough for kills to land in its middle.
	proxy, err := faults.NewProxy(strings.TrimPrefix(srv.Endpoint, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	proxy.SetRate(8 << 20)
	url := func(endpoint string) string {
		return fmt.Sprintf("s3://%s/bk?endpoint=%s&path_style=true&access_key_id=%s&secret_access_key=%s&region=%s&part_size=5MiB&cleanup_age=1ms",
			bucket, endpoint, srv.AccessKey, srv.SecretKey, srv.Region)
	}
	s := newCrashSetup(t, url("http://"+proxy.Addr()), url(srv.Endpoint))
	s.leftovers = func() []string { return s3test.Uploads(t, client, bucket) }
	crashLoop(t, s)
}

// crashLoop runs one complete backup to learn how long one lasts, then
// crashKills() times: starts `backupd backup`, SIGKILLs it after 5-95% of
// that duration (every other time: after 0-10% of it once the artifact's
// temp file or multipart upload exists), checks that nothing half-written
// is listed, runs `backupd serve` (its Recover path) until the next
// scheduled slot has succeeded, stops it, and checks the catalog and the
// run history.
func crashLoop(t *testing.T, s *crashSetup) {
	start := time.Now()
	out, err := s.command("backup", "crash").CombinedOutput()
	require.NoError(t, err, "%s", out)
	full := time.Since(start)
	t.Logf("one full backup takes %s", full.Round(time.Millisecond))
	st := s.openStore(t)
	dests := map[string]destination.Destination{"target": s.dest}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))

	var midRun, early, late int
	for i := range crashKills() {
		frac := 0.05 + 0.9*rng.Float64()
		delay := time.Duration(frac * float64(full))
		before, err := st.ListRuns(context.Background(), store.RunFilter{Limit: 1000})
		require.NoError(t, err)

		cmd := s.command("backup", "crash")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		when := "after the start"
		if i%2 == 1 {
			// Every other kill lands once the artifact is being written
			// (a temp file or a multipart upload exists), at a random
			// point of the write.
			when = "after the write began"
			delay = time.Duration(0.1 * rng.Float64() * float64(full))
			for deadline := time.Now().Add(full + 30*time.Second); len(s.leftovers()) == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(delay)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		left := s.leftovers()

		// Before any restart: nothing half-written is listed.
		checkCatalogOrphans(t, st, dests, true)

		after, err := st.ListRuns(context.Background(), store.RunFilter{Limit: 1000})
		require.NoError(t, err)
		var killed *store.Run
		if len(after) > len(before) {
			killed = &after[0] // newest first
		}
		outcome := "killed before the run was recorded"
		switch {
		case killed == nil:
			early++
		case killed.Status == store.RunRunning:
			midRun++
			outcome = fmt.Sprintf("killed mid-run (%d leftovers)", len(left))
		default:
			late++
			outcome = "the run had already ended: " + string(killed.Status)
		}
		t.Logf("kill %d %s %s: %s", i+1, delay.Round(time.Millisecond), when, outcome)

		// Restart: serve recovers, then the next slot must run.
		serveUntilScheduledSuccess(t, s, st)

		assert.Empty(t, s.leftovers(), "kill %d: leftovers after the restart", i+1)
		// After the restart every artifact is cataloged: a kill between the
		// last manifest and the catalog entry leaves a complete backup that
		// Recover catalogs from the interrupted run's manifests.
		checkCatalog(t, st, dests)
		if killed != nil {
			r, err := st.GetRun(context.Background(), killed.ID)
			require.NoError(t, err)
			if killed.Status == store.RunRunning {
				assert.Equal(t, store.RunInterrupted, r.Status, "kill %d: the killed run", i+1)
				if r.BackupID != "" {
					t.Logf("kill %d: the killed run's backup %s was recovered: %s", i+1, r.BackupID, r.Reason)
				}
			}
		}
		running, err := st.ListRuns(context.Background(), store.RunFilter{Status: store.RunRunning})
		require.NoError(t, err)
		assert.Empty(t, running, "kill %d: runs still marked running after the restart", i+1)
	}
	t.Logf("%d kills: %d mid-run, %d before the run was recorded, %d after it ended", crashKills(), midRun, early, late)
}

// serveUntilScheduledSuccess runs `backupd serve` until a scheduled run
// that was not in the history before it started has succeeded, then stops
// it with SIGTERM.
func serveUntilScheduledSuccess(t *testing.T, s *crashSetup, st store.Store) {
	t.Helper()
	succeeded := func() []store.Run {
		runs, err := st.ListRuns(context.Background(), store.RunFilter{Status: store.RunSucceeded, Limit: 10000})
		require.NoError(t, err)
		return runs
	}
	before := map[string]bool{}
	for _, r := range succeeded() {
		before[r.ID] = true
	}
	cmd := s.command("serve")
	var logs testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(120 * time.Second)
	for {
		ok := false
		for _, r := range succeeded() {
			ok = ok || (r.Trigger == store.TriggerSchedule && !before[r.ID])
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("no scheduled run succeeded within 120 s of the restart; serve said:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, logs.String())
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not stop within 90 s of SIGTERM:\n%s", logs.String())
	}
}
