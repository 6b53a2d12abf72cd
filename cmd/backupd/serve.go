package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/backupkit/backupkit/api"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/web"
)

// shutdownGrace is how long serve waits for running backups after a stop
// signal before canceling them.
const shutdownGrace = 30 * time.Second

// listenEnv, when set, overrides server.listen (containers, tests: "127.0.0.1:0"
// picks a free port, logged in the "backupd listening" line).
const listenEnv = "BACKUPD_LISTEN"

// pollInterval is how often serve re-reads the stored schedules, so that a
// pause, resume or edit made by the CLI or another replica applies within
// it.
const pollInterval = 5 * time.Second

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("serve", stderr)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError{err}
	}
	applyListenEnv(cfg)
	srv := cfg.ServerSettings()
	logger := newLogger(stderr, srv.LogFormat, cfg.SlogLevel())
	rt, err := config.Open(ctx, cfg, &config.OpenOptions{Logger: logger})
	if err != nil {
		return err
	}
	defer rt.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, rt, logger, serveOptions{ConfigPath: *path, Reload: hup})
}

// applyListenEnv sets cfg's server.listen from $BACKUPD_LISTEN, if set.
func applyListenEnv(cfg *config.Config) {
	if listen := os.Getenv(listenEnv); listen != "" {
		if cfg.Server == nil {
			cfg.Server = &config.Server{}
		}
		cfg.Server.Listen = listen
	}
}

// newLogger returns a slog logger writing text or JSON to w.
func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if format == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// serveOptions are serve's settings beyond the Runtime.
type serveOptions struct {
	// ConfigPath is re-read on each Reload signal.
	ConfigPath string
	// Reload receives a value for each reload request (SIGHUP).
	Reload <-chan os.Signal
	// Listening, when set, receives the HTTP server's base URL.
	Listening func(url string)
}

