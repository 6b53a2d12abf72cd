package destinationtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
)

func (s *suite) testRoundTrip(t *testing.T, d destination.Destination) {
	cases := []struct {
		name, key string
		data      []byte
	}{
		{"Empty", "empty", []byte{}},
		{"Small", "dir/small.txt", []byte("hello, backup\n")},
		{"Large", "dir/sub/large.bin", randomBytes(1, s.largeSize)},
	}
	var keys []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.put(t, d, c.key, c.data)
			s.requireObject(t, d, c.key, c.data)
		})
		keys = append(keys, c.key)
	}
	requireKeys(t, d, "", sortedCopy(keys))
}

func (s *suite) testKnownSize(t *testing.T, d destination.Destination) {
	ctx := t.Context()
	data := randomBytes(2, 100_003)
	opts := &destination.PutOptions{
		Size:        int64(len(data)),
		ContentType: "application/octet-stream",
		Metadata:    map[string]string{"backup-id": "b-1"},
	}
	obj, err := d.Put(ctx, "known/size.bin", newOddChunkReader(data), opts)
	require.NoError(t, err, "Put with PutOptions.Size equal to the bytes read")
	assert.Equal(t, int64(len(data)), obj.Size)
	s.requireObject(t, d, "known/size.bin", data)

	// Size zero or negative means unknown.
	for _, size := range []int64{0, -1} {
		key := fmt.Sprintf("known/unknown%d", size)
		_, err := d.Put(ctx, key, newOddChunkReader(data), &destination.PutOptions{Size: size})
		require.NoError(t, err, "Put with PutOptions.Size %d (unknown)", size)
		s.requireObject(t, d, key, data)
	}
}

func (s *suite) testReplace(t *testing.T, d destination.Destination) {
	big := randomBytes(3, 300_007)
	small := []byte("replaced")
	s.put(t, d, "r/key", big)
	s.put(t, d, "r/key", small)
	s.requireObject(t, d, "r/key", small)
	s.put(t, d, "r/key", big)
	s.requireObject(t, d, "r/key", big)
	s.put(t, d, "r/key", []byte{})
	s.requireObject(t, d, "r/key", []byte{})
	requireKeys(t, d, "", []string{"r/key"})
}

func (s *suite) testMissing(t *testing.T, d destination.Destination) {
	requireAbsent(t, d, "missing")
	requireAbsent(t, d, "missing/nested/key")

	s.put(t, d, "dir/file", []byte("x"))
	// A prefix of a key, even one that looks like a folder, is not an object.
	requireAbsent(t, d, "dir")
	requireAbsent(t, d, "dir/fil")
	requireAbsent(t, d, "dir/file/below")
	// Deleting it is deleting a missing key: nil, and nothing else goes.
	require.NoError(t, d.Delete(t.Context(), "dir"), "Delete of a key that is only a prefix of others")
	s.requireObject(t, d, "dir/file", []byte("x"))
}

func (s *suite) testDelete(t *testing.T, d destination.Destination) {
	ctx := t.Context()
	for _, k := range []string{"a", "ab", "a b", "d/x", "d/y"} {
		s.put(t, d, k, []byte(k))
	}
	require.NoError(t, d.Delete(ctx, "a"))
	requireAbsent(t, d, "a")
	s.requireObject(t, d, "ab", []byte("ab"))
	s.requireObject(t, d, "a b", []byte("a b"))

	require.NoError(t, d.Delete(ctx, "a"), "deleting a key twice")
	require.NoError(t, d.Delete(ctx, "never"), "deleting a missing key")
	require.NoError(t, d.Delete(ctx, "never/nested/deep"), "deleting a missing nested key")

	require.NoError(t, d.Delete(ctx, "d/x"))
	s.requireObject(t, d, "d/y", []byte("d/y"))
	require.NoError(t, d.Delete(ctx, "d/y"))
	requireKeys(t, d, "", []string{"a b", "ab"})
	requireKeys(t, d, "d", nil)

	// The emptied "folder" can be written again.
	s.put(t, d, "d/x", []byte("again"))
	s.requireObject(t, d, "d/x", []byte("again"))
}

