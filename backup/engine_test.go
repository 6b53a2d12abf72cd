package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// bytesSource snapshots a fixed byte slice, written in odd-sized pieces; it
// fails after failAfter bytes when failAfter >= 0. It restores into restored.
type bytesSource struct {
	data      []byte
	failAfter int
	block     chan struct{} // when set, Snapshot waits on it (or ctx) after failAfter bytes

	mu       sync.Mutex
	restored []byte
}

func newBytesSource(data []byte) *bytesSource { return &bytesSource{data: data, failAfter: -1} }

var errSourceBroke = errors.New("source broke")

func (s *bytesSource) Format() string { return "bin" }

func (s *bytesSource) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	data := s.data
	if s.failAfter >= 0 {
		data = data[:s.failAfter]
	}
	for len(data) > 0 {
		n := min(len(data), 1+mrand.IntN(70_000))
		if _, err := w.Write(data[:n]); err != nil {
			return source.Info{}, err
		}
		data = data[n:]
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return source.Info{}, ctx.Err()
		}
	}
	if s.failAfter >= 0 {
		return source.Info{}, errSourceBroke
	}
	return source.Info{Kind: "bytes", Format: "bin", Items: []source.Item{{Name: "all", Count: int64(len(s.data))}}}, nil
}

func (s *bytesSource) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.restored = data
	s.mu.Unlock()
	return nil
}

// failingDest wraps a destination and makes Put fail after reading failAfter bytes.
type failingDest struct {
	destination.Destination
	failAfter int64
}

var errDestBroke = errors.New("destination broke")

func (f failingDest) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if _, err := io.CopyN(io.Discard, r, f.failAfter); err != nil && err != io.EOF {
		return destination.Object{}, err
	}
	return destination.Object{}, errDestBroke
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b[:n/2]) // half random, half zeros: compressible but not trivially
	require.NoError(t, err)
	return b
}

func keys(t *testing.T, d destination.Destination) []string {
	var out []string
	for o, err := range d.List(context.Background(), "") {
		require.NoError(t, err)
		out = append(out, o.Key)
	}
	return out
}

func newEngine(t testing.TB) (*backup.Engine, store.Store) {
	st := newStore(t)
	return backup.New(st, &backup.Options{Owner: "test"}), st
}

var keyRE = regexp.MustCompile(`^nightly/app/\d{4}/\d{2}/app_\d{8}T\d{6}Z_[0-9a-z]{8}\.bin\.zst$`)

func TestRunSucceededWritesArtifactManifestAndCatalog(t *testing.T) {
	ctx := context.Background()
	eng, st := newEngine(t)
	var events []notify.EventType
	var evMu sync.Mutex
	cancel := eng.Subscribe(func(e notify.Event) { evMu.Lock(); events = append(events, e.Type); evMu.Unlock() })
	defer cancel()

	data := randomBytes(t, 3<<20)
	src := newBytesSource(data)
	a, b := memory.New(), memory.New()
	job := &backup.Job{Name: "app", Source: src, Prefix: "nightly",
		Destinations: []backup.Target{{Name: "a", Destination: a}, {Name: "b", Destination: b}}}

	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, store.RunSucceeded, res.Run.Status)
	require.NotNil(t, res.Backup)
	assert.Equal(t, int64(len(data)), res.Run.BytesRead)
	assert.Equal(t, res.Backup.Size, res.Run.BytesWritten)
	assert.Less(t, res.Backup.Size, int64(len(data)), "zstd should compress half-zero data")

	for _, d := range []*memory.Bucket{a, b} {
		ks := keys(t, d)
		require.Len(t, ks, 2, "artifact and manifest")
		assert.Regexp(t, keyRE, ks[0])
		assert.Equal(t, ks[0]+backup.ManifestSuffix, ks[1])
		rc, err := d.Open(ctx, ks[1])
		require.NoError(t, err)
		m, err := backup.ParseManifest(rc)
		require.NoError(t, err)
		rc.Close()
		assert.Equal(t, res.Backup.ID, m.BackupID)
		assert.Equal(t, res.Backup.SHA256, m.SHA256)
		assert.Equal(t, res.Backup.Size, m.Size)
		assert.Equal(t, ks[0], m.Artifact)
		assert.Equal(t, "bytes", m.Source.Kind)
	}

	got, err := st.GetBackup(ctx, res.Backup.ID)
	require.NoError(t, err)
	assert.Equal(t, store.BackupComplete, got.Status)
	assert.Len(t, got.Copies, 2)
	run, err := st.GetRun(ctx, res.Run.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunSucceeded, run.Status)
	assert.Equal(t, res.Backup.ID, run.BackupID)
	logs, err := st.RunLogs(ctx, run.ID)
	require.NoError(t, err)
	assert.NotEmpty(t, logs)

	evMu.Lock()
	assert.Equal(t, notify.RunStarted, events[0])
	assert.Equal(t, notify.RunSucceeded, events[len(events)-1])
	evMu.Unlock() // a restore publishes events too

	// The backup restores to the same bytes.
	require.NoError(t, eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{}))
	assert.True(t, bytes.Equal(data, src.restored))
}

