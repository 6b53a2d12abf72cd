// Package webhook is a notifier that POSTs each event as JSON to a URL,
// signed with HMAC-SHA256 so that the receiver can check where it came from
// and reject replays.
//
// URL scheme: "webhook+https://host/path?secret=S&header.X-Foo=bar" (also
// "webhook+http://" for tests and private networks). The "secret" parameter
// is the shared signing key; every "header.NAME" parameter adds a request
// header; "timeout" (a Go duration) bounds the request; other parameters stay
// in the target URL.
//
// Each request carries the headers
//
//	X-Backupkit-Event:     the event type, such as "run.failed"
//	X-Backupkit-Timestamp: Unix seconds when the request was signed
//	X-Backupkit-Signature: "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// (the signature header only with a secret). Receivers check them with
// Verify or VerifyRequest.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/notify"
)

// Header names of the requests.
const (
	HeaderEvent     = "X-Backupkit-Event"
	HeaderTimestamp = "X-Backupkit-Timestamp"
	HeaderSignature = "X-Backupkit-Signature"
)

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock in VerifyRequest.
const DefaultTolerance = 5 * time.Minute

// Payload is the JSON body of a request: the notify.Event's fields in
// snake_case, with Elapsed as duration_seconds; empty fields are left out.
// Error and Reasons are redacted; Link is the run's page when the
// Dispatcher has a link template. Fields may be added, never renamed.
type Payload struct {
	Type            notify.EventType `json:"type"`
	Time            time.Time        `json:"time"`
	Job             string           `json:"job"`
	RunID           string           `json:"run_id,omitempty"`
	BackupID        string           `json:"backup_id,omitempty"`
	BytesRead       int64            `json:"bytes_read,omitempty"`
	BytesWritten    int64            `json:"bytes_written,omitempty"`
	Size            int64            `json:"size,omitempty"`
	DurationSeconds float64          `json:"duration_seconds,omitempty"`
	Deleted         int              `json:"deleted,omitempty"`
	Error           string           `json:"error,omitempty"`
	Reasons         []string         `json:"reasons,omitempty"`
	Link            string           `json:"link,omitempty"`
}

// NewPayload converts an event.
func NewPayload(e notify.Event) Payload {
	return Payload{
		Type: e.Type, Time: e.Time.UTC(), Job: e.Job, RunID: e.RunID, BackupID: e.BackupID,
		BytesRead: e.BytesRead, BytesWritten: e.BytesWritten, Size: e.Size,
		DurationSeconds: e.Elapsed.Seconds(), Deleted: e.Deleted, Error: e.Error, Reasons: e.Reasons, Link: e.Link,
	}
}

// Options configure a Notifier.
type Options struct {
	// URL is where events are POSTed (http or https). Required.
	URL string
	// Secret signs every request; empty sends no signature header.
	Secret []byte
	// Header is added to every request.
	Header http.Header
	// Client sends the requests. Default: a client with a 30s timeout that
	// does not follow redirects.
	Client *http.Client
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
}

// Notifier posts events to a webhook.
type Notifier struct{ o Options }

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for o.
func New(o Options) (*Notifier, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: URL must be an absolute http or https URL")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o}, nil
}

// Sign returns the signature header value for body at timestamp ts (Unix
// seconds): "sha256=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance (replay?)")
)

// Verify checks a request's timestamp and signature headers against body:
// the signature must match the secret, and the timestamp must be within
// tolerance of now (either way). It returns nil, ErrStale or
// ErrBadSignature (also for a malformed header).
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	want := Sign(secret, timestamp, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// VerifyRequest reads r's body (up to 1 MiB) and checks it with Verify at the
// current time and DefaultTolerance. It returns the body, which the caller
// may decode into a Payload once the error is nil.
func VerifyRequest(r *http.Request, secret []byte) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("webhook: read body: %w", err)
	}
	return body, Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), DefaultTolerance)
}

// Notify POSTs e. Any status other than 2xx is an error, so the Dispatcher
// retries. Errors never contain the URL.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	body, err := json.Marshal(NewPayload(e))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook: cannot build request")
	}
	for k, vs := range n.o.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "backupkit-webhook/1")
	req.Header.Set(HeaderEvent, string(e.Type))
	ts := strconv.FormatInt(n.o.Now().Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	if len(n.o.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(n.o.Secret, ts, body))
	}
	resp, err := n.o.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) { // its text holds the URL: keep the cause only
			err = uerr.Err
		}
		return fmt.Errorf("webhook: post to %s: %v", hostOf(n.o.URL), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %s answered %s", hostOf(n.o.URL), resp.Status)
	}
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "webhook"
	}
	return u.Host
}

// FromURL builds a Notifier from a "webhook+https://..." URL as described in
// the package documentation.
func FromURL(u *url.URL) (*Notifier, error) {
	scheme, ok := strings.CutPrefix(strings.ToLower(u.Scheme), "webhook+")
	if !ok || (scheme != "http" && scheme != "https") {
		return nil, errors.New(`webhook: scheme must be "webhook+https" or "webhook+http"`)
	}
	o := Options{Header: http.Header{}}
	q := u.Query()
	rest := url.Values{}
	client := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for k, vs := range q {
		switch {
		case k == "secret":
			o.Secret = []byte(vs[0])
		case k == "timeout":
			d, err := time.ParseDuration(vs[0])
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("webhook: timeout %q: want a positive duration such as \"10s\"", vs[0])
			}
			client.Timeout = d
		case strings.HasPrefix(k, "header."):
			name := strings.TrimPrefix(k, "header.")
			if name == "" {
				return nil, errors.New("webhook: empty header name")
			}
			for _, v := range vs {
				o.Header.Add(name, v)
			}
		default:
			rest[k] = vs
		}
	}
	target := *u
	target.Scheme = scheme
	target.RawQuery = rest.Encode()
	o.URL = target.String()
	o.Client = client
	return New(o)
}

func init() {
	open := func(_ context.Context, u *url.URL) (notify.Notifier, error) { return FromURL(u) }
	notify.Register("webhook+https", open)
	notify.Register("webhook+http", open)
}
