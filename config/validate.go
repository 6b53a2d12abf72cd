package config

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/schedule"
)

// namePattern is what job and destination names must match: they become
// part of object keys, file names and command lines.
const namePattern = `^[a-z0-9][a-z0-9_-]{0,62}$`

var validName = regexp.MustCompile(namePattern)

const nameRule = "lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters"

// Validate checks c as Parse does, for a Config built in code: it returns
// every problem, each an *Error without file or line, joined with errors.Join,
// or nil. Empty settings that have defaults are valid. It does not change c
// and does not resolve relative URLs.
func (c *Config) Validate() error {
	v := &validator{}
	v.config(c)
	return v.err()
}

// validator checks a decoded Config. With dec set it takes lines from the
// decoder and skips settings the decoder already reported; with resolve set
// it also replaces relative URLs by absolute ones.
type validator struct {
	file    string
	baseDir string
	resolve bool
	dec     *decoder
	errs    []*Error
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	sortErrors(v.errs)
	errs := make([]error, len(v.errs))
	for i, e := range v.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// line returns the line of path, or of the first of fallbacks that has one.
func (v *validator) line(path string, fallbacks ...string) int {
	if v.dec == nil {
		return 0
	}
	for _, p := range append([]string{path}, fallbacks...) {
		if l, ok := v.dec.lines[p]; ok {
			return l
		}
	}
	return 0
}

// bad reports whether the decoder already reported a problem at path or at a
// path containing it.
func (v *validator) bad(path string) bool {
	if v.dec == nil {
		return false
	}
	for i := range len(path) {
		if (path[i] == '.' || path[i] == '[') && v.dec.bad[path[:i]] {
			return true
		}
	}
	return v.dec.bad[path]
}

// present reports whether the file sets path to something other than null.
func (v *validator) present(path string) bool {
	if v.dec == nil {
		return false
	}
	n, ok := v.dec.nodes[path]
	return ok && !(n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag)
}

// add reports a problem with path, on the line of path or of parent.
func (v *validator) add(path, parent, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.line(path, parent), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// url checks the URL raw at path and returns it, resolved if v.resolve.
func (v *validator) url(path, parent, raw string) (string, bool) {
	if v.bad(path) {
		return "", false
	}
	if raw == "" {
		v.add(path, parent, "required")
		return "", false
	}
	var err error
	if v.resolve {
		raw, err = ResolveURL(raw, v.baseDir)
	} else {
		_, err = parseURL(raw)
	}
	if err != nil {
		v.add(path, parent, "%s", err.Error())
		return "", false
	}
	return raw, true
}

func (v *validator) config(c *Config) {
	if c.Store != "" {
		if s, ok := v.url("store", "", c.Store); ok && v.resolve {
			c.Store = s
		}
	}
	switch c.LogLevel {
	case "", LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError:
	default:
		if !v.bad("log_level") {
			v.add("log_level", "", "invalid log level %q (want debug, info, warn or error)", c.LogLevel)
		}
	}

	names := make([]string, 0, len(c.Destinations))
	for name := range c.Destinations {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := join("destinations", name)
		if !validName.MatchString(name) {
			v.add(p, "destinations", "invalid destination name %q (want %s)", name, nameRule)
		}
		d := c.Destinations[name]
		if u, ok := v.url(join(p, "url"), p, d.URL); ok && v.resolve {
			d.URL = u
			c.Destinations[name] = d
		}
	}

	first := map[string]int{} // job name -> index of its first job
	for i := range c.Jobs {
		v.job(c, i, names, first)
	}

	if c.Notifications != nil && !v.bad("notifications") {
		v.notifications(c.Notifications) // notifications.go
	}

	if c.Server != nil && !v.bad("server") {
		v.server(c.Server) // server.go
	}
}

func (v *validator) job(c *Config, i int, destNames []string, first map[string]int) {
	j := &c.Jobs[i]
	p := fmt.Sprintf("jobs[%d]", i)
	at := func(key string) string { return p + "." + key }

	switch name := j.Name; {
	case v.bad(at("name")):
	case name == "":
		v.add(at("name"), p, "required")
	case !validName.MatchString(name):
		v.add(at("name"), p, "invalid job name %q (want %s)", name, nameRule)
	default:
		if k, dup := first[name]; dup {
			where := fmt.Sprintf("jobs[%d]", k)
			if l := v.line(fmt.Sprintf("jobs[%d].name", k)); l > 0 {
				where = fmt.Sprintf("line %d", l)
			}
			v.add(at("name"), p, "duplicate job name %q (first used at %s)", name, where)
		} else {
			first[name] = i
		}
	}

	if s, ok := v.url(at("source"), p, j.Source); ok && v.resolve {
		j.Source = s
	}

	if len(j.Destinations) == 0 && !v.bad(at("destinations")) {
		v.add(at("destinations"), p, "at least one destination is required")
	}
	seen := map[string]bool{}
	for k, name := range j.Destinations {
		dp := fmt.Sprintf("%s[%d]", at("destinations"), k)
		switch _, known := c.Destinations[name]; {
		case v.bad(dp) || v.bad("destinations"):
		case !known:
			v.add(dp, at("destinations"), "%s", unknownDestination(name, destNames))
		case seen[name]:
			v.add(dp, at("destinations"), "duplicate destination %q", name)
		}
		seen[name] = true
	}

	if j.Schedule != "" && !v.bad(at("schedule")) {
		if err := checkSchedule(j.Schedule); err != nil {
			v.add(at("schedule"), p, "invalid cron expression %q: %s", j.Schedule, err)
		}
	}

	if j.Timezone != "" && !v.bad(at("timezone")) {
		if j.Timezone == "Local" {
			v.add(at("timezone"), p, `time zone "Local" is not allowed (want an IANA name such as "Europe/Berlin" or "UTC")`)
		} else if _, err := time.LoadLocation(j.Timezone); err != nil {
			v.add(at("timezone"), p, `unknown time zone %q (want an IANA name such as "Europe/Berlin" or "UTC")`, j.Timezone)
		}
	}

	switch j.Compression {
	case "", CompressionZstd, CompressionGzip, CompressionNone:
	default:
		if !v.bad(at("compression")) {
			v.add(at("compression"), p, "invalid compression %q (want zstd, gzip or none)", j.Compression)
		}
	}

	if !validPrefix(j.Prefix) && !v.bad(at("prefix")) {
		v.add(at("prefix"), p, `invalid prefix %q (want a clean relative path such as "team/db": no leading or trailing "/", no empty, "." or ".." elements, no "\")`, j.Prefix)
	}

	if (j.Timeout < 0 || j.Timeout == 0 && v.present(at("timeout"))) && !v.bad(at("timeout")) {
		v.add(at("timeout"), p, "must be greater than 0, got %s (leave it out for no timeout)", j.Timeout)
	}
	if (j.StallTimeout < 0 || j.StallTimeout == 0 && v.present(at("stall_timeout"))) && !v.bad(at("stall_timeout")) {
		v.add(at("stall_timeout"), p, "must be greater than 0, got %s (leave it out for the default, 5m)", j.StallTimeout)
	}

	if j.Retention != nil && !v.bad(at("retention")) {
		v.retention(j.Retention, at("retention"))
	}

	if j.Encryption != nil && !v.bad(at("encryption")) {
		v.encryption(j.Encryption, at("encryption"))
	}

	if j.Health != nil && !v.bad(at("health")) {
		v.health(j.Health, at("health")) // notifications.go
	}

	if j.Policy != nil && !v.bad(at("policy")) {
		v.policy(j.Policy, at("policy")) // policy.go
	}

	if j.Verify != nil && !v.bad(at("verify")) {
		v.verify(j.Verify, at("verify")) // verify.go
	}
}

// retention checks a job's retention settings at path.
func (v *validator) retention(r *Retention, path string) {
	policy, err := r.Policy(nil)
	if err != nil {
		if !v.bad(join(path, "preset")) {
			v.add(join(path, "preset"), path, "%s", err.Error())
		}
		return
	}
	err = policy.Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		errs = u.Unwrap()
	}
	for _, e := range errs {
		var fe *retention.FieldError
		if errors.As(e, &fe) && !v.bad(join(path, fe.Field)) {
			v.add(join(path, fe.Field), path, "%s", fe.Msg)
		}
	}
}

// unknownDestination is the message for a job naming a destination that is
// not configured.
func unknownDestination(name string, known []string) string {
	if len(known) == 0 {
		return fmt.Sprintf("unknown destination %q (no destinations are configured)", name)
	}
	hint := ""
	if s := suggest(name, known); s != "" {
		hint = fmt.Sprintf("did you mean %q? ", s)
	}
	return fmt.Sprintf("unknown destination %q (%sknown destinations: %s)", name, hint, strings.Join(known, ", "))
}

// checkSchedule parses a schedule as the scheduler will: 5 or 6 cron
// fields, the @ macros, or a preset such as "daily at 02:30"; it also refuses
// expressions that never fire ("0 0 30 2 *"). The time zone is checked
// separately.
func checkSchedule(expr string) error {
	if len(expr) > 4096 {
		return errors.New("longer than 4096 bytes")
	}
	if _, err := schedule.Parse(expr, time.UTC); err != nil {
		msg := strings.TrimPrefix(err.Error(), "schedule: ")
		return errors.New(strings.TrimPrefix(msg, fmt.Sprintf("%q: ", strings.TrimSpace(expr))))
	}
	return nil
}

// validPrefix reports whether p is empty or a clean relative slash path
// without "." or ".." elements.
func validPrefix(p string) bool {
	if p == "" {
		return true
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || path.Clean(p) != p {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
