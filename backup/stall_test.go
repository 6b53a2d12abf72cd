package backup_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/store"
)

// stallingDest reads after bytes of each Put, then stops reading: until
// its context ends, or, with ignoreCancel, until release is closed (a Put
// stuck where a cancellation cannot reach it). guards is what GuardsStalls
// says.
type stallingDest struct {
	destination.Destination
	after        int
	ignoreCancel bool
	release      chan struct{}
	returned     chan error // each Put's error, once it returns
	guards       bool
}

func newStallingDest(after int) *stallingDest {
	return &stallingDest{Destination: memory.New(), after: after, release: make(chan struct{}), returned: make(chan error, 1)}
}

func (d *stallingDest) GuardsStalls() bool { return d.guards }

func (d *stallingDest) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (obj destination.Object, err error) {
	if strings.HasSuffix(key, backup.ManifestSuffix) {
		return d.Destination.Put(ctx, key, r, opts)
	}
	defer func() {
		select {
		case d.returned <- err:
		default:
		}
	}()
	if _, err := io.CopyN(io.Discard, r, int64(d.after)); err != nil {
		return destination.Object{}, err
	}
	if d.ignoreCancel {
		<-d.release
	} else {
		select {
		case <-d.release:
		case <-ctx.Done():
			return destination.Object{}, context.Cause(ctx)
		}
	}
	// Store the rest, as a destination that got going again would.
	rest, err := io.ReadAll(r)
	if err != nil {
		return destination.Object{}, err
	}
	return d.Destination.Put(context.WithoutCancel(ctx), key, io.MultiReader(io.LimitReader(zeros{}, int64(d.after)), bytesReader(rest)), opts)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func bytesReader(b []byte) io.Reader { return &byteReader{b: b} }

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// A destination that stops taking data is given up after the stall
// timeout: its copy fails with ErrDestinationStalled, the healthy
// destination's copy is kept, and the run ends partial instead of waiting.
func TestStalledDestinationIsGivenUp(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	eng := backup.New(st, &backup.Options{Owner: "test", StallTimeout: 300 * time.Millisecond})
	good, stuck := memory.New(), newStallingDest(1<<20)
	job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 16<<20)), Compression: backup.None,
		Destinations: []backup.Target{{Name: "good", Destination: good}, {Name: "stuck", Destination: stuck}}}

	start := time.Now()
	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.ErrorIs(t, err, backup.ErrDestinationStalled)
	require.Len(t, res.Failures, 1)
	assert.Equal(t, "stuck", res.Failures[0].Destination)
	assert.Contains(t, res.Failures[0].Error(), "took no data for 300ms")
	require.NotNil(t, res.Backup)
	require.Len(t, res.Backup.Copies, 1)
	assert.Equal(t, "good", res.Backup.Copies[0].Destination)
	assert.Len(t, keys(t, good), 2, "artifact and manifest")
	assert.Empty(t, keys(t, stuck), "nothing listed on the stalled destination")
	assert.ErrorIs(t, <-stuck.returned, backup.ErrDestinationStalled, "its Put was canceled with the stall as the cause")
}

// A Put that ignores the cancellation is left behind after the grace
// period so that the run ends; when it stores the artifact later anyway,
// that artifact (which has no manifest) is deleted.
func TestStalledPutThatIgnoresCancelIsLeftBehind(t *testing.T) {
	backup.SetAbandonGrace(t, 200*time.Millisecond)
	ctx := context.Background()
	st := newStore(t)
	eng := backup.New(st, &backup.Options{Owner: "test", StallTimeout: 200 * time.Millisecond})
	good, stuck := memory.New(), newStallingDest(1<<20)
	stuck.ignoreCancel = true
	job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 16<<20)), Compression: backup.None,
		Destinations: []backup.Target{{Name: "good", Destination: good}, {Name: "stuck", Destination: stuck}}}

	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.Contains(t, res.Failures[0].Error(), "left behind")
	assert.Len(t, keys(t, good), 2)

	// The Put gets going again and stores its artifact: it is deleted.
	close(stuck.release)
	require.NoError(t, <-stuck.returned)
	logged := func(msg string) bool {
		logs, err := st.RunLogs(ctx, res.Run.ID)
		require.NoError(t, err)
		for _, l := range logs {
			if strings.HasPrefix(l.Message, msg) {
				return true
			}
		}
		return false
	}
	assert.True(t, logged("destination did not stop its upload: left behind"))
	assert.Eventually(t, func() bool {
		return logged("a destination left behind stored the artifact late: deleted")
	}, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, keys(t, stuck), "the late artifact is deleted")
}

// A destination that detects stalls itself (destination.StallGuard), and a
// job whose StallTimeout is negative, are not timed by the engine.
func TestStallTimeoutExemptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		guards bool
		job    time.Duration
	}{
		{name: "the destination guards stalls itself", guards: true},
		{name: "the job turns it off", job: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			eng := backup.New(st, &backup.Options{Owner: "test", StallTimeout: 100 * time.Millisecond})
			slow := newStallingDest(1 << 20)
			slow.guards = tc.guards
			job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 16<<20)), Compression: backup.None,
				StallTimeout: tc.job, Destinations: []backup.Target{{Name: "slow", Destination: slow}}}
			time.AfterFunc(time.Second, func() { close(slow.release) })
			res, err := eng.Run(context.Background(), job, backup.RunOptions{})
			require.NoError(t, err)
			assert.Equal(t, store.RunSucceeded, res.Run.Status)
		})
	}
}

// A stalled Put that gets going again before the grace period ends and
// reports success stored the artifact without the chunks sent after it was
// cut off: it is deleted, and the copy counts as failed.
func TestStalledPutThatResumesIsNotKept(t *testing.T) {
	backup.SetAbandonGrace(t, 30*time.Second)
	st := newStore(t)
	eng := backup.New(st, &backup.Options{Owner: "test", StallTimeout: 200 * time.Millisecond})
	good, stuck := memory.New(), newStallingDest(1<<20)
	stuck.ignoreCancel = true
	job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 16<<20)), Compression: backup.None,
		Destinations: []backup.Target{{Name: "good", Destination: good}, {Name: "stuck", Destination: stuck}}}
	time.AfterFunc(time.Second, func() { close(stuck.release) })

	res, err := eng.Run(context.Background(), job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.NoError(t, <-stuck.returned, "the Put itself reported success")
	assert.Empty(t, keys(t, stuck), "what it stored is deleted")
	assert.Len(t, keys(t, good), 2)
	require.Len(t, res.Backup.Copies, 1)
}

// A destination that stops reading while the rest of a small artifact sits
// in its queue (the writer never waits on it) is given up as well, once the
// stream has ended.
func TestStallAfterTheStreamEndedIsGivenUp(t *testing.T) {
	st := newStore(t)
	eng := backup.New(st, &backup.Options{Owner: "test", StallTimeout: 300 * time.Millisecond})
	good, stuck := memory.New(), newStallingDest(512<<10)
	job := &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, 2<<20)), Compression: backup.None,
		Destinations: []backup.Target{{Name: "good", Destination: good}, {Name: "stuck", Destination: stuck}}}

	start := time.Now()
	res, err := eng.Run(context.Background(), job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.ErrorIs(t, <-stuck.returned, backup.ErrDestinationStalled)
	assert.Empty(t, keys(t, stuck))
	assert.Len(t, keys(t, good), 2)
}
