package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/internal/roles"
	"github.com/backupkit/backupkit/internal/units"
	"github.com/backupkit/backupkit/store"
)

const (
	sparkRuns     = 20   // runs in a dashboard sparkline
	recentRuns    = 10   // runs on the dashboard
	pageSize      = 50   // runs or backups per page by default
	maxPageSize   = 200  // the largest ?limit= accepted
	logPage       = 500  // log lines per log.json answer
	initialLog    = 5000 // log lines a run page shows without JavaScript
	previewCount  = 5    // schedule preview length
	previewFormat = "Mon 2006-01-02 15:04 MST"
)

// kinds are the run kinds the history filter offers.
var kinds = []store.RunKind{store.RunKindBackup, store.RunKindRestore, store.RunKindVerify}

// statuses are the run statuses the history filter offers.
var statuses = []store.RunStatus{store.RunRunning, store.RunSucceeded, store.RunPartial, store.RunFailed,
	store.RunCanceled, store.RunInterrupted, store.RunSkipped, store.RunMissed}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso":   isoTime,
	"bytes": units.FormatBinary,
	"dur":   runDuration,
	"query": func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		if len(v) == 0 {
			return ""
		}
		return "?" + v.Encode()
	},
	"final":   func(s store.RunStatus) bool { return s.Final() },
	"pathesc": url.PathEscape,
	"choice": func(label, name, any, selected string, options []string) choice {
		return choice{Label: label, Name: name, Any: any, Selected: selected, Options: options}
	},
}

// isoTime is t in RFC 3339 (UTC), "" for the zero time.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// runDuration is how long a finished run took, "—" while it runs.
func runDuration(r store.Run) string {
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return "—"
	}
	return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
}

// jobRow is one dashboard line.
type jobRow struct {
	JobInfo
	Last  *store.Run
	Spark sparkline
}

func (s *server) jobs() []JobInfo {
	if s.d.Jobs == nil {
		return nil
	}
	return s.d.Jobs()
}

func (s *server) job(name string) (JobInfo, bool) {
	for _, j := range s.jobs() {
		if j.Name == name {
			return j, true
		}
	}
	return JobInfo{}, false
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var rows []jobRow
	for _, j := range s.jobs() {
		runs, err := s.d.Store.ListRuns(ctx, store.RunFilter{Job: j.Name, Kind: store.RunKindBackup, Limit: sparkRuns})
		if err != nil {
			s.failErr(w, r, "list runs of job "+j.Name, err)
			return
		}
		row := jobRow{JobInfo: j, Spark: newSparkline(runs)}
		if len(runs) > 0 {
			row.Last = &runs[0]
		}
		rows = append(rows, row)
	}
	recent, err := s.d.Store.ListRuns(ctx, store.RunFilter{Limit: recentRuns})
	if err != nil {
		s.failErr(w, r, "list runs", err)
		return
	}
	s.render(w, r, "dashboard", "Dashboard", map[string]any{"Jobs": rows, "Recent": recent})
}

// jobNames lists the configured jobs' names for a filter, with selected
// (a job no longer configured may still have history) when it is missing.
func (s *server) jobNames(selected string) []string {
	var names []string
	for _, j := range s.jobs() {
		names = append(names, j.Name)
	}
	if selected != "" && !slices.Contains(names, selected) {
		names = append(names, selected)
	}
	return names
}

