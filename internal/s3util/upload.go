package s3util

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Part size limits of S3 multipart uploads.
const (
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	MaxParts    = 10_000

	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
)

// ReaderError wraps an error returned by the reader given to Upload, so that
// callers can tell it from a store failure.
type ReaderError struct{ Err error }

func (e *ReaderError) Error() string { return "reading the data: " + e.Err.Error() }
func (e *ReaderError) Unwrap() error { return e.Err }

// ErrSizeMismatch is wrapped by Upload's error when the reader yields a
// different number of bytes than UploadInput.Size.
var ErrSizeMismatch = errors.New("size mismatch")

// Uploader streams objects of unknown length into a bucket. Objects smaller
// than one part go up with a single PutObject; larger ones as a multipart
// upload with up to Concurrency parts in flight, so memory is bounded by
// PartSize × Concurrency per Upload (for objects of more than 2,000 parts
// the part size doubles every 2,000 parts; see partGrowEvery). Every part carries a checksum that S3
// verifies. A multipart upload that fails for any reason is aborted.
type Uploader struct {
	Client      *s3.Client
	Bucket      string
	PartSize    int64 // DefaultPartSize when 0
	Concurrency int   // DefaultConcurrency when 0
	// Checksum is the algorithm of the per-request checksums; empty means CRC32,
	// "none" sends none.
	Checksum types.ChecksumAlgorithm

	// Object settings applied to every upload.
	StorageClass types.StorageClass
	SSE          types.ServerSideEncryption
	SSEKMSKeyID  string
	Tagging      string // URL-encoded "k=v&k2=v2"

	pool sync.Pool
}

// UploadInput describes one object to Upload.
type UploadInput struct {
	Key         string
	Size        int64 // expected length, or <= 0 when unknown
	ContentType string
	Metadata    map[string]string
	// Optional standard headers, stored with the object when not empty.
	ContentEncoding    string
	CacheControl       string
	ContentDisposition string
	ContentLanguage    string
}

// optional returns p as a *string, nil when empty.
func optional(p string) *string {
	if p == "" {
		return nil
	}
	return aws.String(p)
}

func (u *Uploader) partSize() int64 {
	if u.PartSize > 0 {
		return u.PartSize
	}
	return DefaultPartSize
}

func (u *Uploader) concurrency() int {
	if u.Concurrency > 0 {
		return u.Concurrency
	}
	return DefaultConcurrency
}

func (u *Uploader) checksum() types.ChecksumAlgorithm {
	switch u.Checksum {
	case "":
		return types.ChecksumAlgorithmCrc32
	case "none":
		return ""
	}
	return u.Checksum
}

func (u *Uploader) getBuf(size int64) []byte {
	if b, ok := u.pool.Get().(*[]byte); ok && int64(cap(*b)) >= size {
		return (*b)[:size]
	}
	return make([]byte, size)
}

func (u *Uploader) putBuf(b []byte) {
	b = b[:cap(b)]
	u.pool.Put(&b)
}

// readFull reads into buf until it is full, r reports EOF, or r or ctx
// fail. It returns the bytes read and whether EOF was reached.
func readFull(ctx context.Context, r io.Reader, buf []byte) (int, bool, error) {
	n := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, &ReaderError{err}
		}
	}
	return n, false, nil
}

// Upload reads r to EOF and stores it under in.Key, returning the number
// of bytes stored. If it fails, nothing is stored under the key by it (an
// existing object is left as it was) and no multipart upload is left behind,
// unless the abort request itself fails (then the upload is left for
// Cleanup and the error says so). Errors from r are wrapped in *ReaderError.
func (u *Uploader) Upload(ctx context.Context, in UploadInput, r io.Reader) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	partSize := u.partSize()
	if in.Size > 0 {
		// Grow parts so that a known size fits in MaxParts.
		partSize = max(partSize, (in.Size+MaxParts-1)/MaxParts)
	}
	buf := u.getBuf(partSize)
	n, eof, err := readFull(ctx, r, buf)
	if err != nil {
		u.putBuf(buf)
		return 0, err
	}
	if eof {
		defer u.putBuf(buf)
		if in.Size > 0 && int64(n) != in.Size {
			return 0, fmt.Errorf("%w: read %d bytes, expected %d", ErrSizeMismatch, n, in.Size)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		_, err := u.Client.PutObject(ctx, u.putInput(in, buf[:n]))
		if err != nil {
			return 0, err
		}
		return int64(n), nil
	}
	return u.multipart(ctx, in, r, buf, partSize)
}

