package destinationtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
)

// put stores data under key through an oddChunkReader and checks the result.
func (s *suite) put(t *testing.T, d destination.Destination, key string, data []byte) destination.Object {
	t.Helper()
	obj, err := d.Put(t.Context(), key, newOddChunkReader(data), nil)
	require.NoError(t, err, "Put(%q)", key)
	assert.Equal(t, key, obj.Key, "Put(%q) returned Object.Key", key)
	assert.Equal(t, int64(len(data)), obj.Size, "Put(%q) returned Object.Size", key)
	return obj
}

// requireObject checks that key holds exactly want, through Stat, Open and List.
func (s *suite) requireObject(t *testing.T, d destination.Destination, key string, want []byte) {
	t.Helper()
	ctx := t.Context()
	obj, err := d.Stat(ctx, key)
	require.NoError(t, err, "Stat(%q)", key)
	assert.Equal(t, key, obj.Key, "Stat(%q).Key", key)
	assert.Equal(t, int64(len(want)), obj.Size, "Stat(%q).Size", key)
	if s.has(ModTime) {
		assert.False(t, obj.ModTime.IsZero(), "Stat(%q).ModTime is zero (declare Lacks(ModTime) if the store has none)", key)
	}
	requireSameBytes(t, want, readObject(t, d, key), "content of %q", key)

	var found []destination.Object
	for o, err := range d.List(ctx, key) {
		require.NoError(t, err, "List(%q)", key)
		if o.Key == key {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "List(%q) must yield %q exactly once", key, key)
	assert.Equal(t, int64(len(want)), found[0].Size, "List(%q) Object.Size", key)
	if s.has(ModTime) {
		assert.False(t, found[0].ModTime.IsZero(), "List(%q) Object.ModTime is zero", key)
	}
}

// requireAbsent checks that key holds nothing: Stat and Open fail with
// ErrNotExist and List does not yield it.
func requireAbsent(t *testing.T, d destination.Destination, key string) {
	t.Helper()
	ctx := t.Context()
	_, err := d.Stat(ctx, key)
	require.ErrorIs(t, err, destination.ErrNotExist, "Stat(%q) of an absent key", key)
	rc, err := d.Open(ctx, key)
	if err == nil {
		rc.Close()
	}
	require.ErrorIs(t, err, destination.ErrNotExist, "Open(%q) of an absent key", key)
	assert.NotContains(t, listKeys(t, d, key), key, "List(%q) yields an absent key", key)
}

// requireIntactOrGone checks that key either holds exactly old or nothing at
// all, consistently across Stat, Open and List. It reports whether it is there.
func (s *suite) requireIntactOrGone(t *testing.T, d destination.Destination, key string, old []byte) bool {
	t.Helper()
	_, err := d.Stat(t.Context(), key)
	if err != nil {
		require.ErrorIs(t, err, destination.ErrNotExist, "Stat(%q)", key)
		requireAbsent(t, d, key)
		return false
	}
	s.requireObject(t, d, key, old)
	return true
}

// readObject returns the whole content of key.
func readObject(t *testing.T, d destination.Destination, key string) []byte {
	t.Helper()
	rc, err := d.Open(t.Context(), key)
	require.NoError(t, err, "Open(%q)", key)
	b, err := io.ReadAll(rc)
	require.NoError(t, err, "reading %q", key)
	require.NoError(t, rc.Close(), "closing the reader of %q", key)
	return b
}

// listObjects returns everything List(prefix) yields, failing on an error.
func listObjects(t *testing.T, d destination.Destination, prefix string) []destination.Object {
	t.Helper()
	var out []destination.Object
	for o, err := range d.List(t.Context(), prefix) {
		require.NoError(t, err, "List(%q)", prefix)
		out = append(out, o)
	}
	return out
}

// listKeys returns the keys List(prefix) yields, failing on an error.
func listKeys(t *testing.T, d destination.Destination, prefix string) []string {
	t.Helper()
	var keys []string
	for _, o := range listObjects(t, d, prefix) {
		keys = append(keys, o.Key)
	}
	return keys
}

// requireKeys checks that List(prefix) yields exactly want, in that order.
func requireKeys(t *testing.T, d destination.Destination, prefix string, want []string) {
	t.Helper()
	got := listKeys(t, d, prefix)
	if len(want) == 0 && len(got) == 0 {
		return
	}
	require.Equal(t, want, got, "keys yielded by List(%q)", prefix)
}

// requireSameBytes compares two possibly large byte slices without dumping
// megabytes into the failure message.
func requireSameBytes(t *testing.T, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	at := 0
	for at < len(want) && at < len(got) && want[at] == got[at] {
		at++
	}
	require.Failf(t, "bytes differ",
		"want %d bytes (sha256 %x), got %d bytes (sha256 %x); first difference at offset %d. %s",
		len(want), sha256.Sum256(want), len(got), sha256.Sum256(got), at, messageOf(msgAndArgs))
}

func messageOf(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	if f, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(f, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}

// putResult is what a Put run in a goroutine returns.
type putResult struct {
	obj destination.Object
	err error
}

// goPut runs Put in a goroutine and returns the channel its result arrives on.
// A test cleanup waits for the Put to return, after calling unblock if it is
// non-nil, so that no Put outlives the test's destination.
func goPut(t *testing.T, ctx context.Context, d destination.Destination, key string, r io.Reader, opts *destination.PutOptions, unblock func()) <-chan putResult {
	t.Helper()
	done := make(chan putResult, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		obj, err := d.Put(ctx, key, r, opts)
		done <- putResult{obj, err}
	}()
	t.Cleanup(func() {
		if unblock != nil {
			unblock()
		}
		<-finished
	})
	return done
}

// sortedCopy returns a sorted copy of keys.
func sortedCopy(keys []string) []string {
	out := slices.Clone(keys)
	slices.Sort(out)
	return out
}
