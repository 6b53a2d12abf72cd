package config

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// killedStore is a store as a process killed after writing a backup's
// manifests, before cataloging it, leaves it: the backup is not cataloged
// and the run stays running (its end and lease renewals are lost).
type killedStore struct{ store.Store }

func (killedStore) AddBackup(context.Context, *store.Backup) error { return errors.New("killed") }
func (killedStore) UpdateRun(context.Context, *store.Run) error    { return nil }
func (killedStore) RenewLease(context.Context, string, string, time.Duration) error {
	return nil
}

// deadOwner is an owner ("host:pid") of this host whose process is gone.
func deadOwner(t *testing.T) string {
	cmd := exec.Command("sh", "-c", "exit 0")
	require.NoError(t, cmd.Run())
	host, err := os.Hostname()
	require.NoError(t, err)
	return host + ":" + strconv.Itoa(cmd.Process.Pid)
}

// A backup whose process died between its last manifest and its catalog
// entry is cataloged by Recover, from the manifests of the interrupted run.
func TestRecoverCatalogsTheBackupOfAnInterruptedRun(t *testing.T) {
	for i, tc := range []struct {
		name    string
		claimed func(t *testing.T) *store.Run // nil: the engine records the run
		owner   func(t *testing.T) string
	}{
		{name: "dead local process", owner: deadOwner},
		{name: "expired lease", owner: func(*testing.T) string { return "elsewhere:1" }, claimed: func(*testing.T) *store.Run {
			return &store.Run{Job: "app", Status: store.RunRunning, Owner: "elsewhere:1", Attempt: 1,
				StartedAt: time.Now().Add(-time.Hour).UTC(), LeaseUntil: time.Now().Add(-time.Minute).UTC()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			require.NoError(t, os.MkdirAll(data, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644))
			src := `store: sqlite:` + filepath.Join(dir, "b.db") + `
destinations:
  one:
    url: mem://recover-` + strconv.Itoa(i) + `-one
  two:
    url: mem://recover-` + strconv.Itoa(i) + `-two
jobs:
  - name: app
    source: dir:` + data + `
    destinations: [one, two]
  - name: other
    source: dir:` + data + `
    destinations: [one]
`
			cfg, err := Parse([]byte(src), dir, "backupd.yaml")
			require.NoError(t, err)
			rt, err := Open(ctx, cfg, nil)
			require.NoError(t, err)
			t.Cleanup(func() { rt.Close() })
			j, err := rt.Job("app")
			require.NoError(t, err)

			// The killed process: its backup is written, then nothing.
			owner := tc.owner(t)
			opts := backup.RunOptions{}
			if tc.claimed != nil {
				opts.Claimed = tc.claimed(t)
				require.NoError(t, rt.Store.CreateRun(ctx, opts.Claimed))
			}
			killed := backup.New(killedStore{rt.Store}, &backup.Options{Owner: owner})
			res, err := killed.Run(ctx, j.Job, opts)
			require.Error(t, err)
			require.NotEmpty(t, res.Run.ID)
			bs, err := rt.Store.ListBackups(ctx, store.BackupFilter{})
			require.NoError(t, err)
			require.Empty(t, bs, "the killed run cataloged nothing")
			run, err := rt.Store.GetRun(ctx, res.Run.ID)
			require.NoError(t, err)
			require.Equal(t, store.RunRunning, run.Status)

			require.NoError(t, rt.Recover(ctx))

			bs, err = rt.Store.ListBackups(ctx, store.BackupFilter{})
			require.NoError(t, err)
			require.Len(t, bs, 1, "the backup is listed")
			b := bs[0]
			assert.Equal(t, run.ID, b.RunID)
			assert.Equal(t, "app", b.Job)
			assert.Equal(t, store.BackupComplete, b.Status, "both destinations hold it")
			require.Len(t, b.Copies, 2)
			for _, c := range b.Copies {
				_, err := rt.Destinations[c.Destination].Stat(ctx, c.Key)
				require.NoError(t, err, "nothing deleted: %s", c.Destination)
			}
			run, err = rt.Store.GetRun(ctx, run.ID)
			require.NoError(t, err)
			assert.Equal(t, store.RunInterrupted, run.Status)
			assert.Equal(t, b.ID, run.BackupID)
			assert.Contains(t, run.Reason, "its backup "+b.ID+" was found on the destinations and is cataloged")
			if tc.claimed == nil {
				assert.Contains(t, run.Reason, "its process ("+owner+") is gone")
			} else {
				assert.Contains(t, run.Reason, "stopped renewing its lease")
			}

			// A restore can use it, and a second Recover changes nothing.
			target := filepath.Join(t.TempDir(), "restored")
			require.NoError(t, rt.Engine.Restore(ctx, j.Job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: target}}))
			require.NoError(t, rt.Recover(ctx))
			again, err := rt.Store.ListBackups(ctx, store.BackupFilter{})
			require.NoError(t, err)
			assert.Len(t, again, 1)
		})
	}
}

