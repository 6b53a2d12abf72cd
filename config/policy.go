package config

import (
	"time"

	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/schedule"
)

// Policy is a job's "policy" block: how the scheduler runs the job's slots
// (see schedule.Policy and docs/scheduling.md). Every key is optional; a
// key left out takes the scheduler's default. Durations are written as
// retention.ParseDuration reads them: "90s", "2h30m", "7d" or "2w".
//
//	policy:
//	  overlap: queue        # skip (default), queue or replace
//	  queue_limit: 2        # only with overlap: queue; default 1
//	  missed: all           # skip, run_once (default) or all
//	  missed_grace: 3d      # default 7d
//	  missed_cap: 5         # only with missed: all; default 10
//	  retries: 3            # default 0 (never retried)
//	  backoff: 2m           # default 1m, doubled per retry
//	  max_backoff: 30m      # default 1h; not shorter than backoff
//	  jitter: 5m            # default 0
type Policy struct {
	// Overlap is what happens to a slot that comes due while the job's
	// previous run is still going: "skip" (recorded as skipped, the
	// default), "queue" (run after it) or "replace" (cancel it).
	Overlap string `yaml:"overlap"`
	// QueueLimit is how many slots may wait with overlap "queue"; more are
	// skipped. Default 1. Set only with overlap "queue".
	QueueLimit int `yaml:"queue_limit"`
	// Missed is what happens to slots that passed while no backupd ran:
	// "skip" (recorded as missed), "run_once" (the latest runs once, the
	// default) or "all" (the latest missed_cap of them run).
	Missed string `yaml:"missed"`
	// MissedGrace is how old a missed slot may be and still run, such as
	// "12h" or "3d". Default 7 days.
	MissedGrace Period `yaml:"missed_grace"`
	// MissedCap is how many missed slots run at most with missed "all".
	// Default 10. Set only with missed "all".
	MissedCap int `yaml:"missed_cap"`
	// Retries is how many times a failed or interrupted run is tried again;
	// 0 (the default) never retries.
	Retries int `yaml:"retries"`
	// Backoff is the wait before the first retry, doubled for each next one.
	// Default 1 minute.
	Backoff Period `yaml:"backoff"`
	// MaxBackoff caps the wait between retries. Default 1 hour; it must not
	// be shorter than Backoff.
	MaxBackoff Period `yaml:"max_backoff"`
	// Jitter delays each slot by a deterministic amount below it, the same
	// for the same job and slot on every replica. Default 0.
	Jitter Period `yaml:"jitter"`
}

// Schedule returns the schedule.Policy p describes. Zero fields stay zero,
// so the scheduler's defaults (schedule.Options.DefaultPolicy, then the
// package's) apply to them. It does not validate p.
func (p *Policy) Schedule() schedule.Policy {
	if p == nil {
		return schedule.Policy{}
	}
	return schedule.Policy{
		Overlap: schedule.Overlap(p.Overlap), QueueLimit: p.QueueLimit,
		Missed: schedule.Missed(p.Missed), MissedGrace: time.Duration(p.MissedGrace), MissedCap: p.MissedCap,
		Retries: p.Retries, Backoff: time.Duration(p.Backoff), MaxBackoff: time.Duration(p.MaxBackoff),
		Jitter: time.Duration(p.Jitter),
	}
}

// policy checks a job's policy block at path.
func (v *validator) policy(p *Policy, path string) {
	at := func(key string) string { return path + "." + key }
	check := func(key string, bad bool, format string, args ...any) {
		if bad && !v.bad(at(key)) {
			v.add(at(key), path, format, args...)
		}
	}
	switch schedule.Overlap(p.Overlap) {
	case "", schedule.OverlapSkip, schedule.OverlapQueue, schedule.OverlapReplace:
	default:
		check("overlap", true, "invalid overlap policy %q (want skip, queue or replace)", p.Overlap)
	}
	switch schedule.Missed(p.Missed) {
	case "", schedule.MissedSkip, schedule.MissedRunOnce, schedule.MissedAll:
	default:
		check("missed", true, "invalid missed-run policy %q (want skip, run_once or all)", p.Missed)
	}
	for _, n := range []struct {
		key string
		val int
	}{{"queue_limit", p.QueueLimit}, {"missed_cap", p.MissedCap}, {"retries", p.Retries}} {
		check(n.key, n.val < 0, "must not be negative, got %d", n.val)
	}
	for _, d := range []struct {
		key string
		val Period
	}{{"missed_grace", p.MissedGrace}, {"backoff", p.Backoff}, {"max_backoff", p.MaxBackoff}, {"jitter", p.Jitter}} {
		check(d.key, d.val < 0, "must not be negative, got %s", retention.FormatDuration(time.Duration(d.val)))
	}
	check("queue_limit", p.QueueLimit > 0 && p.Overlap != string(schedule.OverlapQueue),
		"only applies with overlap: queue (overlap is %s)", orDefault(p.Overlap, string(schedule.OverlapSkip)))
	check("missed_cap", p.MissedCap > 0 && p.Missed != string(schedule.MissedAll),
		"only applies with missed: all (missed is %s)", orDefault(p.Missed, string(schedule.MissedRunOnce)))
	backoff := time.Duration(p.Backoff)
	if backoff == 0 {
		backoff = time.Minute
	}
	check("max_backoff", p.MaxBackoff > 0 && time.Duration(p.MaxBackoff) < backoff,
		"%s is shorter than backoff (%s)", retention.FormatDuration(time.Duration(p.MaxBackoff)), retention.FormatDuration(backoff))
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
