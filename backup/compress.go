package backup

import (
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Compression names how an artifact's bytes are compressed.
type Compression string

// The compressions. Zstd is the default: fast and dense, with a streaming
// encoder that keeps memory bounded (a few MiB per core).
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// ParseCompression returns the Compression named s; "" means Zstd.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Zstd:
		return Zstd, nil
	case Gzip, None:
		return Compression(s), nil
	}
	return "", fmt.Errorf("unknown compression %q (want zstd, gzip or none)", s)
}

// Ext is the file-name extension the compression adds ("zst", "gz", or "").
func (c Compression) Ext() string {
	switch c {
	case Zstd:
		return "zst"
	case Gzip:
		return "gz"
	}
	return ""
}

// compressor returns a WriteCloser that compresses into w; Close flushes the
// compressed stream's end but does not close w.
func (c Compression) compressor(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Zstd:
		// SpeedFastest is zstd's level 1; independent 1 MiB frames
		// compressed in parallel use every core (see parallelZstd).
		return newParallelZstd(w, min(runtime.GOMAXPROCS(0), 8), zstdChunkSize)
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.BestSpeed)
	case None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// zstdChunkSize is the input size of each zstd frame.
const zstdChunkSize = 1 << 20

// decompressor returns a reader of r's decompressed bytes. Closing it releases
// the decoder; it does not close r.
func (c Compression) decompressor(r io.Reader) (io.ReadCloser, error) {
	switch c {
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
		return zstdReadCloser{d}, nil
	case Gzip:
		return gzip.NewReader(r)
	case None:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
