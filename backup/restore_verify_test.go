package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/local"
	s3dest "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// The tests in this file run the engine with source/dir, a real local
// destination and, where named, MinIO (skipped without it, failing under
// scripts/test-all).

// writeTree fills root with a few files whose content depends on seed.
func writeTree(t *testing.T, root string, seed int) {
	t.Helper()
	for i := range 5 {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%2), fmt.Sprintf("f%d.txt", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		data := bytes.Repeat([]byte(fmt.Sprintf("seed %d file %d\n", seed, i)), 2000+i*100)
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
}

// treeSum maps every regular file under root (relative path) to the
// SHA-256 of its content; nil when root does not exist.
func treeSum(t *testing.T, root string) map[string]string {
	t.Helper()
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	}))
	return out
}

type rig struct {
	eng    *backup.Engine
	st     store.Store
	job    *backup.Job
	folder *dir.Folder
	src    string // the source folder
	events *eventLog
}

type eventLog struct {
	mu  sync.Mutex
	evs []notify.Event
}

func (l *eventLog) add(e notify.Event) {
	if e.Type == notify.RunProgress {
		return
	}
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) types() []notify.EventType {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []notify.EventType
	for _, e := range l.evs {
		out = append(out, e.Type)
	}
	return out
}

// newRig makes a dir job over the given targets with a tree in its source.
func newRig(t *testing.T, st store.Store, targets ...backup.Target) *rig {
	src := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(src, 0o755))
	writeTree(t, src, 1)
	folder, err := dir.New(src)
	require.NoError(t, err)
	if st == nil {
		st = newStore(t)
	}
	r := &rig{eng: backup.New(st, &backup.Options{Owner: "test"}), st: st, folder: folder, src: src, events: &eventLog{}}
	cancel := r.eng.Subscribe(r.events.add)
	t.Cleanup(cancel)
	r.job = &backup.Job{Name: "files", Source: folder, Destinations: targets}
	return r
}

func (r *rig) backup(t *testing.T) *store.Backup {
	t.Helper()
	res, err := r.eng.Run(t.Context(), r.job, backup.RunOptions{})
	require.NoError(t, err)
	return res.Backup
}

func localTarget(t *testing.T, name string) backup.Target {
	d, err := local.New(t.TempDir(), nil)
	require.NoError(t, err)
	return backup.Target{Name: name, Destination: d}
}

func minioTarget(t *testing.T, name string) backup.Target {
	srv := s3test.MinIO(t)
	bucket := s3test.NewBucket(t, srv)
	b, err := s3dest.New(context.Background(), s3dest.Options{
		Bucket: bucket, Prefix: "bk", Endpoint: srv.Endpoint, PathStyle: true, Region: srv.Region,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, SkipBucketCheck: true,
	})
	require.NoError(t, err)
	return backup.Target{Name: name, Destination: b}
}

// flipByte flips one byte in the middle of a stored object (through the
// destination, so it works for any adapter).
func flipByte(t *testing.T, d destination.Destination, key string) {
	t.Helper()
	rc, err := d.Open(t.Context(), key)
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	data[len(data)/2] ^= 0x40
	_, err = d.Put(t.Context(), key, bytes.NewReader(data), nil)
	require.NoError(t, err)
}

func copyOn(t *testing.T, b *store.Backup, dest string) store.Copy {
	for _, c := range b.Copies {
		if c.Destination == dest {
			return c
		}
	}
	t.Fatalf("backup %s has no copy on %s", b.ID, dest)
	return store.Copy{}
}

func lastRun(t *testing.T, st store.Store, kind store.RunKind) store.Run {
	runs, err := st.ListRuns(t.Context(), store.RunFilter{Kind: kind, Limit: 1})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	return runs[0]
}

// otherTargets are the second destinations the tests run with: another
// local folder, and MinIO.
var otherTargets = []struct {
	name  string
	other func(t *testing.T) backup.Target
}{
	{"local", func(t *testing.T) backup.Target { return localTarget(t, "other") }},
	{"minio", func(t *testing.T) backup.Target { return minioTarget(t, "other") }},
}

func TestRestoreRoundTripDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets func(t *testing.T) []backup.Target
	}{
		{"local", func(t *testing.T) []backup.Target { return []backup.Target{localTarget(t, "disk")} }},
		{"minio", func(t *testing.T) []backup.Target { return []backup.Target{minioTarget(t, "s3")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil, tc.targets(t)...)
			b := r.backup(t)
			target := filepath.Join(t.TempDir(), "restored")
			require.NoError(t, r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{
				RestoreOptions: source.RestoreOptions{Target: target}, TriggeredBy: "alice"}))
			assert.Equal(t, treeSum(t, r.src), treeSum(t, target))

			run := lastRun(t, r.st, store.RunKindRestore)
			assert.Equal(t, store.RunSucceeded, run.Status)
			assert.Equal(t, b.ID, run.BackupID)
			assert.Equal(t, "alice", run.TriggeredBy)
			assert.Equal(t, b.Size, run.BytesRead)
			assert.Greater(t, run.BytesWritten, b.Size, "the tar stream fed to the Restorer, larger than the compressed artifact")
			logs, err := r.st.RunLogs(t.Context(), run.ID)
			require.NoError(t, err)
			assert.NotEmpty(t, logs)
			assert.Contains(t, r.events.types(), notify.RestoreStarted)
			assert.Contains(t, r.events.types(), notify.RestoreSucceeded)

			// Download: raw is the artifact, decoded is the tar stream.
			var raw bytes.Buffer
			n, err := r.eng.Download(t.Context(), r.job, b.ID, &raw, backup.DownloadOptions{Raw: true})
			require.NoError(t, err)
			assert.Equal(t, b.Size, n)
			sum := sha256.Sum256(raw.Bytes())
			assert.Equal(t, b.SHA256, hex.EncodeToString(sum[:]))
			var plain bytes.Buffer
			_, err = r.eng.Download(t.Context(), r.job, b.ID, &plain, backup.DownloadOptions{})
			require.NoError(t, err)
			again := filepath.Join(t.TempDir(), "from-download")
			require.NoError(t, r.folder.Restore(t.Context(), &plain, source.RestoreOptions{Target: again}))
			assert.Equal(t, treeSum(t, r.src), treeSum(t, again))
		})
	}
}

func TestRestoreAsync(t *testing.T) {
	r := newRig(t, nil, localTarget(t, "disk"))
	b := r.backup(t)
	target := filepath.Join(t.TempDir(), "restored")
	runID, done, err := r.eng.RestoreAsync(t.Context(), r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: target}})
	require.NoError(t, err)
	require.NotEmpty(t, runID)
	require.NoError(t, <-done)
	run, err := r.st.GetRun(t.Context(), runID)
	require.NoError(t, err)
	assert.Equal(t, store.RunKindRestore, run.Kind)
	assert.Equal(t, store.RunSucceeded, run.Status)
	assert.Equal(t, treeSum(t, r.src), treeSum(t, target))

	_, _, err = r.eng.RestoreAsync(t.Context(), r.job, "no-such-backup", backup.RestoreOptions{})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestRestoreCorruptedCopyUsesAnotherGoodCopy(t *testing.T) {
	for _, tc := range otherTargets {
		t.Run(tc.name, func(t *testing.T) {
			disk := localTarget(t, "disk")
			r := newRig(t, nil, disk, tc.other(t))
			b := r.backup(t)
			flipByte(t, disk.Destination, copyOn(t, b, "disk").Key)

			target := filepath.Join(t.TempDir(), "restored")
			require.NoError(t, r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: target}}))
			assert.Equal(t, treeSum(t, r.src), treeSum(t, target), "restored from the good copy")
			run := lastRun(t, r.st, store.RunKindRestore)
			logs, err := r.st.RunLogs(t.Context(), run.ID)
			require.NoError(t, err)
			var text string
			for _, l := range logs {
				text += l.Message + "\n"
			}
			assert.Contains(t, text, "copy unusable; trying the next copy")
			assert.Contains(t, text, "restored from copy backup="+b.ID+" destination=other")
		})
	}
}

func TestRestoreOnlyCorruptedCopyLeavesTargetUntouched(t *testing.T) {
	disk := localTarget(t, "disk")
	r := newRig(t, nil, disk)
	b := r.backup(t)
	flipByte(t, disk.Destination, copyOn(t, b, "disk").Key)

	// An empty target stays absent.
	absent := filepath.Join(t.TempDir(), "restored")
	err := r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: absent}})
	require.Error(t, err)
	assert.Nil(t, treeSum(t, absent))

	// A target with data keeps it (restoring over it with DropExisting).
	target := filepath.Join(t.TempDir(), "live")
	writeTree(t, target, 2)
	before := treeSum(t, target)
	err = r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{
		RestoreOptions: source.RestoreOptions{Target: target, DropExisting: true}})
	require.Error(t, err)
	// A flipped byte usually breaks the zstd frame before the end of the
	// stream, where the SHA-256 would catch it.
	assert.Contains(t, err.Error(), "no copy could be restored")
	assert.Equal(t, before, treeSum(t, target))
	run := lastRun(t, r.st, store.RunKindRestore)
	assert.Equal(t, store.RunFailed, run.Status)
	assert.Contains(t, r.events.types(), notify.RestoreFailed)
}