// listKeysFixture holds keys whose lexical order differs from a per-folder
// walk: ' ', '-' and '.' sort before '/', '0' after it.
var listKeysFixture = []string{
	"a b", "a-b", "a.b", "a/b/c", "a/b/d", "a/b0", "a/c", "a0", "ab",
	"b/z", "b/é", "b/日本語/x", "c d/e f", "z", "é", "日本語",
}

func (s *suite) testList(t *testing.T, d destination.Destination) {
	requireKeys(t, d, "", nil)
	// Store in reverse order so that creation order cannot pass for key order.
	for _, k := range slices.Backward(listKeysFixture) {
		s.put(t, d, k, []byte(k))
	}
	all := sortedCopy(listKeysFixture)

	objs := listObjects(t, d, "")
	for _, o := range objs {
		assert.Equal(t, int64(len(o.Key)), o.Size, "List Object.Size of %q", o.Key)
		if s.has(ModTime) {
			assert.False(t, o.ModTime.IsZero(), "List Object.ModTime of %q is zero", o.Key)
		}
	}

	prefixes := []string{
		"", "a", "a/", "a/b", "a/b/", "a/b/c", "a/b/c/", "a0", "b", "b/", "b/日", "b/日本語/",
		"c", "c d/", "c d/e f", "é", "日本語", "z",
		"nothing", "zz", "a/x", "a/b/c/d", "/", "../", "a//", "a\\", ".", " ",
	}
	for _, p := range prefixes {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		requireKeys(t, d, p, want)
	}
}

func (s *suite) testListStopsEarly(t *testing.T, d destination.Destination) {
	for _, k := range []string{"k1", "k2", "k3", "sub/k4", "sub/k5"} {
		s.put(t, d, k, []byte(k))
	}
	var got []string
	for o, err := range d.List(t.Context(), "") {
		require.NoError(t, err)
		got = append(got, o.Key)
		if len(got) == 2 {
			break
		}
	}
	require.Equal(t, []string{"k1", "k2"}, got)
	// Stopping early leaves nothing behind that would disturb later calls.
	requireKeys(t, d, "", []string{"k1", "k2", "k3", "sub/k4", "sub/k5"})
}

func (s *suite) testKeyCharacters(t *testing.T, d destination.Destination) {
	keys := []string{
		"with space/file name.txt",
		" leading space",
		"trailing space ",
		"ünïcödé/日本語.txt",
		"emoji 🎉.bin",
		"punct !#$%&'()+,;=@[]^`{}~.txt",
		"percent%20and+plus",
		"-leading-dash",
		".hidden",
		"..dots..",
		"a...b",
		"question?/star*/colon:/quote\"/angle<>/pipe|",
	}
	for _, k := range keys {
		s.put(t, d, k, []byte(k))
	}
	for _, k := range keys {
		s.requireObject(t, d, k, []byte(k))
	}
	requireKeys(t, d, "", sortedCopy(keys))
	for _, k := range keys {
		require.NoError(t, d.Delete(t.Context(), k), "Delete(%q)", k)
		requireAbsent(t, d, k)
	}
	requireKeys(t, d, "", nil)
}

func (s *suite) testLongKey(t *testing.T, d destination.Destination) {
	var segs []string
	for i := range 5 {
		segs = append(segs, strings.Repeat(string(rune('a'+i)), 200))
	}
	key := strings.Join(segs, "/")
	key += "/" + strings.Repeat("z", destination.MaxKeyLen-len(key)-1)
	require.Len(t, key, destination.MaxKeyLen)
	require.NoError(t, destination.ValidateKey(key))

	s.put(t, d, key, []byte("long"))
	s.requireObject(t, d, key, []byte("long"))
	require.NoError(t, d.Delete(t.Context(), key))
	requireAbsent(t, d, key)
}

