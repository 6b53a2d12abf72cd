package faults

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"

	"github.com/backupkit/backupkit/destination"
)

// ErrNoSpace is the error NoSpaceWriter and NoSpaceDestination fail with; it
// wraps syscall.ENOSPC, as a full disk's write error does.
var ErrNoSpace = fmt.Errorf("faults: write: %w", syscall.ENOSPC)

// NoSpaceWriter passes the first Limit bytes to W, then fails every write
// with ErrNoSpace (after writing what still fitted), like a file on a disk
// that has Limit bytes free.
type NoSpaceWriter struct {
	W     io.Writer
	Limit int64
	n     int64
}

// Write implements io.Writer.
func (w *NoSpaceWriter) Write(p []byte) (int, error) {
	room := w.Limit - w.n
	if room >= int64(len(p)) {
		n, err := w.W.Write(p)
		w.n += int64(n)
		return n, err
	}
	n := 0
	if room > 0 {
		var err error
		n, err = w.W.Write(p[:room])
		w.n += int64(n)
		if err != nil {
			return n, err
		}
	}
	return n, ErrNoSpace
}

// NoSpaceDestination wraps a destination.Destination whose disk fills up:
// every Put after the first Skip ones reads at most Limit bytes of its data
// and then fails with an error wrapping ErrNoSpace, through the inner
// destination's own failure path (the inner Put sees its reader fail, so it
// must clean up as after a failed write). Open, Stat, Delete and List go to
// the inner destination unchanged; Cleanup too, when it has one.
type NoSpaceDestination struct {
	destination.Destination
	Limit int64
	Skip  int32

	puts atomic.Int32
}

// Put implements destination.Destination.
func (d *NoSpaceDestination) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if d.puts.Add(1) <= d.Skip {
		return d.Destination.Put(ctx, key, r, opts)
	}
	return d.Destination.Put(ctx, key, &noSpaceReader{r: r, left: d.Limit}, opts)
}

// Cleanup passes to the inner destination when it is a destination.Cleaner.
func (d *NoSpaceDestination) Cleanup(ctx context.Context) (int, error) {
	if c, ok := d.Destination.(destination.Cleaner); ok {
		return c.Cleanup(ctx)
	}
	return 0, nil
}

type noSpaceReader struct {
	r    io.Reader
	left int64
}

func (n *noSpaceReader) Read(p []byte) (int, error) {
	if n.left <= 0 {
		return 0, ErrNoSpace
	}
	if int64(len(p)) > n.left {
		p = p[:n.left]
	}
	k, err := n.r.Read(p)
	n.left -= int64(k)
	return k, err
}