func (u *Uploader) putInput(in UploadInput, data []byte) *s3.PutObjectInput {
	p := &s3.PutObjectInput{
		Bucket:               aws.String(u.Bucket),
		Key:                  aws.String(in.Key),
		Body:                 bytes.NewReader(data),
		ContentLength:        aws.Int64(int64(len(data))),
		ChecksumAlgorithm:    u.checksum(),
		StorageClass:         u.StorageClass,
		ServerSideEncryption: u.SSE,
		Metadata:             in.Metadata,
	}
	p.ContentType = optional(in.ContentType)
	p.ContentEncoding = optional(in.ContentEncoding)
	p.CacheControl = optional(in.CacheControl)
	p.ContentDisposition = optional(in.ContentDisposition)
	p.ContentLanguage = optional(in.ContentLanguage)
	if u.SSEKMSKeyID != "" {
		p.SSEKMSKeyId = aws.String(u.SSEKMSKeyID)
	}
	if u.Tagging != "" {
		p.Tagging = aws.String(u.Tagging)
	}
	return p
}

func (u *Uploader) multipart(ctx context.Context, in UploadInput, r io.Reader, first []byte, partSize int64) (n int64, err error) {
	create := &s3.CreateMultipartUploadInput{
		Bucket:               aws.String(u.Bucket),
		Key:                  aws.String(in.Key),
		ChecksumAlgorithm:    u.checksum(),
		StorageClass:         u.StorageClass,
		ServerSideEncryption: u.SSE,
		Metadata:             in.Metadata,
	}
	create.ContentType = optional(in.ContentType)
	create.ContentEncoding = optional(in.ContentEncoding)
	create.CacheControl = optional(in.CacheControl)
	create.ContentDisposition = optional(in.ContentDisposition)
	create.ContentLanguage = optional(in.ContentLanguage)
	if u.SSEKMSKeyID != "" {
		create.SSEKMSKeyId = aws.String(u.SSEKMSKeyID)
	}
	if u.Tagging != "" {
		create.Tagging = aws.String(u.Tagging)
	}
	if in.Size > 0 && in.Size < int64(len(first)) {
		u.putBuf(first)
		return 0, fmt.Errorf("%w: read more than the %d bytes expected", ErrSizeMismatch, in.Size)
	}
	out, err := u.Client.CreateMultipartUpload(ctx, create)
	if err != nil {
		u.putBuf(first)
		return 0, err
	}
	uploadID := aws.ToString(out.UploadId)
	Live.add(u.Bucket, uploadID)
	defer Live.remove(u.Bucket, uploadID)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		mu    sync.Mutex
		parts []types.CompletedPart
		wg    sync.WaitGroup
		// free holds the buffers not in use: filling one while the others
		// are being sent bounds memory to Concurrency buffers.
		free = make(chan []byte, u.concurrency())
	)
	for range u.concurrency() - 1 {
		free <- nil
	}
	defer func() {
		if err != nil {
			cancel(err) // stop the parts still being sent
		}
		wg.Wait()
		close(free)
		for b := range free {
			if b != nil {
				u.putBuf(b)
			}
		}
		if err != nil {
			if aerr := u.abort(ctx, in.Key, uploadID); aerr != nil {
				err = fmt.Errorf("%w (and aborting multipart upload %s failed, Cleanup will remove it: %v)", err, uploadID, aerr)
			}
		}
	}()

	send := func(num int32, data []byte) {
		defer func() { free <- data }()
		res, err := u.Client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(u.Bucket),
			Key:               aws.String(in.Key),
			UploadId:          aws.String(uploadID),
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(data),
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: u.checksum(),
		})
		if err != nil {
			cancel(fmt.Errorf("uploading part %d: %w", num, err))
			return
		}
		mu.Lock()
		parts = append(parts, types.CompletedPart{
			PartNumber:     aws.Int32(num),
			ETag:           res.ETag,
			ChecksumCRC32:  res.ChecksumCRC32,
			ChecksumCRC32C: res.ChecksumCRC32C,
			ChecksumSHA1:   res.ChecksumSHA1,
			ChecksumSHA256: res.ChecksumSHA256,
		})
		mu.Unlock()
	}

	failed := func(e error) (int64, error) {
		if ctx.Err() != nil {
			// A part failed (or the caller canceled): report the cause, not
			// the cancellation it led to.
			return 0, context.Cause(ctx)
		}
		return 0, e
	}

	buf := first
	var total int64
	var num int32
	for {
		num++
		total += int64(len(buf))
		if in.Size > 0 && total > in.Size {
			u.putBuf(buf)
			return failed(fmt.Errorf("%w: read more than the %d bytes expected", ErrSizeMismatch, in.Size))
		}
		if int(num) > MaxParts {
			u.putBuf(buf)
			return failed(fmt.Errorf("object is larger than S3's %d parts allow with a first part size of %d bytes; raise the part size", MaxParts, partSize))
		}
		wg.Add(1)
		go func(num int32, data []byte) {
			defer wg.Done()
			send(num, data)
		}(num, buf)

		var next []byte
		select {
		case next = <-free:
		case <-ctx.Done():
			return failed(context.Cause(ctx))
		}
		size := partSizeFor(partSize, num+1)
		if next == nil || int64(cap(next)) < size {
			next = u.getBuf(size)
		}
		next = next[:size]
		m, eof, rerr := readFull(ctx, r, next)
		if rerr != nil {
			free <- next
			return failed(rerr)
		}
		if m == 0 {
			free <- next
			break
		}
		buf = next[:m]
		if eof {
			num++
			total += int64(m)
			if in.Size > 0 && total != in.Size {
				free <- next
				return failed(fmt.Errorf("%w: read %d bytes, expected %d", ErrSizeMismatch, total, in.Size))
			}
			wg.Add(1)
			go func(num int32, data []byte) {
				defer wg.Done()
				send(num, data)
			}(num, buf)
			break
		}
	}
	wg.Wait()
	if c := context.Cause(ctx); c != nil {
		return 0, c
	}
	if in.Size > 0 && total != in.Size {
		return 0, fmt.Errorf("%w: read %d bytes, expected %d", ErrSizeMismatch, total, in.Size)
	}
	sortParts(parts)
	_, err = u.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(u.Bucket),
		Key:             aws.String(in.Key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return 0, fmt.Errorf("completing the multipart upload: %w", err)
	}
	return total, nil
}

