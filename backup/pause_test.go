package backup_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// chunkSource writes its chunks one by one: after each Write returns it
// sends the chunk's index on wrote, and before each chunk but the first it
// waits for proceed (or ctx).
type chunkSource struct {
	chunks  [][]byte
	wrote   chan int
	proceed chan struct{}
}

func (s *chunkSource) Format() string { return "bin" }

func (s *chunkSource) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	for i, c := range s.chunks {
		if i > 0 {
			select {
			case <-s.proceed:
			case <-ctx.Done():
				return source.Info{}, context.Cause(ctx)
			}
		}
		if _, err := w.Write(c); err != nil {
			return source.Info{}, err
		}
		select {
		case s.wrote <- i:
		case <-ctx.Done():
			return source.Info{}, context.Cause(ctx)
		}
	}
	return source.Info{Kind: "bytes", Format: "bin"}, nil
}

func (s *chunkSource) Restore(context.Context, io.Reader, source.RestoreOptions) error { return nil }

// countingDest counts the artifact bytes its Puts read.
type countingDest struct {
	destination.Destination
	n *atomic.Int64
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (d countingDest) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if strings.HasSuffix(key, backup.ManifestSuffix) {
		return d.Destination.Put(ctx, key, r, opts)
	}
	return d.Destination.Put(ctx, key, countingReader{r, d.n}, opts)
}

type runOutcome struct {
	res *backup.Result
	err error
}

// startPausable starts a run of a three-chunk chunkSource job without
// compression and returns the source, the destination's byte counter, the
// run's ID once started, the gate's holds and the outcome.
func startPausable(t *testing.T, opts *backup.Options) (*backup.Engine, store.Store, *chunkSource, *atomic.Int64, string, chan string, chan runOutcome) {
	t.Helper()
	st := newStore(t)
	eng := backup.New(st, opts)
	held := make(chan string, 16)
	backup.SetOnHold(eng, func(runID string) {
		select {
		case held <- runID:
		default:
		}
	})
	started := make(chan string, 1)
	stop := eng.Subscribe(func(e notify.Event) {
		if e.Type == notify.RunStarted {
			started <- e.RunID
		}
	})
	t.Cleanup(stop)
	src := &chunkSource{wrote: make(chan int), proceed: make(chan struct{})}
	for i := range 3 {
		src.chunks = append(src.chunks, bytes.Repeat([]byte{byte('a' + i)}, 10_000+i))
	}
	var n atomic.Int64
	dst := countingDest{memory.New(), &n}
	job := &backup.Job{Name: "app", Source: src, Compression: backup.None,
		Destinations: []backup.Target{{Name: "a", Destination: dst}}}
	out := make(chan runOutcome, 1)
	go func() {
		res, err := eng.Run(context.Background(), job, backup.RunOptions{})
		out <- runOutcome{res, err}
	}()
	return eng, st, src, &n, <-started, held, out
}

func logText(t *testing.T, st store.Store, runID string) string {
	t.Helper()
	lines, err := st.RunLogs(context.Background(), runID)
	require.NoError(t, err)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

func TestPauseHoldsTheStreamAndResumeCompletesTheRun(t *testing.T) {
	eng, st, src, n, runID, held, out := startPausable(t, &backup.Options{Owner: "test", ChunkSize: 4096})
	first := int64(len(src.chunks[0]))

	require.Equal(t, 0, <-src.wrote)
	require.NoError(t, eng.Pause(runID, "alice"))
	require.NoError(t, eng.Pause(runID, "alice"), "pausing a paused run is a no-op")
	src.proceed <- struct{}{} // the second chunk's write starts...
	require.Equal(t, runID, <-held)
	// ...and is held: it has not returned, and none of its bytes reached the
	// destination.
	select {
	case i := <-src.wrote:
		t.Fatalf("chunk %d went through a paused run", i)
	default:
	}
	assert.LessOrEqual(t, n.Load(), first)

	require.NoError(t, eng.Resume(runID, "bob"))
	require.NoError(t, eng.Resume(runID, "bob"), "resuming a running run is a no-op")
	require.Equal(t, 1, <-src.wrote)
	src.proceed <- struct{}{}
	require.Equal(t, 2, <-src.wrote)

	o := <-out
	require.NoError(t, o.err)
	assert.Equal(t, store.RunSucceeded, o.res.Run.Status)
	total := int64(len(src.chunks[0]) + len(src.chunks[1]) + len(src.chunks[2]))
	assert.Equal(t, total, o.res.Backup.Size)
	assert.Equal(t, total, n.Load())
	logs := logText(t, st, runID)
	assert.Contains(t, logs, "run paused by=alice max_pause=1h0m0s\n")
	assert.Contains(t, logs, "run resumed by=bob paused_by=alice paused_for=")
	assert.Equal(t, 1, strings.Count(logs, "run paused"))

	// The run is over: it can no longer be paused.
	require.ErrorIs(t, eng.Pause(runID, "alice"), backup.ErrRunNotFound)
	require.ErrorIs(t, eng.Resume(runID, "alice"), backup.ErrRunNotFound)
}

func TestPauseLongerThanMaxPauseCancelsTheRun(t *testing.T) {
	// The maximum is over as soon as the pause begins; the outcome is
	// awaited, not timed.
	eng, st, src, _, runID, _, out := startPausable(t, &backup.Options{Owner: "test", MaxPause: time.Nanosecond})
	require.Equal(t, 0, <-src.wrote)
	require.NoError(t, eng.Pause(runID, "alice"))
	close(src.proceed)

	o := <-out
	require.ErrorIs(t, o.err, backup.ErrPausedTooLong)
	assert.Equal(t, store.RunCanceled, o.res.Run.Status)
	assert.Nil(t, o.res.Backup)
	assert.Contains(t, o.res.Run.Reason, "paused by alice")
	logs := logText(t, st, runID)
	assert.Contains(t, logs, "run paused by=alice max_pause=1ns\n")
	assert.Contains(t, logs, "paused longer than the maximum: canceling the run max_pause=1ns paused_by=alice\n")
	require.ErrorIs(t, eng.Resume(runID, "bob"), backup.ErrRunNotFound)
}

func TestPauseUnknownRun(t *testing.T) {
	eng, _ := newEngine(t)
	require.ErrorIs(t, eng.Pause("nope", "alice"), backup.ErrRunNotFound)
	require.ErrorIs(t, eng.Resume("nope", "alice"), backup.ErrRunNotFound)
}
