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
//
// [Load] and [Parse] report every problem in the file at once, each with the
// file name, line and key path, sorted by line, for example
//
//	backupd.yaml:7: jobs[0].destinatons: unknown key (did you mean "destinations"?)
//	backupd.yaml:9: jobs[0].schedule: invalid cron expression "61 * * * *"
//
// Scalar values may reference environment variables as ${VAR} or
// ${VAR:-default}; $$ stands for a literal $. Relative paths in URLs of the form
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
	Store string `yaml:"store"`
	// LogLevel is one of LogLevelDebug, LogLevelInfo, LogLevelWarn and
	// LogLevelError. Default DefaultLogLevel.
	LogLevel string `yaml:"log_level"`
	// Destinations are the places backups go to, by name; jobs refer to them
	// by that name. Names follow the same rule as job names.
	Destinations map[string]Destination `yaml:"destinations"`
	// Jobs are the backup jobs, in file order. Names are unique.
	Jobs []Job `yaml:"jobs"`
}

// Destination is one entry of the file's "destinations".
type Destination struct {
	// URL selects and configures the destination adapter by its scheme, for
	// example "file:///srv/backups" or "s3://bucket/prefix?region=eu-west-1".
	// It may contain credentials.
	URL string `yaml:"url"`
}

// Job is one entry of the file's "jobs": what to back up, where to, and when.
type Job struct {
	// Name identifies the job and becomes part of object keys; it matches
	// ^[a-z0-9][a-z0-9_-]{0,62}$.
	Name string `yaml:"name"`
	// Source is the URL of what to back up, for example "dir:///srv/data" or
	// "mysql://user:pass@host/shop". It may contain credentials.
	Source string `yaml:"source"`
	// Destinations names entries of Config.Destinations; at least one, no
	// duplicates.
	Destinations []string `yaml:"destinations"`
	// Schedule is a cron expression with 5 or 6 fields, or one of @hourly,
	// @daily, @midnight, @weekly, @monthly, @yearly and @annually, as written
	// in the file. Empty means the job only runs when triggered.
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
