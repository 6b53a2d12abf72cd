// Command embedded is a small web application that embeds backupkit's
// scheduler, as a Go service would: two jobs back up two of its folders to
// local disk on cron schedules, with the run history and catalog in SQLite,
// and its home page shows each job's next slot and last runs, with a button
// to run a job now.
//
//	go run ./examples/embedded -dir /tmp/embedded
//
// then open the printed address. The flags -uploads and -settings set the
// two jobs' schedules (any expression package schedule accepts).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embedded:", err)
		os.Exit(1)
	}
}

// run is main without the process: it serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("embedded", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "listen `address`")
	base := fs.String("dir", "embedded-data", "`folder` for the app's data, its backups and the catalog")
	uploads := fs.String("uploads", "*/15 * * * *", "schedule of the uploads job")
	settings := fs.String("settings", "daily at 02:30", "schedule of the settings job (Europe/Berlin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := newApp(ctx, *base, *uploads, *settings)
	if err != nil {
		return err
	}
	defer a.close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(shutdown), a.sched.Stop(shutdown))
}

// app is the host application: its store, its scheduler and its two jobs.
type app struct {
	st    store.Store
	sched *schedule.Scheduler
	jobs  []schedule.Entry
}

// newApp creates the folders under base (with a little data to back up
// when they are new), opens the SQLite store and starts the scheduler with
// the two jobs. Close it when done.
func newApp(ctx context.Context, base, uploadsCron, settingsCron string) (*app, error) {
	for _, d := range []string{"uploads", "settings", "backups"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return nil, err
		}
	}
	for name, content := range map[string]string{"uploads/welcome.txt": "hello\n", "settings/app.conf": "theme = dark\n"} {
		p := filepath.Join(base, name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				return nil, err
			}
		}
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(base, "catalog.db"))
	if err != nil {
		return nil, err
	}
	disk, err := local.New(filepath.Join(base, "backups"), nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	engine := backup.New(st, &backup.Options{Logger: logger})
	a := &app{st: st, sched: schedule.New(engine, st, schedule.Options{Logger: logger})}
	for _, j := range []struct{ name, cron, zone string }{
		{"uploads", uploadsCron, "UTC"},
		{"settings", settingsCron, "Europe/Berlin"},
	} {
		src, err := dir.New(filepath.Join(base, j.name))
		if err != nil {
			st.Close()
			return nil, err
		}
		e := schedule.Entry{ID: "embedded:" + j.name, Cron: j.cron, Timezone: j.zone, Job: &backup.Job{
			Name: j.name, Source: src, Destinations: []backup.Target{{Name: "disk", Destination: disk}},
		}}
		if err := a.sched.Add(e); err != nil {
			st.Close()
			return nil, fmt.Errorf("job %s: %w", j.name, err)
		}
		a.jobs = append(a.jobs, e)
	}
	if err := a.sched.Start(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// close stops the scheduler (running backups get its grace period) and
// closes the store.
func (a *app) close() {
	_ = a.sched.Stop(context.Background())
	_ = a.st.Close()
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /run/{job}", a.runNow)
	return mux
}

// jobView is one job on the home page.
type jobView struct {
	Name, Cron, Timezone string
	Next                 time.Time
	Runs                 []store.Run
}

var page = template.Must(template.New("home").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>backups</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}</style></head>
<body><h1>Backups</h1>
{{range .}}<h2>{{.Name}}</h2>
<p>schedule <code>{{.Cron}}</code> ({{.Timezone}}), next run {{when .Next}}</p>
<form method="post" action="/run/{{.Name}}"><button>Run now</button></form>
<table><tr><th>run</th><th>started</th><th>status</th><th>bytes</th><th>backup</th></tr>
{{range .Runs}}<tr><td>{{.ID}}</td><td>{{when .StartedAt}}</td><td class="status">{{.Status}}</td><td>{{.BytesWritten}}</td><td>{{.BackupID}}</td></tr>
{{else}}<tr><td colspan="5">no runs yet</td></tr>{{end}}</table>
{{end}}</body></html>
`))

// home shows every job with its next slot and its five latest runs.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	var views []jobView
	for _, e := range a.jobs {
		next, _ := a.sched.NextRun(e.ID)
		runs, err := a.st.ListRuns(r.Context(), store.RunFilter{Job: e.Job.Name, Limit: 5})
		if err != nil {
			http.Error(w, "cannot read the run history", http.StatusInternalServerError)
			return
		}
		views = append(views, jobView{Name: e.Job.Name, Cron: e.Cron, Timezone: e.Timezone, Next: next, Runs: runs})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, views)
}

// runNow starts a job's backup now and goes back to the home page.
func (a *app) runNow(w http.ResponseWriter, r *http.Request) {
	err := a.sched.RunNow("embedded:"+r.PathValue("job"), "web")
	switch {
	case errors.Is(err, schedule.ErrUnknownSchedule):
		http.Error(w, "no such job", http.StatusNotFound)
		return
	case errors.Is(err, schedule.ErrBusy):
		http.Error(w, "the job is running", http.StatusConflict)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
