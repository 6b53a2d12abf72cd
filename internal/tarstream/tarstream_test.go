package tarstream_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/tarstream"
)

func archive(t *testing.T, names ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 3, Typeflag: tar.TypeReg, Format: tar.FormatPAX}))
		_, err := tw.Write([]byte("abc"))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func readAll(data []byte, tail io.Reader) (int, error) {
	r := tarstream.NewReader(io.MultiReader(bytes.NewReader(data), tail), 4096)
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, r.Finish(context.Background())
		}
		if err != nil {
			return n, err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return n, err
		}
		n++
	}
}

func TestComplete(t *testing.T) {
	n, err := readAll(archive(t, "a", "b"), bytes.NewReader(make([]byte, 10240)))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

func TestCutAtEveryBlock(t *testing.T) {
	data := archive(t, "a", "b", "c")
	for cut := 0; cut < len(data)-1024; cut += 512 {
		_, err := readAll(data[:cut], bytes.NewReader(nil))
		assert.Error(t, err, "cut at %d", cut)
	}
	for cut := 1; cut < len(data)-1024; cut += 97 {
		_, err := readAll(data[:cut], bytes.NewReader(nil))
		assert.Error(t, err, "cut at %d", cut)
	}
}

func TestTrailingData(t *testing.T) {
	_, err := readAll(archive(t, "a"), bytes.NewReader([]byte("x")))
	assert.ErrorContains(t, err, "after the end of the tar archive")
}

type failAtEnd struct{}

func (failAtEnd) Read([]byte) (int, error) { return 0, errors.New("checksum mismatch") }

func TestUnderlyingErrorAfterTheMarker(t *testing.T) {
	_, err := readAll(archive(t, "a"), failAtEnd{})
	assert.ErrorContains(t, err, "checksum mismatch")
}
