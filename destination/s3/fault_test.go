package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	s3dest "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
)

// fault is what faultTransport does to a request it matches.
type fault int

const (
	status500 fault = iota + 1 // answer 500 InternalError without sending the request
	status503                  // answer 503 SlowDown without sending the request
	status403                  // answer 403 AccessDenied without sending the request
	dropped                    // send the request, then fail as if the connection was reset before the answer
	corrupted                  // send the request with one byte of its body changed
)

// flipReader changes the byte at offset at.
type flipReader struct {
	r   io.ReadCloser
	off int
	at  int
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.off && f.at < f.off+n {
		p[f.at-f.off] ^= 0xff
	}
	f.off += n
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

// rule fails the requests that match, times times (-1: always).
type rule struct {
	match func(r *http.Request) bool
	fault fault
	times int
}

// faultTransport is an http.RoundTripper that fails chosen requests and
// counts what it sees.
type faultTransport struct {
	next http.RoundTripper

	mu       sync.Mutex
	rules    []*rule
	injected int
	seen     map[string]int // "METHOD kind" -> count
	// inflight and maxInflight count the UploadPart requests being sent.
	inflight, maxInflight int
	// created, when not nil, receives a value each time a
	// CreateMultipartUpload request succeeds.
	created chan struct{}
}

func newFaultTransport(rules ...*rule) *faultTransport {
	return &faultTransport{next: http.DefaultTransport.(*http.Transport).Clone(), rules: rules, seen: map[string]int{}}
}

// kind names the S3 operation of r, for the counts.
func kind(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	}
	return r.Method
}

func isPart(n string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return kind(r) == "UploadPart" && r.URL.Query().Get("partNumber") == n }
}

func isKind(k string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return kind(r) == k }
}

func (f *faultTransport) count(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[k]
}

func (f *faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.seen[kind(r)]++
	if k := kind(r); k == "UploadPart" || k == "PutObject" {
		if r.Header.Get("X-Amz-Checksum-Crc32") != "" || strings.Contains(strings.ToLower(r.Header.Get("X-Amz-Trailer")), "x-amz-checksum-crc32") {
			f.seen[k+" with CRC32"]++
		}
	}
	if kind(r) == "UploadPart" {
		f.inflight++
		f.maxInflight = max(f.maxInflight, f.inflight)
		defer func() {
			f.mu.Lock()
			f.inflight--
			f.mu.Unlock()
		}()
	}
	var hit *rule
	for _, ru := range f.rules {
		if ru.times != 0 && ru.match(r) {
			if ru.times > 0 {
				ru.times--
			}
			hit = ru
			f.injected++
			break
		}
	}
	f.mu.Unlock()
	if hit == nil {
		resp, err := f.next.RoundTrip(r)
		if err == nil && resp.StatusCode == http.StatusOK && f.created != nil && kind(r) == "CreateMultipartUpload" {
			f.created <- struct{}{}
		}
		return resp, err
	}
	answer := func(status int, code string) (*http.Response, error) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
		return &http.Response{
			StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r,
		}, nil
	}
	switch hit.fault {
	case status500:
		return answer(http.StatusInternalServerError, "InternalError")
	case status503:
		return answer(http.StatusServiceUnavailable, "SlowDown")
	case status403:
		return answer(http.StatusForbidden, "AccessDenied")
	case corrupted:
		r = r.Clone(r.Context())
		r.Body = &flipReader{r: r.Body, at: 1000}
		return f.next.RoundTrip(r)
	default: // dropped: the server gets the request, the client never sees the answer
		resp, err := f.next.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
}

func faultBucket(t *testing.T, srv s3test.Server, ft *faultTransport) (*s3dest.Bucket, string) {
	t.Helper()
	name := s3test.NewBucket(t, srv)
	o := options(srv, name, "faults")
	o.PartSize = 5 << 20
	o.Concurrency = 3
	o.MaxAttempts = 4
	o.HTTPClient = &http.Client{Transport: ft}
	b, err := s3dest.New(t.Context(), o)
	require.NoError(t, err)
	return b, name
}

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// requireNoUploads checks that no multipart upload is left in the bucket.
func requireNoUploads(t *testing.T, srv s3test.Server, bucket string) {
	t.Helper()
	assert.Empty(t, s3test.Uploads(t, srv.Client(t), bucket), "multipart uploads left behind")
}

