package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fault is what a Transport does to a request its rule matches.
type Fault struct {
	// Status, when non-zero, answers the request with this HTTP status (and
	// an S3-style XML error body) without sending it.
	Status int
	// Drop sends the request, discards the answer and fails as if the
	// connection had been reset before the answer arrived.
	Drop bool
	// Stall holds the request this long before sending it; a negative value
	// holds it until its context ends.
	Stall time.Duration
	// Trickle, when positive, sends the request body at most this many bytes
	// per second.
	Trickle int
}

// String names the fault for test names and reports.
func (f Fault) String() string {
	var parts []string
	if f.Status != 0 {
		parts = append(parts, fmt.Sprintf("status %d", f.Status))
	}
	if f.Drop {
		parts = append(parts, "dropped connection")
	}
	if f.Stall < 0 {
		parts = append(parts, "stall forever")
	} else if f.Stall > 0 {
		parts = append(parts, "stall "+f.Stall.String())
	}
	if f.Trickle > 0 {
		parts = append(parts, fmt.Sprintf("trickle %d B/s", f.Trickle))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Rule applies Fault to the requests Match accepts (all when Match is nil),
// Times times; Times < 0 means every time. Skip lets that many matching
// requests through first.
type Rule struct {
	Match func(*http.Request) bool
	Fault Fault
	Times int
	Skip  int
}

// ErrDropped is the error of a request a Transport dropped; it wraps
// syscall.ECONNRESET, as a reset connection does.
var ErrDropped = fmt.Errorf("faults: connection dropped: %w", syscall.ECONNRESET)

// Transport is an http.RoundTripper that applies its rules to requests
// before passing them to Next (http.DefaultTransport when nil). The first
// rule that matches a request and still has times left applies. Safe for
// concurrent use.
type Transport struct {
	Next http.RoundTripper

	mu       sync.Mutex
	rules    []*Rule
	requests int
	injected int
}

// NewTransport returns a Transport with rules, in front of a fresh clone of
// http.DefaultTransport.
func NewTransport(rules ...Rule) *Transport {
	t := &Transport{Next: http.DefaultTransport.(*http.Transport).Clone()}
	t.SetRules(rules...)
	return t
}

// SetRules replaces the rules.
func (t *Transport) SetRules(rules ...Rule) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules = t.rules[:0]
	for _, r := range rules {
		t.rules = append(t.rules, &r)
	}
}

// Counts returns how many requests the transport saw and how many of them
// got a fault.
func (t *Transport) Counts() (requests, injected int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests, t.injected
}

func (t *Transport) pick(req *http.Request) (Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	for _, r := range t.rules {
		if r.Times == 0 || (r.Match != nil && !r.Match(req)) {
			continue
		}
		if r.Skip > 0 {
			r.Skip--
			continue
		}
		if r.Times > 0 {
			r.Times--
		}
		t.injected++
		return r.Fault, true
	}
	return Fault{}, false
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	f, ok := t.pick(req)
	if !ok {
		return next.RoundTrip(req)
	}
	if f.Stall != 0 {
		if err := sleep(req.Context(), f.Stall); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	if f.Status != 0 {
		closeBody(req)
		return errorResponse(req, f.Status), nil
	}
	if f.Trickle > 0 && req.Body != nil && req.Body != http.NoBody {
		req = req.Clone(req.Context())
		req.Body = &slowBody{r: req.Body, rate: f.Trickle, ctx: req.Context()}
	}
	if f.Drop {
		resp, err := next.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		return nil, ErrDropped
	}
	return next.RoundTrip(req)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d < 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errorResponse is an S3-style error answer.
func errorResponse(req *http.Request, status int) *http.Response {
	code := map[int]string{429: "SlowDown", 500: "InternalError", 503: "SlowDown", 403: "AccessDenied"}[status]
	if code == "" {
		code = "InjectedFault"
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by faults.Transport</Message><RequestId>fault</RequestId></Error>`, code)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/xml"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// slowBody reads at most rate bytes per second.
type slowBody struct {
	r    io.ReadCloser
	rate int
	ctx  context.Context
}

func (s *slowBody) Read(p []byte) (int, error) {
	n := min(len(p), max(s.rate/10, 1))
	if err := sleep(s.ctx, time.Duration(n)*time.Second/time.Duration(s.rate)); err != nil {
		return 0, err
	}
	return s.r.Read(p[:n])
}

func (s *slowBody) Close() error { return s.r.Close() }

// IsDropped reports whether err comes from a request a Transport dropped.
func IsDropped(err error) bool { return errors.Is(err, ErrDropped) }
