package destinationtest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
)

// errReader is the error that failing readers return mid-stream.
var errReader = errors.New("destinationtest: reader failed on purpose")

// randomBytes returns n pseudo-random bytes, the same for the same seed.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// chunkSizes are the sizes an oddChunkReader yields in turn: odd sizes, a
// single byte, and one legal but unusual empty read.
var chunkSizes = []int{1, 4093, 3, 65537, 0, 7, 511, 131071, 2, 1<<20 + 1}

// oddChunkReader yields data in odd-sized chunks and returns the last chunk
// together with io.EOF, as io.Reader allows. It hides the length of the data:
// it has no Len, Size, Seek or WriteTo method.
type oddChunkReader struct {
	data []byte
	i    int
}

func newOddChunkReader(data []byte) *oddChunkReader { return &oddChunkReader{data: data} }

func (r *oddChunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(chunkSizes[r.i%len(chunkSizes)], len(p), len(r.data))
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// failingReader yields the first failAt bytes of an endless pseudo-random
// stream and then fails with errReader, returning the last good bytes
// together with the error.
type failingReader struct {
	r      io.Reader
	failAt int
	read   int
}

func newFailingReader(seed uint64, failAt int) *failingReader {
	return &failingReader{r: newOddChunkReader(randomBytes(seed, failAt+1<<20)), failAt: failAt}
}

func (r *failingReader) Read(p []byte) (int, error) {
	left := r.failAt - r.read
	if left <= 0 {
		return 0, errReader
	}
	if len(p) > left {
		p = p[:left]
	}
	n, err := r.r.Read(p)
	r.read += n
	if r.read >= r.failAt {
		return n, errReader
	}
	return n, err
}

// cancelingReader yields data; once it has yielded cancelAt bytes it cancels
// the Put's context and goes on yielding the rest of data, so that only a
// destination that watches its context notices.
type cancelingReader struct {
	r        io.Reader
	cancelAt int
	cancel   context.CancelFunc
	read     int
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	if r.read >= r.cancelAt {
		r.cancel()
	}
	n, err := r.r.Read(p)
	r.read += n
	return n, err
}

// blockingReader yields head, then closes blocked and waits: until release is
// closed, after which it yields tail and io.EOF; or, if ctx is non-nil, until
// ctx is done, after which it fails with ctx's error.
type blockingReader struct {
	head, tail []byte
	ctx        context.Context
	blocked    chan struct{}
	release    chan struct{}
	once       sync.Once
}

func newBlockingReader(head, tail []byte) *blockingReader {
	return &blockingReader{
		head:    head,
		tail:    tail,
		blocked: make(chan struct{}),
		release: make(chan struct{}),
	}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	r.once.Do(func() {
		close(r.blocked)
		if r.ctx != nil {
			<-r.ctx.Done()
		} else {
			<-r.release
		}
	})
	if r.ctx != nil {
		return 0, r.ctx.Err()
	}
	if len(r.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.tail)
	r.tail = r.tail[n:]
	return n, nil
}
