package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// fanout copies one byte stream to several readers, one per destination, each
// consumed by its own goroutine. It cuts the stream into chunks of a fixed
// size, taken from a pool and shared by every branch (reference-counted, never
// copied per branch). Each branch has a bounded queue of chunks, so memory is
// at most about (branches × queueLen + 2) chunks, and the slowest live branch
// applies back-pressure to the writer. A branch whose consumer stops (its Put
// failed) is cut off; the others go on. Write fails only when every branch is
// gone.
//
// A branch that has taken no chunk for its stall duration while the writer
// waits on it (its queue stays full) is abandoned: cut off like a stopped one, its
// consumer's context canceled with ErrDestinationStalled (see
// branch.abandon). After the writer has ended the stream, awaitCopies times
// the branches that still hold unread chunks (branch.idle).
//
// Write and flush and close are called from one goroutine; each branch's Read
// from another.
type fanout struct {
	branches  []*branch
	ctx       context.Context
	chunkSize int
	start     time.Time // monotonic origin of branch.lastRead
	pool      sync.Pool // *chunk
	cur       *chunk    // being filled
}

// chunk is a piece of the stream shared by the branches that still need it.
type chunk struct {
	buf  []byte
	refs atomic.Int32
}

// ErrDestinationStalled is wrapped by the failure of a destination that took
// no data for the job's stall timeout (Job.StallTimeout,
// Options.StallTimeout) while the others went on: its copy fails, and the
// run ends partial (or failed when no destination is left).
var ErrDestinationStalled = errors.New("destination stalled")

// errAllDestinationsFailed is returned by fanout.Write when no branch is left.
var errAllDestinationsFailed = errors.New("every destination failed")

// branch is the reading side of one fan-out queue. It implements io.Reader.
type branch struct {
	f     *fanout
	queue chan *chunk
	done  chan struct{} // closed when the consumer stops reading (Put returned)
	// stall (0: never) and cancel, which cancels the consumer's context, are
	// set by the caller before the first Write.
	stall  time.Duration
	cancel context.CancelCauseFunc

	// lastRead is when the consumer last took a chunk (the monotonic time
	// since the fan-out started, in nanoseconds; the writer's close counts
	// as a start), readAll whether it reached the end of the stream: what
	// awaitCopies needs to time a consumer that stops reading after the
	// writer is done.
	lastRead atomic.Int64
	readAll  atomic.Bool

	mu       sync.Mutex
	endErr   error // set before queue is closed: nil means a clean EOF
	closed   bool  // the writer has ended the stream
	early    bool  // the consumer stopped before the writer ended the stream
	stallErr error // why the branch was abandoned (wraps ErrDestinationStalled)

	cur  *chunk
	off  int
	eof  bool // the consumer has seen io.EOF
	dead bool // writer side: cut off after the consumer stopped
}

func newFanout(ctx context.Context, n, queueLen, chunkSize int) *fanout {
	f := &fanout{ctx: ctx, chunkSize: chunkSize, start: time.Now()}
	for range n {
		f.branches = append(f.branches, &branch{
			f:     f,
			queue: make(chan *chunk, queueLen),
			done:  make(chan struct{}),
		})
	}
	return f
}

func (f *fanout) get() *chunk {
	if c, ok := f.pool.Get().(*chunk); ok {
		c.buf = c.buf[:0]
		return c
	}
	return &chunk{buf: make([]byte, 0, f.chunkSize)}
}

func (f *fanout) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		f.pool.Put(c)
	}
}

