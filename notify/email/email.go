// Package email is a notifier that sends each event as an email over SMTP,
// with a plain-text and an HTML body, a subject naming the job and what
// happened, and the run's link.
//
// URL scheme:
//
//	smtp://user:pass@host:port?from=backupd@example.com&to=ops@example.com,dba@example.com&tls=starttls
//
// "tls" is "starttls" (require STARTTLS; the default, except on port 465),
// "tls" (implicit TLS; the default on port 465) or "none" (plain text: only
// for a relay on localhost or a test server; authentication is then refused
// by net/smtp unless the host is localhost). User and password, when given,
// authenticate with PLAIN. "from" and at least one "to" (comma separated or
// repeated) are required; "subject_prefix" replaces "[backupkit]".
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/notify"
)

// TLS modes.
const (
	StartTLS = "starttls" // STARTTLS, required
	TLS      = "tls"      // implicit TLS (port 465)
	NoTLS    = "none"     // plain text
)

// Options configure a Notifier.
type Options struct {
	// Addr is the SMTP server's host:port. Required.
	Addr string
	// TLS is StartTLS (default), TLS or NoTLS.
	TLS string
	// TLSConfig is used for STARTTLS and TLS; nil means verify the server
	// against the system roots for the host of Addr.
	TLSConfig *tls.Config
	// Username and Password authenticate with PLAIN when Username is set.
	Username, Password string
	// From is the sender address; To the recipients (at least one).
	From string
	To   []string
	// SubjectPrefix starts every subject; default "[backupkit]".
	SubjectPrefix string
	// Now is the clock for the Date header. Default time.Now.
	Now func() time.Time
}

// Notifier sends events by email.
type Notifier struct{ o Options }

var _ notify.Notifier = (*Notifier)(nil)

// New checks o and returns a Notifier.
func New(o Options) (*Notifier, error) {
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return nil, errors.New("email: server address must be host:port")
	}
	switch o.TLS {
	case "":
		o.TLS = StartTLS
	case StartTLS, TLS, NoTLS:
	default:
		return nil, fmt.Errorf("email: tls %q: want starttls, tls or none", o.TLS)
	}
	if _, err := mail.ParseAddress(o.From); err != nil {
		return nil, fmt.Errorf("email: from %q: not an address", o.From)
	}
	if len(o.To) == 0 {
		return nil, errors.New("email: at least one recipient (to) is required")
	}
	for _, to := range o.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("email: to %q: not an address", to)
		}
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "[backupkit]"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o}, nil
}

// Subject is the subject line for e: prefix, job, and what happened, such
// as "[backupkit] shop: run failed".
func Subject(prefix string, e notify.Event) string {
	return fmt.Sprintf("%s %s: %s", prefix, e.Job, e.Type.Title())
}