// strs converts a list of string-typed values for a filter.
func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// failList shows a listing's error: a malformed cursor is the caller's
// (400), anything else the store's.
func (s *server) failList(w http.ResponseWriter, r *http.Request, what, cursor string, err error) {
	if cursor != "" && strings.Contains(strings.ToLower(err.Error()), "cursor") {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.failErr(w, r, what, err)
}

// choice is a filter's select box (see the "select" template).
type choice struct {
	Label, Name, Any, Selected string
	Options                    []string
}

// limitParam reads ?limit=, naming it when it is bad.
func limitParam(r *http.Request) (int, error) {
	v := r.FormValue("limit")
	if v == "" {
		return pageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, fmt.Errorf("limit: must be a number from 1 to %d, not %q", maxPageSize, v)
	}
	return n, nil
}

func (s *server) runs(w http.ResponseWriter, r *http.Request) {
	f := store.RunFilter{Job: r.FormValue("job"), Status: store.RunStatus(r.FormValue("status")),
		Kind: store.RunKind(r.FormValue("kind")), Cursor: r.FormValue("cursor")}
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("status: unknown run status %q", f.Status))
		return
	}
	if f.Kind != "" && !slices.Contains(kinds, f.Kind) {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("kind: unknown run kind %q", f.Kind))
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	f.Limit = limit
	pg, err := s.d.Store.ListRunsPage(r.Context(), f)
	if err != nil {
		s.failList(w, r, "list runs", f.Cursor, err)
		return
	}
	limitArg := ""
	if limit != pageSize {
		limitArg = strconv.Itoa(limit)
	}
	s.render(w, r, "runs", "Runs", map[string]any{
		"Runs": pg.Runs, "Next": pg.Next, "Job": f.Job, "Status": string(f.Status), "Jobs": s.jobNames(f.Job),
		"Statuses": strs(statuses), "Kind": string(f.Kind), "Kinds": strs(kinds), "First": f.Cursor != "", "Limit": limitArg})
}

