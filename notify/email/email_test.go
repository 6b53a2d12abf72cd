package email_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/notify/email"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// Test secrets: none may appear in any message.
const (
	smtpPassword = "smtp-SECRET-pw"
	dbPassword   = "db-SECRET-pw"
	s3Secret     = "s3-SECRET-key"
)

var secrets = []string{smtpPassword, dbPassword, s3Secret, "SECRET"}

func failedEvent() notify.Event {
	return notify.Event{Type: notify.RunFailed, Time: time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC), Job: "shop", RunID: "r1",
		Elapsed: 2 * time.Second, Error: "source: <dump> failed & gave up", Link: "https://backupd.example/runs/r1"}
}

func newNotifier(t *testing.T, rawURL string) *email.Notifier {
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	n, err := email.FromURL(u)
	require.NoError(t, err)
	return n
}

// parts reads a message and returns its headers and its parts by content type.
func parts(t *testing.T, raw []byte) (mail.Header, map[string]string) {
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	require.NoError(t, err)
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	out := map[string]string{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(b)
	}
	return m.Header, out
}

func TestMessage(t *testing.T) {
	n := newNotifier(t, "smtp://u:"+smtpPassword+"@mail.example:587?from=Backups+<backupd@example.com>&to=ops@example.com,dba@example.com")
	raw, err := n.Message(failedEvent())
	require.NoError(t, err)
	assert.Contains(t, string(raw), "\r\n\r\n", "CRLF line endings")
	h, p := parts(t, raw)
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "[backupkit] shop: run failed", subject)
	assert.Equal(t, "Backups <backupd@example.com>", h.Get("From"))
	assert.Equal(t, "ops@example.com, dba@example.com", h.Get("To"))
	assert.Equal(t, "run.failed", h.Get("X-Backupkit-Event"))
	assert.Equal(t, "shop", h.Get("X-Backupkit-Job"))
	assert.NotEmpty(t, h.Get("Message-ID"))
	_, err = h.Date()
	assert.NoError(t, err)
	assert.Contains(t, p["text/plain"], "Job:      shop")
	assert.Contains(t, p["text/plain"], "source: <dump> failed & gave up")
	assert.Contains(t, p["text/plain"], "Run: https://backupd.example/runs/r1")
	assert.Contains(t, p["text/html"], `<a href="https://backupd.example/runs/r1">`)
	assert.Contains(t, p["text/html"], "source: &lt;dump&gt; failed &amp; gave up")
	assert.NotContains(t, string(raw), smtpPassword)
}

func TestFromURL(t *testing.T) {
	for _, bad := range []string{
		"smtp://u:" + smtpPassword + "@h:25?to=a@example.com",              // no from
		"smtp://u:" + smtpPassword + "@h:25?from=a@example.com",            // no to
		"smtp://u:" + smtpPassword + "@h:25?from=a@example.com&to=x&tls=z", // bad tls
	} {
		u, _ := url.Parse(bad)
		_, err := email.FromURL(u)
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), smtpPassword)
	}
	_, err := notify.Open(context.Background(), "smtp://u:"+smtpPassword+"@h?from=a@example.com&to=b@example.com")
	assert.NoError(t, err)
}

// fakeSMTP is a minimal SMTP server without STARTTLS that records the data
// of every message.
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	wg   sync.WaitGroup
}

func newFakeSMTP(t *testing.T) *fakeSMTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeSMTP{ln: ln}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-fake")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, b.String())
			f.mu.Unlock()
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestNotifyDeliversOverSMTP(t *testing.T) {
	f := newFakeSMTP(t)
	n := newNotifier(t, "smtp://"+f.ln.Addr().String()+"?from=backupd@example.com&to=ops@example.com&tls=none")
	require.NoError(t, n.Notify(context.Background(), failedEvent()))
	require.Len(t, f.msgs, 1)
	_, p := parts(t, []byte(f.msgs[0]))
	assert.Contains(t, p["text/plain"], "shop: run failed")

	// STARTTLS (the default) is required: a server without it is refused.
	n = newNotifier(t, "smtp://"+f.ln.Addr().String()+"?from=backupd@example.com&to=ops@example.com")
	err := n.Notify(context.Background(), failedEvent())
	require.ErrorContains(t, err, "STARTTLS")
	assert.Len(t, f.msgs, 1)
}

// failingSource fails with an error that holds credentials.
type failingSource struct{}