func TestFaultsTransientAreRetried(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		ft := newFaultTransport(
			&rule{match: isKind("CreateMultipartUpload"), fault: status503, times: 1},
			&rule{match: isPart("1"), fault: status500, times: 2},
			&rule{match: isPart("2"), fault: dropped, times: 1},
			&rule{match: isPart("3"), fault: status503, times: 1},
			&rule{match: isKind("CompleteMultipartUpload"), fault: status500, times: 1},
		)
		b, bucket := faultBucket(t, srv, ft)
		data := randomData(1, 17<<20+11) // 4 parts
		obj, err := b.Put(t.Context(), "big.bin", bytes.NewReader(data), nil)
		require.NoError(t, err, "transient failures must be retried")
		assert.Equal(t, int64(len(data)), obj.Size)
		assert.Equal(t, 6, ft.injected, "every injected fault was hit")
		assert.Equal(t, 4+2+1+1, ft.count("UploadPart"), "each failed part attempt is retried once per failure")
		assert.LessOrEqual(t, ft.maxInflight, 3, "more parts in flight than Options.Concurrency")
		assert.Equal(t, ft.count("UploadPart"), ft.count("UploadPart with CRC32"), "every part carries a CRC32 checksum for S3 to verify")

		rc, err := b.Open(t.Context(), "big.bin")
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.True(t, bytes.Equal(data, got), "stored bytes differ from what was put")
		requireNoUploads(t, srv, bucket)

		// A small object: one PutObject, retried.
		ft.mu.Lock()
		ft.rules = append(ft.rules, &rule{match: isKind("PutObject"), fault: dropped, times: 1})
		ft.mu.Unlock()
		_, err = b.Put(t.Context(), "small", strings.NewReader("small object"), nil)
		require.NoError(t, err)
		st, err := b.Stat(t.Context(), "small")
		require.NoError(t, err)
		assert.Equal(t, 2, ft.count("PutObject with CRC32"), "PutObject carries a CRC32 checksum")
		assert.Equal(t, int64(len("small object")), st.Size)
	})
}

func TestFaultsPermanentAbortUpload(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		cases := []struct {
			name      string
			rule      *rule
			permanent bool // a 4xx: not retried, not marked retryable
			sentinel  error
		}{
			{"Part500Always", &rule{match: isPart("2"), fault: status500, times: -1}, false, nil},
			{"PartDroppedAlways", &rule{match: isPart("3"), fault: dropped, times: -1}, false, nil},
			{"Part403", &rule{match: isPart("2"), fault: status403, times: -1}, true, destination.ErrPermission},
			{"Complete403", &rule{match: isKind("CompleteMultipartUpload"), fault: status403, times: -1}, true, destination.ErrPermission},
		}
		if srv.Name == "minio" { // gofakes3 checks neither checksums nor signatures
			cases = append(cases, struct {
				name      string
				rule      *rule
				permanent bool
				sentinel  error
			}{"PartCorrupted", &rule{match: isPart("2"), fault: corrupted, times: -1}, true, nil})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ft := newFaultTransport(c.rule)
				b, bucket := faultBucket(t, srv, ft)
				_, err := b.Put(t.Context(), "doomed", bytes.NewReader(randomData(2, 16<<20)), nil)
				require.Error(t, err)
				assert.Equal(t, !c.permanent, destination.IsRetryable(err), "retryable: %v", err)
				if c.sentinel != nil {
					assert.ErrorIs(t, err, c.sentinel)
				}
				if c.permanent && c.rule.fault == status403 && strings.HasPrefix(c.name, "Part") {
					assert.Equal(t, 1, ft.injected, "a 4xx must not be retried")
				}
				assert.Equal(t, 1, ft.count("AbortMultipartUpload"), "the upload is aborted")
				requireNoUploads(t, srv, bucket)
				_, err = b.Stat(t.Context(), "doomed")
				assert.ErrorIs(t, err, destination.ErrNotExist)
				n, err := b.Cleanup(t.Context())
				require.NoError(t, err)
				assert.Zero(t, n)
			})
		}
	})
}