// serve runs the scheduled jobs and the HTTP API and web page until ctx is
// canceled.
//
// Schedules: the jobs' schedules from the file are synced into the store
// (config.Runtime.SyncSchedules) and the store's schedules are the
// scheduler's entries (api.Control): a job's schedule from the file runs
// under the entry ID "config:<job>" (replicas sharing a store run each slot
// once), one created through the API under "api:<name>". The stored
// schedules are re-read every pollInterval, so pause, resume and edits made
// by `backupd pause/resume` or another replica apply within it. Each job's
// "policy" block applies; without one, the scheduler's defaults: a slot that
// comes due while the previous run is still going is recorded as skipped; of
// the slots that passed while no backupd ran, the latest (within 7 days) runs
// once and the others are recorded as missed.
//
// A reload (SIGHUP) re-reads the file: jobs, schedules, tokens, CORS
// origins and rate limits change without dropping running backups (they
// finish with the job definition they started with); the store, the listen
// address, the log format and notifications need a restart.
//
// On stop, running backups get shutdownGrace to finish before they are
// canceled and recorded as interrupted.
func serve(ctx context.Context, rt *config.Runtime, log *slog.Logger, so serveOptions) error {
	settings := rt.Config.ServerSettings()
	auth := api.NewAuth(settings)
	auth.Cookie = web.TokenFromCookie
	if auth.Open() && !config.LoopbackListen(settings.Listen) {
		return usageError{fmt.Errorf("server.listen %q is not loopback and server.tokens is empty: add tokens (backupd token new) or listen on 127.0.0.1", settings.Listen)}
	}
	if err := rt.Recover(ctx); err != nil {
		return err
	}
	go func() { _ = rt.WatchHealth(ctx) }()        // jobs with a health block; ends with ctx
	go func() { _ = rt.RunVerifySchedules(ctx) }() // jobs with a verify block; ends with ctx

	metrics := api.NewMetrics(rt.Store)
	var names []string
	for _, j := range rt.Jobs {
		names = append(names, j.Job.Name)
	}
	metrics.LoadLastSuccess(ctx, names)
	defer rt.Engine.Subscribe(metrics.EngineEvent)()

	control := api.NewControl(rt.Store, rt.Engine, rt.Jobs, log)
	sched := schedule.New(rt.Engine, rt.Store, schedule.Options{
		Logger: log, ShutdownGrace: shutdownGrace,
		OnEvent: func(ev schedule.Event) {
			logEvent(log, ev)
			control.OnEvent(ev)
			metrics.SchedulerEvent(ev)
		},
	})
	control.SetScheduler(sched)
	if _, err := rt.SyncSchedules(ctx); err != nil {
		return fmt.Errorf("sync schedules with the store: %w", err)
	}
	if err := control.Reconcile(ctx); err != nil {
		return err
	}
	jobs := 0
	for _, j := range rt.Jobs {
		if j.Schedule == "" {
			log.Info("job has no schedule: run it with `backupd backup` or the API", "job", j.Job.Name)
			continue
		}
		jobs++
		next, _ := sched.NextRun("config:" + j.Job.Name)
		log.Info("job scheduled", "job", j.Job.Name, "schedule", j.Schedule, "timezone", j.Location.String(), "next", next.Format(time.RFC3339))
	}
	if err := sched.Start(ctx); err != nil {
		return err
	}

	// The HTTP server. Its base context ends at shutdown, so that event
	// streams end and Shutdown does not wait for them.
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAPI()
	a := api.New(api.Options{Store: rt.Store, Engine: rt.Engine, Control: control, Auth: auth, Metrics: metrics, Logger: log, Context: apiCtx,
		Ready: func(ctx context.Context) error {
			_, err := rt.Store.ListSchedules(ctx, store.ScheduleFilter{Tenant: "-"})
			return err
		}})
	mux := http.NewServeMux()
	apiHandler := a.Handler()
	for _, p := range []string{"/api/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, apiHandler)
	}
	mux.Handle("/", web.Handler(webDeps(rt, control, auth, a, log)))
	ln, err := net.Listen("tcp", settings.Listen)
	if err != nil {
		_ = sched.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("server.listen: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return httpCtx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	url := baseURL(ln.Addr())
	if auth.Open() {
		log.Warn("NO API TOKENS CONFIGURED: every local caller is admin; listening on loopback only. Add server.tokens (backupd token new) before exposing backupd")
	}
	log.Info("backupd listening", "url", url)
	log.Info("backupd serving", "jobs", jobs, "store", rt.StoreURL)
	if so.Listening != nil {
		so.Listening(url)
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go control.Poll(pollCtx, pollInterval)

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-served:
			serveErr = fmt.Errorf("HTTP server: %w", err)
			break loop
		case <-so.Reload:
			reload(ctx, rt, so.ConfigPath, control, auth, log)
		}
	}
	log.Info("stopping: waiting for running backups", "grace", shutdownGrace)
	stopPoll()
	stopHTTP()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = hs.Shutdown(shutCtx)
	cancel()
	err = sched.Stop(context.WithoutCancel(ctx))
	control.Stop(shutdownGrace)
	graceCtx, cancelGrace := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	if a.Wait(graceCtx) != nil {
		log.Warn("interrupting the restores and verifications still running")
	}
	cancelGrace()
	stopAPI()
	_ = a.Wait(context.WithoutCancel(ctx))
	log.Info("stopped")
	return errors.Join(serveErr, err)
}

// baseURL is the URL users open for addr; an unspecified address is shown
// as localhost.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
}