// Write copies p into chunks and sends every full chunk to the live branches.
// It blocks while the slowest live branch's queue is full.
func (f *fanout) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if f.cur == nil {
			f.cur = f.get()
		}
		k := copy(f.cur.buf[len(f.cur.buf):f.chunkSize], p)
		f.cur.buf = f.cur.buf[:len(f.cur.buf)+k]
		p = p[k:]
		if len(f.cur.buf) == f.chunkSize {
			if err := f.send(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flush sends the partly filled chunk, if any.
func (f *fanout) flush() error {
	if f.cur == nil || len(f.cur.buf) == 0 {
		return nil
	}
	return f.send()
}

func (f *fanout) send() error {
	c := f.cur
	f.cur = nil
	live := 0
	for _, b := range f.branches {
		if !b.dead {
			live++
		}
	}
	c.refs.Store(int32(live))
	sent := 0
	for _, b := range f.branches {
		if b.dead {
			continue
		}
		select {
		case b.queue <- c:
			sent++
			continue
		default:
		}
		// The branch is behind: wait until it has taken no chunk for
		// b.stall (counted from the last one it took, so that branches
		// stalled at once are given up at once).
		var stalled <-chan time.Time // a timer nobody stops is collected (Go 1.23+)
		if b.stall > 0 {
			stalled = time.After(max(b.stall-b.idleFor(), 0))
		}
		select {
		case b.queue <- c:
			sent++
		case <-b.done:
			b.dead = true
			f.release(c)
		case <-stalled:
			b.dead = true
			f.release(c)
			b.abandon()
		case <-f.ctx.Done():
			return f.ctx.Err()
		}
	}
	if sent == 0 {
		return errAllDestinationsFailed
	}
	return nil
}

// close ends every branch's stream: with io.EOF when err is nil, else with err,
// so that a destination never commits a stream that did not end cleanly. An
// abandoned branch, which missed chunks, ends with its stall error.
func (f *fanout) close(err error) {
	for _, b := range f.branches {
		b.mu.Lock()
		b.endErr, b.closed = err, true
		if b.stallErr != nil {
			b.endErr = b.stallErr
		}
		b.mu.Unlock()
		b.lastRead.Store(int64(time.Since(f.start)))
		close(b.queue)
	}
}

// Read implements io.Reader for the destination's Put.
func (b *branch) Read(p []byte) (int, error) {
	if b.cur == nil {
		c, ok := <-b.queue
		if !ok {
			b.mu.Lock()
			err := b.endErr
			b.mu.Unlock()
			b.readAll.Store(true)
			if err == nil {
				b.eof = true
				return 0, io.EOF
			}
			return 0, err
		}
		b.cur, b.off = c, 0
		b.lastRead.Store(int64(time.Since(b.f.start)))
	}
	n := copy(p, b.cur.buf[b.off:])
	b.off += n
	if b.off == len(b.cur.buf) {
		b.f.release(b.cur)
		b.cur = nil
	}
	return n, nil
}

// stop records that the consumer has returned; the writer cuts the branch off.
func (b *branch) stop() {
	b.mu.Lock()
	b.early = b.early || !b.closed
	b.mu.Unlock()
	close(b.done)
}

// abandon gives up on a stalled consumer: it records why (its stall, an
// ErrDestinationStalled) and cancels the consumer's context with that cause.
// The consumer counts as stopped early (the destination failed on its own).
func (b *branch) abandon() {
	why := fmt.Errorf("%w: it took no data for %s", ErrDestinationStalled, b.stall)
	b.mu.Lock()
	b.stallErr, b.early = why, true
	b.mu.Unlock()
	if b.cancel != nil {
		b.cancel(why)
	}
}

// idle reports whether the consumer holds data it has not read for longer
// than the branch's stall duration, after the writer ended the stream (while
// the writer runs, send times the branch).
func (b *branch) idle() bool {
	if b.stall <= 0 || b.readAll.Load() {
		return false
	}
	b.mu.Lock()
	closed, stalled := b.closed, b.stallErr != nil
	b.mu.Unlock()
	return closed && !stalled && b.idleFor() > b.stall
}

// idleFor is how long ago the consumer last took a chunk (or the writer
// ended the stream).
func (b *branch) idleFor() time.Duration {
	return time.Since(b.f.start) - time.Duration(b.lastRead.Load())
}

// stalled returns why the branch was abandoned, nil when it was not.
func (b *branch) stalled() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stallErr
}

// stoppedEarly reports whether the consumer gave up before the stream ended,
// that is, the destination failed on its own rather than because of the source.
func (b *branch) stoppedEarly() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.early
}