func TestRestoreRefusesTargetWithDataWithoutDropExisting(t *testing.T) {
	r := newRig(t, nil, localTarget(t, "disk"))
	b := r.backup(t)
	target := filepath.Join(t.TempDir(), "live")
	writeTree(t, target, 2)
	before := treeSum(t, target)
	err := r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: target}})
	require.ErrorIs(t, err, backup.ErrTargetHasData)
	assert.Equal(t, before, treeSum(t, target))
	// Nothing was backed up on the way.
	bs, err := r.st.ListBackups(t.Context(), store.BackupFilter{Status: store.BackupPreRestore})
	require.NoError(t, err)
	assert.Empty(t, bs)
}

// halfway is a dir source whose first Restore wipes part of the target and
// then fails, as a restore into a database does when its connection is
// killed half-way; later restores (the rollback) work.
type halfway struct {
	*dir.Folder
	mu     sync.Mutex
	failed bool
}

var errKilled = errors.New("target connection killed")

func (h *halfway) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	h.mu.Lock()
	first := !h.failed
	h.failed = true
	h.mu.Unlock()
	if !first {
		return h.Folder.Restore(ctx, r, opts)
	}
	if _, err := io.CopyN(io.Discard, r, 1000); err != nil {
		return err
	}
	// Half of the old data is gone, nothing new is there yet.
	require.NoError(nil, os.RemoveAll(filepath.Join(opts.Target, "d0")))
	return errKilled
}

func TestRestoreFailingHalfWayRollsBackFromTheSafetyBackup(t *testing.T) {
	disk := localTarget(t, "disk")
	r := newRig(t, nil, disk, localTarget(t, "second"))
	b := r.backup(t)
	h := &halfway{Folder: r.folder}
	r.job.Source = h

	target := filepath.Join(t.TempDir(), "live")
	writeTree(t, target, 3)
	before := treeSum(t, target)
	err := r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{
		RestoreOptions: source.RestoreOptions{Target: target, DropExisting: true}, SafetyKeep: 48 * time.Hour})
	require.ErrorIs(t, err, errKilled)
	assert.Contains(t, err.Error(), "rolled back from safety backup")
	assert.Equal(t, before, treeSum(t, target), "the data equals the pre-restore state")

	safety, err := r.st.ListBackups(t.Context(), store.BackupFilter{Status: store.BackupPreRestore})
	require.NoError(t, err)
	require.Len(t, safety, 1)
	assert.True(t, safety[0].Protected)
	assert.WithinDuration(t, time.Now().Add(48*time.Hour), safety[0].ProtectedUntil, time.Hour)
	require.Len(t, safety[0].Copies, 2, "both destinations are local: the safety backup goes to both")
	run := lastRun(t, r.st, store.RunKindRestore)
	assert.Equal(t, store.RunFailed, run.Status)
	assert.Contains(t, run.Reason, "rolled back")
}

func TestRestoreOverDataTakesASafetyBackup(t *testing.T) {
	r := newRig(t, nil, localTarget(t, "disk"))
	b := r.backup(t)
	target := filepath.Join(t.TempDir(), "live")
	writeTree(t, target, 4)
	before := treeSum(t, target)
	require.NoError(t, r.eng.Restore(t.Context(), r.job, b.ID, backup.RestoreOptions{
		RestoreOptions: source.RestoreOptions{Target: target, DropExisting: true}}))
	assert.Equal(t, treeSum(t, r.src), treeSum(t, target))

	safety, err := r.st.ListBackups(t.Context(), store.BackupFilter{Status: store.BackupPreRestore})
	require.NoError(t, err)
	require.Len(t, safety, 1)
	assert.WithinDuration(t, time.Now().Add(backup.DefaultSafetyKeep), safety[0].ProtectedUntil, time.Hour)
	// The safety backup holds the old data.
	back := filepath.Join(t.TempDir(), "back")
	require.NoError(t, r.eng.Restore(t.Context(), r.job, safety[0].ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: back}}))
	assert.Equal(t, before, treeSum(t, back))
}

