package backup_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/store"
)

// flakyDelete wraps a destination and makes Delete fail while fail is set.
type flakyDelete struct {
	destination.Destination
	fail atomic.Bool
}

var errDeleteBroke = errors.New("delete broke")

func (f *flakyDelete) Delete(ctx context.Context, key string) error {
	if f.fail.Load() {
		return errDeleteBroke
	}
	return f.Destination.Delete(ctx, key)
}

// clock is a settable clock for the engine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type pruneFixture struct {
	eng   *backup.Engine
	st    store.Store
	clk   *clock
	a, b  *memory.Bucket
	flaky *flakyDelete
	job   *backup.Job
}

func newPruneFixture(t *testing.T) *pruneFixture {
	st := newStore(t)
	clk := &clock{now: time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)}
	f := &pruneFixture{st: st, clk: clk, a: memory.New(), b: memory.New()}
	f.flaky = &flakyDelete{Destination: f.b}
	f.eng = backup.New(st, &backup.Options{Owner: "test", Now: clk.Now})
	f.job = &backup.Job{Name: "app", Prefix: "nightly", Source: newBytesSource([]byte("hello, retention")),
		Destinations: []backup.Target{{Name: "a", Destination: f.a}, {Name: "b", Destination: f.flaky}}}
	return f
}

// backupDaily runs n successful backups, one a day.
func (f *pruneFixture) backupDaily(t *testing.T, n int) []string {
	var ids []string
	for range n {
		res, err := f.eng.Run(context.Background(), f.job, backup.RunOptions{})
		require.NoError(t, err)
		ids = append(ids, res.Backup.ID)
		f.clk.advance(24 * time.Hour)
	}
	return ids
}

func (f *pruneFixture) catalog(t *testing.T) map[string][]string {
	bs, err := f.st.ListBackups(context.Background(), store.BackupFilter{Job: "app"})
	require.NoError(t, err)
	out := map[string][]string{}
	for _, b := range bs {
		var dests []string
		for _, c := range b.Copies {
			dests = append(dests, c.Destination)
		}
		slices.Sort(dests)
		out[b.ID] = dests
	}
	return out
}

func TestPruneWithOneDestinationFailingToDelete(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	ids := f.backupDaily(t, 3)
	f.job.Retention = &retention.Policy{KeepLast: 1}

	// A dry run plans and deletes nothing.
	res, err := f.eng.Prune(ctx, f.job, backup.PruneOptions{DryRun: true})
	require.NoError(t, err)
	assert.True(t, res.DryRun)
	require.Len(t, res.Plan.Delete(), 2)
	assert.Len(t, f.catalog(t), 3)
	assert.Len(t, keys(t, f.a), 6)

	// b cannot delete: a's copies go, b's stay cataloged.
	f.flaky.fail.Store(true)
	res, err = f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, errDeleteBroke)
	assert.Empty(t, res.Deleted)
	require.Len(t, res.Failures, 2)
	for _, fl := range res.Failures {
		assert.Equal(t, "b", fl.Destination)
		assert.ErrorIs(t, fl, errDeleteBroke)
		assert.Contains(t, fl.Error(), "delete artifact")
	}
	assert.Equal(t, map[string][]string{ids[0]: {"b"}, ids[1]: {"b"}, ids[2]: {"a", "b"}}, f.catalog(t))
	assert.Len(t, keys(t, f.a), 2, "a keeps only the newest artifact and manifest")
	assert.Len(t, keys(t, f.b), 6)

	// The next prune finishes the job.
	f.flaky.fail.Store(false)
	res, err = f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0], ids[1]}, res.Deleted, "oldest first")
	assert.Empty(t, res.Failures)
	assert.Equal(t, map[string][]string{ids[2]: {"a", "b"}}, f.catalog(t))
	assert.Equal(t, keys(t, f.a), keys(t, f.b))
	require.Len(t, keys(t, f.b), 2)
	assert.Contains(t, keys(t, f.b)[0], strings.ToLower(ids[2][len(ids[2])-8:]))

	// And a third deletes nothing more.
	res, err = f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.Empty(t, res.Deleted)
	assert.Empty(t, res.Plan.Delete())
}

func TestRunPrunesAfterSuccessWithoutChangingTheRun(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	f.job.Retention = &retention.Policy{KeepLast: 2}
	ids := f.backupDaily(t, 4)
	assert.Equal(t, map[string][]string{ids[2]: {"a", "b"}, ids[3]: {"a", "b"}}, f.catalog(t))
	assert.Len(t, keys(t, f.a), 4)

	// A prune that fails leaves the run succeeded and says so in its log.
	f.flaky.fail.Store(true)
	res, err := f.eng.Run(ctx, f.job, backup.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, store.RunSucceeded, res.Run.Status)
	run, err := f.st.GetRun(ctx, res.Run.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunSucceeded, run.Status)
	logs, err := f.st.RunLogs(ctx, res.Run.ID)
	require.NoError(t, err)
	var lines []string
	for _, l := range logs {
		lines = append(lines, l.Message)
	}
	text := strings.Join(lines, "\n")
	assert.Contains(t, text, "prune finished kept=2 deleted=0 copies_failed=1")
	assert.Contains(t, text, "prune: copy not deleted, retried next time backup="+ids[2]+" destination=b")
	assert.Equal(t, map[string][]string{ids[2]: {"b"}, ids[3]: {"a", "b"}, res.Backup.ID: {"a", "b"}}, f.catalog(t))
}

