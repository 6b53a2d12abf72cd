package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
)

// scheduleName is what API schedule names must match (as job names).
var scheduleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// scheduleBody is the body of POST and PUT /api/v1/schedules.
type scheduleBody struct {
	Name     string `json:"name"`
	Job      string `json:"job"`
	Cron     string `json:"cron"`
	Timezone string `json:"timezone"`
	Paused   *bool  `json:"paused"`
}

// checkCron checks an expression in a zone, naming the fields.
func checkCron(expr, tz string) error {
	if expr == "" {
		return badf("cron: required")
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return badf("timezone: unknown time zone %q (want an IANA name such as Europe/Berlin or UTC)", tz)
	}
	c, err := schedule.ParseInZone(expr, tz)
	if err != nil {
		return badf("cron: %v", err)
	}
	if c.Next(time.Now()).IsZero() {
		return badf("cron: %q never fires", expr)
	}
	return nil
}

// managed returns the stored schedule named name and its job document.
func (a *API) managed(ctx context.Context, name string) (store.Schedule, config.ScheduleJob, error) {
	s, err := a.o.Store.GetScheduleByName(ctx, "", name)
	if err != nil {
		return s, config.ScheduleJob{}, err
	}
	meta, err := config.ParseScheduleJob(s)
	if err != nil {
		return s, meta, fmt.Errorf("schedule %q is not managed by backupd: %w", name, store.ErrNotFound)
	}
	return s, meta, nil
}