func TestVerifyLevels(t *testing.T) {
	for _, tc := range otherTargets {
		t.Run(tc.name, func(t *testing.T) {
			disk := localTarget(t, "disk")
			other := tc.other(t)
			r := newRig(t, nil, disk, other)
			b := r.backup(t)
			levels := []backup.VerifyLevel{backup.VerifyExists, backup.VerifyChecksum, backup.VerifyRestore}
			for _, level := range levels {
				res, err := r.eng.Verify(t.Context(), r.job, b.ID, backup.VerifyOptions{Level: level})
				require.NoError(t, err, level)
				assert.True(t, res.OK, "%s: %s", level, res.Problem)
				assert.Len(t, res.Copies, 2)
				got, err := r.st.GetBackup(t.Context(), b.ID)
				require.NoError(t, err)
				assert.Equal(t, string(level), got.VerifyLevel)
				assert.True(t, got.VerifyOK)
				run := lastRun(t, r.st, store.RunKindVerify)
				assert.Equal(t, store.RunSucceeded, run.Status)
				assert.Equal(t, res.RunID, run.ID)
			}
			assert.Contains(t, r.events.types(), notify.VerifySucceeded)
			// No scratch folder is left beside the source.
			entries, err := os.ReadDir(filepath.Dir(r.src))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "only the source folder")

			// One byte flipped on "disk": exists still passes (same size),
			// checksum and restore find it.
			flipByte(t, disk.Destination, copyOn(t, b, "disk").Key)
			res, err := r.eng.Verify(t.Context(), r.job, b.ID, backup.VerifyOptions{Level: backup.VerifyExists})
			require.NoError(t, err)
			assert.True(t, res.OK)
			for _, level := range levels[1:] {
				res, err := r.eng.Verify(t.Context(), r.job, b.ID, backup.VerifyOptions{Level: level})
				require.NoError(t, err, level)
				assert.False(t, res.OK, level)
				assert.Contains(t, res.Problem, "disk: ")
				assert.Contains(t, res.Problem, "sha256")
				assert.False(t, res.Copies[0].OK)
				assert.True(t, res.Copies[1].OK, "the other copy is good")
				if level == backup.VerifyRestore {
					assert.NotContains(t, res.Problem, "test restore", "the test restore used the good copy")
				}
				got, err := r.st.GetBackup(t.Context(), b.ID)
				require.NoError(t, err)
				assert.False(t, got.VerifyOK)
				assert.Equal(t, string(level), got.VerifyLevel)
				assert.Equal(t, store.RunFailed, lastRun(t, r.st, store.RunKindVerify).Status)
			}
			assert.Contains(t, r.events.types(), notify.VerifyFailed)

			// The other copy gone: exists fails; restore level has no good copy.
			require.NoError(t, other.Destination.Delete(t.Context(), copyOn(t, b, "other").Key))
			res, err = r.eng.Verify(t.Context(), r.job, b.ID, backup.VerifyOptions{Level: backup.VerifyExists})
			require.NoError(t, err)
			assert.False(t, res.OK)
			res, err = r.eng.Verify(t.Context(), r.job, b.ID, backup.VerifyOptions{Level: backup.VerifyRestore})
			require.NoError(t, err)
			assert.False(t, res.OK)
			assert.Contains(t, res.Problem, "no good copy")
		})
	}
}

func TestVerifyRestoreComparesItems(t *testing.T) {
	r := newRig(t, nil, localTarget(t, "disk"))
	b := r.backup(t)
	// Doctor the catalog's items: the test restore no longer matches.
	got, err := r.st.GetBackup(t.Context(), b.ID)
	require.NoError(t, err)
	got.SourceInfo = []byte(`{"kind":"dir","format":"tar","items":[{"name":"files","count":999}]}`)
	require.NoError(t, r.st.DeleteBackup(t.Context(), b.ID))
	require.NoError(t, r.st.AddBackup(t.Context(), &got))
	res, err := r.eng.Verify(t.Context(), r.job, b.ID, backup.VerifyOptions{Level: backup.VerifyRestore})
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Contains(t, res.Problem, "files: 999 in the backup")
	assert.Contains(t, res.Problem, "restored but not in the backup")
}

