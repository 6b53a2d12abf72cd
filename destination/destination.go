// Package destination defines where backups are kept: the Destination interface
// every storage adapter implements, its errors, and the URL-scheme registry.
//
// A destination is a flat namespace of keys (slash-separated relative paths, see
// ValidateKey) holding immutable objects. The engine writes each backup artifact
// with Put, then its manifest; it reads them back with Open for restore and verify,
// and removes them with Delete when retention says so.
//
// Adapters live in subpackages (destination/local, destination/s3, ...) and run the
// shared conformance suite in destination/destinationtest.
package destination

import (
	"context"
	"io"
	"iter"
	"time"
)

// Object describes one stored object.
type Object struct {
	// Key is the object's key, as given to Put.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ModTime is when the object was written, as the destination records it;
	// zero when the store does not say (Put's result may lack it).
	ModTime time.Time
}

// PutOptions are optional settings for Put. A nil *PutOptions means the defaults.
type PutOptions struct {
	// Size is the number of bytes the reader will yield; zero or less means
	// unknown. Adapters may use it to check free space or to pick a
	// single-request upload; they must still read r to EOF and must fail,
	// storing nothing, if r yields a different number of bytes.
	Size int64
	// ContentType is a MIME type for stores that keep one.
	ContentType string
	// Metadata is stored with the object where the store supports it.
	Metadata map[string]string
}

// Destination stores backup objects. Implementations must be safe for concurrent
// use by multiple goroutines.
type Destination interface {
	// Put stores the bytes read from r under key, replacing any object already
	// there, and returns the stored object. The length of r need not be known.
	//
	// Put is atomic: if it returns an error (including when r returns an error
	// other than io.EOF, or ctx is canceled), no object, partial or whole, is
	// visible under key afterwards, and an object previously stored under key
	// is either intact or gone, and nothing is left for a Cleaner to remove.
	// The error wraps r's error or ctx.Err() when one of those caused it. If it
	// returns nil, the whole object is durable. Put does not close r. An
	// invalid key fails with ErrInvalidKey.
	Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) (Object, error)

	// Open returns a reader of the object's bytes. The caller must close it.
	// ctx governs the reads too: canceling it makes them fail. A missing key
	// fails with an error for which errors.Is(err, ErrNotExist).
	Open(ctx context.Context, key string) (io.ReadCloser, error)

	// Stat returns the object's description, or an ErrNotExist error.
	Stat(ctx context.Context, key string) (Object, error)

	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// List yields every object whose key starts with prefix (a plain string
	// prefix, not a folder), in lexical key order. An error ends the sequence:
	// it is yielded once with a zero Object. Objects being written by Put are
	// never listed.
	List(ctx context.Context, prefix string) iter.Seq2[Object, error]
}

// Checker is implemented by destinations that can test their connectivity and
// credentials without writing a backup ("test connection").
type Checker interface {
	// Check returns nil when the destination is reachable and writable.
	Check(ctx context.Context) error
}

// StallGuard is implemented by destinations that deal with stalled
// transfers themselves and fail a Put that stops moving (the S3 adapter's
// stall_timeout, Drive's chunk timeout). The backup engine applies its own
// stall timeout (backup.Options.StallTimeout) only to destinations without
// one: a destination that sends what it read in large parts takes no data
// for as long as a part takes, which on a slow link can be many minutes.
type StallGuard interface {
	// GuardsStalls reports whether the destination deals with stalls on its
	// own: it fails a stalled Put, or its operator turned that check off,
	// which the engine then respects too.
	GuardsStalls() bool
}

// Cleaner is implemented by destinations that can leave debris behind when a
// process is killed mid-write (temporary files, incomplete multipart uploads).
type Cleaner interface {
	// Cleanup removes the leftovers of writes that are no longer in progress,
	// never those of a Put still running in any process (adapters document how
	// they tell: local disk by flock, where the file system honours it across
	// processes, else by age). It returns the number of leftovers removed.
	Cleanup(ctx context.Context) (int, error)
}