func (s *suite) testCaseSensitiveKeys(t *testing.T, d destination.Destination) {
	upper, lower := []byte("upper"), []byte("lower")
	s.put(t, d, "Report.txt", upper)
	s.put(t, d, "report.txt", lower)
	if s.has(CaseSensitiveKeys) {
		s.requireObject(t, d, "Report.txt", upper)
		s.requireObject(t, d, "report.txt", lower)
		requireKeys(t, d, "", []string{"Report.txt", "report.txt"})
		return
	}
	// Both names reach the one object, which holds the last write, whole.
	requireSameBytes(t, lower, readObject(t, d, "report.txt"))
	requireSameBytes(t, lower, readObject(t, d, "Report.txt"))
	keys := listKeys(t, d, "")
	require.Len(t, keys, 1, "List after storing two keys that differ only in case")
	require.True(t, strings.EqualFold(keys[0], "report.txt"), "List yields %q", keys[0])
}

func (s *suite) testObjectsAsFolders(t *testing.T, d destination.Destination) {
	ctx := t.Context()
	if s.has(ObjectsAsFolders) {
		s.put(t, d, "a", []byte("A"))
		s.put(t, d, "a/b", []byte("B"))
		s.put(t, d, "a/b/c", []byte("C"))
		requireKeys(t, d, "", []string{"a", "a/b", "a/b/c"})
		require.NoError(t, d.Delete(ctx, "a"))
		requireAbsent(t, d, "a")
		s.requireObject(t, d, "a/b", []byte("B"))
		s.requireObject(t, d, "a/b/c", []byte("C"))
		return
	}

	// A key that is already a "folder" of other objects.
	s.put(t, d, "a/b", []byte("B"))
	_, err := d.Put(ctx, "a", newOddChunkReader([]byte("A")), nil)
	require.Error(t, err, `Put("a") while "a/b" exists, on a destination that lacks ObjectsAsFolders`)
	requireAbsent(t, d, "a")
	s.requireObject(t, d, "a/b", []byte("B"))

	// A key below an existing object.
	s.put(t, d, "x", []byte("X"))
	_, err = d.Put(ctx, "x/y", newOddChunkReader([]byte("Y")), nil)
	require.Error(t, err, `Put("x/y") while "x" exists, on a destination that lacks ObjectsAsFolders`)
	requireAbsent(t, d, "x/y")
	s.requireObject(t, d, "x", []byte("X"))

	requireKeys(t, d, "", []string{"a/b", "x"})
}

// invalidKeys are keys that destination.ValidateKey refuses.
var invalidKeys = []string{
	"", "/abs", "a/../b", "a//b", "a/", "..", "a\\b", ".", "./a", "a/.", "a/./b",
	"../a", "a/..", "/", "a\x00b", "a\nb", "tab\there", "\xff\xfe",
	strings.Repeat("k", destination.MaxKeyLen+1),
}

func (s *suite) testInvalidKeys(t *testing.T, d destination.Destination) {
	ctx := t.Context()
	for _, key := range invalidKeys {
		require.Error(t, destination.ValidateKey(key), "the suite expects ValidateKey to refuse %q", key)

		_, err := d.Put(ctx, key, strings.NewReader("data"), nil)
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Put(%q)", key)
		assert.False(t, destination.IsRetryable(err), "an invalid key is not worth retrying: Put(%q)", key)

		rc, err := d.Open(ctx, key)
		if err == nil {
			rc.Close()
		}
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Open(%q)", key)

		_, err = d.Stat(ctx, key)
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Stat(%q)", key)

		err = d.Delete(ctx, key)
		require.ErrorIs(t, err, destination.ErrInvalidKey, "Delete(%q)", key)
	}
	requireKeys(t, d, "", nil)
}

