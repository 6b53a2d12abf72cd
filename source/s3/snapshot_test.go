package s3_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/s3util/s3test"
	s3src "github.com/backupkit/backupkit/source/s3"
)

// gateTransport holds the GET of the first object until the GETs of the
// next ones have started, and records how many object GETs run at once.
type gateTransport struct {
	next    http.RoundTripper
	first   string // path suffix of the first object
	ahead   int    // GETs to wait for before the first one proceeds
	release chan struct{}

	mu                sync.Mutex
	started, inflight int
	maxInflight       int
}

func (g *gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/src/") {
		return g.next.RoundTrip(r)
	}
	g.mu.Lock()
	g.started++
	g.inflight++
	g.maxInflight = max(g.maxInflight, g.inflight)
	if g.started == g.ahead+1 {
		close(g.release)
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	if strings.HasSuffix(r.URL.Path, g.first) {
		select {
		case <-g.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.next.RoundTrip(r)
}

// TestSnapshotReadsAheadInOrder checks that Snapshot fetches up to
// Concurrency objects at once, never more, and still writes them in key
// order, even when the first object is the last to arrive.
func TestSnapshotReadsAheadInOrder(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	c := srv.Client(t)
	var want []string
	for i := range 20 {
		key := fmt.Sprintf("o%02d", i)
		body := strings.Repeat(key, 10+i)
		if i == 5 {
			body = strings.Repeat("L", 300<<10) // large: streamed
		}
		_, err := c.PutObject(t.Context(), &awss3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("src/" + key), Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		})
		require.NoError(t, err)
		want = append(want, key)
	}
	const conc = 4
	gt := &gateTransport{next: http.DefaultTransport.(*http.Transport).Clone(), first: "/src/o00", ahead: conc - 1, release: make(chan struct{})}
	src, err := s3src.New(t.Context(), s3src.Options{
		Bucket: bucket, Prefix: "src", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Concurrency: conc,
		HTTPClient: &http.Client{Transport: gt},
	})
	require.NoError(t, err)
	var buf bytes.Buffer
	info, err := src.Snapshot(t.Context(), &buf)
	require.NoError(t, err)
	assert.Equal(t, int64(20), info.Items[0].Count)
	assert.LessOrEqual(t, gt.maxInflight, conc, "more GETs at once than Concurrency")
	// That the Snapshot returned at all shows the read-ahead: the first GET
	// was held until conc-1 more had started.

	tr := tar.NewReader(&buf)
	var got []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, hdr.Name)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		if hdr.Name == "o05" {
			assert.Equal(t, 300<<10, len(b))
		} else {
			assert.Equal(t, strings.Repeat(hdr.Name, 10+len(got)-1), string(b))
		}
	}
	assert.Equal(t, want, got, "entries in key order")
}

// failGets answers 503 to the first n GETs of objects whose path ends with
// suffix, then 403 to all of them when forbid is set.
type failGets struct {
	next   http.RoundTripper
	suffix string
	n      int
	forbid bool
	mu     sync.Mutex
	seen   int
}

func (f *failGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, f.suffix) {
		f.mu.Lock()
		f.seen++
		status, code := 0, ""
		switch {
		case f.n > 0:
			f.n--
			status, code = http.StatusServiceUnavailable, "SlowDown"
		case f.forbid:
			status, code = http.StatusForbidden, "AccessDenied"
		}
		f.mu.Unlock()
		if status != 0 {
			body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>injected</Message></Error>`
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)), Request: r}, nil
		}
	}
	return f.next.RoundTrip(r)
}

func TestSnapshotRetriesAndFails(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	for _, k := range []string{"a", "b", "c"} {
		_, err := srv.Client(t).PutObject(t.Context(), &awss3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("src/" + k), Body: strings.NewReader(k), ContentLength: aws.Int64(1),
		})
		require.NoError(t, err)
	}
	open := func(ft *failGets) *s3src.Bucket {
		ft.next = http.DefaultTransport.(*http.Transport).Clone()
		src, err := s3src.New(t.Context(), s3src.Options{
			Bucket: bucket, Prefix: "src", Endpoint: srv.Endpoint, PathStyle: true, MaxAttempts: 4,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, HTTPClient: &http.Client{Transport: ft},
		})
		require.NoError(t, err)
		return src
	}
	ft := &failGets{suffix: "/src/b", n: 2}
	info, err := open(ft).Snapshot(t.Context(), io.Discard)
	require.NoError(t, err, "two 503 answers are retried")
	assert.Equal(t, int64(3), info.Items[0].Count)
	assert.Equal(t, 3, ft.seen)

	ft = &failGets{suffix: "/src/b", forbid: true}
	_, err = open(ft).Snapshot(t.Context(), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `reading "src/b"`)
	assert.Equal(t, 1, ft.seen, "a 403 is not retried")
}