// partGrowEvery is the number of parts after which the part size of an
// upload doubles, so that an object of unknown size can exceed MaxParts ×
// PartSize: with 8 MiB parts, the first 2,000 parts hold 16 GiB and the
// 10,000 parts up to about 484 GiB.
const partGrowEvery = 2000

// partSizeFor returns the size of part num (from 1) of an upload whose
// first parts have size base.
func partSizeFor(base int64, num int32) int64 {
	return min(base<<((num-1)/partGrowEvery), MaxPartSize)
}

func sortParts(p []types.CompletedPart) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && *p[j].PartNumber < *p[j-1].PartNumber; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// abortTimeout bounds the abort of a failed upload, which runs even when
// the Upload's context is canceled.
const abortTimeout = time.Minute

func (u *Uploader) abort(ctx context.Context, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := u.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(u.Bucket),
		Key:      aws.String(key),
		UploadId: aws.String(uploadID),
	})
	if err != nil && IsNotFound(err) {
		return nil
	}
	return err
}

// Live is the set of multipart uploads that Uploads of this process are
// running, which Cleanup must never abort.
var Live = &liveSet{m: map[string]struct{}{}}

type liveSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (l *liveSet) add(bucket, id string) {
	l.mu.Lock()
	l.m[bucket+"\x00"+id] = struct{}{}
	l.mu.Unlock()
}

func (l *liveSet) remove(bucket, id string) {
	l.mu.Lock()
	delete(l.m, bucket+"\x00"+id)
	l.mu.Unlock()
}

// Has reports whether an Upload of this process owns the upload.
func (l *liveSet) Has(bucket, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.m[bucket+"\x00"+id]
	return ok
}
