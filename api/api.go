// Package api is backupd's HTTP API (JSON under /api/v1, see docs/api.md):
// schedules, runs with their logs and live events, the backup catalog with
// download, restore and verify, statistics and the audit trail, plus
// /healthz, /readyz and /metrics.
//
// Every request but /healthz and /readyz is authenticated with a bearer
// token carrying a role (Auth); every change, trigger, restore, delete and
// failed authentication is recorded in the store's audit trail.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
)

// Options configure New.
type Options struct {
	// Store is read and written for schedules, runs, the catalog and audit.
	Store store.Store
	// Engine downloads, restores and verifies, and publishes live events.
	Engine *backup.Engine
	// Control runs jobs now and applies schedule changes.
	Control *Control
	// Auth authenticates requests.
	Auth *Auth
	// Metrics, when set, is served at /metrics (role viewer).
	Metrics *Metrics
	// Logger logs requests that fail on the server's side.
	Logger *slog.Logger
	// Ready reports whether the daemon is ready (/readyz); nil checks that
	// the store answers.
	Ready func(ctx context.Context) error
	// Context, when set, bounds background work the API starts (restores,
	// verifications): canceling it interrupts them. Default: never canceled.
	Context context.Context
}

// API serves the HTTP API. Create it with New.
type API struct {
	o   Options
	log *slog.Logger
	ctx context.Context
	bg  sync.WaitGroup // restores and verifications started
}

// Wait waits until the restores and verifications the API started have
// ended, or ctx ends (then it returns ctx's error). Cancel Options.Context
// first to interrupt them.
func (a *API) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.bg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Endpoint is one route of the API and the least role that may call it
// ("" for the unauthenticated health checks).
type Endpoint struct {
	Method  string
	Pattern string
	Role    string
	handle  func(a *API, w http.ResponseWriter, r *http.Request, c Caller)
}

// New returns the API. Store, Engine, Control and Auth are required.
func New(o Options) *API {
	a := &API{o: o, log: o.Logger, ctx: o.Context}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.ctx == nil {
		a.ctx = context.Background()
	}
	return a
}

const (
	viewer   = config.RoleViewer
	operator = config.RoleOperator
	admin    = config.RoleAdmin
)

// endpoints is the route table: the single place roles are decided.
var endpoints = []Endpoint{
	{"GET", "/healthz", "", (*API).healthz},
	{"GET", "/readyz", "", (*API).readyz},
	{"GET", "/metrics", viewer, (*API).metrics},
	{"GET", "/api/v1/jobs", viewer, (*API).listJobs},
	{"POST", "/api/v1/jobs/{job}/run", operator, (*API).runJob},
	{"GET", "/api/v1/schedules", viewer, (*API).listSchedules},
	{"POST", "/api/v1/schedules", admin, (*API).createSchedule},
	{"GET", "/api/v1/schedules/{name}", viewer, (*API).getSchedule},
	{"PUT", "/api/v1/schedules/{name}", admin, (*API).updateSchedule},
	{"DELETE", "/api/v1/schedules/{name}", admin, (*API).deleteSchedule},
	{"POST", "/api/v1/schedules/{name}/pause", operator, (*API).pauseSchedule},
	{"POST", "/api/v1/schedules/{name}/resume", operator, (*API).resumeSchedule},
	{"POST", "/api/v1/schedules/{name}/run", operator, (*API).runSchedule},
	{"GET", "/api/v1/runs", viewer, (*API).listRuns},
	{"GET", "/api/v1/runs/{id}", viewer, (*API).getRun},
	{"GET", "/api/v1/runs/{id}/logs", viewer, (*API).runLogs},
	{"POST", "/api/v1/runs/{id}/pause", operator, (*API).pauseRun},
	{"POST", "/api/v1/runs/{id}/resume", operator, (*API).resumeRun},
	{"GET", "/api/v1/runs/{id}/events", viewer, (*API).runEvents},
	{"GET", "/api/v1/events", viewer, (*API).events},
	{"GET", "/api/v1/backups", viewer, (*API).listBackups},
	{"GET", "/api/v1/backups/{id}", viewer, (*API).getBackup},
	{"GET", "/api/v1/backups/{id}/download", operator, (*API).download},
	{"DELETE", "/api/v1/backups/{id}", admin, (*API).deleteBackup},
	{"POST", "/api/v1/backups/{id}/protect", operator, (*API).protect},
	{"POST", "/api/v1/backups/{id}/unprotect", admin, (*API).unprotect},
	{"POST", "/api/v1/backups/{id}/restore", admin, (*API).restore},
	{"POST", "/api/v1/backups/{id}/verify", operator, (*API).verify},
	{"GET", "/api/v1/stats", viewer, (*API).stats},
	{"GET", "/api/v1/audit", viewer, (*API).audit},
}

