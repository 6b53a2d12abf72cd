package s3_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	s3dest "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/faults"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
)

// stallBucket is a Bucket whose requests go through tr, with 5 MiB parts,
// two attempts per request and the given StallTimeout.
func stallBucket(t *testing.T, srv s3test.Server, tr *faults.Transport, stall time.Duration) (*s3dest.Bucket, string) {
	t.Helper()
	name := s3test.NewBucket(t, srv)
	o := options(srv, name, "stall")
	o.PartSize = 5 << 20
	o.MaxAttempts = 2
	o.StallTimeout = stall
	o.HTTPClient = &http.Client{Transport: tr}
	b, err := s3dest.New(t.Context(), o)
	require.NoError(t, err)
	return b, name
}

// requireNoUploadsYet is requireNoUploads where none may ever have been
// created: gofakes3 then answers ListMultipartUploads with NoSuchUpload.
func requireNoUploadsYet(t *testing.T, srv s3test.Server, bucket string) {
	t.Helper()
	out, err := srv.Client(t).ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil && srv.Name == "gofakes3" && strings.Contains(err.Error(), "NoSuchUpload") {
		return
	}
	require.NoError(t, err)
	assert.Empty(t, out.Uploads, "multipart uploads left behind")
}

func isUpload(r *http.Request) bool { return r.Method == http.MethodPut || r.Method == http.MethodPost }

func isCreate(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploads")
}

// TestStallFailsTheRequest: an endpoint that takes a request and never
// answers fails the Put after StallTimeout per attempt, with a retryable
// timeout error, and leaves no upload behind.
func TestStallFailsTheRequest(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		for _, tc := range []struct {
			name string
			size int
		}{{"PutObject", 1 << 10}, {"multipart", 6 << 20}} {
			t.Run(tc.name, func(t *testing.T) {
				tr := faults.NewTransport(faults.Rule{Match: isUpload, Fault: faults.Fault{Stall: -1}, Times: -1})
				b, bucket := stallBucket(t, srv, tr, 200*time.Millisecond)
				_, err := b.Put(t.Context(), "stalled", bytes.NewReader(randomData(7, tc.size)), nil)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "stalled")
				assert.True(t, destination.IsRetryable(err), "a stall is transient: %v", err)
				var ne net.Error
				require.True(t, errors.As(err, &ne) && ne.Timeout(), "a stall is a timeout: %v", err)
				_, injected := tr.Counts()
				assert.Equal(t, 2, injected, "the stalled request is retried once (MaxAttempts 2)")
				tr.SetRules()
				requireNoUploadsYet(t, srv, bucket)
				_, err = b.Stat(t.Context(), "stalled")
				assert.ErrorIs(t, err, destination.ErrNotExist)
			})
		}
	})
}

// TestSlowUploadIsNotAStall: a part that takes several StallTimeouts to
// send, but whose bytes keep moving, is not cut.
func TestSlowUploadIsNotAStall(t *testing.T) {
	srv := s3test.Fake(t)
	// 2 MiB/s in steps of 100 ms: the 5 MiB part takes about 2.5 s, five
	// times the stall timeout.
	tr := faults.NewTransport(faults.Rule{Match: isUpload, Fault: faults.Fault{Trickle: 2 << 20}, Times: -1})
	b, bucket := stallBucket(t, srv, tr, 500*time.Millisecond)
	data := randomData(8, 5<<20+1)
	start := time.Now()
	obj, err := b.Put(t.Context(), "slow", bytes.NewReader(data), nil)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), obj.Size)
	assert.Greater(t, time.Since(start), 2*500*time.Millisecond, "the upload was not slower than the stall timeout: the case proves nothing")
	requireNoUploads(t, srv, bucket)
}

// TestLostCreateAnswerLeavesNoUpload: when the answer to
// CreateMultipartUpload is lost, the SDK's retry starts a second upload;
// Put aborts the first (whose ID it never learned) whether it then
// succeeds or fails.
func TestLostCreateAnswerLeavesNoUpload(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		for _, tc := range []struct {
			name  string
			times int
		}{{"once", 1}, {"always", -1}} {
			t.Run(tc.name, func(t *testing.T) {
				tr := faults.NewTransport(faults.Rule{Match: isCreate, Fault: faults.Fault{Drop: true}, Times: tc.times})
				b, bucket := stallBucket(t, srv, tr, 0)
				data := randomData(9, 6<<20)
				_, err := b.Put(t.Context(), "k", bytes.NewReader(data), nil)
				if tc.times == 1 {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
				}
				_, injected := tr.Counts()
				require.Positive(t, injected)
				tr.SetRules()
				requireNoUploads(t, srv, bucket)
			})
		}
	})
}

// TestStallMidBody: an endpoint that stops reading a request body half-way
// (the connection takes no more bytes) fails the request on the stall
// timeout too, not only one that never answers.
func TestStallMidBody(t *testing.T) {
	var got atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.CopyN(io.Discard, r.Body, 1<<20)
		got.Add(n)
		select { // reads nothing more, never answers
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handler
	b, err := s3dest.New(t.Context(), s3dest.Options{
		Bucket: "stalled", Endpoint: srv.URL, PathStyle: true, Region: "us-east-1", AccessKeyID: "AK", SecretAccessKey: "SK",
		PartSize: 64 << 20, MaxAttempts: 1, StallTimeout: 300 * time.Millisecond, SkipBucketCheck: true,
	})
	require.NoError(t, err)
	// One PutObject of 48 MiB, more than loopback socket buffers take.
	_, err = b.Put(t.Context(), "big", bytes.NewReader(randomData(10, 48<<20)), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stalled")
	assert.True(t, destination.IsRetryable(err), "a stall is transient: %v", err)
	assert.Positive(t, got.Load(), "the endpoint received part of the body")
}
