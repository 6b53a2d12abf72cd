// Package sourcetest is the conformance suite every source adapter runs.
//
// An adapter's tests implement [Harness] over data they control (a scratch
// folder, a database on a test server, a bucket prefix) and call [Run]:
//
//	func TestConformance(t *testing.T) {
//		sourcetest.Run(t, newHarness(t), sourcetest.Config{
//			Lacks: sourcetest.PointInTime, // what this adapter cannot do
//		})
//	}
//
// The core test is the round trip: seed known data, snapshot it, restore the
// snapshot into a fresh target, snapshot the target and compare the two
// snapshots. Byte equality is the default comparison; adapters whose format
// legitimately varies between equal data sets (dump timestamps, server-chosen
// ids, unordered collections) supply [Config.Canonical] instead.
//
// Run also checks the contracts of source.Source, source.Restorer and
// source.Checker that hold for every adapter:
//
//   - Format is non-empty, usable in a file name, stable, and equal to Info.Format;
//     Info.Kind is non-empty; Info.PointInTime matches the declared abilities;
//     Info never contains Config.Secret.
//   - Snapshot is repeatable on unchanged data, safe for concurrent use, does not
//     close its writer, returns an error wrapping context.Canceled when its
//     context is canceled, and returns an error wrapping the writer's error when
//     the writer fails.
//   - Check (when implemented) succeeds on the seeded source.
//   - Restore round-trips every data variant (equal content, and Info.Items
//     with the same counts) without closing its reader; reads the reader to its
//     end, so that an error the reader reports there (a checksum mismatch)
//     fails the restore; returns an error wrapping context.Canceled when its
//     context is canceled; replaces data with DropExisting and refuses to
//     overwrite without it; writes nothing with DryRun, not even with
//     DropExisting; fails on garbage and on truncated streams; and leaves the
//     target as it was when it fails.
//   - When the Source also implements source.Inspector and source.Scratcher
//     (optional; skipped otherwise): Snapshot, Restore into a ScratchTarget,
//     Inspect of it equals the snapshot's Info.Items (names, counts and
//     checksums; not Bytes, see [SameItems]), DropTarget removes it so that
//     Inspect reports no Items, and DropTarget refuses the source's own
//     location (""), which it leaves unchanged. When it implements
//     source.TargetSourcer too, a Snapshot of TargetSource(scratch) holds the
//     same data as the original snapshot.
//
// An adapter that lacks an ability declares it in [Config.Lacks]; the tests that
// need it are skipped with a message saying so. Declaring an ability the adapter
// has is harmless; lacking one it does not declare fails the suite.
package sourcetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
)

// Harness connects the suite to one adapter. The suite calls its methods from
// the test goroutine only, with the *testing.T of the running subtest, and
// never in parallel. Methods report their own failures with t.Fatal.
type Harness interface {
	// Source returns the Source under test. It may be called before or after
	// Seed and must read whatever the last Seed put in place at the time
	// Snapshot runs.
	Source(t testing.TB) source.Source

	// Seed replaces the data the Source reads with data set number variant,
	// 0 <= variant < Config.Variants. Each variant has different content; the
	// same variant always has the same content. Good data sets exercise the
	// format: empty and large items, unusual names, several kinds of item.
	Seed(t testing.TB, variant int)

	// RestoreTarget returns a new value for RestoreOptions.Target that holds no
	// data yet: a folder path that does not exist, an unused database name, an
	// empty bucket prefix. The harness removes whatever ends up there when the
	// test ends (t.Cleanup).
	RestoreTarget(t testing.TB) string

	// OpenTarget returns a Source that snapshots what is at target, in the same
	// format as Source, so that a restore can be compared with the original.
	// It must not fail when nothing exists at target yet: the suite uses it to
	// check that failed and dry-run restores wrote nothing, so return a Source
	// whose Snapshot fails or reports an empty data set.
	OpenTarget(t testing.TB, target string) source.Source
}

// Ability is something the suite tests for that an adapter may lack. Abilities
// combine with |.
type Ability uint