// failedPut runs a Put that must fail, on a new key and on a key that already
// holds an object, and checks that it left nothing behind: the new key is
// absent, the old object intact or gone, nothing else is listed, and the key
// can be written again. put runs the Put on the given key and returns its error.
func (s *suite) failedPut(t *testing.T, d destination.Destination, check func(t *testing.T, err error), put func(t *testing.T, key string) error) {
	t.Helper()
	t.Run("NewKey", func(t *testing.T) {
		err := put(t, "new/key")
		require.Error(t, err, "the Put must fail")
		check(t, err)
		requireAbsent(t, d, "new/key")
		requireKeys(t, d, "", nil)
		s.cleanupAfterFailure(t, d)
		requireKeys(t, d, "", nil)
		s.put(t, d, "new/key", []byte("after"))
		s.requireObject(t, d, "new/key", []byte("after"))
		require.NoError(t, d.Delete(t.Context(), "new/key"))
	})
	t.Run("ExistingKey", func(t *testing.T) {
		old := randomBytes(9, 70_001)
		s.put(t, d, "old/key", old)
		err := put(t, "old/key")
		require.Error(t, err, "the Put must fail")
		check(t, err)
		there := s.requireIntactOrGone(t, d, "old/key", old)
		want := []string(nil)
		if there {
			want = []string{"old/key"}
		}
		requireKeys(t, d, "", want)
		s.cleanupAfterFailure(t, d)
		requireKeys(t, d, "", want)
		s.put(t, d, "old/key", []byte("after"))
		s.requireObject(t, d, "old/key", []byte("after"))
		require.NoError(t, d.Delete(t.Context(), "old/key"))
	})
}

// cleanupAfterFailure runs Cleanup, if the destination has it, after a failed
// Put: the Put should have removed its own debris, so there is nothing to do.
func (s *suite) cleanupAfterFailure(t *testing.T, d destination.Destination) {
	t.Helper()
	c, ok := d.(destination.Cleaner)
	if !ok {
		return
	}
	n, err := c.Cleanup(t.Context())
	require.NoError(t, err, "Cleanup")
	assert.Zero(t, n, "Cleanup found debris of a failed Put; Put should remove its own")
}

func (s *suite) testAtomicReaderError(t *testing.T, d destination.Destination) {
	wrapsReaderErr := func(t *testing.T, err error) {
		assert.ErrorIs(t, err, errReader, "Put should wrap its reader's error, so that callers can tell it from a destination failure")
	}
	t.Run("MidStream", func(t *testing.T) {
		s.failedPut(t, d, wrapsReaderErr, func(t *testing.T, key string) error {
			_, err := d.Put(t.Context(), key, newFailingReader(4, 1<<20+3), nil)
			return err
		})
	})
	t.Run("FirstRead", func(t *testing.T) {
		s.failedPut(t, d, wrapsReaderErr, func(t *testing.T, key string) error {
			_, err := d.Put(t.Context(), key, newFailingReader(4, 0), nil)
			return err
		})
	})
	t.Run("WithKnownSize", func(t *testing.T) {
		s.failedPut(t, d, wrapsReaderErr, func(t *testing.T, key string) error {
			_, err := d.Put(t.Context(), key, newFailingReader(4, 100_000), &destination.PutOptions{Size: 200_000})
			return err
		})
	})
}

func isCanceled(t *testing.T, err error) {
	assert.ErrorIs(t, err, context.Canceled, "a Put whose context is canceled should return an error that wraps context.Canceled")
}

func (s *suite) testAtomicCanceled(t *testing.T, d destination.Destination) {
	s.failedPut(t, d, isCanceled, func(t *testing.T, key string) error {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := &cancelingReader{r: newOddChunkReader(randomBytes(5, 3<<20)), cancelAt: 1 << 20, cancel: cancel}
		_, err := d.Put(ctx, key, r, nil)
		return err
	})
}

func (s *suite) testAtomicCanceledWhileBlocked(t *testing.T, d destination.Destination) {
	s.failedPut(t, d, isCanceled, func(t *testing.T, key string) error {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := newBlockingReader(randomBytes(6, 200_003), nil)
		r.ctx = ctx
		done := goPut(t, ctx, d, key, r, nil, cancel)
		select {
		case <-r.blocked:
		case res := <-done:
			t.Fatalf("Put returned before reading to the end of its reader: %v", res.err)
		}
		cancel()
		return (<-done).err
	})
}

