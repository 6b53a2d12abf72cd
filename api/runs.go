package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/store"
)

// runStatuses are the values of the runs listing's status parameter.
var runStatuses = []string{string(store.RunRunning), string(store.RunSucceeded), string(store.RunPartial), string(store.RunFailed),
	string(store.RunCanceled), string(store.RunInterrupted), string(store.RunSkipped), string(store.RunMissed)}

// runFilter reads the runs listing's query parameters.
func runFilter(q *query) (store.RunFilter, string) {
	f := store.RunFilter{Job: q.str("job"), ScheduleID: q.str("schedule_id"), Status: store.RunStatus(q.oneOf("status", runStatuses...)),
		Kind:  store.RunKind(q.oneOf("kind", string(store.RunKindBackup), string(store.RunKindRestore), string(store.RunKindVerify))),
		Since: q.time("since"), Until: q.time("until"), Cursor: q.str("cursor"), Limit: q.int("limit", 100, 1, 1000)}
	return f, q.oneOf("format", "json", "csv")
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	f, format := runFilter(q)
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	page, err := a.o.Store.ListRunsPage(r.Context(), f)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "cursor") {
			err = badf("query parameter cursor: %v", err)
		}
		a.fail(w, r, err)
		return
	}
	if format == "csv" {
		writeRunsCSV(w, page)
		return
	}
	out := runPage{Runs: make([]runJSON, 0, len(page.Runs)), Next: page.Next}
	for _, run := range page.Runs {
		out.Runs = append(out.Runs, toRun(run))
	}
	writeJSON(w, http.StatusOK, out)
}

// runsCSVHeader is the first line of the runs listing as CSV.
var runsCSVHeader = []string{"id", "job", "kind", "schedule_id", "slot", "trigger", "triggered_by", "status", "reason", "attempt",
	"started_at", "finished_at", "duration_seconds", "bytes_read", "bytes_written", "backup_id"}