// reload re-reads the config file and applies what can change while
// running: jobs and their schedules, tokens, CORS origins and rate limits.
// A file that does not load or open is logged and the running configuration
// kept.
func reload(ctx context.Context, rt *config.Runtime, path string, control *api.Control, auth *api.Auth, log *slog.Logger) {
	log.Info("reloading the configuration", "file", path)
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("reload failed: keeping the running configuration", "err", err)
		return
	}
	applyListenEnv(cfg)
	next, err := config.Open(ctx, cfg, &config.OpenOptions{Logger: log})
	if err != nil {
		log.Error("reload failed: keeping the running configuration", "err", err)
		return
	}
	jobs := next.Jobs
	// The new runtime's sources and destinations stay in use by its jobs;
	// its own store connection and notifier are not needed.
	if err := next.Close(); err != nil {
		log.Warn("reload: closing the new configuration's store", "err", err)
	}
	view := &config.Runtime{Config: cfg, Store: rt.Store, StoreURL: rt.StoreURL, Engine: rt.Engine, Logger: log, Jobs: jobs}
	if _, err := view.SyncSchedules(ctx); err != nil {
		log.Error("reload failed: cannot sync schedules; keeping the running configuration", "err", err)
		return
	}
	control.SetJobs(jobs)
	if err := control.Reconcile(ctx); err != nil {
		log.Warn("reload: some schedules could not be applied", "err", err)
	}
	old, now := rt.Config.ServerSettings(), cfg.ServerSettings()
	if now.Listen != old.Listen || now.LogFormat != old.LogFormat {
		log.Warn("reload: server.listen and server.log_format change at the next restart")
	}
	if cfg.Store != rt.Config.Store {
		log.Warn("reload: the store changes at the next restart")
	}
	if len(now.Tokens) == 0 && !config.LoopbackListen(old.Listen) {
		log.Error("reload: refusing to drop every token while listening on a non-loopback address; tokens unchanged")
	} else {
		auth.Set(now)
	}
	names := make([]string, 0, len(jobs))
	for _, j := range jobs {
		names = append(names, j.Job.Name)
	}
	slices.Sort(names)
	e := store.AuditEntry{Actor: "sighup", Action: "config.reload", Target: path}
	if err := rt.Store.AppendAudit(ctx, &e); err != nil {
		log.Warn("reload: cannot record it in the audit trail", "err", err)
	}
	log.Info("configuration reloaded", "jobs", names)
}

// webDeps wires the web page to the store, the scheduler and the API's
// audited actions.
func webDeps(rt *config.Runtime, control *api.Control, auth *api.Auth, a *api.API, log *slog.Logger) web.Deps {
	return web.Deps{
		Store: rt.Store,
		Jobs: func() []web.JobInfo {
			stored, _ := rt.Store.ListSchedules(context.Background(), store.ScheduleFilter{})
			var out []web.JobInfo
			for _, j := range control.Jobs() {
				info := web.JobInfo{Name: j.Job.Name, Timezone: j.Location.String()}
				for _, s := range stored {
					meta, err := config.ParseScheduleJob(s)
					if err != nil || s.Tenant != "" || meta.Job != j.Job.Name {
						continue
					}
					if info.Schedule == "" || s.Name == j.Job.Name {
						info.Schedule, info.Timezone, info.Paused, info.NextRun = s.Cron, s.Timezone, s.Paused, control.NextRun(s.Name)
					}
				}
				out = append(out, info)
			}
			return out
		},
		RunNow:       a.RunNow,
		Protect:      a.Protect,
		Restore:      a.Restore,
		NextRuns:     api.NextRuns,
		SaveSchedule: a.SaveSchedule,
		Role:         auth.Role,
		Who:          auth.Who,
		LoginAttempt: auth.Attempt,
		Logger:       log,
	}
}

// logEvent logs what the scheduler does with runs (the engine logs the runs
// themselves).
func logEvent(log *slog.Logger, ev schedule.Event) {
	switch ev.Type {
	case schedule.EventFinished:
		if ev.Err != nil {
			log.Error("backup did not succeed", "job", ev.Job, "run", ev.RunID, "status", string(ev.Status), "err", ev.Err)
		} else {
			log.Info("backup done", "job", ev.Job, "run", ev.RunID)
		}
	case schedule.EventLeaseLost:
		log.Error("backup lease lost: another process interrupted or took over the run", "job", ev.Job, "run", ev.RunID)
	case schedule.EventRetry:
		log.Warn("backup will be retried", "job", ev.Job, "attempt", ev.Attempt, "at", ev.Time.Format(time.RFC3339))
	}
}
