// Package config turns a backupd YAML file into validated plain Go structs.
//
// A file looks like this:
//
//	store: sqlite:backupd.db          # URL of the store
//	log_level: info                   # debug, info, warn or error
//	destinations:                     # named, shared by jobs
//	  local:
//	    url: file:backups
//	  offsite:
//	    url: s3://bucket/prefix?region=eu-west-1
//	jobs:
//	  - name: quickstart
//	    source: dir:data
//	    destinations: [local, offsite]
//	    schedule: "0 3 * * *"
//	    timezone: Europe/Berlin
//	    compression: zstd
//	    prefix: nightly
//	    timeout: 2h
//	    retention:                    # see docs/retention.md
//	      preset: spatie
//	      max_total_size: 20GiB
//	    health:                       # see docs/notifications.md
//	      max_age: 26h
//	    policy:                       # see docs/scheduling.md and Policy
//	      overlap: queue
//	      retries: 3
//	      missed_grace: 3d
//	notifications:
//	  link: https://backupd.example/runs/{run}
//	  notifiers:
//	    - name: ops
//	      url: smtp://user:pass@mail.example.com:587?from=backupd@example.com&to=ops@example.com
//
// [Load] and [Parse] report every problem in the file at once, each with the
// file name, line and key path, sorted by line, for example
//
//	backupd.yaml:7: jobs[0].destinatons: unknown key (did you mean "destinations"?)
//	backupd.yaml:9: jobs[0].schedule: invalid cron expression "61 * * * *"
//
// Scalar values may reference environment variables as ${VAR} or
// ${VAR:-default}; $$ stands for a literal $. The settings that may hold
// credentials (store, a destination's url, a job's source) may instead be read
// from a file with store_file, url_file and source_file (relative to the
// config file's folder; one trailing line break is removed); a job's
// encryption has passphrase_file and recipients_file. Relative paths in URLs of the form
// scheme:relative/path are resolved against the folder of the config file. Error
// messages never contain the secrets of a URL.
//
// The package holds no engine code and does not import the engine.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must load on machines without a zoneinfo database

	"gopkg.in/yaml.v3"

	"github.com/backupkit/backupkit/retention"
)

// Defaults applied by Parse and Load to settings the file leaves empty.
const (
	// DefaultStore is the store URL used when the file has no "store". Like any
	// relative URL it is resolved against the config file's folder.
	DefaultStore = "sqlite:backupd.db"
	// DefaultLogLevel is the log level used when the file has no "log_level".
	DefaultLogLevel = LogLevelInfo
	// DefaultTimezone is the time zone of a job without "timezone".
	DefaultTimezone = "UTC"
	// DefaultCompression is the compression of a job without "compression".
	DefaultCompression = CompressionZstd
)

// Log levels accepted in "log_level".
const (
	LogLevelDebug = "debug" // LogLevelDebug logs everything.
	LogLevelInfo  = "info"  // LogLevelInfo is the default.
	LogLevelWarn  = "warn"  // LogLevelWarn logs warnings and errors.
	LogLevelError = "error" // LogLevelError logs errors only.
)

// Compression names how a job compresses its backup stream.
type Compression string

// Compressions accepted in a job's "compression".
const (
	CompressionZstd Compression = "zstd" // CompressionZstd is the default.
	CompressionGzip Compression = "gzip" // CompressionGzip is slower but universally readable.
	CompressionNone Compression = "none" // CompressionNone stores the stream as is.
)

// Config is a whole backupd configuration file. Parse and Load return it
// validated, with relative URLs resolved and defaults filled in.
type Config struct {
	// Store is the URL of the store that keeps schedules, runs and the
	// catalog, for example "sqlite:///var/lib/backupd/backupd.db" or
	// "postgres://user:pass@host/db". Default DefaultStore.
	Store string `yaml:"store" secret:"file"`
	// LogLevel is one of LogLevelDebug, LogLevelInfo, LogLevelWarn and
	// LogLevelError. Default DefaultLogLevel.
	LogLevel string `yaml:"log_level"`
	// Destinations are the places backups go to, by name; jobs refer to them
	// by that name. Names follow the same rule as job names.
	Destinations map[string]Destination `yaml:"destinations"`
	// Jobs are the backup jobs, in file order. Names are unique.
	Jobs []Job `yaml:"jobs"`
	// Notifications say who is told what happens (see docs/notifications.md);
	// nil (no "notifications" key) notifies nobody.
	Notifications *Notifications `yaml:"notifications"`
	// Server configures backupd's HTTP API, web page and metrics (see
	// docs/api.md); nil (no "server" key) takes the defaults of Server.
	Server *Server `yaml:"server"`
}