var errBoom = errors.New("reader failed on purpose")

// failAfter yields data, then fails with errBoom.
type failAfter struct{ r io.Reader }

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errBoom
	}
	return n, err
}

// cancelAfter cancels a context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// TestMultipartFailuresLeaveNothing covers what the conformance suite does
// with small objects, for objects of several parts.
func TestMultipartFailuresLeaveNothing(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		ft := newFaultTransport()
		b, bucket := faultBucket(t, srv, ft)
		data := randomData(3, 16<<20+5)

		_, err := b.Put(t.Context(), "k", &failAfter{bytes.NewReader(data)}, nil)
		require.ErrorIs(t, err, errBoom, "reader error after three parts")
		assert.False(t, destination.IsRetryable(err))

		ctx, cancel := context.WithCancel(t.Context())
		_, err = b.Put(ctx, "k", &cancelAfter{r: bytes.NewReader(data), n: 11 << 20, cancel: cancel}, nil)
		cancel()
		require.ErrorIs(t, err, context.Canceled, "context canceled in the third part")

		_, err = b.Put(t.Context(), "k", bytes.NewReader(data), &destination.PutOptions{Size: 6 << 20})
		require.Error(t, err, "more bytes than PutOptions.Size")
		_, err = b.Put(t.Context(), "k", bytes.NewReader(data), &destination.PutOptions{Size: int64(len(data)) + 1})
		require.Error(t, err, "fewer bytes than PutOptions.Size")

		assert.Equal(t, 4, ft.count("CreateMultipartUpload"))
		assert.Equal(t, 4, ft.count("AbortMultipartUpload"))
		requireNoUploads(t, srv, bucket)
		_, err = b.Stat(t.Context(), "k")
		require.ErrorIs(t, err, destination.ErrNotExist)

		// With the size given, the Put succeeds.
		_, err = b.Put(t.Context(), "k", bytes.NewReader(data), &destination.PutOptions{Size: int64(len(data))})
		require.NoError(t, err)
	})
}

func TestCleanupAbortsOrphans(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		bucket := s3test.NewBucket(t, srv)
		ft := newFaultTransport()
		ft.created = make(chan struct{}, 1)
		o := options(srv, bucket, "c")
		o.CleanupAge = 1 // nanosecond: anything not owned by a live Put
		o.PartSize = 5 << 20
		o.HTTPClient = &http.Client{Transport: ft}
		b, err := s3dest.New(t.Context(), o)
		require.NoError(t, err)
		c := srv.Client(t)
		// An orphan inside the prefix (a process that died mid-Put) and one
		// outside it, which Cleanup must not touch.
		for _, k := range []string{"c/orphan", "other/orphan"} {
			_, err := c.CreateMultipartUpload(t.Context(), &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &k})
			require.NoError(t, err)
		}
		n, err := b.Cleanup(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, []string{"other/orphan"}, s3test.Uploads(t, c, bucket))

		// A Put in progress in this process keeps its upload, however old.
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := b.Put(t.Context(), "live", pr, nil)
			done <- err
		}()
		_, err = pw.Write(randomData(4, 6<<20)) // one part and more: the upload exists
		require.NoError(t, err)
		<-ft.created // the live Put's multipart upload exists
		require.Len(t, s3test.Uploads(t, c, bucket), 2)
		n, err = b.Cleanup(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n, "Cleanup aborted the upload of a Put in progress")
		require.NoError(t, pw.Close())
		require.NoError(t, <-done)
		st, err := b.Stat(t.Context(), "live")
		require.NoError(t, err)
		assert.Equal(t, int64(6<<20), st.Size)

		// With the default age, a fresh orphan is left alone.
		b2, err := s3dest.New(t.Context(), options(srv, bucket, "other"))
		require.NoError(t, err)
		n, err = b2.Cleanup(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n)
	})
}
