package destination_test

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/backupkit/backupkit/destination"
)

func TestIsRetryable(t *testing.T) {
	base := errors.New("503 slow down")
	assert.False(t, destination.IsRetryable(base))
	assert.False(t, destination.IsRetryable(nil))
	assert.Nil(t, destination.Retryable(nil))
	r := destination.Retryable(base)
	assert.True(t, destination.IsRetryable(r))
	assert.ErrorIs(t, r, base)
	assert.True(t, destination.IsRetryable(fmt.Errorf("put x: %w", r)))
	assert.True(t, destination.IsRetryable(errors.Join(errors.New("other"), r)))
	assert.False(t, destination.IsRetryable(errors.Join(errors.New("a"), errors.New("b"))))
}

func TestValidateKey(t *testing.T) {
	for _, ok := range []string{"a", "a/b.tar.zst", "job/2026/11/job_x.tar.zst.manifest.json", "with space/ünï", ".hidden"} {
		assert.NoError(t, destination.ValidateKey(ok), ok)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "a/", "..", ".", "./a", "a\\b", "a\x00b", "a\nb", "x/.backupkit-tmp-1", strings.Repeat("x", destination.MaxKeyLen+1), "\xff"} {
		err := destination.ValidateKey(bad)
		assert.ErrorIs(t, err, destination.ErrInvalidKey, "%q", bad)
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "/a", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if destination.ValidateKey(key) != nil {
			return
		}
		// An accepted key is relative, clean and cannot climb out of a root.
		if path.IsAbs(key) || path.Clean(key) != key || strings.HasPrefix(path.Clean("/root/"+key), "/root/") == false {
			t.Fatalf("accepted %q", key)
		}
	})
}