// Destination is one entry of the file's "destinations".
type Destination struct {
	// URL selects and configures the destination adapter by its scheme, for
	// example "file:///srv/backups" or "s3://bucket/prefix?region=eu-west-1".
	// It may contain credentials.
	URL string `yaml:"url" secret:"file"`
}

// Job is one entry of the file's "jobs": what to back up, where to, and when.
type Job struct {
	// Name identifies the job and becomes part of object keys; it matches
	// ^[a-z0-9][a-z0-9_-]{0,62}$.
	Name string `yaml:"name"`
	// Source is the URL of what to back up, for example "dir:///srv/data" or
	// "mysql://user:pass@host/shop". It may contain credentials.
	Source string `yaml:"source" secret:"file"`
	// Destinations names entries of Config.Destinations; at least one, no
	// duplicates.
	Destinations []string `yaml:"destinations"`
	// Schedule is a cron expression with 5 or 6 fields, one of @hourly,
	// @daily, @midnight, @weekly, @monthly, @yearly and @annually, or a
	// preset such as "daily at 02:30", "weekly on monday at 03:00" or
	// "monthly on last at 04:00" (see package schedule), as written in the
	// file. Empty means the job only runs when triggered.
	Schedule string `yaml:"schedule"`
	// Timezone is the IANA name of the zone Schedule is read in. Default
	// DefaultTimezone.
	Timezone string `yaml:"timezone"`
	// Compression of the backup stream. Default DefaultCompression.
	Compression Compression `yaml:"compression"`
	// Prefix is put in front of the job's object keys: a clean relative slash
	// path such as "team/db" (no "..", no leading or trailing "/"), or empty.
	Prefix string `yaml:"prefix"`
	// Timeout limits one run; zero means no limit.
	Timeout Duration `yaml:"timeout"`
	// StallTimeout is how long one destination may take no data before its
	// copy is given up and the others go on (backup.Job.StallTimeout).
	// Default backup.DefaultStallTimeout; the s3 and gdrive destinations
	// detect stalls themselves and are exempt.
	StallTimeout Duration `yaml:"stall_timeout"`
	// Retention says which backups to keep; nil (no "retention" key) keeps
	// them all.
	Retention *Retention `yaml:"retention"`
	// Encryption encrypts the job's backups with age; nil (no "encryption"
	// key) stores them unencrypted.
	Encryption *Encryption `yaml:"encryption"`
	// Health says when the job's backups are unhealthy; nil (no "health"
	// key) never checks.
	Health *Health `yaml:"health"`
	// Policy says how the scheduler runs the job's slots (overlap, missed
	// slots, retries, jitter); nil (no "policy" key) takes the scheduler's
	// defaults. See docs/scheduling.md.
	Policy *Policy `yaml:"policy"`
	// Verify schedules verification of the job's backups (see
	// docs/restore.md); nil (no "verify" key) never verifies on a schedule.
	Verify *Verify `yaml:"verify"`
}

// Notifications is the file's "notifications" block.
type Notifications struct {
	// Link is the template of the link to a run's page in every message,
	// such as "https://backupd.example/runs/{run}" ({run}, {job}, {backup}
	// and {event} are replaced). Empty: messages have no link.
	Link string `yaml:"link"`
	// Timeout bounds one delivery attempt; default 30s.
	Timeout Duration `yaml:"timeout"`
	// MaxAttempts is how often a delivery is tried before it is given up
	// (with exponential backoff from 1s, at most 5m apart); default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// HealthInterval is how often backupd serve checks the health of the
	// jobs that have a "health" block; default DefaultHealthInterval.
	HealthInterval Duration `yaml:"health_interval"`
	// Notifiers get the events, each through its URL scheme's adapter.
	Notifiers []Notifier `yaml:"notifiers"`
}