func TestRunPartialWhenOneDestinationFailsMidStream(t *testing.T) {
	ctx := context.Background()
	eng, st := newEngine(t)
	good, badStore := memory.New(), memory.New()
	job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 8<<20)), Compression: backup.None,
		Destinations: []backup.Target{{Name: "bad", Destination: failingDest{badStore, 1 << 20}}, {Name: "good", Destination: good}}}

	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, errDestBroke)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	require.NotNil(t, res.Backup)
	assert.Equal(t, store.BackupPartial, res.Backup.Status)
	require.Len(t, res.Backup.Copies, 1)
	assert.Equal(t, "good", res.Backup.Copies[0].Destination)
	assert.Empty(t, keys(t, badStore))
	require.Len(t, keys(t, good), 2)
	obj, err := good.Stat(ctx, res.Backup.Copies[0].Key)
	require.NoError(t, err)
	assert.Equal(t, int64(8<<20), obj.Size)
	require.Len(t, res.Failures, 1)
	assert.Equal(t, "bad", res.Failures[0].Destination)

	list, err := st.ListBackups(ctx, store.BackupFilter{Job: "app"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, eng.Restore(ctx, job, list[0].ID, backup.RestoreOptions{}))
}

func TestRunFailedWhenSourceFailsLeavesNothing(t *testing.T) {
	ctx := context.Background()
	eng, st := newEngine(t)
	a, b := memory.New(), memory.New()
	src := newBytesSource(randomBytes(t, 4<<20))
	src.failAfter = 3 << 20
	job := &backup.Job{Name: "app", Source: src,
		Destinations: []backup.Target{{Name: "a", Destination: a}, {Name: "b", Destination: b}}}

	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.ErrorIs(t, err, errSourceBroke)
	assert.Equal(t, store.RunFailed, res.Run.Status)
	assert.Contains(t, res.Run.Reason, "source broke")
	assert.Nil(t, res.Backup)
	assert.Empty(t, keys(t, a))
	assert.Empty(t, keys(t, b))
	list, err := st.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestRunFailedWhenEveryDestinationFails(t *testing.T) {
	eng, _ := newEngine(t)
	job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 4<<20)), Compression: backup.None,
		Destinations: []backup.Target{
			{Name: "a", Destination: failingDest{memory.New(), 0}},
			{Name: "b", Destination: failingDest{memory.New(), 2 << 20}}}}
	res, err := eng.Run(context.Background(), job, backup.RunOptions{})
	require.ErrorIs(t, err, errDestBroke)
	assert.Equal(t, store.RunFailed, res.Run.Status)
	assert.Contains(t, res.Run.Reason, "every destination failed")
	assert.NotContains(t, res.Run.Reason, "source")
	assert.Nil(t, res.Backup)
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	eng, _ := newEngine(t)
	a := memory.New()
	src := newBytesSource(randomBytes(t, 2<<20))
	src.block = make(chan struct{})
	job := &backup.Job{Name: "app", Source: src, Destinations: []backup.Target{{Name: "a", Destination: a}}}
	started := make(chan struct{})
	stop := eng.Subscribe(func(e notify.Event) {
		if e.Type == notify.RunStarted {
			close(started)
		}
	})
	defer stop()
	go func() { <-started; cancel() }()
	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, store.RunCanceled, res.Run.Status)
	assert.Empty(t, keys(t, a))
}

