package backup_test

import (
	"bytes"
	"context"
	"fmt"
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
	// ignoreReadErr stores what it read even when the stream ended with an
	// error, and reports success: a broken adapter.
	ignoreReadErr bool
	release       chan struct{}
	returned      chan error // each Put's error, once it returns
	guards        bool
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
	if err != nil && !d.ignoreReadErr {
		return destination.Object{}, err
	}
	return d.Destination.Put(context.WithoutCancel(ctx), key, io.MultiReader(bytes.NewReader(make([]byte, d.after)), bytes.NewReader(rest)), opts)
}

// stallRun is a job backing up size random bytes to a healthy destination
// and to a stallingDest that stops after `after` bytes, on an engine whose
// stall timeout is stall. Tests give the healthy destination a stall
// timeout of seconds: under -race on a loaded machine, a few hundred
// milliseconds between two chunks happen.
type stallRun struct {
	st    store.Store
	eng   *backup.Engine
	good  destination.Destination
	stuck *stallingDest
	job   *backup.Job
}

func newStallRun(t *testing.T, stall time.Duration, after, size int) *stallRun {
	r := &stallRun{st: newStore(t), good: memory.New(), stuck: newStallingDest(after)}
	r.eng = backup.New(r.st, &backup.Options{Owner: "test", StallTimeout: stall})
	r.job = &backup.Job{Name: "app", Source: newBytesSource(randomBytes(t, size)), Compression: backup.None,
		Destinations: []backup.Target{{Name: "good", Destination: r.good}, {Name: "stuck", Destination: r.stuck}}}
	return r
}

// A destination that stops taking data is given up after the stall
// timeout: its copy fails with ErrDestinationStalled, the healthy
// destination's copy is kept, and the run ends partial instead of waiting.
func TestStalledDestinationIsGivenUp(t *testing.T) {
	r := newStallRun(t, 2*time.Second, 1<<20, 16<<20)
	start := time.Now()
	res, err := r.eng.Run(context.Background(), r.job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	require.Len(t, res.Failures, 1)
	assert.Equal(t, "stuck", res.Failures[0].Destination)
	assert.Contains(t, res.Failures[0].Error(), "took no data for 2s")
	require.NotNil(t, res.Backup)
	require.Len(t, res.Backup.Copies, 1)
	assert.Equal(t, "good", res.Backup.Copies[0].Destination)
	assert.Len(t, keys(t, r.good), 2, "artifact and manifest")
	assert.Empty(t, keys(t, r.stuck), "nothing listed on the stalled destination")
	assert.ErrorIs(t, <-r.stuck.returned, backup.ErrDestinationStalled, "its Put was canceled with the stall as the cause")
}

// A destination that stops reading while the rest of a small artifact sits
// in its queue (the writer never waits on it) is given up as well, once the
// stream has ended.
func TestStallAfterTheStreamEndedIsGivenUp(t *testing.T) {
	r := newStallRun(t, 2*time.Second, 512<<10, 2<<20)
	start := time.Now()
	res, err := r.eng.Run(context.Background(), r.job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.ErrorIs(t, <-r.stuck.returned, backup.ErrDestinationStalled)
	assert.Empty(t, keys(t, r.stuck))
	assert.Len(t, keys(t, r.good), 2)
}

// A Put that ignores the cancellation is left behind after the grace
// period so that the run ends; when it stores the artifact later anyway
// (ignoring its stream's error too), that artifact (which has no manifest)
// is deleted.
func TestStalledPutThatIgnoresCancelIsLeftBehind(t *testing.T) {
	backup.SetAbandonGrace(t, time.Second)
	ctx := context.Background()
	r := newStallRun(t, 2*time.Second, 1<<20, 16<<20)
	r.stuck.ignoreCancel, r.stuck.ignoreReadErr = true, true
	res, err := r.eng.Run(ctx, r.job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.Contains(t, res.Failures[0].Error(), "left behind")
	assert.Len(t, keys(t, r.good), 2)

	// The Put gets going again and stores its artifact: it is deleted.
	close(r.stuck.release)
	require.NoError(t, <-r.stuck.returned)
	logged := func(msg string) bool {
		logs, err := r.st.RunLogs(ctx, res.Run.ID)
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
	assert.Empty(t, keys(t, r.stuck), "the late artifact is deleted")
}

// A stalled Put that gets going again before the grace period ends reads
// the end of its stream as the stall error, not as a clean end: it missed
// the chunks sent after it was cut off, so it must not commit. One that
// ignores that error and reports success anyway has what it stored
// deleted. Either way the copy counts as failed.
func TestStalledPutThatResumesIsNotKept(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignores read errors=%v", broken), func(t *testing.T) {
			backup.SetAbandonGrace(t, 30*time.Second)
			r := newStallRun(t, 2*time.Second, 1<<20, 16<<20)
			r.stuck.ignoreCancel, r.stuck.ignoreReadErr = true, broken
			time.AfterFunc(5*time.Second, func() { close(r.stuck.release) })
			res, err := r.eng.Run(context.Background(), r.job, backup.RunOptions{})
			require.ErrorIs(t, err, backup.ErrDestinationStalled)
			assert.Equal(t, store.RunPartial, res.Run.Status)
			if broken {
				assert.NoError(t, <-r.stuck.returned, "the broken Put reported success")
			} else {
				assert.ErrorIs(t, <-r.stuck.returned, backup.ErrDestinationStalled, "its stream ended with the stall")
			}
			assert.Empty(t, keys(t, r.stuck), "nothing of it is kept")
			assert.Len(t, keys(t, r.good), 2)
			require.Len(t, res.Backup.Copies, 1)
		})
	}
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
			r := newStallRun(t, 100*time.Millisecond, 1<<20, 16<<20)
			r.stuck.guards = tc.guards
			r.job.StallTimeout = tc.job
			r.job.Destinations = r.job.Destinations[1:] // the slow one alone
			time.AfterFunc(time.Second, func() { close(r.stuck.release) })
			res, err := r.eng.Run(context.Background(), r.job, backup.RunOptions{})
			require.NoError(t, err)
			assert.Equal(t, store.RunSucceeded, res.Run.Status)
		})
	}
}

// Destinations are waited for together: two Puts that ignore their
// cancellation are left behind after one grace period, not one each.
func TestStalledDestinationsAreWaitedForTogether(t *testing.T) {
	backup.SetAbandonGrace(t, 5*time.Second)
	r := newStallRun(t, 2*time.Second, 1<<20, 16<<20)
	r.stuck.ignoreCancel = true
	other := newStallingDest(1 << 20)
	other.ignoreCancel = true
	r.job.Destinations = append(r.job.Destinations, backup.Target{Name: "stuck too", Destination: other})
	t.Cleanup(func() { close(r.stuck.release); close(other.release) })
	start := time.Now()
	res, err := r.eng.Run(context.Background(), r.job, backup.RunOptions{})
	require.ErrorIs(t, err, backup.ErrDestinationStalled)
	assert.Equal(t, store.RunPartial, res.Run.Status)
	assert.Len(t, res.Failures, 2)
	// 2 s of stall, then one 5 s grace for both: about 8 s (measured 8.2 s
	// under -race); one grace after the other would be more than 12 s.
	elapsed := time.Since(start)
	t.Logf("the run took %s", elapsed.Round(time.Millisecond))
	assert.Less(t, elapsed, 11500*time.Millisecond)
}