// DefaultHealthInterval is how often health is checked without
// notifications.health_interval.
const DefaultHealthInterval = 5 * time.Minute

// Notifier is one entry of notifications.notifiers.
type Notifier struct {
	// Name identifies the notifier in logs; default "notifier-<index>". Same
	// rule as job names.
	Name string `yaml:"name"`
	// URL selects the adapter by scheme, such as "smtp://user:pass@host:587?
	// from=a@example.com&to=b@example.com", "webhook+https://host/path?secret=s",
	// "slack+https://hooks.slack.com/services/..." or "log:". It may contain
	// credentials (url_file reads it from a file).
	URL string `yaml:"url" secret:"file"`
	// Events are the event types it gets, such as "run.failed" and
	// "health.unhealthy", or "all"; empty means failures and health changes
	// (notify.DefaultEvents).
	Events []string `yaml:"events"`
}

// Health is a job's "health" block: the job is unhealthy when any set check
// fails. At least one must be set.
type Health struct {
	// MaxAge: the newest successful backup is older than this, such as "26h"
	// or "2d", or there is none.
	MaxAge Period `yaml:"max_age"`
	// MaxTotalSize: the job's backups together are larger than this, such as
	// "50GiB".
	MaxTotalSize Size `yaml:"max_total_size"`
	// MaxFailures: the last N finished runs all failed.
	MaxFailures int `yaml:"max_failures"`
}

// Retention is a job's "retention": a preset and rules that refine it. The
// rules mean what the fields of retention.Policy of the same name mean (see
// docs/retention.md). A rule set to a non-zero value replaces the preset's;
// prune_on_failure and count_partial, when true, turn the setting on.
type Retention struct {
	// Preset is "spatie" (retention.Spatie), "none" or empty (no rules).
	Preset string `yaml:"preset"`
	// KeepLast keeps the newest N backups.
	KeepLast int `yaml:"keep_last"`
	// KeepWithin keeps every backup younger than this, such as "7d".
	KeepWithin Period `yaml:"keep_within"`
	// KeepHourly ... KeepYearly keep the newest backup of each of the last N
	// hours, days, ISO weeks, months and years that have one, in the job's
	// time zone.
	KeepHourly  int `yaml:"keep_hourly"`
	KeepDaily   int `yaml:"keep_daily"`
	KeepWeekly  int `yaml:"keep_weekly"`
	KeepMonthly int `yaml:"keep_monthly"`
	KeepYearly  int `yaml:"keep_yearly"`
	// KeepWithinHourly ... KeepWithinYearly keep the newest backup of each
	// hour, day, ISO week, month and year among the backups younger than
	// this, such as "23d".
	KeepWithinHourly  Period `yaml:"keep_within_hourly"`
	KeepWithinDaily   Period `yaml:"keep_within_daily"`
	KeepWithinWeekly  Period `yaml:"keep_within_weekly"`
	KeepWithinMonthly Period `yaml:"keep_within_monthly"`
	KeepWithinYearly  Period `yaml:"keep_within_yearly"`
	// MaxAge deletes backups older than this, such as "365d".
	MaxAge Period `yaml:"max_age"`
	// MaxTotalSize deletes the oldest backups while they use more than this,
	// such as "5000MB" or "5GiB".
	MaxTotalSize Size `yaml:"max_total_size"`
	// MinKeep keeps the newest N backups whatever max_age says.
	MinKeep int `yaml:"min_keep"`
	// PruneOnFailure prunes even when the job's latest run failed.
	PruneOnFailure bool `yaml:"prune_on_failure"`
	// CountPartial makes partial backups count for the keep rules.
	CountPartial bool `yaml:"count_partial"`
}

