// Package registry is the URL-scheme registry shared by the source, destination,
// store and notify packages. Each of those packages keeps one default Registry and
// exposes Register and Open functions in front of it.
package registry

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/backupkit/backupkit/internal/redact"
)

// Opener builds a T from a parsed URL. It must not keep a reference to u after it
// returns, and must not put secrets from u into the errors it returns.
type Opener[T any] func(ctx context.Context, u *url.URL) (T, error)

// Registry maps URL schemes to Openers. The zero value is not usable; use New.
// It is safe for concurrent use.
type Registry[T any] struct {
	kind    string // "source", "destination", ...: used in messages
	mu      sync.RWMutex
	openers map[string]Opener[T]
}

// New returns an empty Registry. kind names what it opens, for error messages.
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, openers: map[string]Opener[T]{}}
}

// Register makes open handle URLs of the given scheme (case-insensitive).
// It panics if the scheme is empty or already registered, as sql.Register does:
// both are programming errors found at init time.
func (r *Registry[T]) Register(scheme string, open Opener[T]) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || open == nil {
		panic(fmt.Sprintf("%s registry: Register with empty scheme or nil opener", r.kind))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.openers[scheme]; dup {
		panic(fmt.Sprintf("%s registry: scheme %q registered twice", r.kind, scheme))
	}
	r.openers[scheme] = open
}

// Schemes returns the registered schemes, sorted.
func (r *Registry[T]) Schemes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.openers))
	for s := range r.openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open parses rawURL and calls the Opener registered for its scheme. Errors name
// the URL with its secrets redacted.
func (r *Registry[T]) Open(ctx context.Context, rawURL string) (T, error) {
	var zero T
	u, err := url.Parse(rawURL)
	if err != nil {
		return zero, fmt.Errorf("%s URL %q: cannot parse", r.kind, redact.URLString(rawURL))
	}
	return r.OpenURL(ctx, u)
}

// OpenURL is Open for an already parsed URL.
func (r *Registry[T]) OpenURL(ctx context.Context, u *url.URL) (T, error) {
	var zero T
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		return zero, fmt.Errorf("%s URL %q has no scheme (known: %s)", r.kind, redact.URL(u), strings.Join(r.Schemes(), ", "))
	}
	r.mu.RLock()
	open, ok := r.openers[scheme]
	r.mu.RUnlock()
	if !ok {
		return zero, fmt.Errorf("%s URL %q: unknown scheme %q (known: %s; is the adapter imported?)",
			r.kind, redact.URL(u), scheme, strings.Join(r.Schemes(), ", "))
	}
	v, err := open(ctx, u)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", r.kind, redact.URL(u), err)
	}
	return v, nil
}
