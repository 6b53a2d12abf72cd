package store

import (
	"context"
	"net/url"

	"github.com/backupkit/backupkit/internal/registry"
)

// Opener builds a Store from a URL. Implementations register one per scheme.
type Opener = registry.Opener[Store]

var defaultRegistry = registry.New[Store]("store")

// Register makes Open handle URLs of the given scheme. It is meant to be called
// from an implementation's init function and panics if the scheme is taken.
func Register(scheme string, open Opener) { defaultRegistry.Register(scheme, open) }

// Open opens the store named by rawURL (for example "sqlite:///var/lib/backupd.db").
// Errors never contain the URL's secrets.
func Open(ctx context.Context, rawURL string) (Store, error) {
	return defaultRegistry.Open(ctx, rawURL)
}

// OpenURL is Open for a parsed URL.
func OpenURL(ctx context.Context, u *url.URL) (Store, error) {
	return defaultRegistry.OpenURL(ctx, u)
}