func TestPruneHoldsAfterAFailedRun(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	ids := f.backupDaily(t, 3)
	f.job.Retention = &retention.Policy{KeepLast: 1}

	good := f.job.Source
	broken := newBytesSource([]byte("will break"))
	broken.failAfter = 3
	f.job.Source = broken
	_, err := f.eng.Run(ctx, f.job, backup.RunOptions{})
	require.Error(t, err)

	res, err := f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.True(t, res.Plan.Held)
	assert.Empty(t, res.Deleted)
	assert.Len(t, f.catalog(t), 3)

	// prune_on_failure lets it prune.
	f.job.Retention.PruneOnFailure = true
	res, err = f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0], ids[1]}, res.Deleted)

	// A successful run ends the hold (and prunes by itself).
	f.job.Retention.PruneOnFailure = false
	f.job.Source = good
	res2 := f.backupDaily(t, 1)
	assert.Equal(t, map[string][]string{res2[0]: {"a", "b"}}, f.catalog(t))
}

func TestPruneRefusesKeysOutsideTheJob(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	f.backupDaily(t, 1)
	// A catalog entry of this job pointing outside its keys (a corrupted or
	// hand-edited catalog), and an object there that must survive.
	for _, key := range []string{"other/app/2020/01/x.bin", "nightly/application/x.bin"} {
		_, err := f.a.Put(ctx, key, strings.NewReader("precious"), nil)
		require.NoError(t, err)
		require.NoError(t, f.st.AddBackup(ctx, &store.Backup{Job: "app", Status: store.BackupComplete,
			CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Size: 8, SHA256: strings.Repeat("0", 64),
			Format: "bin", Compression: "none", Copies: []store.Copy{{Destination: "a", Key: key, Size: 8}}}))
	}
	f.job.Retention = &retention.Policy{KeepLast: 1}
	res, err := f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, backup.ErrOutsideJob)
	require.Len(t, res.Failures, 2)
	assert.Empty(t, res.Deleted)
	assert.Len(t, f.catalog(t), 3)
	for _, key := range []string{"other/app/2020/01/x.bin", "nightly/application/x.bin"} {
		_, err := f.a.Stat(ctx, key)
		assert.NoError(t, err, key)
	}
}

func TestPruneWithoutPolicyKeepsEverything(t *testing.T) {
	f := newPruneFixture(t)
	f.backupDaily(t, 3)
	res, err := f.eng.Prune(context.Background(), f.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.Len(t, res.Plan.Keep(), 3)
	assert.Len(t, f.catalog(t), 3)
}

func TestJobValidateChecksRetention(t *testing.T) {
	job := &backup.Job{Name: "app", Source: newBytesSource(nil),
		Destinations: []backup.Target{{Name: "a", Destination: memory.New()}},
		Retention:    &retention.Policy{KeepDaily: -1}}
	assert.ErrorContains(t, job.Validate(), `job "app": retention.keep_daily: must not be negative`)
}

func TestPruneTreatsPartialBackupsAsPolicySays(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	ids := f.backupDaily(t, 2)

	// b fails: a partial backup, only on a.
	f.job.Destinations[1].Destination = failingDest{f.b, 0}
	res, err := f.eng.Run(ctx, f.job, backup.RunOptions{})
	require.Error(t, err)
	require.Equal(t, store.BackupPartial, res.Backup.Status)
	partial := res.Backup.ID
	f.clk.advance(24 * time.Hour)

	f.job.Retention = &retention.Policy{KeepLast: 1}
	pr, err := f.eng.Prune(ctx, f.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0]}, pr.Deleted)
	d := pr.Plan.Decisions[0]
	assert.Equal(t, partial, d.Backup.ID)
	assert.True(t, d.Backup.Partial)
	assert.True(t, d.Has(retention.RulePartialNewer), d.Reasons)

	// A successful run supersedes the partial backup; its prune deletes it
	// (and ids[1], beyond keep_last 1).
	f.job.Destinations[1].Destination = f.flaky
	now := f.backupDaily(t, 1)
	assert.Equal(t, map[string][]string{now[0]: {"a", "b"}}, f.catalog(t))
	for _, k := range keys(t, f.a) {
		assert.NotContains(t, k, strings.ToLower(partial[len(partial)-8:]))
	}
}
