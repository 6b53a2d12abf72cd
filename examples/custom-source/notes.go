// Package notes is a backupkit source adapter written outside the backupkit
// module, as a third party would write one: it backs up the notes of a
// workspace of a (fictional) notes service over its HTTP API, and restores
// them into a workspace. It is one file, plus its conformance test
// (notes_test.go), which runs backupkit's source/sourcetest suite.
//
// Use it in code with [New], or register its URL scheme by importing the
// package and open "notes://host:port/WORKSPACE?token=…" with source.Open
// (token_file=PATH reads the token from a file; plain_http=true talks HTTP
// instead of HTTPS, for tests).
//
// # The service's API
//
// All requests carry "Authorization: Bearer TOKEN".
//
//	GET    /workspaces/{ws}                 200 {"notes": N}, or 404
//	GET    /workspaces/{ws}/notes?after=ID&limit=N
//	                                        200 {"notes": [note…]}, sorted by id
//	PUT    /workspaces/{ws}/notes/{id}      create or replace a note (and the workspace)
//	DELETE /workspaces/{ws}                 delete a workspace and its notes
//	POST   /workspaces/{ws}/rename?to=NEW   rename; 409 when NEW exists
//
// # Snapshot format
//
// JSON Lines: one note per line ({"id","title","body"}), in id order, then a
// trailer {"end":true,"count":N}. A stream without its trailer, or with
// anything after it, is refused, so a truncated backup never restores.
//
// # Restore
//
// Notes are written into a scratch workspace "TARGET.restoring-XXXXXXXX"
// while the stream is read; only after the trailer and the end of the stream
// does the scratch workspace replace the target (renamed onto it). A failed
// restore deletes the scratch workspace and leaves the target as it was. A
// target that holds notes is refused unless DropExisting is set.
package notes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/backupkit/backupkit/source"
)

// The interfaces this adapter implements, checked at compile time.
var (
	_ source.Source   = (*Source)(nil)
	_ source.Restorer = (*Source)(nil)
	_ source.Checker  = (*Source)(nil)
)

func init() {
	source.Register("notes", func(_ context.Context, u *url.URL) (source.Source, error) { return FromURL(u) })
}

// Note is one note of a workspace.
type Note struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// trailer ends a snapshot.
type trailer struct {
	End   bool  `json:"end"`
	Count int64 `json:"count"`
}

// pageSize is how many notes one listing request asks for.
const pageSize = 100

// Source is a notes workspace. It is safe for concurrent use.
type Source struct {
	base      *url.URL // the service's root URL
	workspace string
	token     string
	client    *http.Client
}

// New returns the Source for workspace on the service at baseURL
// ("https://notes.example.com"), authenticating with token. client nil
// means http.DefaultClient.
func New(baseURL, workspace, token string, client *http.Client) (*Source, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notes: base URL must be http(s)://host[:port]")
	}
	if workspace == "" || strings.ContainsAny(workspace, "/?#") {
		return nil, errors.New("notes: workspace must be a non-empty name without '/', '?' or '#'")
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Source{base: u, workspace: workspace, token: token, client: client}, nil
}

// FromURL opens "notes://host[:port]/WORKSPACE?token=…" (or token_file=PATH;
// plain_http=true for HTTP). Errors never contain the token.
func FromURL(u *url.URL) (*Source, error) {
	q := u.Query()
	token := q.Get("token")
	if f := q.Get("token_file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("notes: token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	scheme := "https"
	if q.Get("plain_http") == "true" {
		scheme = "http"
	}
	return New(scheme+"://"+u.Host, strings.Trim(u.Path, "/"), token, nil)
}

// Format is "jsonl".
func (s *Source) Format() string { return "jsonl" }

// Check tells whether the service answers and the workspace exists.
func (s *Source) Check(ctx context.Context) error {
	var ws struct{ Notes int64 }
	return s.do(ctx, http.MethodGet, s.workspace, "", nil, &ws)
}

// Snapshot writes the workspace's notes as JSON Lines and a trailer.
func (s *Source) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	info := source.Info{Kind: "notes", Format: s.Format(), Location: s.base.Host + "/" + s.workspace}
	var count, size int64
	after := ""
	for {
		var page struct{ Notes []Note }
		q := url.Values{"after": {after}, "limit": {fmt.Sprint(pageSize)}}
		if err := s.do(ctx, http.MethodGet, s.workspace+"/notes", q.Encode(), nil, &page); err != nil {
			return source.Info{}, fmt.Errorf("notes: snapshot: %w", err)
		}
		for _, n := range page.Notes {
			if err := writeLine(ctx, w, n); err != nil {
				return source.Info{}, fmt.Errorf("notes: snapshot: %w", err)
			}
			count++
			size += int64(len(n.Title) + len(n.Body))
			after = n.ID
		}
		if len(page.Notes) < pageSize {
			break
		}
	}
	if err := writeLine(ctx, w, trailer{End: true, Count: count}); err != nil {
		return source.Info{}, fmt.Errorf("notes: snapshot: %w", err)
	}
	info.Items = []source.Item{{Name: "notes", Count: count, Bytes: size}}
	return info, nil
}

