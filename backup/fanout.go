package backup

import (
	"context"
	"errors"
	"io"
	"sync"
)

// fanout copies one byte stream to several readers, one per destination, each
// consumed by its own goroutine. Each branch has a bounded queue of chunks, so
// memory is at most branches × (queueLen+1) × chunk size, and the slowest live
// branch applies back-pressure to the writer. A branch whose consumer stops
// (its Put failed) is cut off; the others go on. Write fails only when every
// branch is gone.
type fanout struct {
	branches []*branch
	ctx      context.Context
}

// errAllDestinationsFailed is returned by fanout.Write when no branch is left.
var errAllDestinationsFailed = errors.New("every destination failed")

// branch is the reading side of one fan-out queue. It implements io.Reader.
type branch struct {
	queue chan []byte
	done  chan struct{} // closed when the consumer stops reading (Put returned)

	mu     sync.Mutex
	endErr error // set before queue is closed: nil means a clean EOF
	closed bool  // the writer has ended the stream
	early  bool  // the consumer stopped before the writer ended the stream

	cur  []byte
	eof  bool // the consumer has seen io.EOF
	dead bool // writer side: cut off after the consumer stopped
}

func newFanout(ctx context.Context, n, queueLen int) *fanout {
	f := &fanout{ctx: ctx}
	for range n {
		f.branches = append(f.branches, &branch{
			queue: make(chan []byte, queueLen),
			done:  make(chan struct{}),
		})
	}
	return f
}

// Write sends a copy of p to every live branch. It blocks while the slowest live
// branch's queue is full.
func (f *fanout) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c := make([]byte, len(p))
	copy(c, p)
	live := 0
	for _, b := range f.branches {
		if b.dead {
			continue
		}
		select {
		case b.queue <- c:
			live++
		case <-b.done:
			b.dead = true
		case <-f.ctx.Done():
			return 0, f.ctx.Err()
		}
	}
	if live == 0 {
		return 0, errAllDestinationsFailed
	}
	return len(p), nil
}

// close ends every branch's stream: with io.EOF when err is nil, else with err,
// so that a destination never commits a stream that did not end cleanly.
func (f *fanout) close(err error) {
	for _, b := range f.branches {
		b.mu.Lock()
		b.endErr, b.closed = err, true
		b.mu.Unlock()
		close(b.queue)
	}
}

// Read implements io.Reader for the destination's Put.
func (b *branch) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		c, ok := <-b.queue
		if !ok {
			b.mu.Lock()
			err := b.endErr
			b.mu.Unlock()
			if err == nil {
				b.eof = true
				return 0, io.EOF
			}
			return 0, err
		}
		b.cur = c
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// stop records that the consumer has returned; the writer cuts the branch off.
func (b *branch) stop() {
	b.mu.Lock()
	b.early = !b.closed
	b.mu.Unlock()
	close(b.done)
}

// stoppedEarly reports whether the consumer gave up before the stream ended,
// that is, the destination failed on its own rather than because of the source.
func (b *branch) stoppedEarly() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.early
}
