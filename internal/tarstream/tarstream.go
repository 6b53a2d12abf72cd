// Package tarstream reads tar streams strictly, for restores: it tells a
// complete stream from one cut at an entry boundary (which archive/tar
// reports as a clean io.EOF), and reads what follows the end-of-archive
// marker to EOF, so that a reader that verifies a checksum at its end (the
// engine's) gets to report a mismatch before the restore commits.
package tarstream

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrTruncated is matched (errors.Is) by errors about a stream that ends
// before tar's end-of-archive marker.
var ErrTruncated = errors.New("truncated stream: the tar end-of-archive marker is missing")

// Reader is a tar.Reader that only reports the end of the archive when the
// end-of-archive marker was read.
type Reader struct {
	*tar.Reader
	br  *bufio.Reader
	cr  *countingReader
	buf []byte
}

// NewReader returns a Reader of r, buffering bufSize bytes.
func NewReader(r io.Reader, bufSize int) *Reader {
	br := bufio.NewReaderSize(r, bufSize)
	cr := &countingReader{r: br}
	return &Reader{Reader: tar.NewReader(cr), br: br, cr: cr, buf: make([]byte, bufSize)}
}

// Next advances to the next entry, as tar.Reader.Next does, except that it
// returns io.EOF only after the end-of-archive marker (two zero blocks) and
// an error matching ErrTruncated for a stream cut before it. An
// io.ErrUnexpectedEOF inside an entry is reported as truncation too.
func (r *Reader) Next() (*tar.Header, error) {
	before := r.cr.n
	hdr, err := r.Reader.Next()
	if err == io.EOF {
		// Next reads the previous entry's padding (< 512 bytes) and then, for
		// a complete stream, two zero blocks. Fewer bytes, or a non-zero block
		// among the last two (a PAX header whose entry is missing), mean the
		// stream was cut at an entry boundary.
		if r.cr.n-before < 2*512 || r.cr.zeroTail < 2*512 {
			return nil, ErrTruncated
		}
		return nil, io.EOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("truncated stream: %w", err)
	}
	return hdr, err
}

// Finish reads the rest of the stream to EOF after Next returned io.EOF. Only
// zero bytes may follow the end-of-archive marker; an error of the
// underlying reader (a checksum mismatch found at its end) is returned.
func (r *Reader) Finish(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.br.Read(r.buf)
		for _, b := range r.buf[:n] {
			if b != 0 {
				return errors.New("unexpected data after the end of the tar archive")
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading after the end of the tar archive: %w", err)
		}
	}
}

// countingReader counts the bytes read through it, and how many of the last
// ones were zero.
type countingReader struct {
	r        io.Reader
	n        int64
	zeroTail int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	i := n
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i == 0 {
		c.zeroTail += int64(n)
	} else {
		c.zeroTail = int64(n - i)
	}
	return n, err
}