// logLine is one log line as the page and log.json show it.
type logLine struct {
	Seq     int64             `json:"seq"`
	Time    string            `json:"time,omitempty"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

func toLines(entries []store.LogEntry) []logLine {
	out := make([]logLine, 0, len(entries))
	for _, e := range entries {
		l := logLine{Seq: e.Seq, Level: string(e.Level), Message: e.Message, Attrs: e.Attrs}
		if !e.Time.IsZero() {
			l.Time = e.Time.UTC().Format("15:04:05.000")
		}
		out = append(out, l)
	}
	return out
}

// runJSON is a run as log.json shows it.
type runJSON struct {
	ID           string `json:"id"`
	Job          string `json:"job"`
	Kind         string `json:"kind"`
	Status       string `json:"status"`
	Final        bool   `json:"final"`
	Reason       string `json:"reason,omitempty"`
	StartedAt    string `json:"started_at,omitempty"`
	FinishedAt   string `json:"finished_at,omitempty"`
	Duration     string `json:"duration,omitempty"`
	BytesRead    int64  `json:"bytes_read"`
	BytesWritten int64  `json:"bytes_written"`
	BytesText    string `json:"bytes_text"`
	BackupID     string `json:"backup_id,omitempty"`
}

func (s *server) run(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, err := s.d.Store.GetRun(r.Context(), id)
	if err != nil {
		s.failErr(w, r, "run "+id, err)
		return
	}
	entries, err := s.d.Store.RunLogsAfter(r.Context(), id, 0, initialLog)
	if err != nil {
		s.failErr(w, r, "log of run "+id, err)
		return
	}
	var last int64
	if len(entries) > 0 {
		last = entries[len(entries)-1].Seq
	}
	p := &page{Title: "Run " + run.ID, Nav: "runs", Refresh: !run.Status.Final(), Data: map[string]any{
		"Run": run, "Lines": toLines(entries), "LastSeq": last, "Truncated": len(entries) == initialLog}}
	s.renderPage(w, r, http.StatusOK, "run", p)
}

// runLog serves GET /runs/{id}/log.json?after=SEQ: the run's state and its
// log lines after SEQ (at most logPage of them), for the live log.
func (s *server) runLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var after int64
	if v := r.FormValue("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("after: must be a log sequence number (0 or more), not %q", v)})
			return
		}
		after = n
	}
	// The run first, then its lines: a run read as final has all its lines.
	run, err := s.d.Store.GetRun(r.Context(), id)
	if err == nil {
		var entries []store.LogEntry
		entries, err = s.d.Store.RunLogsAfter(r.Context(), id, after, logPage)
		if err == nil {
			rj := runJSON{ID: run.ID, Job: run.Job, Kind: string(run.Kind), Status: string(run.Status), Final: run.Status.Final(),
				Reason: redact.Text(run.Reason), BytesRead: run.BytesRead, BytesWritten: run.BytesWritten,
				BytesText: units.FormatBinary(run.BytesRead) + " read, " + units.FormatBinary(run.BytesWritten) + " written",
				BackupID:  run.BackupID, StartedAt: isoTime(run.StartedAt),
				FinishedAt: isoTime(run.FinishedAt), Duration: runDuration(run)}
			last := after
			if len(entries) > 0 {
				last = entries[len(entries)-1].Seq
			}
			writeJSON(w, http.StatusOK, map[string]any{"run": rj, "lines": toLines(entries), "last_seq": last,
				"more": len(entries) == logPage})
			return
		}
	}
	code := http.StatusInternalServerError
	if strings.Contains(err.Error(), store.ErrNotFound.Error()) {
		code = http.StatusNotFound
	} else {
		s.log.Error("web: run log", "run", id, "err", redact.Text(err.Error()))
	}
	writeJSON(w, code, map[string]string{"error": redact.Text(err.Error())})
}

// backupRow is one line of the backups list.
type backupRow struct {
	store.Backup
	Download     string
	Destinations string
}

func (s *server) backups(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	f := store.BackupFilter{Job: r.FormValue("job"), Cursor: r.FormValue("cursor"), Limit: limit}
	pg, err := s.d.Store.ListBackupsPage(r.Context(), f)
	if err != nil {
		s.failList(w, r, "list backups", f.Cursor, err)
		return
	}
	rows := make([]backupRow, 0, len(pg.Backups))
	for _, b := range pg.Backups {
		var dests []string
		for _, c := range b.Copies {
			dests = append(dests, c.Destination)
		}
		rows = append(rows, backupRow{Backup: b, Download: s.downloadURL(b.ID), Destinations: strings.Join(dests, ", ")})
	}
	limitArg := ""
	if limit != pageSize {
		limitArg = strconv.Itoa(limit)
	}
	s.render(w, r, "backups", "Backups", map[string]any{"Backups": rows, "Next": pg.Next, "Job": f.Job,
		"Jobs": s.jobNames(f.Job), "First": f.Cursor != "", "Limit": limitArg, "Here": r.URL.RequestURI()})
}

func (s *server) downloadURL(id string) string {
	if s.d.DownloadURL != nil {
		return s.d.DownloadURL(id)
	}
	return "/api/v1/backups/" + url.PathEscape(id) + "/download"
}

func (s *server) protect(w http.ResponseWriter, r *http.Request) {
	if s.d.Protect == nil {
		s.fail(w, r, http.StatusNotFound, "this daemon does not offer protecting backups")
		return
	}
	id := r.PathValue("id")
	var on bool
	switch v := r.PostFormValue("protected"); v {
	case "true":
		on = true
	case "false":
	default:
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("protected: must be true or false, not %q", v))
		return
	}
	if err := s.d.Protect(r.Context(), id, on, s.who(r)); err != nil {
		s.failErr(w, r, "protect backup "+id, err)
		return
	}
	next := r.PostFormValue("next")
	if next == "" {
		next = "/backups"
	}
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

// restoreForm shows the first step of a restore: the target.
func (s *server) restoreForm(w http.ResponseWriter, r *http.Request) {
	s.restoreStep(w, r, http.StatusOK, "", "")
}

// restoreStep renders the restore page: the target form, or (confirm set)
// the confirmation that names the target.
func (s *server) restoreStep(w http.ResponseWriter, r *http.Request, code int, target, problem string) {
	if s.d.Restore == nil {
		s.fail(w, r, http.StatusNotFound, "this daemon does not offer restores")
		return
	}
	id := r.PathValue("id")
	b, err := s.d.Store.GetBackup(r.Context(), id)
	if err != nil {
		s.failErr(w, r, "backup "+id, err)
		return
	}
	s.renderPage(w, r, code, "restore", &page{Title: "Restore backup " + b.ID, Nav: "backups", Data: map[string]any{
		"Backup": b, "Target": target, "Confirm": target != "" && problem == "", "Error": problem}})
}

// restore is the restore form's POST: without a matching confirm it shows
// the confirmation naming the target; with it, it starts the restore and
// redirects to the run.
func (s *server) restore(w http.ResponseWriter, r *http.Request) {
	target := strings.TrimSpace(r.PostFormValue("target"))
	if target == "" {
		s.restoreStep(w, r, http.StatusBadRequest, "", "target: required (where to restore the backup)")
		return
	}
	if r.PostFormValue("confirm") != target {
		s.restoreStep(w, r, http.StatusOK, target, "")
		return
	}
	if s.d.Restore == nil {
		s.fail(w, r, http.StatusNotFound, "this daemon does not offer restores")
		return
	}
	id := r.PathValue("id")
	runID, err := s.d.Restore(r.Context(), id, target, s.who(r))
	if err != nil {
		s.failErr(w, r, "restore backup "+id, err)
		return
	}
	http.Redirect(w, r, "/runs/"+url.PathEscape(runID), http.StatusSeeOther)
}

func (s *server) runNow(w http.ResponseWriter, r *http.Request) {
	if s.d.RunNow == nil {
		s.fail(w, r, http.StatusNotFound, "this daemon does not offer running jobs now")
		return
	}
	job := r.PathValue("job")
	if _, ok := s.job(job); !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("job %q: no such job", job))
		return
	}
	runID, err := s.d.RunNow(r.Context(), job, s.who(r))
	if err != nil {
		s.failErr(w, r, "run job "+job, err)
		return
	}
	http.Redirect(w, r, "/runs/"+url.PathEscape(runID), http.StatusSeeOther)
}

// preview is a schedule's next run times, or why it is invalid.
type preview struct {
	Times []string `json:"times"`
	ISO   []string `json:"iso"`
	Error string   `json:"error,omitempty"`
}

func (s *server) preview(expr, tz string) preview {
	var p preview
	if s.d.NextRuns == nil {
		p.Error = "this daemon does not offer schedule previews"
		return p
	}
	if strings.TrimSpace(expr) == "" {
		p.Error = "schedule: required"
		return p
	}
	times, err := s.d.NextRuns(expr, tz, previewCount)
	if err != nil {
		p.Error = redact.Text(err.Error())
		return p
	}
	loc, lerr := time.LoadLocation(tz)
	for _, t := range times {
		if lerr == nil {
			t = t.In(loc)
		}
		p.Times = append(p.Times, t.Format(previewFormat))
		p.ISO = append(p.ISO, t.UTC().Format(time.RFC3339))
	}
	if len(times) == 0 {
		p.Error = "schedule: never runs"
	}
	return p
}

// previewJSON serves GET /schedules/preview.json?expr=&tz=, for the editor's
// live preview.
func (s *server) previewJSON(w http.ResponseWriter, r *http.Request) {
	p := s.preview(r.FormValue("expr"), r.FormValue("tz"))
	code := http.StatusOK
	if p.Error != "" {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, p)
}

// schedule is the schedule editor: GET shows the job's schedule and its next
// runs; POST with action=preview previews the submitted one (any role), with
// action=save (admin) saves it.
func (s *server) schedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("job")
	j, ok := s.job(name)
	if !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("job %q: no such job", name))
		return
	}
	expr, tz := j.Schedule, j.Timezone
	code := http.StatusOK
	saved := r.Method == http.MethodGet && r.FormValue("saved") == "1"
	if r.Method == http.MethodPost {
		expr, tz = strings.TrimSpace(r.PostFormValue("schedule")), strings.TrimSpace(r.PostFormValue("timezone"))
	}
	p := s.preview(expr, tz)
	if r.Method == http.MethodPost {
		switch action := r.PostFormValue("action"); action {
		case "preview":
			if p.Error != "" {
				code = http.StatusBadRequest
			}
		case "save":
			switch {
			case !roles.Allows(roleOf(r), roles.Admin):
				s.fail(w, r, http.StatusForbidden, "saving a schedule needs the admin role; you are "+roleOf(r))
				return
			case s.d.SaveSchedule == nil:
				s.fail(w, r, http.StatusNotFound, "this daemon does not offer changing schedules")
				return
			case p.Error != "":
				code = http.StatusBadRequest
			default:
				if err := s.d.SaveSchedule(r.Context(), name, expr, tz, s.who(r)); err != nil {
					code, p.Error = http.StatusBadRequest, redact.Text(err.Error())
					break
				}
				http.Redirect(w, r, "/schedules/"+url.PathEscape(name)+"?saved=1", http.StatusSeeOther)
				return
			}
		default:
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("action: must be preview or save, not %q", action))
			return
		}
	}
	s.renderPage(w, r, code, "schedule", &page{Title: "Schedule of " + name, Nav: "dashboard", Data: map[string]any{
		"Job": j, "Expr": expr, "TZ": tz, "Preview": p, "Saved": saved}})
}
