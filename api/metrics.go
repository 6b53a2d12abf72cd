package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
)

// Metrics are backupd's Prometheus metrics (see docs/metrics.md), in a
// registry of their own with the Go and process collectors.
type Metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	size        *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	written     *prometheus.CounterVec
	lag         prometheus.Histogram
	restores    *prometheus.CounterVec
	verifies    *prometheus.CounterVec
	st          store.Store
}

// NewMetrics returns the metrics; st is read for the copies' sizes per
// destination when a run finishes (nil: that metric stays empty).
func NewMetrics(st store.Store) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		st:  st,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backupkit_runs_total", Help: "Finished backup runs by job and final status.",
		}, []string{"job", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "backupkit_run_duration_seconds", Help: "Duration of finished backup runs.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16), // 1 s .. ~9 h
		}, []string{"job"}),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "backupkit_backup_size_bytes", Help: "Size of the backups made (as stored: compressed, encrypted).",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 16), // 1 KiB .. 1 TiB
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "backupkit_last_success_timestamp_seconds", Help: "Unix time of the job's last successful backup run.",
		}, []string{"job"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backupkit_destination_written_bytes_total", Help: "Bytes of backup copies written, by destination.",
		}, []string{"destination"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "backupkit_scheduler_lag_seconds", Help: "Delay between a scheduled slot's nominal time and its run's start.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600},
		}),
		restores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backupkit_restores_total", Help: "Finished restores by job and outcome (succeeded, failed).",
		}, []string{"job", "outcome"}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backupkit_verifications_total", Help: "Finished verifications by job and outcome (succeeded, failed).",
		}, []string{"job", "outcome"}),
	}
	m.reg.MustRegister(m.runs, m.duration, m.size, m.lastSuccess, m.written, m.lag, m.restores, m.verifies,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// EngineEvent records a finished run's status, duration, size and copies.
// Hand it to backup.Engine.Subscribe; it never blocks.
func (m *Metrics) EngineEvent(ev notify.Event) {
	var status store.RunStatus
	switch ev.Type {
	case notify.RunSucceeded:
		status = store.RunSucceeded
	case notify.RunPartial:
		status = store.RunPartial
	case notify.RunFailed:
		status = store.RunFailed
	case notify.RunCanceled:
		status = store.RunCanceled
	case notify.RunInterrupted:
		status = store.RunInterrupted
	case notify.RestoreSucceeded, notify.RestoreFailed:
		m.restores.WithLabelValues(ev.Job, outcome(ev.Type == notify.RestoreSucceeded)).Inc()
		return
	case notify.VerifySucceeded, notify.VerifyFailed:
		m.verifies.WithLabelValues(ev.Job, outcome(ev.Type == notify.VerifySucceeded)).Inc()
		return
	default:
		return
	}
	m.runs.WithLabelValues(ev.Job, string(status)).Inc()
	if ev.Elapsed > 0 {
		m.duration.WithLabelValues(ev.Job).Observe(ev.Elapsed.Seconds())
	}
	if ev.BackupID == "" {
		return
	}
	size := ev.Size
	if size == 0 {
		size = ev.BytesWritten
	}
	if size > 0 {
		m.size.WithLabelValues(ev.Job).Observe(float64(size))
	}
	if status == store.RunSucceeded {
		t := ev.Time
		if t.IsZero() {
			t = time.Now()
		}
		m.lastSuccess.WithLabelValues(ev.Job).Set(float64(t.Unix()))
	}
	if m.st != nil {
		go m.countCopies(ev.BackupID)
	}
}

// outcome is the outcome label of a restore or verification.
func outcome(ok bool) string {
	if ok {
		return "succeeded"
	}
	return "failed"
}

// countCopies adds the backup's copies' sizes to their destinations.
func (m *Metrics) countCopies(backupID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := m.st.GetBackup(ctx, backupID)
	if err != nil {
		return
	}
	for _, c := range b.Copies {
		m.written.WithLabelValues(c.Destination).Add(float64(c.Size))
	}
}

// SchedulerEvent records the scheduler's lag: how late a slot's run
// started. Chain it into schedule.Options.OnEvent; it never blocks.
func (m *Metrics) SchedulerEvent(ev schedule.Event) {
	if ev.Type == schedule.EventStarted && !ev.Slot.IsZero() && ev.Attempt <= 1 {
		m.lag.Observe(max(0, ev.Time.Sub(ev.Slot).Seconds()))
	}
}

// LoadLastSuccess sets the last-success gauge of each job from the store's
// history, so that a restart does not reset it.
func (m *Metrics) LoadLastSuccess(ctx context.Context, jobs []string) {
	if m.st == nil {
		return
	}
	for _, j := range jobs {
		runs, err := m.st.ListRuns(ctx, store.RunFilter{Job: j, Status: store.RunSucceeded, Kind: store.RunKindBackup, Limit: 1})
		if err == nil && len(runs) > 0 {
			t := runs[0].FinishedAt
			if t.IsZero() {
				t = runs[0].StartedAt
			}
			m.lastSuccess.WithLabelValues(j).Set(float64(t.Unix()))
		}
	}
}
