package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// configCheckJSON is `config check --json`.
type configCheckJSON struct {
	File string `json:"file"`
	// Valid is false when the file has problems, listed in Errors.
	Valid  bool              `json:"valid"`
	Errors []configErrorJSON `json:"errors"`
	// Jobs and Destinations count what a valid file configures.
	Jobs         int `json:"jobs"`
	Destinations int `json:"destinations"`
	// Checks are the connection checks of --connect (empty without it).
	Checks []connectionCheckJSON `json:"checks"`
}

// configErrorJSON is one problem in the file.
type configErrorJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// connectionCheckJSON is the outcome of checking one connection.
type connectionCheckJSON struct {
	// Kind is "store", "destination" or "source"; Name the destination's or
	// job's name ("store" for the store).
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Path is the setting's key path and Line its line in the file.
	Path string `json:"path"`
	Line int    `json:"line"`
	// Result is "ok", "failed", or "opened" (the adapter opened but has no
	// connection check); Error says why a check failed.
	Result     string `json:"result"`
	Error      string `json:"error"`
	DurationMS int64  `json:"duration_ms"`
}

// cmdConfig runs `config check`: it validates the file and, with --connect,
// opens the store, every destination and every job's source and runs the
// Check of those that have one.
func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError{errors.New("config: the subcommand is check: backupd config check [--config FILE] [--connect] [--json]")}
	}
	fs, path := flags("config check", stderr)
	connect := fs.Bool("connect", false, "also open the store, every destination and every source, and test each connection")
	timeout := fs.Duration("timeout", 30*time.Second, "with --connect, the time limit of each connection check")
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Errorf("config check: unexpected argument %q", pos[0])}
	}
	if *timeout <= 0 {
		return usageError{errors.New("config check: --timeout must be greater than 0")}
	}
	out := configCheckJSON{File: *path, Errors: []configErrorJSON{}, Checks: []connectionCheckJSON{}}
	cfg, err := config.Load(*path)
	if err != nil {
		if !*asJSON {
			return usageError{err}
		}
		out.Errors = configErrors(err, *path)
		if werr := writeJSON(stdout, out); werr != nil {
			return werr
		}
		return usageError{fmt.Errorf("config check: %d problem(s) in %s", len(out.Errors), *path)}
	}
	out.Valid, out.Jobs, out.Destinations = true, len(cfg.Jobs), len(cfg.Destinations)
	if *connect {
		out.Checks = checkConnections(ctx, cfg, lineFinder(*path), *timeout)
	}
	var failed []string
	for _, c := range out.Checks {
		if c.Result == "failed" {
			loc := *path
			if c.Line > 0 {
				loc += ":" + strconv.Itoa(c.Line)
			}
			failed = append(failed, fmt.Sprintf("%s: %s: %s", loc, c.Path, c.Error))
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s: valid: %d job(s), %d destination(s), store %s\n", *path, out.Jobs, out.Destinations, redact.URLString(cfg.Store))
		if *connect {
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tRESULT\tTIME\tDETAIL")
			for _, c := range out.Checks {
				detail := c.Error
				if c.Result == "opened" {
					detail = "no connection check for this adapter; it opened"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Kind, c.Name, c.Result, time.Duration(c.DurationMS)*time.Millisecond, detail)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("config check: %d connection(s) failed:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	return nil
}

// configErrors lists the problems of a config.Load error.
func configErrors(err error, path string) []configErrorJSON {
	errs := []error{err}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		errs = u.Unwrap()
	}
	out := make([]configErrorJSON, 0, len(errs))
	for _, e := range errs {
		var ce *config.Error
		if errors.As(e, &ce) {
			out = append(out, configErrorJSON{File: ce.File, Line: ce.Line, Path: ce.Path, Message: ce.Msg})
		} else {
			out = append(out, configErrorJSON{File: path, Message: e.Error()})
		}
	}
	return out
}

// checkConnections checks the store, the destinations (by name) and the
// jobs' sources (in file order) concurrently, each within timeout, and
// returns the results in that order.
func checkConnections(ctx context.Context, cfg *config.Config, line func(string) int, timeout time.Duration) []connectionCheckJSON {
	type check struct {
		kind, name, path, url string
		run                   func(ctx context.Context) (checked bool, err error)
	}
	checks := []check{{kind: "store", name: "store", path: "store", url: cfg.Store, run: func(ctx context.Context) (bool, error) {
		st, err := store.Open(ctx, cfg.Store)
		if err != nil {
			return false, err
		}
		defer st.Close()
		_, err = st.ListRuns(ctx, store.RunFilter{Limit: 1})
		return true, err
	}}}
	names := make([]string, 0, len(cfg.Destinations))
	for name := range cfg.Destinations {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := cfg.Destinations[name].URL
		checks = append(checks, check{kind: "destination", name: name, path: "destinations." + name + ".url", url: raw,
			run: func(ctx context.Context) (bool, error) {
				d, err := destination.Open(ctx, raw)
				if err != nil {
					return false, err
				}
				defer closeIfCloser(d)
				if c, ok := d.(destination.Checker); ok {
					return true, c.Check(ctx)
				}
				return false, nil
			}})
	}
	for i, j := range cfg.Jobs {
		raw := j.Source
		checks = append(checks, check{kind: "source", name: j.Name, path: fmt.Sprintf("jobs[%d].source", i), url: raw,
			run: func(ctx context.Context) (bool, error) {
				s, err := source.Open(ctx, raw)
				if err != nil {
					return false, err
				}
				defer closeIfCloser(s)
				if c, ok := s.(source.Checker); ok {
					return true, c.Check(ctx)
				}
				return false, nil
			}})
	}
	out := make([]connectionCheckJSON, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			checked, err := c.run(cctx)
			r := connectionCheckJSON{Kind: c.kind, Name: c.name, Path: c.path, Line: line(c.path),
				Result: "ok", DurationMS: time.Since(start).Milliseconds()}
			switch {
			case err != nil:
				r.Result = "failed"
				if errors.Is(err, context.DeadlineExceeded) && cctx.Err() != nil {
					err = fmt.Errorf("no answer within %s: %w", timeout, err)
				}
				r.Error = redact.Text(err.Error(), urlSecrets(c.url)...)
			case !checked:
				r.Result = "opened"
			}
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// closeIfCloser closes v when the adapter holds resources.
func closeIfCloser(v any) {
	if c, ok := v.(io.Closer); ok {
		_ = c.Close()
	}
}

// urlSecrets returns the password and secret query values of a URL, for
// masking in messages.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw)
	}
	for k, vs := range u.Query() {
		if redact.IsSecretParam(k) {
			out = append(out, vs...)
		}
	}
	return out
}

// lineFinder returns a function giving the line of a key path such as
// "destinations.local.url" or "jobs[1].source" in the YAML file at path (or
// of its "_file" variant, or of the nearest parent that is there); 0 when the
// file cannot be read.
func lineFinder(path string) func(string) int {
	var root *yaml.Node
	if data, err := os.ReadFile(path); err == nil {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) > 0 {
			root = doc.Content[0]
		}
	}
	return func(keyPath string) int {
		line, n := 0, root
		for _, part := range splitKeyPath(keyPath) {
			if n == nil {
				break
			}
			var next *yaml.Node
			var at int
			if idx, err := strconv.Atoi(part); err == nil && n.Kind == yaml.SequenceNode {
				if idx >= 0 && idx < len(n.Content) {
					next, at = n.Content[idx], n.Content[idx].Line
				}
			} else if n.Kind == yaml.MappingNode {
				for _, key := range []string{part, part + "_file"} {
					for i := 0; i+1 < len(n.Content); i += 2 {
						if n.Content[i].Value == key && next == nil {
							next, at = n.Content[i+1], n.Content[i].Line
						}
					}
				}
			}
			if next == nil {
				break
			}
			n, line = next, at
		}
		return line
	}
}

// splitKeyPath splits "jobs[1].source" into "jobs", "1", "source".
func splitKeyPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '.' || r == '[' || r == ']' })
}