func (a *API) listSchedules(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	paused := q.bool("paused")
	job := q.str("job")
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	list, err := a.o.Store.ListSchedules(r.Context(), store.ScheduleFilter{Paused: paused})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := struct {
		Schedules []scheduleJSON `json:"schedules"`
	}{Schedules: []scheduleJSON{}}
	for _, s := range list {
		meta, err := config.ParseScheduleJob(s)
		if s.Tenant != "" || err != nil || (job != "" && meta.Job != job) {
			continue
		}
		out.Schedules = append(out.Schedules, toSchedule(s, meta, a.o.Control.NextRun(s.Name)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getSchedule(w http.ResponseWriter, r *http.Request, _ Caller) {
	s, meta, err := a.managed(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSchedule(s, meta, a.o.Control.NextRun(s.Name)))
}

func (a *API) createSchedule(w http.ResponseWriter, r *http.Request, c Caller) {
	var b scheduleBody
	if err := decodeBody(r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	if b.Timezone == "" {
		b.Timezone = "UTC"
	}
	switch {
	case b.Name == "":
		a.fail(w, r, badf("name: required"))
		return
	case !scheduleName.MatchString(b.Name):
		a.fail(w, r, badf("name: invalid schedule name %q (lower-case letters, digits, '_' and '-', at most 63)", b.Name))
		return
	case b.Job == "":
		a.fail(w, r, badf("job: required"))
		return
	}
	if _, err := a.o.Control.Job(b.Job); err != nil {
		a.fail(w, r, badf("job: %v", err))
		return
	}
	if err := checkCron(b.Cron, b.Timezone); err != nil {
		a.fail(w, r, err)
		return
	}
	s := store.Schedule{Name: b.Name, Cron: b.Cron, Timezone: b.Timezone, Paused: b.Paused != nil && *b.Paused,
		Job: config.ScheduleJob{Job: b.Job, Origin: config.OriginAPI}.Marshal()}
	if err := a.o.Store.CreateSchedule(r.Context(), &s); err != nil {
		a.fail(w, r, err)
		return
	}
	a.record(r.Context(), c.Name, "schedule.create", s.Name, map[string]any{"job": b.Job, "cron": s.Cron, "timezone": s.Timezone, "paused": s.Paused})
	a.reconcile(r.Context())
	writeJSON(w, http.StatusCreated, toSchedule(s, config.ScheduleJob{Job: b.Job, Origin: config.OriginAPI}, a.o.Control.NextRun(s.Name)))
}

func (a *API) updateSchedule(w http.ResponseWriter, r *http.Request, c Caller) {
	var b scheduleBody
	if err := decodeBody(r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	s, meta, err := a.managed(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if b.Name != "" && b.Name != s.Name {
		a.fail(w, r, badf("name: a schedule cannot be renamed"))
		return
	}
	if b.Job != "" && b.Job != meta.Job {
		a.fail(w, r, badf("job: a schedule's job cannot be changed; create another schedule"))
		return
	}
	if b.Cron == "" {
		b.Cron = s.Cron
	}
	if b.Timezone == "" {
		b.Timezone = s.Timezone
	}
	if err := checkCron(b.Cron, b.Timezone); err != nil {
		a.fail(w, r, err)
		return
	}
	before := map[string]any{"cron": s.Cron, "timezone": s.Timezone, "paused": s.Paused}
	s.Cron, s.Timezone = b.Cron, b.Timezone
	if b.Paused != nil {
		s.Paused = *b.Paused
	}
	if err := a.o.Store.UpdateSchedule(r.Context(), &s); err != nil {
		a.fail(w, r, err)
		return
	}
	a.record(r.Context(), c.Name, "schedule.update", s.Name, map[string]any{"before": before,
		"after": map[string]any{"cron": s.Cron, "timezone": s.Timezone, "paused": s.Paused}})
	a.reconcile(r.Context())
	writeJSON(w, http.StatusOK, toSchedule(s, meta, a.o.Control.NextRun(s.Name)))
}

func (a *API) deleteSchedule(w http.ResponseWriter, r *http.Request, c Caller) {
	s, meta, err := a.managed(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if meta.Origin == config.OriginConfig {
		a.fail(w, r, fmt.Errorf("schedule %q comes from the config file: remove the job's schedule there, or pause it: %w", s.Name, store.ErrConflict))
		return
	}
	if err := a.o.Store.DeleteSchedule(r.Context(), s.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	a.record(r.Context(), c.Name, "schedule.delete", s.Name, map[string]any{"job": meta.Job, "cron": s.Cron})
	a.reconcile(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) pauseSchedule(w http.ResponseWriter, r *http.Request, c Caller) {
	a.setPaused(w, r, c, true)
}

func (a *API) resumeSchedule(w http.ResponseWriter, r *http.Request, c Caller) {
	a.setPaused(w, r, c, false)
}

func (a *API) setPaused(w http.ResponseWriter, r *http.Request, c Caller, paused bool) {
	s, meta, err := a.managed(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.o.Store.SetSchedulePaused(r.Context(), s.ID, paused); err != nil {
		a.fail(w, r, err)
		return
	}
	action := "schedule.resume"
	if paused {
		action = "schedule.pause"
	}
	a.record(r.Context(), c.Name, action, s.Name, nil)
	a.reconcile(r.Context())
	s.Paused = paused
	writeJSON(w, http.StatusOK, toSchedule(s, meta, a.o.Control.NextRun(s.Name)))
}

// reconcile applies a change to the scheduler at once (the poll would
// within seconds anyway).
func (a *API) reconcile(ctx context.Context) {
	if err := a.o.Control.Reconcile(context.WithoutCancel(ctx)); err != nil {
		a.log.Warn("cannot apply schedule change", "err", err)
	}
}

func (a *API) runSchedule(w http.ResponseWriter, r *http.Request, c Caller) {
	name := r.PathValue("name")
	if !a.allowRunNow(w, c) {
		return
	}
	id, err := a.o.Control.RunSchedule(r.Context(), name, c.Name)
	if err == nil || errors.Is(err, ErrQueued) {
		a.record(r.Context(), c.Name, "run.trigger", "schedule:"+name, map[string]any{"run_id": id, "queued": errors.Is(err, ErrQueued)})
	}
	a.answerRun(w, r, id, err)
}

func (a *API) runJob(w http.ResponseWriter, r *http.Request, c Caller) {
	job := r.PathValue("job")
	if !a.allowRunNow(w, c) {
		return
	}
	id, err := a.RunNow(r.Context(), job, c.Name)
	a.answerRun(w, r, id, err)
}

// RunNow runs job now on behalf of who, records it in the audit trail and
// returns the run ID (ErrQueued: accepted, no ID yet). It is what the web
// page's "run now" calls.
func (a *API) RunNow(ctx context.Context, job, who string) (string, error) {
	id, err := a.o.Control.RunNow(ctx, job, who)
	if err == nil || errors.Is(err, ErrQueued) {
		a.record(ctx, who, "run.trigger", job, map[string]any{"run_id": id, "queued": errors.Is(err, ErrQueued)})
	}
	return id, err
}

// allowRunNow applies the run-now rate limit to c, answering 429 when over.
func (a *API) allowRunNow(w http.ResponseWriter, c Caller) bool {
	l, _ := a.o.Auth.limiters()
	return allow(w, l, c, "run now")
}

// allow takes a token from l for c or answers 429 with Retry-After.
func allow(w http.ResponseWriter, l *limiter, c Caller, what string) bool {
	ok, wait := l.allow(c.Name)
	if ok {
		return true
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "too many %s requests: retry in %d s", what, secs)
	return false
}

// answerRun answers a run-now request.
func (a *API) answerRun(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, ErrQueued):
		writeJSON(w, http.StatusAccepted, accepted{Queued: true})
	case err != nil:
		a.fail(w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, accepted{RunID: id})
	}
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request, _ Caller) {
	stored, err := a.o.Store.ListSchedules(r.Context(), store.ScheduleFilter{})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	byJob := map[string][]store.Schedule{}
	for _, s := range stored {
		if meta, err := config.ParseScheduleJob(s); err == nil && s.Tenant == "" {
			byJob[meta.Job] = append(byJob[meta.Job], s)
		}
	}
	out := struct {
		Jobs []jobJSON `json:"jobs"`
	}{Jobs: []jobJSON{}}
	for _, j := range a.o.Control.Jobs() {
		jj := jobJSON{Name: j.Job.Name, Destinations: []string{}, Schedules: []string{}}
		for _, d := range j.Job.Destinations {
			jj.Destinations = append(jj.Destinations, d.Name)
		}
		allPaused := len(byJob[j.Job.Name]) > 0
		var next time.Time
		for _, s := range byJob[j.Job.Name] {
			jj.Schedules = append(jj.Schedules, s.Name)
			allPaused = allPaused && s.Paused
			if n := a.o.Control.NextRun(s.Name); !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		jj.Paused, jj.NextRun = allPaused, ptime(next)
		if runs, err := a.o.Store.ListRuns(r.Context(), store.RunFilter{Job: j.Job.Name, Kind: store.RunKindBackup, Limit: 1}); err == nil && len(runs) > 0 {
			lr := toRun(runs[0])
			jj.LastRun = &lr
		}
		out.Jobs = append(out.Jobs, jj)
	}
	writeJSON(w, http.StatusOK, out)
}

// SaveSchedule changes job's schedule (the stored schedule named after the
// job, created through the API when the job has none) to expr in timezone
// on behalf of who, and records it in the audit trail (what the web page's
// schedule editor calls). The error names the field at fault.
func (a *API) SaveSchedule(ctx context.Context, job, expr, timezone, who string) error {
	if _, err := a.o.Control.Job(job); err != nil {
		return badf("job: %v", err)
	}
	if timezone == "" {
		timezone = "UTC"
	}
	if err := checkCron(expr, timezone); err != nil {
		return err
	}
	s, meta, err := a.managed(ctx, job)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s = store.Schedule{Name: job, Cron: expr, Timezone: timezone, Job: config.ScheduleJob{Job: job, Origin: config.OriginAPI}.Marshal()}
		if err := a.o.Store.CreateSchedule(ctx, &s); err != nil {
			return err
		}
		a.record(ctx, who, "schedule.create", s.Name, map[string]any{"job": job, "cron": expr, "timezone": timezone})
	case err != nil:
		return err
	case meta.Job != job:
		return badf("job: the schedule named %q runs job %q", job, meta.Job)
	default:
		before := map[string]any{"cron": s.Cron, "timezone": s.Timezone}
		s.Cron, s.Timezone = expr, timezone
		if err := a.o.Store.UpdateSchedule(ctx, &s); err != nil {
			return err
		}
		a.record(ctx, who, "schedule.update", s.Name, map[string]any{"before": before, "after": map[string]any{"cron": expr, "timezone": timezone}})
	}
	a.reconcile(ctx)
	return nil
}

// NextRuns previews the next n slots of expr in timezone from now (what the
// web page's schedule editor shows); the error names the field at fault.
func NextRuns(expr, timezone string, n int) ([]time.Time, error) {
	if timezone == "" {
		timezone = "UTC"
	}
	if err := checkCron(expr, timezone); err != nil {
		return nil, err
	}
	c, err := schedule.ParseInZone(expr, timezone)
	if err != nil {
		return nil, badf("cron: %v", err)
	}
	return c.NextN(time.Now(), n), nil
}
