package backup

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/source"
)

// Job is one backup job: what to back up, where to keep it, and how.
type Job struct {
	// Name identifies the job; it is part of every artifact's key, so it must
	// match ^[a-z0-9][a-z0-9_-]{0,62}$.
	Name string
	// Source is what to back up.
	Source source.Source
	// Destinations are where to keep copies, in order of preference for
	// restores. At least one; names unique.
	Destinations []Target
	// Compression defaults to Zstd.
	Compression Compression
	// Prefix is prepended to every artifact key (a clean relative path or "").
	Prefix string
	// Timeout bounds one run; zero means no limit.
	Timeout time.Duration
	// StallTimeout, when not zero, overrides Options.StallTimeout for this
	// job's runs: how long one destination may take no data before its copy
	// is given up (ErrDestinationStalled). Negative: never.
	StallTimeout time.Duration
	// Retention, when set, is applied by Engine.Prune and automatically after
	// every successful run. Nil keeps every backup.
	Retention *retention.Policy
	// Encryption, when set, encrypts every artifact with age after
	// compression; the artifact's extension gets ".age". Nil stores the
	// compressed stream as it is.
	Encryption *Encryption
	// Health, when set, is checked (see Engine.CheckHealth) after every run
	// and by Engine.WatchHealth. Nil never checks.
	Health *HealthPolicy
}

// Target is a named destination of a job. The name is what the catalog records
// for each copy, so it must stay stable across restarts.
type Target struct {
	Name        string
	Destination destination.Destination
}

var jobNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate reports the first problem with the job, naming the field.
func (j *Job) Validate() error {
	var errs []error
	if !jobNameRE.MatchString(j.Name) {
		errs = append(errs, fmt.Errorf("job name %q: must match %s", j.Name, jobNameRE))
	}
	if j.Source == nil {
		errs = append(errs, fmt.Errorf("job %q: source: missing", j.Name))
	}
	if len(j.Destinations) == 0 {
		errs = append(errs, fmt.Errorf("job %q: destinations: at least one is required", j.Name))
	}
	seen := map[string]bool{}
	for i, t := range j.Destinations {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("job %q: destinations[%d]: name missing", j.Name, i))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("job %q: destinations[%d]: name %q used twice", j.Name, i, t.Name))
		case t.Destination == nil:
			errs = append(errs, fmt.Errorf("job %q: destinations[%d] (%s): destination missing", j.Name, i, t.Name))
		}
		seen[t.Name] = true
	}
	if _, err := ParseCompression(string(j.Compression)); err != nil {
		errs = append(errs, fmt.Errorf("job %q: compression: %w", j.Name, err))
	}
	if j.Prefix != "" {
		if err := destination.ValidateKey(j.Prefix); err != nil {
			errs = append(errs, fmt.Errorf("job %q: prefix: %w", j.Name, err))
		}
	}
	if j.Timeout < 0 {
		errs = append(errs, fmt.Errorf("job %q: timeout: %s is negative", j.Name, j.Timeout))
	}
	if j.Retention != nil {
		if err := j.Retention.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("job %q: %w", j.Name, err))
		}
	}
	if j.Encryption != nil {
		if err := j.Encryption.validate(); err != nil {
			errs = append(errs, fmt.Errorf("job %q: %w", j.Name, err))
		}
	}
	if j.Health != nil {
		if err := j.Health.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("job %q: %w", j.Name, err))
		}
	}
	return errors.Join(errs...)
}

// ext is the artifact's file-name extension: format, then compression, then
// "age" when encrypted.
func (j *Job) ext(c Compression) string {
	ext := j.Source.Format()
	if ce := c.Ext(); ce != "" {
		ext += "." + ce
	}
	if j.Encryption != nil {
		ext += ".age"
	}
	return ext
}