func writeLine(ctx context.Context, w io.Writer, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Restore loads a snapshot into opts.Target (a workspace name; empty: this
// source's own workspace), through a scratch workspace (see the package
// documentation).
func (s *Source) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) (err error) {
	target := opts.Target
	if target == "" {
		target = s.workspace
	}
	if !opts.DryRun && !opts.DropExisting {
		var ws struct{ Notes int64 }
		switch err := s.do(ctx, http.MethodGet, target, "", nil, &ws); {
		case err == nil && ws.Notes > 0:
			return fmt.Errorf("notes: restore: workspace %s holds %d notes (drop them with DropExisting)", target, ws.Notes)
		case err != nil && !errors.Is(err, errNotFound):
			return fmt.Errorf("notes: restore: %w", err)
		}
	}
	scratch := ""
	if !opts.DryRun {
		scratch = target + ".restoring-" + randomHex()
		defer func() {
			if err != nil { // leave the target as it was
				_ = s.do(context.WithoutCancel(ctx), http.MethodDelete, scratch, "", nil, nil)
			}
		}()
	}
	var count int64
	dec := bufio.NewReader(r)
	done := false
	for {
		line, rerr := dec.ReadBytes('\n')
		if len(line) > 0 {
			if done {
				return errors.New("notes: restore: data after the end of the snapshot")
			}
			if line[len(line)-1] != '\n' {
				return errors.New("notes: restore: the snapshot is cut short (a line has no end)")
			}
			if t, ok := parseTrailer(line); ok {
				if t.Count != count {
					return fmt.Errorf("notes: restore: the snapshot has %d notes, its trailer says %d", count, t.Count)
				}
				done = true
			} else {
				var n Note
				d := json.NewDecoder(bytes.NewReader(line))
				d.DisallowUnknownFields()
				if err := d.Decode(&n); err != nil || n.ID == "" {
					return fmt.Errorf("notes: restore: line %d is not a note", count+1)
				}
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("notes: restore: %w", err)
				}
				if !opts.DryRun {
					if err := s.do(ctx, http.MethodPut, scratch+"/notes/"+url.PathEscape(n.ID), "", n, nil); err != nil {
						return fmt.Errorf("notes: restore: %w", err)
					}
				}
				count++
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("notes: restore: %w", rerr)
		}
	}
	if !done {
		return errors.New("notes: restore: the snapshot is cut short (no trailer)")
	}
	if opts.DryRun {
		return nil
	}
	if opts.DropExisting {
		if err := s.do(ctx, http.MethodDelete, target, "", nil, nil); err != nil && !errors.Is(err, errNotFound) {
			return fmt.Errorf("notes: restore: %w", err)
		}
	}
	if count == 0 { // nothing was written: there is no scratch workspace
		return nil
	}
	if err := s.do(ctx, http.MethodPost, scratch+"/rename", url.Values{"to": {target}}.Encode(), nil, nil); err != nil {
		return fmt.Errorf("notes: restore: %w", err)
	}
	return nil
}

// parseTrailer reports whether line is the snapshot's trailer.
func parseTrailer(line []byte) (trailer, bool) {
	var t trailer
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if d.Decode(&t) != nil || !t.End {
		return trailer{}, false
	}
	return t, true
}

var errNotFound = errors.New("not found")

// do calls the API: method on /workspaces/{path}?query with in as JSON,
// decoding the answer into out (when not nil).
func (s *Source) do(ctx context.Context, method, path, query string, in, out any) error {
	u := *s.base
	u.Path = "/workspaces/" + path
	u.RawQuery = query
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", method, u.Path, errNotFound)
	case resp.StatusCode >= 300:
		return fmt.Errorf("%s %s: %s", method, u.Path, resp.Status)
	case out != nil:
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