func (failingSource) Format() string { return "sql" }
func (failingSource) Snapshot(context.Context, io.Writer) (source.Info, error) {
	return source.Info{}, errors.New("dial mysql://root:" + dbPassword + "@db.internal/shop: refused; s3 upload s3://bkt/x?secret_key=" + s3Secret)
}

type mailpitSummary struct {
	ID      string
	Subject string
	To      []struct{ Address string }
}

func getJSON(t *testing.T, u string, v any) []byte {
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, u)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), string(b))
	}
	return b
}

// TestFailedRunSendsOneMail is the end-to-end test against mailpit: a failed
// run sends exactly one mail with the job, the error and the run's link.
func TestFailedRunSendsOneMail(t *testing.T) {
	srv := testenv.SMTP(t)
	to := testenv.UniqueName(t) + "@example.com"
	rawURL := "smtp://backupd:" + smtpPassword + "@" + srv.Addr + "?from=backupd@example.com&to=" + to + "&tls=none"

	n, err := notify.Open(context.Background(), rawURL)
	require.NoError(t, err)
	d := notify.NewDispatcher([]notify.Target{{Name: "mail", Notifier: n}}, &notify.DispatcherOptions{
		LinkTemplate: "https://backupd.example/runs/{run}", Logger: slog.New(slog.DiscardHandler),
		Secrets: []string{smtpPassword},
	})
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	defer st.Close()
	eng := backup.New(st, &backup.Options{Owner: "test"})
	defer eng.Subscribe(d.Publish)()
	job := &backup.Job{Name: "shop", Source: failingSource{}, Destinations: []backup.Target{{Name: "m", Destination: memory.New()}}}
	res, err := eng.Run(context.Background(), job, backup.RunOptions{})
	require.Error(t, err)
	_, err = eng.Run(context.Background(), &backup.Job{Name: "shop", Source: okSource{},
		Destinations: []backup.Target{{Name: "m", Destination: memory.New()}}}, backup.RunOptions{}) // succeeded: no mail by default
	require.NoError(t, err)
	require.NoError(t, d.Close(context.Background()))

	var list struct{ Messages []mailpitSummary }
	getJSON(t, srv.APIURL+"/api/v1/messages?limit=1000", &list)
	var mine []mailpitSummary
	for _, m := range list.Messages {
		if len(m.To) == 1 && m.To[0].Address == to {
			mine = append(mine, m)
		}
	}
	require.Len(t, mine, 1, "exactly one mail for the failed run")
	assert.Equal(t, "[backupkit] shop: run failed", mine[0].Subject)

	var msg struct {
		From    struct{ Address string }
		Subject string
		Text    string
		HTML    string
	}
	id := mine[0].ID
	getJSON(t, srv.APIURL+"/api/v1/message/"+id, &msg)
	assert.Equal(t, "backupd@example.com", msg.From.Address)
	link := "https://backupd.example/runs/" + res.Run.ID
	assert.Contains(t, msg.Text, "Job:      shop")
	assert.Contains(t, msg.Text, "Run:      "+res.Run.ID)
	assert.Contains(t, msg.Text, "dial mysql://root:xxxxx@db.internal/shop: refused")
	assert.Contains(t, msg.Text, link)
	assert.Contains(t, msg.HTML, `href="`+link+`"`)
	var headers map[string][]string
	getJSON(t, srv.APIURL+"/api/v1/message/"+id+"/headers", &headers)
	assert.Equal(t, []string{"run.failed"}, headers["X-Backupkit-Event"])
	assert.Equal(t, []string{"shop"}, headers["X-Backupkit-Job"])
	assert.Equal(t, []string{res.Run.ID}, headers["X-Backupkit-Run"])
	assert.Contains(t, headers["Content-Type"][0], "multipart/alternative")

	raw := getJSON(t, srv.APIURL+"/api/v1/message/"+id+"/raw", nil)
	for _, s := range secrets {
		assert.NotContains(t, string(raw), s)
		assert.NotContains(t, msg.Text, s)
		assert.NotContains(t, msg.HTML, s)
	}
}

type okSource struct{}

func (okSource) Format() string { return "sql" }
func (okSource) Snapshot(_ context.Context, w io.Writer) (source.Info, error) {
	_, err := io.WriteString(w, "select 1;")
	return source.Info{Kind: "ok"}, err
}
