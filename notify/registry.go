package notify

import (
	"context"
	"net/url"

	"github.com/backupkit/backupkit/internal/registry"
)

// Opener builds a Notifier from a URL. Adapters register one per scheme; it
// must not put secrets of the URL into its errors.
type Opener = registry.Opener[Notifier]

var defaultRegistry = registry.New[Notifier]("notifier")

// Register makes Open handle URLs of the given scheme. It is meant to be called
// from an adapter's init function and panics if the scheme is already taken.
func Register(scheme string, open Opener) { defaultRegistry.Register(scheme, open) }

// Open opens the notifier named by rawURL (for example
// "webhook+https://example.com/hook?secret=..." or "log:") with the adapter
// registered for its scheme; the adapter's package must be imported. Errors
// never contain the URL's secrets.
func Open(ctx context.Context, rawURL string) (Notifier, error) {
	return defaultRegistry.Open(ctx, rawURL)
}

// OpenURL is Open for a parsed URL.
func OpenURL(ctx context.Context, u *url.URL) (Notifier, error) {
	return defaultRegistry.OpenURL(ctx, u)
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string { return defaultRegistry.Schemes() }
