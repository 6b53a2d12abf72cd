// Package web serves backupd's web page: a dashboard of jobs, run history,
// run details with a live log, the backups list and a schedule editor. It is
// server-rendered with html/template and readable without JavaScript; a small
// embedded script (no build step) adds the live log, the schedule editor's
// live preview and local times.
//
// Roles: every page needs a role (viewer, operator or admin, from Deps.Role);
// "run now" needs operator; restore, protect/unprotect and schedule changes
// need admin. Every POST carries a CSRF token. See docs/web.md.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/backupkit/backupkit/store"
)

// Deps is what the web page needs from the daemon. The daemon fills it in;
// tests fill it with fakes. Store is required; a nil function hides the
// feature it provides (its buttons are not shown and posting to it answers
// 404).
type Deps struct {
	// Store is read for jobs' runs, logs and backups.
	Store store.Store
	// Jobs lists the configured jobs. Nil: the dashboard lists none.
	Jobs func() []JobInfo
	// RunNow starts a run of job now and returns its run ID.
	RunNow func(ctx context.Context, job, who string) (runID string, err error)
	// Protect sets or clears a backup's protection.
	Protect func(ctx context.Context, backupID string, protected bool, who string) error
	// Restore starts a restore of backupID into target and returns the run
	// to follow.
	Restore func(ctx context.Context, backupID, target, who string) (runID string, err error)
	// NextRuns previews the next n run times of a schedule expression in a
	// time zone, or explains why it is invalid.
	NextRuns func(expr, timezone string, n int) ([]time.Time, error)
	// SaveSchedule changes a job's schedule and time zone.
	SaveSchedule func(ctx context.Context, job, expr, timezone, who string) error
	// Role returns the role of the request's caller: "viewer", "operator",
	// "admin", or "" when the caller is not authenticated. It must accept the
	// token of the login cookie (see TokenFromCookie) as it accepts a bearer
	// token. Nil means open mode: everyone is "admin" (a daemon without
	// tokens).
	Role func(r *http.Request) string

	// Who names the caller in RunNow, Protect, Restore and SaveSchedule (for
	// the audit trail), for example the token's name. Nil: "web:" + role.
	Who func(r *http.Request) string
	// Secret keys the CSRF tokens (an HMAC). Replicas behind one load
	// balancer should share it. Nil or empty: a random per-process secret
	// (forms open across a restart then fail once with "reload the page").
	Secret []byte
	// Logger receives errors the page does not show in full. Nil:
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock, for tests. Nil: time.Now.
	Now func() time.Time
	// LoginAttempt starts an authentication of the request's client under
	// a limit of failed authentications (backupd: api.Auth.Attempt,
	// server.rate_limits.failed_auth). When allowed is false the page
	// answers as for a bad token (the login form: 429 and how long to
	// wait) without checking the token; otherwise it checks the token and
	// calls finish with whether it was good. It applies to the login form
	// and to every page whose request carries a token (the login cookie or
	// an Authorization header). Nil: no limit.
	LoginAttempt func(r *http.Request) (finish func(ok bool), retryAfter time.Duration, allowed bool)
	// DownloadURL returns the link of a backup's download. Nil:
	// "/api/v1/backups/{id}/download" (served by the HTTP API).
	DownloadURL func(backupID string) string
}

// JobInfo is one job as the dashboard shows it.
type JobInfo struct {
	Name     string
	Schedule string
	Timezone string
	Paused   bool
	// NextRun is the job's next scheduled run; zero when none (paused, or
	// no schedule).
	NextRun time.Time
}

// Handler serves the web page under "/": the pages, their JSON endpoints
// (live log, schedule preview), /login, /logout and /static/. It never
// panics on a Deps with nil fields; a nil Store makes every page answer 500.
func Handler(d Deps) http.Handler {
	return newServer(d)
}