// catalogView is what a rebuild must give back: IDs, sizes, checksums and
// locations.
func catalogView(t *testing.T, st store.Store) []string {
	bs, err := st.ListBackups(t.Context(), store.BackupFilter{})
	require.NoError(t, err)
	var out []string
	for _, b := range bs {
		line := fmt.Sprintf("%s job=%s run=%s size=%d sha=%s fmt=%s comp=%s enc=%s created=%s", b.ID, b.Job, b.RunID, b.Size,
			b.SHA256, b.Format, b.Compression, b.Encryption, b.CreatedAt.UTC().Format(time.RFC3339Nano))
		for _, c := range b.Copies {
			line += fmt.Sprintf(" [%s %s %d]", c.Destination, c.Key, c.Size)
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

func TestRebuildCatalogAfterLosingTheStore(t *testing.T) {
	for _, tc := range otherTargets {
		t.Run(tc.name, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "backupkit.db")
			st, err := sqlstore.OpenSQLite(t.Context(), dbPath)
			require.NoError(t, err)
			disk := localTarget(t, "disk")
			r := newRig(t, st, disk, tc.other(t))
			var ids []string
			for range 3 {
				ids = append(ids, r.backup(t).ID)
			}
			want := catalogView(t, st)
			require.Len(t, want, 3)

			// The store is lost.
			require.NoError(t, st.Close())
			require.NoError(t, os.Remove(dbPath))
			st2, err := sqlstore.OpenSQLite(t.Context(), dbPath)
			require.NoError(t, err)
			t.Cleanup(func() { st2.Close() })
			eng := backup.New(st2, &backup.Options{Owner: "test"})

			dry, err := eng.RebuildCatalog(t.Context(), []*backup.Job{r.job}, backup.RebuildOptions{DryRun: true})
			require.NoError(t, err)
			assert.ElementsMatch(t, ids, dry.Added)
			assert.Empty(t, catalogView(t, st2), "a dry run writes nothing")

			rep, err := eng.RebuildCatalog(t.Context(), []*backup.Job{r.job}, backup.RebuildOptions{})
			require.NoError(t, err)
			assert.ElementsMatch(t, ids, rep.Added)
			assert.Empty(t, rep.Orphans)
			assert.Equal(t, want, catalogView(t, st2), "the same catalog")

			// Again: nothing to do. Then an orphan and a lost copy.
			rep, err = eng.RebuildCatalog(t.Context(), []*backup.Job{r.job}, backup.RebuildOptions{})
			require.NoError(t, err)
			assert.Equal(t, 3, rep.Unchanged)
			assert.Empty(t, rep.Added)
			_, err = disk.Destination.Put(t.Context(), "files/2026/01/stray.tar.zst", bytes.NewReader([]byte("junk")), nil)
			require.NoError(t, err)
			lost := copyOn(t, &store.Backup{Copies: mustBackup(t, st2, ids[0]).Copies}, "disk")
			require.NoError(t, disk.Destination.Delete(t.Context(), lost.Key))
			rep, err = eng.RebuildCatalog(t.Context(), []*backup.Job{r.job}, backup.RebuildOptions{})
			require.NoError(t, err)
			assert.Equal(t, []string{ids[0] + "@disk"}, rep.CopiesMissing)
			assert.Len(t, rep.Orphans, 2, "the stray artifact and the manifest of the deleted one: %v", rep.Orphans)
			b := mustBackup(t, st2, ids[0])
			assert.False(t, copyOn(t, &b, "disk").MissingSince.IsZero(), "marked missing")
			// Nothing was deleted.
			_, err = disk.Destination.Stat(t.Context(), "files/2026/01/stray.tar.zst")
			require.NoError(t, err)
			// A restore skips the missing copy and uses the other.
			target := filepath.Join(t.TempDir(), "restored")
			require.NoError(t, eng.Restore(t.Context(), r.job, ids[0], backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: target}}))
		})
	}
}

func mustBackup(t *testing.T, st store.Store, id string) store.Backup {
	b, err := st.GetBackup(t.Context(), id)
	require.NoError(t, err)
	return b
}

// Retention keeps a safety backup while it is protected and may delete it
// once its ProtectedUntil has passed.
func TestPruneHonoursSafetyExpiry(t *testing.T) {
	r := newRig(t, nil, localTarget(t, "disk"))
	r.job.Retention = &retention.Policy{KeepLast: 1}
	newest := r.backup(t)
	add := func(until time.Time) string {
		b := store.Backup{Job: r.job.Name, Status: store.BackupPreRestore, Protected: true, ProtectedUntil: until,
			CreatedAt: newest.CreatedAt.Add(-time.Hour), Copies: []store.Copy{{Destination: "disk", Key: "files/safety-" + until.Format("150405")}}}
		require.NoError(t, r.st.AddBackup(t.Context(), &b))
		return b.ID
	}
	expired := add(time.Now().Add(-time.Minute))
	kept := add(time.Now().Add(time.Hour))
	res, err := r.eng.Prune(t.Context(), r.job, backup.PruneOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{expired}, res.Deleted)
	_, err = r.st.GetBackup(t.Context(), kept)
	require.NoError(t, err, "still protected")
	_, err = r.st.GetBackup(t.Context(), newest.ID)
	require.NoError(t, err)
}