// Endpoints returns the route table (method, pattern, least role).
func Endpoints() []Endpoint {
	out := make([]Endpoint, len(endpoints))
	copy(out, endpoints)
	return out
}

// Handler returns the API's handler. Mount it at "/" of a mux, or route
// /api/, /healthz, /readyz and /metrics to it.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, e := range endpoints {
		mux.Handle(e.Method+" "+e.Pattern, a.wrap(e))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := a.authenticate(w, r, viewer); !ok {
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return a.cors(mux)
}

// cors answers preflight requests and adds CORS headers for the configured
// origins; with none configured it adds nothing.
func (a *API) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := a.o.Auth.corsOrigin(r.Header.Get("Origin"))
		if origin != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "Retry-After, X-Next-Cursor, X-Backup-SHA256")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// wrap authenticates and authorizes e's requests and marks the answers
// uncacheable. A panic in a handler is left to net/http, which logs it and
// closes the connection.
func (a *API) wrap(e Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := Caller{}
		if e.Role != "" {
			var ok bool
			if c, ok = a.authenticate(w, r, e.Role); !ok {
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		e.handle(a, w, r, c)
	})
}

// authenticate identifies r's caller and checks it has role need; when not
// it answers 401 or 403, records it in the audit trail and returns false.
//
// A client address with too many failed authentications
// (config.RateLimits.FailedAuth) gets 429 with a Retry-After, and neither
// its token is checked nor the refusal audited.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, need string) (Caller, bool) {
	finish, wait, allowed := a.o.Auth.Attempt(r)
	if !allowed {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "too many failed authentications from this address: retry in %s", wait.Round(time.Second))
		return Caller{}, false
	}
	c, ok, bad := a.o.Auth.Identify(r)
	finish(ok)
	if !ok {
		reason := "no token"
		if bad {
			reason = "bad token"
		}
		a.record(r.Context(), "unknown", "auth.failed", r.Method+" "+r.URL.Path, map[string]any{"reason": reason, "remote": r.RemoteAddr})
		w.Header().Set("WWW-Authenticate", `Bearer realm="backupd"`)
		writeError(w, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>")
		return Caller{}, false
	}
	if !c.Allows(need) {
		a.record(r.Context(), c.Name, "auth.denied", r.Method+" "+r.URL.Path, map[string]any{"role": c.Role, "needs": need, "remote": r.RemoteAddr})
		writeError(w, http.StatusForbidden, "role %s may not do this (needs %s)", c.Role, need)
		return Caller{}, false
	}
	return c, true
}

// record appends an audit entry; a failure is logged, never returned.
func (a *API) record(ctx context.Context, actor, action, target string, details map[string]any) {
	e := store.AuditEntry{Actor: actor, Action: action, Target: target}
	if details != nil {
		b, err := json.Marshal(details)
		if err == nil {
			e.Details = b
		}
	}
	if err := a.o.Store.AppendAudit(context.WithoutCancel(ctx), &e); err != nil {
		a.log.Error("cannot record audit entry", "action", action, "target", target, "err", err)
	}
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError writes {"error": ...} with status; the message is redacted.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: redact.Text(fmt.Sprintf(format, args...))})
}