func (s *suite) testAtomicCanceledBeforePut(t *testing.T, d destination.Destination) {
	s.failedPut(t, d, isCanceled, func(t *testing.T, key string) error {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := d.Put(ctx, key, newOddChunkReader([]byte("never stored")), nil)
		return err
	})
}

func (s *suite) testAtomicSizeMismatch(t *testing.T, d destination.Destination) {
	cases := []struct {
		name string
		n    int
		size int64
	}{
		{"Shorter", 1000, 1001},
		{"Longer", 1001, 1000},
		{"LongerLarge", 2<<20 + 1, 1 << 20},
		{"EmptyWithSize", 0, 10},
		{"OneByteWithSize", 1, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.failedPut(t, d, func(*testing.T, error) {}, func(t *testing.T, key string) error {
				data := randomBytes(uint64(c.n), c.n)
				_, err := d.Put(t.Context(), key, newOddChunkReader(data), &destination.PutOptions{Size: c.size})
				return err
			})
		})
	}
}

func (s *suite) testConcurrentPuts(t *testing.T, d destination.Destination) {
	const n = 8
	keys := make([]string, n)
	data := make([][]byte, n)
	for i := range n {
		if i%2 == 0 {
			keys[i] = fmt.Sprintf("c/%d/new/obj", i) // folders created concurrently
		} else {
			keys[i] = fmt.Sprintf("c/shared/obj-%d", i) // one folder, many writers
		}
		data[i] = randomBytes(uint64(100+i), 64<<10+i*1013)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = d.Put(t.Context(), keys[i], newOddChunkReader(data[i]), nil)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "concurrent Put(%q)", keys[i])
	}
	for i := range n {
		s.requireObject(t, d, keys[i], data[i])
	}
	requireKeys(t, d, "", sortedCopy(keys))
}

func (s *suite) testConcurrentPutsSameKey(t *testing.T, d destination.Destination) {
	const n = 4
	data := make([][]byte, n)
	for i := range n {
		data[i] = randomBytes(uint64(200+i), 256<<10+i)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = d.Put(t.Context(), "same/key", newOddChunkReader(data[i]), nil)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "concurrent Put #%d to the same key", i)
	}
	got := readObject(t, d, "same/key")
	require.True(t, slices.ContainsFunc(data, func(b []byte) bool { return bytes.Equal(b, got) }),
		"after concurrent Puts to one key it must hold one of the written objects, whole; got %d bytes", len(got))
	requireKeys(t, d, "", []string{"same/key"})
}

