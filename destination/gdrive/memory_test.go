package gdrive

import (
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// genReader yields n pseudo-random bytes, hashing them as it goes, without
// holding them.
type genReader struct {
	rng  *rand.ChaCha8
	left int64
	sum  hash.Hash
}

func newGenReader(n int64) *genReader {
	return &genReader{rng: rand.NewChaCha8([32]byte{7}), left: n, sum: sha256.New()}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left, 1<<20)]
	g.rng.Read(p)
	g.sum.Write(p)
	g.left -= int64(len(p))
	return len(p), nil
}

// TestLargeUploadMemory uploads a large object of unknown length with 8 MiB
// chunks to the fake, which keeps only its size and SHA-256, and checks
// both. By default it sends 40 MiB; GDRIVE_MEMTEST_MIB=300 sends 300 MiB.
// Run the test binary under /usr/bin/time -v to measure the peak RSS of the
// whole process (adapter and fake together); see docs/gdrive.md. The test
// also logs the peak RSS the kernel reports (VmHWM).
func TestLargeUploadMemory(t *testing.T) {
	mib := int64(40)
	if v := os.Getenv("GDRIVE_MEMTEST_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err)
		mib = n
	}
	d, fake := newFakeDrive(t, func(o *Options) { o.ChunkSize = DefaultChunkSize })
	fake.Discard(true)
	g := newGenReader(mib << 20)
	obj, err := d.Put(t.Context(), "big/backup.bin", onlyReader{g}, nil)
	require.NoError(t, err)
	assert.Equal(t, mib<<20, obj.Size)
	fs := files(fake)
	require.Len(t, fs, 1)
	assert.Equal(t, "backup.bin", fs[0].Name)
	assert.Equal(t, mib<<20, fs[0].Size)
	assert.Equal(t, [32]byte(g.sum.Sum(nil)), fs[0].SHA256, "SHA-256 of what the fake received")
	assert.Equal(t, int64(DefaultChunkSize), fake.MaxChunk())

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("uploaded %d MiB in %d MiB chunks; Go heap in use now %d MiB, total allocated %d MiB; peak RSS (VmHWM) %s",
		mib, DefaultChunkSize>>20, ms.HeapInuse>>20, ms.TotalAlloc>>20, vmHWM())
}

// vmHWM returns the process's peak resident set size from /proc, or "n/a".
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}
