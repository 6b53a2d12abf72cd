package source

import (
	"context"
	"net/url"

	"github.com/backupkit/backupkit/internal/registry"
)

// Opener builds a Source from a URL. Adapters register one per scheme.
type Opener = registry.Opener[Source]

var defaultRegistry = registry.New[Source]("source")

// Register makes Open handle URLs of the given scheme. It is meant to be called
// from an adapter's init function and panics if the scheme is already taken.
func Register(scheme string, open Opener) { defaultRegistry.Register(scheme, open) }

// Open opens the source named by rawURL (for example "dir:///srv/data" or
// "mysql://user:pass@host/db") with the adapter registered for its scheme. The
// adapter's package must be imported. Errors never contain the URL's secrets.
func Open(ctx context.Context, rawURL string) (Source, error) {
	return defaultRegistry.Open(ctx, rawURL)
}

// OpenURL is Open for a parsed URL.
func OpenURL(ctx context.Context, u *url.URL) (Source, error) {
	return defaultRegistry.OpenURL(ctx, u)
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string { return defaultRegistry.Schemes() }
