package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DefaultStallTimeout is the StallTimeout used when Options.StallTimeout is
// zero: as long as boto3's default read timeout.
const DefaultStallTimeout = time.Minute

// guardClient wraps the SDK's HTTP client. It counts the
// CreateMultipartUpload requests of each Put (see putTrace) and, when idle
// is positive, fails a request on which nothing has moved for idle: no
// byte of the request body taken by the connection, no answer after the
// request was sent, no byte of the answer while its reader waits. Time
// spent while the caller does not read the answer does not count, nor does
// the total duration: a slow upload that still moves is never cut.
type guardClient struct {
	next aws.HTTPClient
	idle time.Duration
}

// putTrace counts the CreateMultipartUpload requests sent for one Put,
// retries included; the Put puts it in the context of its requests.
type putTrace struct{ creates atomic.Int32 }

type putTraceKey struct{}

// stallError is the error of a request on which nothing moved for
// StallTimeout. It is a net.Error whose Timeout is true, so that the SDK
// retries the request and the Put's error, if it comes to that, is marked
// destination.Retryable.
type stallError struct{ idle time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("the endpoint stalled: nothing moved for %v (stall_timeout)", e.idle)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

// Do implements aws.HTTPClient.
func (g *guardClient) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.URL.Query().Has("uploads") {
		if tr, ok := req.Context().Value(putTraceKey{}).(*putTrace); ok {
			tr.creates.Add(1)
		}
	}
	if g.idle <= 0 {
		return g.next.Do(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	w := &watch{idle: g.idle, cancel: cancel}
	w.timer = time.AfterFunc(g.idle, w.fire)
	req = req.WithContext(ctx) // a shallow copy: the caller's request is not changed
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &sentBody{ReadCloser: req.Body, w: w}
	}
	if getBody := req.GetBody; getBody != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := getBody()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return &sentBody{ReadCloser: b, w: w}, nil
		}
	}
	resp, err := g.next.Do(req)
	w.timer.Stop()
	if err != nil {
		cancel()
		if w.fired.Load() {
			return nil, &stallError{g.idle}
		}
		return nil, err
	}
	resp.Body = &receivedBody{ReadCloser: resp.Body, w: w}
	return resp, nil
}

// watch cancels a request's context when its timer fires.
type watch struct {
	idle   time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
	fired  atomic.Bool
}

func (w *watch) fire() {
	w.fired.Store(true)
	w.cancel()
}

// sentBody restarts the watch each time the connection takes more of the
// request body.
type sentBody struct {
	io.ReadCloser
	w *watch
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.timer.Reset(b.w.idle)
	}
	return n, err
}

// receivedBody runs the watch only while a Read waits for the endpoint.
type receivedBody struct {
	io.ReadCloser
	w *watch
}

func (b *receivedBody) Read(p []byte) (int, error) {
	b.w.timer.Reset(b.w.idle)
	n, err := b.ReadCloser.Read(p)
	b.w.timer.Stop()
	if err != nil && err != io.EOF && b.w.fired.Load() {
		return n, &stallError{b.w.idle}
	}
	return n, err
}

func (b *receivedBody) Close() error {
	b.w.timer.Stop()
	err := b.ReadCloser.Close()
	b.w.cancel()
	return err
}
