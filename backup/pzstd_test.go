package backup

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestParallelZstdRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 0, 200_000).Draw(t, "data")
		chunk := rapid.IntRange(1, 50_000).Draw(t, "chunk")
		workers := rapid.IntRange(1, 4).Draw(t, "workers")
		var out bytes.Buffer
		z, err := newParallelZstd(&out, workers, chunk)
		require.NoError(t, err)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), rapid.IntRange(1, 70_000).Draw(t, "write"))
			_, err := z.Write(rest[:n])
			require.NoError(t, err)
			rest = rest[n:]
		}
		require.NoError(t, z.Close())
		d, err := zstd.NewReader(&out)
		require.NoError(t, err)
		defer d.Close()
		got, err := io.ReadAll(d)
		require.NoError(t, err)
		if !bytes.Equal(got, data) {
			t.Fatalf("round trip of %d bytes gave %d different bytes", len(data), len(got))
		}
	})
}

// The zstd command line tool reads the concatenated frames too.
func TestParallelZstdReadableByZstdCLI(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Skip("zstd command not installed")
	}
	data := bytes.Repeat([]byte("backupkit frames "), 1<<16)
	var out bytes.Buffer
	z, err := newParallelZstd(&out, 2, 64<<10)
	require.NoError(t, err)
	_, err = z.Write(data)
	require.NoError(t, err)
	require.NoError(t, z.Close())
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = &out
	got, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("disk gone")
	}
	return len(p), nil
}

func TestParallelZstdReportsWriteErrors(t *testing.T) {
	z, err := newParallelZstd(&failWriter{n: 1}, 2, 1024)
	require.NoError(t, err)
	var werr error
	for range 100 {
		if _, werr = z.Write(bytes.Repeat([]byte{1, 2, 3}, 1000)); werr != nil {
			break
		}
	}
	cerr := z.Close()
	require.Error(t, cerr)
	assert.ErrorContains(t, cerr, "disk gone")
	if werr != nil {
		assert.ErrorContains(t, werr, "disk gone")
	}
}
