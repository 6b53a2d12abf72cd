//go:build unix

package dir_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkSnapshot measures Snapshot of a folder of 64 MiB in large and
// small files into io.Discard; compare with `tar -cf /dev/null -C dir .`.
func BenchmarkSnapshot(b *testing.B) {
	root := filepath.Join(b.TempDir(), "bench")
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	var total int64
	for i := range 48 { // 48 files of 1 MiB
		writeBench(b, filepath.Join(root, "large", fmt.Sprintf("f%02d", i)), chunk)
		total += int64(len(chunk))
	}
	for i := range 4096 { // 4096 files of 4 KiB in 64 folders
		writeBench(b, filepath.Join(root, "small", fmt.Sprintf("d%02d", i%64), fmt.Sprintf("f%04d", i)), chunk[:4096])
		total += 4096
	}
	f := newFolder(b, root)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.Snapshot(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func writeBench(b *testing.B, p string, data []byte) {
	require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(b, os.WriteFile(p, data, 0o644))
}