// Policy returns the retention policy r describes, with calendar buckets in
// loc. It fails only for an unknown preset; the policy may still be invalid
// (see retention.Policy.Validate).
func (r *Retention) Policy(loc *time.Location) (retention.Policy, error) {
	p, err := retention.Preset(r.Preset)
	if err != nil {
		return retention.Policy{}, err
	}
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	set(&p.KeepLast, r.KeepLast)
	set(&p.KeepHourly, r.KeepHourly)
	set(&p.KeepDaily, r.KeepDaily)
	set(&p.KeepWeekly, r.KeepWeekly)
	set(&p.KeepMonthly, r.KeepMonthly)
	set(&p.KeepYearly, r.KeepYearly)
	set(&p.MinKeep, r.MinKeep)
	period := func(dst *time.Duration, v Period) {
		if v != 0 {
			*dst = time.Duration(v)
		}
	}
	period(&p.KeepWithin, r.KeepWithin)
	period(&p.KeepWithinHourly, r.KeepWithinHourly)
	period(&p.KeepWithinDaily, r.KeepWithinDaily)
	period(&p.KeepWithinWeekly, r.KeepWithinWeekly)
	period(&p.KeepWithinMonthly, r.KeepWithinMonthly)
	period(&p.KeepWithinYearly, r.KeepWithinYearly)
	period(&p.MaxAge, r.MaxAge)
	if r.MaxTotalSize != 0 {
		p.MaxTotalSize = int64(r.MaxTotalSize)
	}
	p.PruneOnFailure = p.PruneOnFailure || r.PruneOnFailure
	p.CountPartial = p.CountPartial || r.CountPartial
	p.Location = loc
	return p, nil
}

// Period is a time.Duration written in YAML as days ("7d"), weeks ("8w") or
// a Go duration string ("36h"), as retention.ParseDuration reads it.
type Period time.Duration

// MarshalYAML writes p as retention.FormatDuration does.
func (p Period) MarshalYAML() (any, error) { return retention.FormatDuration(time.Duration(p)), nil }

// UnmarshalYAML reads a period; null leaves p unchanged.
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a period such as \"7d\", got %s", describe(n))
	}
	if n.ShortTag() == nullTag {
		return nil
	}
	v, err := retention.ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*p = Period(v)
	return nil
}

// Size is a number of bytes written in YAML with a unit, such as "5000MB"
// (powers of 1000) or "5GiB" (powers of 1024), as retention.ParseSize reads
// it.
type Size int64

// MarshalYAML writes s in bytes, such as "1048576B".
func (s Size) MarshalYAML() (any, error) { return fmt.Sprintf("%dB", int64(s)), nil }

// UnmarshalYAML reads a size; null leaves s unchanged.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a size such as \"5GiB\", got %s", describe(n))
	}
	if n.ShortTag() == nullTag {
		return nil
	}
	v, err := retention.ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ErrUnknownJob is wrapped by the error of Config.Job for a name that is not
// configured.
var ErrUnknownJob = errors.New("unknown job")

// Job returns the job with the given name. For an unknown name the error wraps
// ErrUnknownJob and lists the configured job names.
func (c *Config) Job(name string) (*Job, error) {
	names := make([]string, 0, len(c.Jobs))
	for i := range c.Jobs {
		if c.Jobs[i].Name == name {
			return &c.Jobs[i], nil
		}
		names = append(names, c.Jobs[i].Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w %q: no jobs are configured", ErrUnknownJob, name)
	}
	hint := ""
	if s := suggest(name, names); s != "" {
		hint = fmt.Sprintf("did you mean %q? ", s)
	}
	return nil, fmt.Errorf("%w %q (%sknown jobs: %s)", ErrUnknownJob, name, hint, strings.Join(names, ", "))
}

// Duration is a time.Duration written in YAML as a Go duration string such as
// "90s" or "2h30m".
type Duration time.Duration

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string; null leaves d unchanged.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as \"2h\", got %s", describe(n))
	}
	if n.ShortTag() == nullTag {
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a number with a unit, such as \"90s\" or \"2h30m\")", n.Value)
	}
	*d = Duration(v)
	return nil
}
