package destination

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

var (
	// ErrNotExist is matched (errors.Is) by errors about a missing object.
	ErrNotExist = errors.New("object does not exist")
	// ErrInvalidKey is matched by errors about a key that ValidateKey refuses.
	ErrInvalidKey = errors.New("invalid key")
	// ErrPermission is matched by errors about missing rights or bad credentials.
	ErrPermission = errors.New("permission denied")
	// ErrNoSpace is matched by errors about a destination that is full.
	ErrNoSpace = errors.New("no space left on destination")
)

// retryable marks an error as worth retrying.
type retryable struct{ err error }

func (e retryable) Error() string   { return e.err.Error() }
func (e retryable) Unwrap() error   { return e.err }
func (e retryable) Retryable() bool { return true }

// Retryable wraps err to mark it as transient (a timeout, throttling, a 5xx, a
// dropped connection): the same call may succeed later. Retryable(nil) is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// IsRetryable reports whether any error in err's chain has a Retryable() bool
// method that returns true. Errors are permanent unless marked: an adapter that
// does not know must not mark.
func IsRetryable(err error) bool {
	for err != nil {
		if r, ok := err.(interface{ Retryable() bool }); ok && r.Retryable() {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if IsRetryable(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// MaxKeyLen is the longest key, in bytes, that ValidateKey accepts.
const MaxKeyLen = 1024

// ReservedPrefix starts the names adapters use for their own temporary
// objects; no segment of a valid key starts with it.
const ReservedPrefix = ".backupkit-"

// ValidateKey reports whether key is a valid object key: non-empty valid UTF-8 of
// at most MaxKeyLen bytes, slash-separated, relative (no leading slash), already
// clean (no empty, "." or ".." segments, no trailing slash), with no backslash,
// no control characters and no segment starting with ReservedPrefix. Every
// adapter calls it, so that a key means the same thing on every destination and
// can never escape an adapter's root. An adapter may refuse further keys its
// store cannot hold (a segment too long for a file system), also with
// ErrInvalidKey. The error matches ErrInvalidKey.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: key of %d bytes is longer than %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("must be relative (no leading slash)")
	case strings.ContainsRune(key, '\\'):
		return bad("backslash is not allowed")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("control characters are not allowed")
		}
	}
	if path.Clean(key) != key {
		return bad("must be a clean path (no empty, '.' or '..' segments, no trailing slash)")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." || seg == "." {
			return bad("'.' and '..' segments are not allowed")
		}
		if strings.HasPrefix(seg, ReservedPrefix) {
			return bad("segments starting with " + ReservedPrefix + " are reserved for temporary objects")
		}
	}
	return nil
}