// A backup process killed after a destination completed the artifact, before
// the manifest beside it was written, leaves an artifact no catalog lists:
// Recover removes it for a run of a dead local process, and leaves alone
// complete backups, other seconds' artifacts, and the artifacts of a run
// that may still be live.
func TestRecoverRemovesArtifactsLeftWithoutAManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := `store: sqlite:` + filepath.Join(dir, "b.db") + `
destinations:
  one:
    url: mem://unfinished-one
  two:
    url: mem://unfinished-two
jobs:
  - name: app
    source: dir:` + dir + `
    destinations: [one, two]
    prefix: p
`
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(ctx, cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close() })

	put := func(dest, key string) {
		_, err := rt.Destinations[dest].Put(ctx, key, strings.NewReader("bytes"), nil)
		require.NoError(t, err)
	}
	exists := func(dest, key string) bool {
		_, err := rt.Destinations[dest].Stat(ctx, key)
		return err == nil
	}
	started := time.Date(2026, 11, 29, 17, 53, 34, 900_000_000, time.UTC)
	killed := &store.Run{Job: "app", Status: store.RunRunning, Owner: deadOwner(t), Attempt: 1, StartedAt: started}
	require.NoError(t, rt.Store.CreateRun(ctx, killed))

	unfinished := backup.ArtifactKey("p", "app", started, "01JAAAAAAAAAAAAAAAAAAAAAAA", "tar.zst")
	complete := backup.ArtifactKey("p", "app", started, "01JBBBBBBBBBBBBBBBBBBBBBBB", "tar.zst")
	otherSecond := backup.ArtifactKey("p", "app", started.Add(5*time.Second), "01JCCCCCCCCCCCCCCCCCCCCCCC", "tar.zst")
	put("one", unfinished)
	put("two", unfinished)
	put("one", complete)
	put("one", complete+backup.ManifestSuffix) // not a valid manifest: left alone all the same
	put("one", otherSecond)

	require.NoError(t, rt.Recover(ctx))
	assert.False(t, exists("one", unfinished), "the killed run's artifact without a manifest is removed")
	assert.False(t, exists("two", unfinished), "on every destination of the job")
	assert.True(t, exists("one", complete), "an artifact with a manifest is never removed")
	assert.True(t, exists("one", complete+backup.ManifestSuffix))
	assert.True(t, exists("one", otherSecond), "an artifact of another second is not the run's")
	run, err := rt.Store.GetRun(ctx, killed.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunInterrupted, run.Status)

	// Another run of the job started in the same second and is still
	// running (in this process): its artifact may be one step from its
	// manifest, so nothing is removed.
	second := &store.Run{Job: "app", Status: store.RunRunning, Owner: deadOwner(t), Attempt: 1, StartedAt: started.Add(time.Minute)}
	require.NoError(t, rt.Store.CreateRun(ctx, second))
	host, _ := os.Hostname()
	live := &store.Run{Job: "app", Status: store.RunRunning, Owner: host + ":" + strconv.Itoa(os.Getpid()), Attempt: 1,
		StartedAt: started.Add(time.Minute + time.Second), LeaseUntil: time.Now().Add(time.Hour).UTC()}
	require.NoError(t, rt.Store.CreateRun(ctx, live))
	shared := backup.ArtifactKey("p", "app", started.Add(time.Minute), "01JDDDDDDDDDDDDDDDDDDDDDDD", "tar.zst")
	put("one", shared)
	require.NoError(t, rt.Recover(ctx))
	assert.True(t, exists("one", shared), "left alone while a run that started at the same time is live")
	run, err = rt.Store.GetRun(ctx, second.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunInterrupted, run.Status, "the dead run is still marked interrupted")
}

// A job's stall_timeout reaches its backup.Job; left out, the engine's
// default applies.
func TestStallTimeoutIsWired(t *testing.T) {
	dir := t.TempDir()
	src := `store: sqlite:` + filepath.Join(dir, "b.db") + `
destinations:
  one:
    url: mem://stall-wired
jobs:
  - name: set
    source: dir:` + dir + `
    destinations: [one]
    stall_timeout: 90s
  - name: unset
    source: dir:` + dir + `
    destinations: [one]
`
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close() })
	j, err := rt.Job("set")
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, j.Job.StallTimeout)
	j, err = rt.Job("unset")
	require.NoError(t, err)
	assert.Zero(t, j.Job.StallTimeout)
}
