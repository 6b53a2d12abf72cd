// Package web serves backupd's web page: a dashboard of jobs, run history,
// run details with a live log, the backups list and a schedule editor. It is
// server-rendered with html/template and readable without JavaScript.
package web

import (
	"context"
	"net/http"
	"time"

	"github.com/backupkit/backupkit/store"
)

// Deps is what the web page needs from the daemon. The daemon fills it in;
// tests fill it with fakes.
type Deps struct {
	// Store is read for jobs' runs, logs and backups.
	Store store.Store
	// Jobs lists the configured jobs.
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
	// "admin", or "" when the caller is not authenticated.
	Role func(r *http.Request) string
}

// JobInfo is one job as the dashboard shows it.
type JobInfo struct {
	Name     string
	Schedule string
	Timezone string
	Paused   bool
	NextRun  time.Time
}

// Handler serves the web page. Placeholder until its issue lands.
func Handler(d Deps) http.Handler {
	return http.NotFoundHandler()
}