// fail answers err with the status its kind calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var bad badRequest
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, "%s", err)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrUnknownJob), errors.Is(err, schedule.ErrUnknownSchedule):
		writeError(w, http.StatusNotFound, "%s", err)
	case errors.Is(err, store.ErrConflict), errors.Is(err, schedule.ErrBusy), errors.Is(err, backup.ErrTargetHasData):
		writeError(w, http.StatusConflict, "%s", err)
	case errors.Is(err, backup.ErrRunNotFound):
		writeError(w, http.StatusConflict, "%s (it ended, or another process runs it)", err)
	case errors.Is(err, backup.ErrIdentity):
		writeError(w, http.StatusUnprocessableEntity, "%s (download it with ?raw=true and decrypt it with your age identity)", err)
	case errors.Is(err, schedule.ErrStopped):
		writeError(w, http.StatusServiceUnavailable, "%s", err)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away.
	default:
		a.log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", redact.Text(err.Error()))
		writeError(w, http.StatusInternalServerError, "%s", err)
	}
}

// badRequest is an error in the request itself (400).
type badRequest struct{ msg string }

func (b badRequest) Error() string { return b.msg }

func badf(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// maxBody caps JSON request bodies.
const maxBody = 64 << 10

// decodeBody reads r's JSON body into v: unknown fields and trailing data
// are refused; an empty body leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badf("body: %v", err)
	}
	return parseBody(body, v)
}

// parseBody is decodeBody's parser.
func parseBody(body []byte, v any) error {
	if len(body) > maxBody {
		return badf("body: larger than %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badf("body: %v", err)
	}
	if dec.More() {
		return badf("body: unexpected data after the JSON value")
	}
	return nil
}

// query reads and checks query parameters, remembering the first problem.
type query struct {
	v   map[string][]string
	err error
}

func newQuery(r *http.Request) *query { return &query{v: r.URL.Query()} }

func (q *query) str(name string) string {
	if vs := q.v[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func (q *query) int(name string, def, lo, hi int) int {
	s := q.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		q.fail(badf("query parameter %s: want an integer from %d to %d, got %q", name, lo, hi, s))
		return def
	}
	return n
}

func (q *query) int64(name string) int64 {
	s := q.str(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		q.fail(badf("query parameter %s: want a non-negative integer, got %q", name, s))
	}
	return n
}

func (q *query) time(name string) time.Time {
	s := q.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		q.fail(badf("query parameter %s: want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", name, s))
	}
	return t
}

func (q *query) bool(name string) *bool {
	s := q.str(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.fail(badf("query parameter %s: want true or false, got %q", name, s))
		return nil
	}
	return &b
}

func (q *query) oneOf(name string, allowed ...string) string {
	s := q.str(name)
	if s == "" {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	q.fail(badf("query parameter %s: want one of %s, got %q", name, strings.Join(allowed, ", "), s))
	return ""
}

func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request, _ Caller) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request, _ Caller) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var err error
	if a.o.Ready != nil {
		err = a.o.Ready(ctx)
	} else {
		_, err = a.o.Store.ListSchedules(ctx, store.ScheduleFilter{Tenant: "-"})
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "not ready: %s", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request, _ Caller) {
	if a.o.Metrics == nil {
		writeError(w, http.StatusNotFound, "metrics are off")
		return
	}
	a.o.Metrics.Handler().ServeHTTP(w, r)
}

func (a *API) stats(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	f := store.StatsFilter{Job: q.str("job"), Since: q.time("since"), Until: q.time("until")}
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	s, err := a.o.Store.Stats(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statsJSON{Total: s.Total, Succeeded: s.Succeeded, Failed: s.Failed, Partial: s.Partial,
		AvgSeconds: s.AvgDuration.Seconds(), P95Seconds: s.P95Duration.Seconds(), BytesWritten: s.BytesWritten, SuccessRate: s.SuccessRate})
}

func (a *API) audit(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	f := store.AuditFilter{Actor: q.str("actor"), Action: q.str("action"), Target: q.str("target"),
		Since: q.time("since"), Until: q.time("until"), Before: q.str("before"), Limit: q.int("limit", 100, 1, 1000)}
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	entries, err := a.o.Store.ListAudit(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := auditPage{Entries: make([]auditJSON, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, auditJSON{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Details: e.Details})
	}
	if len(entries) == f.Limit {
		out.Next = entries[len(entries)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}