// Message returns the whole RFC 5322 message for e, CRLF line endings.
func (n *Notifier) Message(e notify.Event) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part := func(ctype, content string) error {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(content)); err != nil {
			return err
		}
		return qp.Close()
	}
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, facts(e)); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	if err := part("text/plain", plainText(e)); err != nil {
		return nil, err
	}
	if err := part("text/html", html.String()); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	_, domain, _ := strings.Cut(n.o.From, "@")
	domain = strings.Trim(domain, "> ")
	if domain == "" {
		domain = "backupkit.invalid"
	}
	var m bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&m, "%s: %s\r\n", k, v) }
	h("From", n.o.From)
	h("To", strings.Join(n.o.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", Subject(n.o.SubjectPrefix, e)))
	h("Date", n.o.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(rnd[:])+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("X-Backupkit-Event", string(e.Type))
	h("X-Backupkit-Job", e.Job)
	if e.RunID != "" {
		h("X-Backupkit-Run", e.RunID)
	}
	h("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	m.WriteString("\r\n")
	m.Write(body.Bytes())
	return m.Bytes(), nil
}

type fact struct{ Name, Value string }

type view struct {
	Title string
	Facts []fact
	Error string
	Link  string
}

func facts(e notify.Event) view {
	v := view{Title: e.Job + ": " + e.Type.Title(), Error: e.Error, Link: e.Link}
	add := func(k, val string) {
		if val != "" {
			v.Facts = append(v.Facts, fact{k, val})
		}
	}
	add("Job", e.Job)
	add("Event", string(e.Type))
	add("Run", e.RunID)
	add("Backup", e.BackupID)
	if !e.Time.IsZero() {
		add("Time", e.Time.UTC().Format(time.RFC3339))
	}
	if e.Elapsed > 0 {
		add("Duration", e.Elapsed.Round(time.Millisecond).String())
	}
	if e.BytesWritten > 0 {
		add("Written", strconv.FormatInt(e.BytesWritten, 10)+" bytes")
	}
	if e.Size > 0 {
		add("Size", strconv.FormatInt(e.Size, 10)+" bytes")
	}
	if e.Deleted > 0 {
		add("Deleted", strconv.Itoa(e.Deleted)+" backups")
	}
	for _, r := range e.Reasons {
		add("Reason", r)
	}
	return v
}

func plainText(e notify.Event) string {
	v := facts(e)
	var b strings.Builder
	b.WriteString(v.Title + "\r\n\r\n")
	for _, f := range v.Facts {
		fmt.Fprintf(&b, "%-9s %s\r\n", f.Name+":", f.Value)
	}
	if v.Error != "" {
		b.WriteString("\r\nError:\r\n" + v.Error + "\r\n")
	}
	if v.Link != "" {
		b.WriteString("\r\nRun: " + v.Link + "\r\n")
	}
	return b.String()
}

var htmlTemplate = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Title}}</h2>
<table cellpadding="4">
{{range .Facts}}<tr><th align="left">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .Error}}<p><b>Error</b></p><pre>{{.Error}}</pre>{{end}}
{{if .Link}}<p><a href="{{.Link}}">Open the run</a></p>{{end}}
</body></html>
`))

// Notify sends e to every recipient. It gives up when ctx ends.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	msg, err := n.Message(e)
	if err != nil {
		return err
	}
	if err := n.send(ctx, msg); err != nil {
		return fmt.Errorf("email: %s: %w", n.o.Addr, err)
	}
	return nil
}

func (n *Notifier) send(ctx context.Context, msg []byte) error {
	host, _, _ := net.SplitHostPort(n.o.Addr)
	tc := n.o.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: host}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.o.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if n.o.TLS == TLS {
		conn = tls.Client(conn, tc)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if n.o.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS (use tls=none only for a local relay)")
		}
		if err := c.StartTLS(tc); err != nil {
			return err
		}
	}
	if n.o.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", n.o.Username, n.o.Password, host)); err != nil {
			return fmt.Errorf("authenticate: %w", err)
		}
	}
	from, _ := mail.ParseAddress(n.o.From)
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	for _, to := range n.o.To {
		a, _ := mail.ParseAddress(to)
		if err := c.Rcpt(a.Address); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// FromURL builds a Notifier from an "smtp://" URL as described in the package
// documentation.
func FromURL(u *url.URL) (*Notifier, error) {
	q := u.Query()
	o := Options{Addr: u.Host, TLS: q.Get("tls"), From: q.Get("from"), SubjectPrefix: q.Get("subject_prefix")}
	if u.Port() == "" {
		o.Addr = net.JoinHostPort(u.Hostname(), "587")
	}
	if o.TLS == "" && u.Port() == "465" {
		o.TLS = TLS
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	for _, v := range q["to"] {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.To = append(o.To, a)
			}
		}
	}
	return New(o)
}

func init() {
	notify.Register("smtp", func(_ context.Context, u *url.URL) (notify.Notifier, error) { return FromURL(u) })
}