// writeRunsCSV writes a page of runs as CSV; the next page's cursor goes
// in the X-Next-Cursor header.
func writeRunsCSV(w http.ResponseWriter, page store.RunPage) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="runs.csv"`)
	if page.Next != "" {
		w.Header().Set("X-Next-Cursor", page.Next)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(runsCSVHeader)
	tf := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, r := range page.Runs {
		dur := ""
		if !r.FinishedAt.IsZero() && !r.StartedAt.IsZero() {
			dur = strconv.FormatFloat(r.FinishedAt.Sub(r.StartedAt).Seconds(), 'f', 3, 64)
		}
		_ = cw.Write([]string{r.ID, r.Job, string(r.Kind), r.ScheduleID, tf(r.Slot), string(r.Trigger), csvSafe(r.TriggeredBy), string(r.Status),
			csvSafe(r.Reason), strconv.Itoa(r.Attempt), tf(r.StartedAt), tf(r.FinishedAt), dur,
			strconv.FormatInt(r.BytesRead, 10), strconv.FormatInt(r.BytesWritten, 10), r.BackupID})
	}
	cw.Flush()
}

// csvSafe keeps spreadsheet programs from reading a free-text cell as a
// formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request, _ Caller) {
	run, err := a.o.Store.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRun(run))
}

func (a *API) runLogs(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	after, limit := q.int64("after"), q.int("limit", 1000, 1, 10000)
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	id := r.PathValue("id")
	run, err := a.o.Store.GetRun(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	entries, err := a.o.Store.RunLogsAfter(r.Context(), id, after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := logPage{Entries: make([]logJSON, 0, len(entries)), After: after, Final: run.Status.Final() && len(entries) < limit}
	for _, e := range entries {
		out.Entries = append(out.Entries, toLog(e))
		out.After = e.Seq
	}
	writeJSON(w, http.StatusOK, out)
}

// sse writes Server-Sent Events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.SetWriteDeadline(time.Time{})
	s.flush()
	return s
}

// send writes one event (id may be empty) and flushes it.
func (s *sse) send(id, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var b strings.Builder
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", event, data)
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.flush()
}

// comment writes a keep-alive comment.
func (s *sse) comment() error {
	if _, err := s.w.Write([]byte(": keep-alive\n\n")); err != nil {
		return err
	}
	return s.flush()
}

func (s *sse) flush() error { return s.rc.Flush() }

// sseHeartbeat is how often an idle event stream gets a comment.
const sseHeartbeat = 15 * time.Second

// ssePoll is how often a run's stream looks for new log lines and its end
// when no engine event wakes it (runs of other processes).
const ssePoll = time.Second

// subscribe subscribes to the engine's events that keep returns true for;
// the channel drops events when the reader falls behind.
func (a *API) subscribe(keep func(notify.Event) bool) (<-chan notify.Event, func()) {
	ch := make(chan notify.Event, 64)
	cancel := a.o.Engine.Subscribe(func(ev notify.Event) {
		if !keep(ev) {
			return
		}
		select {
		case ch <- ev:
		default:
		}
	})
	return ch, cancel
}

// runEvents streams a run as Server-Sent Events: "log" events (id: the
// line's seq; a reconnecting client's Last-Event-ID or ?after= resumes
// after it), the engine's events for the run ("run.progress", ...), and a
// final "end" event with the run once it has ended.
func (a *API) runEvents(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	after := q.int64("after")
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			q.fail(badf("Last-Event-ID: want a log sequence number, got %q", last))
		}
		after = n
	}
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	id := r.PathValue("id")
	if _, err := a.o.Store.GetRun(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	events, cancel := a.subscribe(func(ev notify.Event) bool { return ev.RunID == id })
	defer cancel()
	s := newSSE(w)
	ctx := r.Context()
	poll := time.NewTicker(ssePoll)
	defer poll.Stop()
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		// Logs first, then the run's state: a run that ended has all its
		// lines written.
		run, err := a.o.Store.GetRun(ctx, id)
		if err != nil {
			return
		}
		if after, err = a.sendLogs(ctx, s, id, after); err != nil {
			return
		}
		if run.Status.Final() {
			if after, err = a.sendLogs(ctx, s, id, after); err != nil {
				return
			}
			_ = s.send("", "end", toRun(run))
			return
		}
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if s.send("", string(ev.Type), toEvent(ev)) != nil {
				return
			}
		case <-poll.C:
		case <-beat.C:
			if s.comment() != nil {
				return
			}
		}
	}
}

// sendLogs sends the run's lines after seq after and returns the last seq.
func (a *API) sendLogs(ctx context.Context, s *sse, runID string, after int64) (int64, error) {
	for {
		entries, err := a.o.Store.RunLogsAfter(ctx, runID, after, 500)
		if err != nil {
			return after, err
		}
		for _, e := range entries {
			if err := s.send(strconv.FormatInt(e.Seq, 10), "log", toLog(e)); err != nil {
				return after, err
			}
			after = e.Seq
		}
		if len(entries) < 500 {
			return after, nil
		}
	}
}

// events streams every engine event (runs started, progress, finished;
// retention; verify; health) as Server-Sent Events named by their type.
// ?job= selects one job's.
func (a *API) events(w http.ResponseWriter, r *http.Request, _ Caller) {
	job := r.URL.Query().Get("job")
	events, cancel := a.subscribe(func(ev notify.Event) bool { return job == "" || ev.Job == job })
	defer cancel()
	s := newSSE(w)
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-events:
			if s.send("", string(ev.Type), toEvent(ev)) != nil {
				return
			}
		case <-beat.C:
			if s.comment() != nil {
				return
			}
		}
	}
}

// pauseRun holds a running run's byte stream (backup.Engine.Pause): the
// run must be running in this process; a pause longer than the engine's
// maximum cancels it.
func (a *API) pauseRun(w http.ResponseWriter, r *http.Request, c Caller) {
	a.holdRun(w, r, c, true)
}

// resumeRun resumes a paused run.
func (a *API) resumeRun(w http.ResponseWriter, r *http.Request, c Caller) {
	a.holdRun(w, r, c, false)
}

func (a *API) holdRun(w http.ResponseWriter, r *http.Request, c Caller, pause bool) {
	id := r.PathValue("id")
	run, err := a.o.Store.GetRun(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	action, do := "run.resume", a.o.Engine.Resume
	if pause {
		action, do = "run.pause", a.o.Engine.Pause
	}
	if err := do(id, c.Name); err != nil {
		a.fail(w, r, err)
		return
	}
	a.record(r.Context(), c.Name, action, id, map[string]any{"job": run.Job})
	run, err = a.o.Store.GetRun(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRun(run))
}