const (
	// Restore: the Source implements source.Restorer. Without it every restore
	// test is skipped.
	Restore Ability = 1 << iota
	// DryRun: Restore with RestoreOptions.DryRun reads and validates the stream
	// and writes nothing.
	DryRun
	// PointInTime: snapshots are consistent points in time, and Info.PointInTime
	// is true. Adapters that lack it must report Info.PointInTime false.
	PointInTime
	// DetectTruncation: Restore fails on a snapshot cut short at any byte,
	// including at a boundary between items.
	DetectTruncation
	// AtomicRestore: a Restore that fails leaves the target exactly as it was.
	AtomicRestore
	// RefuseExisting: Restore without DropExisting refuses a target that
	// already holds data, with an error and without changing it.
	RefuseExisting
)

var abilityNames = []string{"Restore", "DryRun", "PointInTime", "DetectTruncation", "AtomicRestore", "RefuseExisting"}

// String lists the abilities in a, joined by "|".
func (a Ability) String() string {
	var names []string
	for i, n := range abilityNames {
		if a&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Config describes an adapter to Run. The zero value means: the adapter has
// every ability, Seed knows two variants, and snapshots compare byte for byte.
type Config struct {
	// Lacks lists the abilities the adapter does not have.
	Lacks Ability

	// Variants is the number of data sets Seed knows. Zero means 2. With 1,
	// the tests that need two different data sets are skipped.
	Variants int

	// Canonical maps a snapshot to a value that two snapshots of equal data
	// share, compared with testify's ObjectsAreEqual (reflect.DeepEqual, or
	// bytes.Equal for []byte). Use it when the format varies between equal data
	// sets (timestamps in a dump header, unordered collections). It must
	// report malformed input with t.Fatal. Nil means byte equality.
	Canonical func(t testing.TB, snapshot []byte) any

	// Secret, when not empty, is a string that must never appear in an Info
	// (a password from the source's connection settings).
	Secret string
}

func (c Config) has(a Ability) bool { return c.Lacks&a == 0 }

func (c Config) variants() int {
	if c.Variants <= 0 {
		return 2
	}
	return c.Variants
}

// canonical returns the value snapshots are compared by.
func (c Config) canonical(t testing.TB, snapshot []byte) any {
	t.Helper()
	if c.Canonical != nil {
		return c.Canonical(t, snapshot)
	}
	sum := sha256.Sum256(snapshot)
	return fmt.Sprintf("%d bytes, sha256 %s", len(snapshot), hex.EncodeToString(sum[:]))
}

// RequireSameContent fails t now unless the two snapshots hold the same data:
// equal by Canonical, or byte for byte when Canonical is nil (the failure then
// shows where they first differ). Adapters can use it in their own tests.
func (c Config) RequireSameContent(t testing.TB, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if c.Canonical != nil {
		require.Equal(t, c.Canonical(t, want), c.Canonical(t, got), msgAndArgs...)
		return
	}
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-32)
	require.Failf(t, "snapshots differ",
		"lengths %d (want) and %d (got); first difference at byte %d:\nwant …%q\ngot  …%q\n%s",
		len(want), len(got), i, want[lo:min(len(want), i+32)], got[lo:min(len(got), i+32)],
		message(msgAndArgs))
}

// message formats testify-style msgAndArgs: a format string and its arguments.
func message(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	format, ok := msgAndArgs[0].(string)
	if !ok {
		return fmt.Sprint(msgAndArgs...)
	}
	return fmt.Sprintf(format, msgAndArgs[1:]...)
}

// Snapshot takes one snapshot of src into memory with the test's context and
// fails t now if Snapshot returns an error.
func Snapshot(t testing.TB, src source.Source) ([]byte, source.Info) {
	t.Helper()
	var buf bytes.Buffer
	info, err := src.Snapshot(t.Context(), &buf)
	require.NoError(t, err, "Snapshot")
	return buf.Bytes(), info
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness, cfg Config) {
	s := &suite{h: h, cfg: cfg}
	t.Run("Format", s.testFormat)
	t.Run("Info", s.testInfo)
	t.Run("Repeatable", s.testRepeatable)
	t.Run("VariantsDiffer", s.testVariantsDiffer)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("DoesNotCloseWriter", s.testDoesNotCloseWriter)
	t.Run("CanceledContext", s.testCanceledContext)
	t.Run("CancelDuringSnapshot", s.testCancelDuringSnapshot)
	t.Run("FailingWriter", s.testFailingWriter)
	t.Run("Check", s.testCheck)
	t.Run("RoundTrip", s.testRoundTrip)
	t.Run("DropExisting", s.testDropExisting)
	t.Run("RefuseExisting", s.testRefuseExisting)
	t.Run("DryRun", s.testDryRun)
	t.Run("Garbage", s.testGarbage)
	t.Run("Truncated", s.testTruncated)
	t.Run("RestoreCanceled", s.testRestoreCanceled)
	t.Run("InspectScratch", s.testInspectScratch)
}

type suite struct {
	h   Harness
	cfg Config
}

// seeded seeds variant and returns the Source and a snapshot of it.
func (s *suite) seeded(t *testing.T, variant int) (source.Source, []byte, source.Info) {
	t.Helper()
	s.h.Seed(t, variant)
	src := s.h.Source(t)
	require.NotNil(t, src, "Harness.Source returned nil")
	snap, info := Snapshot(t, src)
	return src, snap, info
}

// restorer returns src as a Restorer, or skips the test when the adapter
// declares it lacks the abilities; it fails when the adapter claims them but
// does not implement Restorer.
func (s *suite) restorer(t *testing.T, src source.Source, need ...Ability) source.Restorer {
	t.Helper()
	if !s.cfg.has(Restore) {
		t.Skip("adapter declares it lacks Restore")
	}
	for _, a := range need {
		if !s.cfg.has(a) {
			t.Skipf("adapter declares it lacks %v", a)
		}
	}
	r, ok := src.(source.Restorer)
	if !ok {
		t.Fatalf("%T does not implement source.Restorer; declare Config.Lacks: sourcetest.Restore", src)
	}
	return r
}

// targetState describes what is at a target, as OpenTarget's snapshot sees it:
// "absent" when that snapshot fails, else the canonical content.
type targetState struct {
	Absent  bool
	Content any
}

// assertSameState marks t failed unless before and after are equal,
// describing them briefly (a full canonical form can be huge).
func assertSameState(t *testing.T, before, after targetState, msgAndArgs ...any) {
	t.Helper()
	if assert.ObjectsAreEqual(before, after) {
		return
	}
	t.Errorf("%s\nbefore: %s\nafter:  %s", message(msgAndArgs), before, after)
}

func (ts targetState) String() string {
	if ts.Absent {
		return "absent (OpenTarget's Snapshot fails)"
	}
	s := fmt.Sprintf("%v", ts.Content)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "present: " + s
}

func (s *suite) state(t *testing.T, target string) targetState {
	t.Helper()
	src := s.h.OpenTarget(t, target)
	require.NotNil(t, src, "Harness.OpenTarget returned nil")
	var buf bytes.Buffer
	if _, err := src.Snapshot(t.Context(), &buf); err != nil {
		return targetState{Absent: true}
	}
	return targetState{Content: s.cfg.canonical(t, buf.Bytes())}
}

var formatPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.+_-]*$`)

func (s *suite) testFormat(t *testing.T) {
	src, _, info := s.seeded(t, 0)
	f := src.Format()
	require.NotEmpty(t, f, "Format")
	assert.Regexp(t, formatPattern, f, "Format becomes part of a file name: lower-case letters, digits, '.', '+', '_', '-'")
	for range 3 {
		assert.Equal(t, f, src.Format(), "Format must not change")
	}
	assert.Equal(t, f, info.Format, "Info.Format must equal Format()")
	assert.Equal(t, f, s.h.Source(t).Format(), "Format must be the same for every Source of the adapter")
}

func (s *suite) testInfo(t *testing.T) {
	for v := range s.cfg.variants() {
		_, _, info := s.seeded(t, v)
		assert.NotEmpty(t, info.Kind, "Info.Kind")
		assert.Equal(t, s.cfg.has(PointInTime), info.PointInTime,
			"Info.PointInTime must match the declared abilities (Config.Lacks has PointInTime: %v)", !s.cfg.has(PointInTime))
		for _, it := range info.Items {
			assert.NotEmpty(t, it.Name, "Info.Items: every item has a name")
			assert.GreaterOrEqual(t, it.Count, int64(0), "Info.Items[%q].Count", it.Name)
			assert.GreaterOrEqual(t, it.Bytes, int64(0), "Info.Items[%q].Bytes", it.Name)
		}
		js, err := json.Marshal(info)
		require.NoError(t, err, "Info must marshal to JSON (it goes into manifests)")
		var back source.Info
		require.NoError(t, json.Unmarshal(js, &back))
		assert.Equal(t, normalizeInfo(info), normalizeInfo(back), "Info must survive a JSON round trip")
		if s.cfg.Secret != "" {
			assert.NotContains(t, string(js), s.cfg.Secret, "Info (JSON) contains the secret")
			assert.NotContains(t, fmt.Sprintf("%+v", info), s.cfg.Secret, "Info (%%+v) contains the secret")
		}
	}
}

// normalizeInfo makes empty and nil slices and maps compare equal.
func normalizeInfo(i source.Info) source.Info {
	if len(i.Items) == 0 {
		i.Items = nil
	}
	if len(i.Details) == 0 {
		i.Details = nil
	}
	return i
}

func (s *suite) testRepeatable(t *testing.T) {
	src, first, _ := s.seeded(t, 0)
	second, _ := Snapshot(t, src)
	s.cfg.RequireSameContent(t, first, second, "two snapshots of unchanged data differ")
}

func (s *suite) testVariantsDiffer(t *testing.T) {
	if s.cfg.variants() < 2 {
		t.Skip("Config.Variants is 1")
	}
	_, a, _ := s.seeded(t, 0)
	_, b, _ := s.seeded(t, 1)
	assert.NotEqual(t, s.cfg.canonical(t, a), s.cfg.canonical(t, b),
		"variants 0 and 1 compare equal: Seed must make them differ, and Canonical must not hide the difference")
}

func (s *suite) testConcurrent(t *testing.T) {
	src, want, _ := s.seeded(t, 0)
	const n = 3
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var buf bytes.Buffer
			_, errs[i] = src.Snapshot(t.Context(), &buf)
			got[i] = buf.Bytes()
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "concurrent Snapshot %d", i)
		s.cfg.RequireSameContent(t, want, got[i], "concurrent Snapshot %d", i)
	}
}

// closeRecorder is a writer that records whether it was closed.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func (s *suite) testDoesNotCloseWriter(t *testing.T) {
	s.h.Seed(t, 0)
	var w closeRecorder
	_, err := s.h.Source(t).Snapshot(t.Context(), &w)
	require.NoError(t, err)
	assert.False(t, w.closed, "Snapshot must not close its writer")
}

func (s *suite) testCanceledContext(t *testing.T) {
	s.h.Seed(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.h.Source(t).Snapshot(ctx, io.Discard)
	require.Error(t, err, "Snapshot with a canceled context")
	assert.ErrorIs(t, err, context.Canceled, "Snapshot's error must wrap ctx.Err()")
}

// cancelingWriter cancels a context on its first Write and keeps accepting.
type cancelingWriter struct {
	cancel context.CancelFunc
}

func (w *cancelingWriter) Write(p []byte) (int, error) {
	w.cancel()
	return len(p), nil
}

func (s *suite) testCancelDuringSnapshot(t *testing.T) {
	s.h.Seed(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := s.h.Source(t).Snapshot(ctx, &cancelingWriter{cancel: cancel})
	// The snapshot may have been complete by its first write; if it was not,
	// it must stop with the context's error.
	if err != nil {
		assert.ErrorIs(t, err, context.Canceled, "Snapshot canceled while running must return an error wrapping ctx.Err()")
	}
}

var errWriter = errors.New("sourcetest: writer failed on purpose")

// failingWriter accepts n bytes, then fails every Write with errWriter.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	return k, errWriter
}

func (s *suite) testFailingWriter(t *testing.T) {
	src, snap, _ := s.seeded(t, 0)
	for _, after := range []int{0, len(snap) / 2, max(0, len(snap)-1)} {
		_, err := src.Snapshot(t.Context(), &failingWriter{n: after})
		require.Error(t, err, "Snapshot into a writer that fails after %d of %d bytes", after, len(snap))
		assert.ErrorIs(t, err, errWriter, "Snapshot's error must wrap the writer's error (writer failed after %d bytes)", after)
	}
}

func (s *suite) testCheck(t *testing.T) {
	s.h.Seed(t, 0)
	src := s.h.Source(t)
	c, ok := src.(source.Checker)
	if !ok {
		t.Skipf("%T does not implement source.Checker", src)
	}
	require.NoError(t, c.Check(t.Context()), "Check on a seeded source")
}

func (s *suite) testRoundTrip(t *testing.T) {
	for v := range s.cfg.variants() {
		t.Run(fmt.Sprint("variant", v), func(t *testing.T) {
			src, snap, info := s.seeded(t, v)
			r := s.restorer(t, src)
			target := s.h.RestoreTarget(t)
			rc := &readCloseRecorder{Reader: bytes.NewReader(snap)}
			require.NoError(t, r.Restore(t.Context(), rc, source.RestoreOptions{Target: target}),
				"Restore into %q", target)
			assert.False(t, rc.closed, "Restore must not close its reader")
			got, gotInfo := Snapshot(t, s.h.OpenTarget(t, target))
			s.cfg.RequireSameContent(t, snap, got, "the restored data differs from the original")
			assert.Equal(t, itemCounts(info), itemCounts(gotInfo), "Info.Items counts of the restored data differ")
		})
	}
}

// readCloseRecorder is a reader that records whether it was closed.
type readCloseRecorder struct {
	*bytes.Reader
	closed bool
}

func (r *readCloseRecorder) Close() error { r.closed = true; return nil }

// itemCounts returns the sorted counts of the items. Names are left out:
// they may name the target ("shop.orders" restored as "shop_copy.orders"),
// and so are Bytes, which may legitimately differ between equal data sets
// (a database's storage size).
func itemCounts(info source.Info) []int64 {
	counts := make([]int64, 0, len(info.Items))
	for _, it := range info.Items {
		counts = append(counts, it.Count)
	}
	slices.Sort(counts)
	return counts
}

func (s *suite) testDropExisting(t *testing.T) {
	if s.cfg.variants() < 2 {
		t.Skip("Config.Variants is 1")
	}
	src, a, _ := s.seeded(t, 0)
	r := s.restorer(t, src)
	_, b, _ := s.seeded(t, 1)
	target := s.h.RestoreTarget(t)
	require.NoError(t, r.Restore(t.Context(), bytes.NewReader(a), source.RestoreOptions{Target: target}), "first Restore")
	require.NoError(t, r.Restore(t.Context(), bytes.NewReader(b), source.RestoreOptions{Target: target, DropExisting: true}),
		"Restore with DropExisting onto a target that holds data")
	got, _ := Snapshot(t, s.h.OpenTarget(t, target))
	s.cfg.RequireSameContent(t, b, got, "after Restore with DropExisting the target must hold exactly the restored data")
}

func (s *suite) testRefuseExisting(t *testing.T) {
	if s.cfg.variants() < 2 {
		t.Skip("Config.Variants is 1")
	}
	src, a, _ := s.seeded(t, 0)
	r := s.restorer(t, src, RefuseExisting)
	_, b, _ := s.seeded(t, 1)
	target := s.h.RestoreTarget(t)
	require.NoError(t, r.Restore(t.Context(), bytes.NewReader(a), source.RestoreOptions{Target: target}), "first Restore")
	before := s.state(t, target)
	err := r.Restore(t.Context(), bytes.NewReader(b), source.RestoreOptions{Target: target})
	require.Error(t, err, "Restore without DropExisting onto a target that holds data must be refused")
	assertSameState(t, before, s.state(t, target), "a refused Restore changed the target")
}

func (s *suite) testDryRun(t *testing.T) {
	src, snap, _ := s.seeded(t, 0)
	r := s.restorer(t, src, DryRun)
	target := s.h.RestoreTarget(t)
	before := s.state(t, target)
	require.NoError(t, r.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target, DryRun: true}),
		"DryRun Restore of a valid snapshot")
	assertSameState(t, before, s.state(t, target), "DryRun Restore wrote to the target")

	// DryRun onto a target that holds data (with DropExisting) must not drop it.
	require.NoError(t, r.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}), "Restore")
	before = s.state(t, target)
	require.NoError(t, r.Restore(t.Context(), bytes.NewReader(snap),
		source.RestoreOptions{Target: target, DryRun: true, DropExisting: true}), "DryRun with DropExisting")
	assertSameState(t, before, s.state(t, target), "DryRun Restore with DropExisting changed the target")

	err := r.Restore(t.Context(), bytes.NewReader(garbage(4096)), source.RestoreOptions{Target: target, DryRun: true})
	assert.Error(t, err, "DryRun Restore of garbage must fail")
}

// garbage returns n deterministic pseudo-random bytes.
func garbage(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// restoreFails restores stream into a fresh target and requires an error and,
// with AtomicRestore, an untouched target.
func (s *suite) restoreFails(t *testing.T, r source.Restorer, what string, stream []byte) {
	t.Helper()
	target := s.h.RestoreTarget(t)
	before := s.state(t, target)
	err := r.Restore(t.Context(), bytes.NewReader(stream), source.RestoreOptions{Target: target})
	assert.Error(t, err, "Restore of %s must fail", what)
	if s.cfg.has(AtomicRestore) {
		assertSameState(t, before, s.state(t, target), "a failed Restore of %s changed the target", what)
	}
	if s.cfg.has(DryRun) {
		err := r.Restore(t.Context(), bytes.NewReader(stream), source.RestoreOptions{Target: target, DryRun: true})
		assert.Error(t, err, "DryRun Restore of %s must fail", what)
	}
}

func (s *suite) testGarbage(t *testing.T) {
	src, snap, _ := s.seeded(t, 0)
	r := s.restorer(t, src)
	s.restoreFails(t, r, "4 KiB of random bytes", garbage(4096))
	s.restoreFails(t, r, "512 bytes of 0xff", bytes.Repeat([]byte{0xff}, 512))
	if len(snap) >= 2 {
		junk := append(bytes.Clone(snap[:len(snap)/2]), garbage(4096)...)
		s.restoreFails(t, r, "half a snapshot followed by random bytes", junk)
	}
}

func (s *suite) testTruncated(t *testing.T) {
	src, snap, _ := s.seeded(t, 0)
	r := s.restorer(t, src, DetectTruncation)
	cuts := []int{0, 1, len(snap) / 3, len(snap) / 2, len(snap) - 1}
	// Cuts at 512-byte block boundaries near the end catch formats (tar) whose
	// readers stop quietly at a block boundary.
	for _, back := range []int{512, 1024, 1536} {
		if c := len(snap) - back; c > 0 {
			cuts = append(cuts, c)
		}
	}
	for _, c := range cuts {
		if c < 0 || c >= len(snap) {
			continue
		}
		s.restoreFails(t, r, fmt.Sprintf("a snapshot cut at byte %d of %d", c, len(snap)), snap[:c])
	}
}

// failingReader yields data, then fails with err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func (s *suite) testRestoreCanceled(t *testing.T) {
	src, snap, _ := s.seeded(t, 0)
	r := s.restorer(t, src)
	target := s.h.RestoreTarget(t)
	before := s.state(t, target)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := r.Restore(ctx, bytes.NewReader(snap), source.RestoreOptions{Target: target})
	require.Error(t, err, "Restore with a canceled context")
	assert.ErrorIs(t, err, context.Canceled, "Restore's error must wrap ctx.Err()")
	if s.cfg.has(AtomicRestore) {
		assertSameState(t, before, s.state(t, target), "a canceled Restore changed the target")
	}

	// A reader that fails after the whole snapshot (as a checksum-verifying
	// reader does at EOF) must fail the restore.
	readErr := errors.New("sourcetest: checksum mismatch")
	err = r.Restore(t.Context(), &failingReader{data: snap, err: readErr}, source.RestoreOptions{Target: target})
	require.Error(t, err, "Restore from a reader that fails at the end")
	assert.ErrorIs(t, err, readErr, "Restore's error must wrap the reader's error")
	if s.cfg.has(AtomicRestore) {
		assertSameState(t, before, s.state(t, target), "a Restore whose reader failed at the end changed the target")
	}
}

// SameItems fails t unless want (a snapshot's Info.Items) and got (Inspect
// of a restore of it) describe the same data: the same names with the same
// counts and checksums, in any order. Bytes are not compared: a database's
// size may differ between equal data sets. Items with a zero Count and no
// Checksum are ignored, because Inspect of a target that holds nothing
// reports no Items at all.
func SameItems(t testing.TB, want, got []source.Item, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, comparableItems(want), comparableItems(got), msgAndArgs...)
}

// comparableItems returns the items as "name count checksum" lines, sorted,
// without empty ones.
func comparableItems(items []source.Item) []string {
	out := []string{}
	for _, it := range items {
		if it.Count == 0 && it.Checksum == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s count=%d checksum=%s", it.Name, it.Count, it.Checksum))
	}
	slices.Sort(out)
	return out
}

func (s *suite) testInspectScratch(t *testing.T) {
	for v := range s.cfg.variants() {
		t.Run(fmt.Sprint("variant", v), func(t *testing.T) {
			src, snap, info := s.seeded(t, v)
			r := s.restorer(t, src)
			ins, ok := src.(source.Inspector)
			if !ok {
				t.Skipf("%T does not implement source.Inspector", src)
			}
			sc, ok := src.(source.Scratcher)
			if !ok {
				t.Skipf("%T does not implement source.Scratcher", src)
			}
			target, err := sc.ScratchTarget(t.Context(), fmt.Sprintf("sourcetest%d", v))
			require.NoError(t, err, "ScratchTarget")
			require.NotEmpty(t, target, "ScratchTarget")
			t.Cleanup(func() { _ = sc.DropTarget(context.WithoutCancel(t.Context()), target) })
			other, err := sc.ScratchTarget(t.Context(), fmt.Sprintf("sourcetest%d", v))
			require.NoError(t, err, "ScratchTarget")
			assert.NotEqual(t, target, other, "two ScratchTarget calls with the same hint must give different targets")

			empty, err := ins.Inspect(t.Context(), target)
			require.NoError(t, err, "Inspect of a new scratch target")
			assert.Empty(t, empty.Items, "Inspect of a new scratch target (ScratchTarget creates nothing)")

			require.NoError(t, r.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}),
				"Restore into the scratch target %q", target)
			got, err := ins.Inspect(t.Context(), target)
			require.NoError(t, err, "Inspect of the scratch target")
			SameItems(t, info.Items, got.Items, "Inspect of a restore into a scratch target must equal the snapshot's Items")

			if ts, ok := src.(source.TargetSourcer); ok {
				tsrc, err := ts.TargetSource(target)
				require.NoError(t, err, "TargetSource")
				assert.Equal(t, src.Format(), tsrc.Format(), "TargetSource's Format")
				again, _ := Snapshot(t, tsrc)
				s.cfg.RequireSameContent(t, snap, again, "a Snapshot of TargetSource(scratch) differs from the original")
			}

			ownBefore, err := ins.Inspect(t.Context(), "")
			require.NoError(t, err, "Inspect of the source's own location")
			assert.Error(t, sc.DropTarget(t.Context(), ""), "DropTarget must refuse the source's own location")
			ownAfter, err := ins.Inspect(t.Context(), "")
			require.NoError(t, err, "Inspect of the source's own location")
			assert.Equal(t, ownBefore.Items, ownAfter.Items, "a refused DropTarget changed the source's own location")

			require.NoError(t, sc.DropTarget(t.Context(), target), "DropTarget of the scratch target")
			gone, err := ins.Inspect(t.Context(), target)
			require.NoError(t, err, "Inspect of a dropped scratch target")
			assert.Empty(t, gone.Items, "Inspect of a dropped scratch target must report no Items")
		})
	}
}
