// Package slack is a notifier that posts events to a Slack incoming webhook
// as a Block Kit message: a header with the job and what happened, the run's
// facts, the error, and a link to the run.
//
// URL scheme: "slack+https://hooks.slack.com/services/T000/B000/XXXX" (the
// incoming webhook's URL with "slack+" in front; the path is a secret and is
// never logged). The optional "timeout" parameter (a Go duration) bounds a
// request.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backupkit/backupkit/notify"
)

// Notifier posts events to a Slack incoming webhook.
type Notifier struct {
	url    string
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier posting to the incoming webhook URL (https, or http
// for tests) with client (nil: a client with a 30s timeout).
func New(webhookURL string, client *http.Client) (*Notifier, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("slack: webhook URL must be an absolute https URL")
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Notifier{url: webhookURL, client: client}, nil
}

// Message is the JSON body posted for an event: a fallback text and blocks.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is one Block Kit block: a "header" or "section" with Text (a
// section may add up to 10 Fields), or a "context" with Elements.
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"` // "plain_text" or "mrkdwn"
	Text string `json:"text"`
}

func icon(t notify.EventType) string {
	switch {
	case t.Failure():
		return ":red_circle:"
	case t == notify.HealthRecovered || t == notify.RunSucceeded:
		return ":large_green_circle:"
	}
	return ":information_source:"
}

// escape escapes Slack's control characters in mrkdwn text.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// NewMessage builds the message for e.
func NewMessage(e notify.Event) Message {
	title := fmt.Sprintf("%s: %s", e.Job, e.Type.Title())
	m := Message{Text: "backupkit: " + title}
	m.Blocks = append(m.Blocks, Block{Type: "header", Text: &Text{Type: "plain_text", Text: truncate(title, 150)}})
	var fields []Text
	field := func(k, v string) {
		if v != "" {
			fields = append(fields, Text{Type: "mrkdwn", Text: "*" + k + "*\n" + escape(v)})
		}
	}
	field("Job", e.Job)
	field("Event", string(e.Type))
	field("Run", e.RunID)
	field("Backup", e.BackupID)
	if e.Elapsed > 0 {
		field("Duration", e.Elapsed.Round(time.Second).String())
	}
	if e.Size > 0 {
		field("Size", fmt.Sprintf("%d bytes", e.Size))
	}
	if !e.Time.IsZero() {
		field("Time", e.Time.UTC().Format(time.RFC3339))
	}
	m.Blocks = append(m.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: icon(e.Type) + " *" + escape(title) + "*"}, Fields: fields[:min(len(fields), 10)]})
	if e.Error != "" {
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: "```" + escape(truncate(e.Error, 2900)) + "```"}})
	}
	if e.Link != "" {
		m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []Text{{Type: "mrkdwn", Text: "<" + escape(e.Link) + "|Open the run>"}}})
	}
	return m
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// Notify posts e. A status other than 2xx is an error; errors never contain
// the webhook URL.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	body, err := json.Marshal(NewMessage(e))
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("slack: cannot build request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("slack: post: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("slack: webhook answered %s", resp.Status)
	}
	return nil
}

func init() {
	open := func(_ context.Context, u *url.URL) (notify.Notifier, error) {
		scheme, _ := strings.CutPrefix(strings.ToLower(u.Scheme), "slack+")
		c := &http.Client{Timeout: 30 * time.Second}
		t := *u
		q := t.Query()
		if v := q.Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("slack: timeout %q: want a positive duration such as \"10s\"", v)
			}
			c.Timeout = d
			q.Del("timeout")
			t.RawQuery = q.Encode()
		}
		t.Scheme = scheme
		return New(t.String(), c)
	}
	notify.Register("slack+https", open)
	notify.Register("slack+http", open)
}