// testConcurrentPutAndDelete writes and deletes objects in one folder while
// others write into it, so that a destination that removes emptied folders
// must cope with a Put that needs the folder at the same time.
func (s *suite) testConcurrentPutAndDelete(t *testing.T, d destination.Destination) {
	const writers, rounds = 4, 10
	ctx := t.Context()
	errs := make([]error, 2*writers)
	var kept []string
	for w := range writers {
		for r := range rounds {
			kept = append(kept, fmt.Sprintf("p/q/keep-%d-%02d", w, r))
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { // put then delete, in a loop
			<-start
			key := fmt.Sprintf("p/q/cycle-%d", w)
			for range rounds {
				if _, err := d.Put(ctx, key, strings.NewReader(key), nil); err != nil {
					errs[w] = fmt.Errorf("Put(%q): %w", key, err)
					return
				}
				if err := d.Delete(ctx, key); err != nil {
					errs[w] = fmt.Errorf("Delete(%q): %w", key, err)
					return
				}
			}
		})
		wg.Go(func() { // put new keys into the same folder
			<-start
			for r := range rounds {
				key := fmt.Sprintf("p/q/keep-%d-%02d", w, r)
				if _, err := d.Put(ctx, key, strings.NewReader(key), nil); err != nil {
					errs[writers+w] = fmt.Errorf("Put(%q): %w", key, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	requireKeys(t, d, "", sortedCopy(kept))
	for _, k := range kept {
		require.NoError(t, d.Delete(ctx, k))
	}
	requireKeys(t, d, "", nil)
}

func (s *suite) testNotVisibleWhileWriting(t *testing.T, d destination.Destination) {
	ctx := t.Context()
	existing := []byte("existing")
	s.put(t, d, "existing", existing)

	// A new key.
	head, tail := randomBytes(10, 1<<20+5), randomBytes(11, 12_345)
	r := newBlockingReader(head, tail)
	var once sync.Once
	release := func() { once.Do(func() { close(r.release) }) }
	done := goPut(t, ctx, d, "inflight/obj", r, nil, release)
	select {
	case <-r.blocked:
	case res := <-done:
		t.Fatalf("Put returned before reading to the end of its reader: %v", res.err)
	}
	requireKeys(t, d, "", []string{"existing"})
	requireKeys(t, d, "inflight/", nil)
	requireAbsent(t, d, "inflight/obj")
	if c, ok := d.(destination.Cleaner); ok {
		n, err := c.Cleanup(ctx)
		require.NoError(t, err, "Cleanup while a Put is in progress")
		assert.Zero(t, n, "Cleanup removed something while the only debris was that of a Put in progress")
	}
	release()
	res := <-done
	require.NoError(t, res.err, "the Put, once unblocked (and after Cleanup, if any)")
	s.requireObject(t, d, "inflight/obj", append(slices.Clone(head), tail...))
	requireKeys(t, d, "", []string{"existing", "inflight/obj"})

	// Replacing an existing key: until the Put returns, the old object stays
	// whole (or is gone); the new one never shows half-written.
	newer := randomBytes(12, 300_001)
	r2 := newBlockingReader(newer[:200_000], newer[200_000:])
	var once2 sync.Once
	release2 := func() { once2.Do(func() { close(r2.release) }) }
	done2 := goPut(t, ctx, d, "existing", r2, nil, release2)
	select {
	case <-r2.blocked:
	case res := <-done2:
		t.Fatalf("Put returned before reading to the end of its reader: %v", res.err)
	}
	s.requireIntactOrGone(t, d, "existing", existing)
	assert.Subset(t, []string{"existing", "inflight/obj"}, listKeys(t, d, ""), "keys listed while replacing")
	release2()
	require.NoError(t, (<-done2).err)
	s.requireObject(t, d, "existing", newer)
}

func (s *suite) testChecker(t *testing.T, d destination.Destination) {
	c, ok := d.(destination.Checker)
	if !ok {
		t.Skip("the destination does not implement destination.Checker")
	}
	require.NoError(t, c.Check(t.Context()), "Check on an empty destination")
	s.put(t, d, "x", []byte("x"))
	require.NoError(t, c.Check(t.Context()), "Check on a destination holding an object")
	requireKeys(t, d, "", []string{"x"})
	s.requireObject(t, d, "x", []byte("x"))
}

func (s *suite) testCleaner(t *testing.T, d destination.Destination) {
	c, ok := d.(destination.Cleaner)
	if !ok {
		t.Skip("the destination does not implement destination.Cleaner")
	}
	ctx := t.Context()
	n, err := c.Cleanup(ctx)
	require.NoError(t, err, "Cleanup on an empty destination")
	assert.Zero(t, n, "Cleanup on an empty destination")

	s.put(t, d, "keep/a", []byte("a"))
	_, err = d.Put(ctx, "keep/b", newFailingReader(13, 10_000), nil)
	require.Error(t, err)
	_, err = d.Put(ctx, "keep/c", strings.NewReader("short"), &destination.PutOptions{Size: 100})
	require.Error(t, err)

	n, err = c.Cleanup(ctx)
	require.NoError(t, err, "Cleanup")
	assert.Zero(t, n, "Cleanup found debris of failed Puts; Put should remove its own")
	s.requireObject(t, d, "keep/a", []byte("a"))
	requireKeys(t, d, "", []string{"keep/a"})
}
