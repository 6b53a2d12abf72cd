// Package destinationtest is the conformance suite that every
// destination.Destination adapter runs in its tests, in the manner of
// gocloud.dev's drivertest and rclone's fstests.
//
// An adapter's test calls Run with a function that returns a new, empty
// destination for each subtest:
//
//	func TestConformance(t *testing.T) {
//		destinationtest.Run(t, func(t *testing.T) destination.Destination {
//			d, err := local.New(t.TempDir(), nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return d
//		}, destinationtest.Lacks(destinationtest.ObjectsAsFolders))
//	}
//
// The suite checks the whole destination.Destination contract: round trips of
// empty, small and multi-MiB objects written with unknown length, replacement,
// missing keys, Delete, List order and prefixes, key validation, and above all
// atomicity: a Put that fails (reader error, canceled context, wrong size)
// leaves nothing, partial or whole, under its key, and an object being written
// is never listed. If the destination also implements destination.Checker or
// destination.Cleaner, those are checked too.
//
// Adapters declare what they cannot do with Lacks; see Ability.
//
// A few checks ask for more than the words of the destination.Destination
// contract, because the engine relies on them:
//
//   - a failed Put's error wraps the reader's error, and context.Canceled
//     when its context was canceled, so that callers can tell a source
//     failure or a cancellation from a destination failure;
//   - an ErrInvalidKey error is not marked retryable;
//   - a Cleaner finds nothing to clean after a failed Put (Put removes its own
//     debris; Cleanup is for writers that were killed);
//   - Open and Stat of a key that is only a prefix of other keys ("dir" when
//     "dir/file" exists) fail with ErrNotExist, and Delete of it is a no-op.
//
// The suite needs no timing: it synchronizes with readers that block on
// channels, never with sleeps.
package destinationtest

import (
	"fmt"
	"testing"

	"github.com/backupkit/backupkit/destination"
)

// Ability is a behaviour that the suite checks by default and that an adapter
// may declare it lacks with Lacks. Lacking an ability does not skip a test: it
// makes the suite check the weaker behaviour described for that ability.
type Ability int

const (
	// CaseSensitiveKeys means keys that differ only in letter case ("Report"
	// and "report") name distinct objects. Case-insensitive file systems (the
	// macOS and Windows defaults) lack it; the suite then only checks that
	// storing both keys succeeds and leaves one whole object.
	CaseSensitiveKeys Ability = iota + 1

	// ObjectsAsFolders means a key can be an object and also, followed by a
	// slash, the prefix of other objects: "a" and "a/b" can both exist, as in
	// object stores. File systems lack it; the suite then checks that the Put
	// that would need both fails, and leaves the existing object intact and the
	// conflicting key absent.
	ObjectsAsFolders

	// ModTime means Stat and List report a non-zero Object.ModTime.
	ModTime
)

// String returns the ability's name, as used in test messages.
func (a Ability) String() string {
	switch a {
	case CaseSensitiveKeys:
		return "CaseSensitiveKeys"
	case ObjectsAsFolders:
		return "ObjectsAsFolders"
	case ModTime:
		return "ModTime"
	default:
		return fmt.Sprintf("Ability(%d)", int(a))
	}
}

// Option changes how Run checks a destination.
type Option func(*config)

// Lacks declares abilities the destination under test does not have. The
// suite then checks the weaker behaviour documented on each Ability instead.
func Lacks(abilities ...Ability) Option {
	return func(c *config) {
		for _, a := range abilities {
			c.lacks[a] = true
		}
	}
}

// LargeObjectSize sets the size in bytes of the large object in the round-trip
// test; the default is a little over 5 MiB. A slow remote store may lower it.
// Sizes below 1 MiB + 1 byte are raised to that.
func LargeObjectSize(n int) Option {
	return func(c *config) { c.largeSize = max(n, minLargeSize) }
}

const (
	minLargeSize     = 1<<20 + 1
	defaultLargeSize = 5<<20 + 12345
)

type config struct {
	lacks     map[Ability]bool
	largeSize int
}

func (c *config) has(a Ability) bool { return !c.lacks[a] }

// Run runs the conformance tests against the destination that newDest returns,
// each as a subtest of t. newDest is called once per subtest and must return a
// new, empty destination that no other subtest uses (for example one rooted in
// t.TempDir(), or a fresh prefix of a bucket); it may call t.Skip or t.Fatal,
// and should register any teardown with t.Cleanup.
//
// Run uses t.Context(), so nothing it starts outlives the test. It does not run
// subtests in parallel.
func Run(t *testing.T, newDest func(t *testing.T) destination.Destination, opts ...Option) {
	t.Helper()
	c := &config{lacks: map[Ability]bool{}, largeSize: defaultLargeSize}
	for _, o := range opts {
		o(c)
	}
	s := &suite{config: c}
	tests := []struct {
		name string
		run  func(t *testing.T, d destination.Destination)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"KnownSize", s.testKnownSize},
		{"Replace", s.testReplace},
		{"Missing", s.testMissing},
		{"Delete", s.testDelete},
		{"List", s.testList},
		{"ListStopsEarly", s.testListStopsEarly},
		{"KeyCharacters", s.testKeyCharacters},
		{"LongKey", s.testLongKey},
		{"CaseSensitiveKeys", s.testCaseSensitiveKeys},
		{"ObjectsAsFolders", s.testObjectsAsFolders},
		{"InvalidKeys", s.testInvalidKeys},
		{"AtomicReaderError", s.testAtomicReaderError},
		{"AtomicCanceled", s.testAtomicCanceled},
		{"AtomicCanceledWhileBlocked", s.testAtomicCanceledWhileBlocked},
		{"AtomicCanceledBeforePut", s.testAtomicCanceledBeforePut},
		{"AtomicSizeMismatch", s.testAtomicSizeMismatch},
		{"ConcurrentPuts", s.testConcurrentPuts},
		{"ConcurrentPutsSameKey", s.testConcurrentPutsSameKey},
		{"ConcurrentPutAndDelete", s.testConcurrentPutAndDelete},
		{"NotVisibleWhileWriting", s.testNotVisibleWhileWriting},
		{"Checker", s.testChecker},
		{"Cleaner", s.testCleaner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDest(t)
			if d == nil {
				t.Fatal("newDest returned a nil Destination")
			}
			tc.run(t, d)
		})
	}
}

type suite struct {
	*config
}