func TestRestoreDetectsCorruptArtifact(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t)
	a := memory.New()
	src := newBytesSource(randomBytes(t, 1<<20))
	job := &backup.Job{Name: "app", Source: src, Compression: backup.None, Destinations: []backup.Target{{Name: "a", Destination: a}}}
	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)
	key := res.Backup.Copies[0].Key

	rc, err := a.Open(ctx, key)
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	_, err = a.Put(ctx, key, bytes.NewReader(data), nil)
	require.NoError(t, err)
	err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{})
	require.ErrorIs(t, err, backup.ErrChecksum)
	assert.Nil(t, src.restored, "the restorer must see the failure before the end of the stream")

	_, err = a.Put(ctx, key, bytes.NewReader(data[:len(data)-10]), nil)
	require.NoError(t, err)
	err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{})
	require.ErrorIs(t, err, backup.ErrChecksum)
	assert.Contains(t, err.Error(), "truncated")
}

func TestRoundTripProperty(t *testing.T) {
	eng, _ := newEngine(t)
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		data := rapid.SliceOfN(rapid.Byte(), 0, 300_000).Draw(rt, "data")
		comp := rapid.SampledFrom([]backup.Compression{backup.Zstd, backup.Gzip, backup.None}).Draw(rt, "compression")
		nDest := rapid.IntRange(1, 3).Draw(rt, "destinations")
		src := newBytesSource(data)
		job := &backup.Job{Name: "prop", Source: src, Compression: comp}
		for i := range nDest {
			job.Destinations = append(job.Destinations, backup.Target{Name: string(rune('a' + i)), Destination: memory.New()})
		}
		res, err := eng.Run(ctx, job, backup.RunOptions{})
		require.NoError(rt, err)
		require.Len(rt, res.Backup.Copies, nDest)
		require.NoError(rt, eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{}))
		if !bytes.Equal(data, src.restored) && !(len(data) == 0 && len(src.restored) == 0) {
			rt.Fatalf("restored %d bytes differ from the %d backed up", len(src.restored), len(data))
		}
	})
}

func TestJobValidate(t *testing.T) {
	src := newBytesSource(nil)
	d := memory.New()
	for name, tc := range map[string]struct {
		job  backup.Job
		want string
	}{
		"bad name":        {backup.Job{Name: "Bad Name", Source: src, Destinations: []backup.Target{{"a", d}}}, "job name"},
		"no source":       {backup.Job{Name: "j", Destinations: []backup.Target{{"a", d}}}, "source: missing"},
		"no destinations": {backup.Job{Name: "j", Source: src}, "at least one"},
		"duplicate":       {backup.Job{Name: "j", Source: src, Destinations: []backup.Target{{"a", d}, {"a", d}}}, "used twice"},
		"compression":     {backup.Job{Name: "j", Source: src, Compression: "lz4", Destinations: []backup.Target{{"a", d}}}, "compression"},
		"prefix":          {backup.Job{Name: "j", Source: src, Prefix: "../x", Destinations: []backup.Target{{"a", d}}}, "prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.job.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	ok := backup.Job{Name: "j", Source: src, Destinations: []backup.Target{{"a", d}}}
	assert.NoError(t, ok.Validate())
	assert.True(t, slices.Contains([]string{"bin"}, src.Format()))
}

// A zstd artifact is a series of independent frames; cut at a frame boundary
// it is still valid zstd, only shorter. The restore must still fail, and fail
// before the Restorer sees a clean end of stream.
func TestRestoreDetectsArtifactCutAtFrameBoundary(t *testing.T) {
	for _, comp := range []backup.Compression{backup.Zstd, backup.Gzip} {
		t.Run(string(comp), func(t *testing.T) {
			ctx := context.Background()
			eng, _ := newEngine(t)
			a := memory.New()
			src := newBytesSource(randomBytes(t, 9<<20))
			job := &backup.Job{Name: "app", Source: src, Compression: comp, Destinations: []backup.Target{{Name: "a", Destination: a}}}
			res, err := eng.Run(ctx, job, backup.RunOptions{})
			require.NoError(t, err)
			key := res.Backup.Copies[0].Key
			rc, err := a.Open(ctx, key)
			require.NoError(t, err)
			data, err := io.ReadAll(rc)
			require.NoError(t, err)

			cut := len(data) - 1
			if comp == backup.Zstd {
				magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
				cut = bytes.Index(data[4:], magic) + 4
				require.Greater(t, cut, 4, "expected several zstd frames")
			}
			_, err = a.Put(ctx, key, bytes.NewReader(data[:cut]), nil)
			require.NoError(t, err)
			err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{})
			require.Error(t, err)
			if comp == backup.Zstd { // valid zstd: only the recorded size and hash can tell
				require.ErrorIs(t, err, backup.ErrChecksum)
			}
			assert.Nil(t, src.restored, "the restorer must see the failure before the end of the stream")
		})
	}
}
