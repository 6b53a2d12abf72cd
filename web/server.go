package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/internal/roles"
	"github.com/backupkit/backupkit/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the page templates, each parsed with the layout.
var pages = parsePages()

// staticVersion changes whenever an embedded static file does, so that
// browsers never mix an old script with a new page.
var staticVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

func parsePages() map[string]*template.Template {
	names := []string{"dashboard", "runs", "run", "backups", "restore", "schedule", "login", "error"}
	out := map[string]*template.Template{}
	for _, n := range names {
		t := template.New("layout.html").Funcs(funcs)
		out[n] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+n+".html"))
	}
	return out
}

// server is the web page's handler.
type server struct {
	d      Deps
	secret []byte
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
}

func newServer(d Deps) *server {
	s := &server{d: d, secret: d.Secret, log: d.Logger, now: d.Now}
	if len(s.secret) == 0 {
		s.secret = make([]byte, 32)
		_, _ = rand.Read(s.secret)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	m.HandleFunc("GET /login", s.login)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /{$}", s.need(roles.Viewer, s.dashboard))
	m.HandleFunc("GET /runs", s.need(roles.Viewer, s.runs))
	m.HandleFunc("GET /runs/{id}", s.need(roles.Viewer, s.run))
	m.HandleFunc("GET /runs/{id}/log.json", s.need(roles.Viewer, s.runLog))
	m.HandleFunc("GET /backups", s.need(roles.Viewer, s.backups))
	m.HandleFunc("GET /backups/{id}/restore", s.need(roles.Admin, s.restoreForm))
	m.HandleFunc("POST /backups/{id}/restore", s.need(roles.Admin, s.restore))
	m.HandleFunc("POST /backups/{id}/protect", s.need(roles.Admin, s.protect))
	m.HandleFunc("POST /jobs/{job}/run", s.need(roles.Operator, s.runNow))
	m.HandleFunc("GET /schedules/preview.json", s.need(roles.Viewer, s.previewJSON))
	m.HandleFunc("GET /schedules/{job}", s.need(roles.Viewer, s.schedule))
	m.HandleFunc("POST /schedules/{job}", s.need(roles.Viewer, s.schedule))
	s.mux = m
	return s
}

// staticHandler lets browsers cache the embedded files (their URLs carry
// staticVersion).
func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
		r = s.withSession(w, r)
	}
	s.mux.ServeHTTP(w, r)
}

// need wraps a handler: the caller must have at least role need (else a
// redirect to /login for pages, 401 for JSON, 403 when logged in with a
// lesser role), and a POST must carry a valid CSRF token.
func (s *server) need(need string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.d.Store == nil {
			s.fail(w, r, http.StatusInternalServerError, "web: the page has no store (Deps.Store is nil)")
			return
		}
		role := roleOf(r)
		switch {
		case role == "" && strings.HasSuffix(r.URL.Path, ".json"):
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "log in first"})
			return
		case role == "" && r.Method == http.MethodGet:
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case role == "":
			s.fail(w, r, http.StatusUnauthorized, "log in first")
			return
		case !roles.Allows(role, need):
			s.fail(w, r, http.StatusForbidden, fmt.Sprintf("this needs the %s role; you are %s", need, role))
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(r) {
			s.fail(w, r, http.StatusForbidden, "the form expired or came from another site: reload the page and try again")
			return
		}
		h(w, r)
	}
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string // which menu entry is current
	Role    string
	CSRF    string
	Static  string // the static files' version
	Refresh bool   // reload every few seconds without JavaScript
	Data    any
	Can     map[string]bool // what the caller may do and the daemon offers
}

// can lists the actions the caller may take and the daemon offers.
func (s *server) can(r *http.Request) map[string]bool {
	role := roleOf(r)
	return map[string]bool{
		"run":      s.d.RunNow != nil && roles.Allows(role, roles.Operator),
		"restore":  s.d.Restore != nil && roles.Allows(role, roles.Admin),
		"protect":  s.d.Protect != nil && roles.Allows(role, roles.Admin),
		"schedule": s.d.SaveSchedule != nil && roles.Allows(role, roles.Admin),
		"preview":  s.d.NextRuns != nil,
		"logout":   TokenFromCookie(r) != "",
	}
}

// render executes a page template into a buffer and writes it, or fails
// with 500.
func (s *server) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	s.renderPage(w, r, http.StatusOK, name, &page{Title: title, Nav: name, Data: data})
}

// renderPage writes page name with status code.
func (s *server) renderPage(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	p.Role, p.CSRF, p.Static, p.Can = roleOf(r), csrfToken(r), staticVersion, s.can(r)
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, p); err != nil {
		s.log.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page with status code and a one-line message (redacted:
// errors may quote connection strings).
func (s *server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	s.renderPage(w, r, code, "error", &page{Title: http.StatusText(code), Data: map[string]any{
		"Code": code, "Message": redact.Text(msg)}})
}

// failErr maps an error from the store or the daemon to a status and shows
// it.
func (s *server) failErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		code = http.StatusConflict
	}
	if code == http.StatusInternalServerError {
		s.log.Error("web: "+what, "path", r.URL.Path, "err", redact.Text(err.Error()))
	}
	s.fail(w, r, code, what+": "+err.Error())
}

// writeJSON writes v as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
