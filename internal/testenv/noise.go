package testenv

import (
	"os"
	"testing"
)

// WriteNoise writes size bytes that zstd cannot shrink much to path: data
// that keeps a backup running long enough for a test to act on it while it
// streams.
func WriteNoise(t testing.TB, path string, size int) {
	t.Helper()
	big := make([]byte, size)
	for i := range big {
		big[i] = byte(i*7919 ^ i>>9)
	}
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
