package backup

import (
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// parallelZstd compresses a stream on several cores: it cuts the input into
// chunks, compresses each chunk as an independent zstd frame on a pool of
// workers, and writes the frames in order. Concatenated frames are a valid
// zstd stream (RFC 8878 §3.1) that any zstd decoder reads, `zstd -d`
// included. Each frame starts with an empty history, which costs well under
// 1% of ratio at the chunk size used, and buys near-linear speed-up where a
// single streaming encoder is limited to about one core.
//
// Memory is bounded: at most workers+2 chunks are in flight, each with its
// input and output buffer.
type parallelZstd struct {
	w         io.Writer
	enc       *zstd.Encoder
	chunkSize int

	cur       []byte
	submitted bool          // a chunk was handed to a worker
	pending   chan *zstdJob // jobs in stream order, for the output goroutine
	slots     chan struct{} // bounds the jobs in flight
	free      chan []byte   // recycled buffers: memory stays at its high-water mark
	outDone   chan struct{}

	errMu sync.Mutex
	err   error // the first write error of the output goroutine
}

type zstdJob struct {
	in, out []byte
	done    chan struct{}
}

func newParallelZstd(w io.Writer, workers, chunkSize int) (*parallelZstd, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(workers),
		// No per-frame xxhash (3% of the CPU): the artifact's SHA-256,
		// checked on every restore before anything is committed, covers
		// every byte.
		zstd.WithEncoderCRC(false),
		zstd.WithZeroFrames(true),
		zstd.WithWindowSize(windowFor(chunkSize)))
	if err != nil {
		return nil, err
	}
	z := &parallelZstd{
		w: w, enc: enc, chunkSize: chunkSize,
		pending: make(chan *zstdJob, workers+1),
		slots:   make(chan struct{}, workers+2),
		free:    make(chan []byte, 2*(workers+3)),
		outDone: make(chan struct{}),
	}
	z.cur = z.buffer()
	go z.output()
	return z, nil
}

func (z *parallelZstd) buffer() []byte {
	select {
	case b := <-z.free:
		return b[:0]
	default:
	}
	// Room for an incompressible chunk's frame too (zstd's worst case is
	// a few bytes per 128 KiB block plus the frame header).
	return make([]byte, 0, z.chunkSize+z.chunkSize/64+1024)
}

func (z *parallelZstd) recycle(b []byte) {
	if cap(b) >= z.chunkSize && cap(b) <= 2*z.chunkSize {
		select {
		case z.free <- b:
		default:
		}
	}
}

func (z *parallelZstd) failed() error {
	z.errMu.Lock()
	defer z.errMu.Unlock()
	return z.err
}

// Write buffers p and hands every full chunk to a worker.
func (z *parallelZstd) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if err := z.failed(); err != nil {
			return 0, err
		}
		k := min(len(p), z.chunkSize-len(z.cur))
		z.cur = append(z.cur, p[:k]...)
		p = p[k:]
		if len(z.cur) == z.chunkSize {
			z.submit()
		}
	}
	return n, nil
}

func (z *parallelZstd) submit() {
	job := &zstdJob{in: z.cur, done: make(chan struct{})}
	z.cur = z.buffer()
	z.submitted = true
	z.slots <- struct{}{}
	go func() {
		job.out = z.enc.EncodeAll(job.in, z.buffer())
		close(job.done)
	}()
	z.pending <- job
}

// output writes the compressed frames in order.
func (z *parallelZstd) output() {
	defer close(z.outDone)
	for job := range z.pending {
		<-job.done
		if z.failed() == nil {
			if _, err := z.w.Write(job.out); err != nil {
				z.errMu.Lock()
				z.err = err
				z.errMu.Unlock()
			}
		}
		z.recycle(job.in)
		z.recycle(job.out)
		<-z.slots
	}
}

// Close compresses what is buffered, waits for every frame to be written and
// releases the workers. It does not close the underlying writer. A stream with
// no input still gets one (empty) frame, so that it decodes as empty.
func (z *parallelZstd) Close() error {
	if z.pending == nil {
		return errors.New("zstd: already closed")
	}
	if len(z.cur) > 0 || !z.submitted {
		z.submit()
	}
	close(z.pending)
	<-z.outDone
	z.pending = nil
	z.enc.Close()
	return z.failed()
}

// windowFor is the smallest valid zstd window that holds a whole chunk.
func windowFor(chunkSize int) int {
	w := zstd.MinWindowSize
	for w < chunkSize && w < zstd.MaxWindowSize {
		w <<= 1
	}
	return w
}
