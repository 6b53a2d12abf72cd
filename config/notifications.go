package config

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/notify"
)

// notifications checks the "notifications" block.
func (v *validator) notifications(n *Notifications) {
	const p = "notifications"
	at := func(key string) string { return p + "." + key }
	if n.Link != "" && !v.bad(at("link")) {
		u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(n.Link))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(at("link"), p, `invalid link template %q (want an http or https URL such as "https://backupd.example/runs/{run}")`,
				redact.URLString(n.Link))
		}
	}
	if n.Timeout < 0 && !v.bad(at("timeout")) {
		v.add(at("timeout"), p, "must not be negative, got %s", n.Timeout)
	}
	if n.MaxAttempts < 0 && !v.bad(at("max_attempts")) {
		v.add(at("max_attempts"), p, "must not be negative, got %d", n.MaxAttempts)
	}
	if n.HealthInterval < 0 && !v.bad(at("health_interval")) {
		v.add(at("health_interval"), p, "must not be negative, got %s", n.HealthInterval)
	}
	seen := map[string]bool{}
	for i, nt := range n.Notifiers {
		np := fmt.Sprintf("%s[%d]", at("notifiers"), i)
		if v.bad(np) || v.bad(at("notifiers")) {
			continue
		}
		switch {
		case nt.Name == "" || v.bad(np+".name"):
		case !validName.MatchString(nt.Name):
			v.add(np+".name", np, "invalid notifier name %q (want %s)", nt.Name, nameRule)
		case seen[nt.Name]:
			v.add(np+".name", np, "duplicate notifier name %q", nt.Name)
		}
		seen[nt.Name] = true
		switch {
		case v.bad(np + ".url"):
		case nt.URL == "":
			v.add(np+".url", np, "required")
		default:
			if _, err := parseURL(nt.URL); err != nil {
				v.add(np+".url", np, "%s", err.Error())
			}
		}
		for k, ev := range nt.Events {
			ep := fmt.Sprintf("%s.events[%d]", np, k)
			if !v.bad(ep) && ev != "all" && !notify.EventType(ev).Valid() {
				v.add(ep, np+".events", "unknown event %q (want all or one of %s)", ev, eventNames())
			}
		}
	}
}

func eventNames() string {
	names := make([]string, len(notify.EventTypes))
	for i, t := range notify.EventTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// health checks a job's "health" block at path.
func (v *validator) health(h *Health, path string) {
	at := func(key string) string { return path + "." + key }
	if h.MaxAge < 0 && !v.bad(at("max_age")) {
		v.add(at("max_age"), path, "must not be negative")
	}
	if h.MaxTotalSize < 0 && !v.bad(at("max_total_size")) {
		v.add(at("max_total_size"), path, "must not be negative")
	}
	if h.MaxFailures < 0 && !v.bad(at("max_failures")) {
		v.add(at("max_failures"), path, "must not be negative, got %d", h.MaxFailures)
	}
	if h.MaxAge == 0 && h.MaxTotalSize == 0 && h.MaxFailures == 0 && !v.bad(path) {
		v.add(path, path, "set at least one of max_age, max_total_size and max_failures")
	}
}

// Policy returns the backup.HealthPolicy h describes.
func (h *Health) Policy() backup.HealthPolicy {
	return backup.HealthPolicy{MaxAge: time.Duration(h.MaxAge), MaxTotalSize: int64(h.MaxTotalSize), MaxFailures: h.MaxFailures}
}

// events returns the event types n gets: nil for the default, every type
// for "all".
func (n *Notifier) events() []notify.EventType {
	var out []notify.EventType
	for _, e := range n.Events {
		if e == "all" {
			return slices.Clone(notify.EventTypes)
		}
		out = append(out, notify.EventType(e))
	}
	return out
}

// openNotifications opens every notifier of n and returns a Dispatcher for
// them. Errors name the notifier, never its URL's secrets.
func openNotifications(ctx context.Context, n *Notifications, opts notify.DispatcherOptions) (*notify.Dispatcher, error) {
	var targets []notify.Target
	for i, nt := range n.Notifiers {
		name := nt.Name
		if name == "" {
			name = "notifier-" + strconv.Itoa(i)
		}
		nf, err := notify.Open(ctx, nt.URL)
		if err != nil {
			return nil, fmt.Errorf("notifications.notifiers[%d] (%s): %w", i, name, err)
		}
		targets = append(targets, notify.Target{Name: name, Notifier: nf, Events: nt.events()})
	}
	opts.LinkTemplate = n.Link
	opts.Timeout = time.Duration(n.Timeout)
	opts.MaxAttempts = n.MaxAttempts
	return notify.NewDispatcher(targets, &opts), nil
}

// secrets lists the passwords and secret query parameter values of every
// URL in c (store, destinations, sources, notifiers), so that the
// Dispatcher masks them wherever they might show up in an event.
func (c *Config) secrets() []string {
	raws := []string{c.Store}
	for _, d := range c.Destinations {
		raws = append(raws, d.URL)
	}
	for _, j := range c.Jobs {
		raws = append(raws, j.Source)
	}
	if c.Notifications != nil {
		for _, n := range c.Notifications.Notifiers {
			raws = append(raws, n.URL)
		}
	}
	var out []string
	for _, raw := range raws {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw)
		}
		if strings.HasPrefix(strings.ToLower(u.Scheme), "slack+") && len(u.Path) > 1 {
			out = append(out, u.Path) // an incoming webhook's path is its secret
		}
		for k, vs := range u.Query() {
			if redact.IsSecretParam(k) {
				out = append(out, vs...)
			}
		}
	}
	return out
}
