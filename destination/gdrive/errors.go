package gdrive

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/backupkit/backupkit/destination"
)

// classify turns an error from Drive or from the HTTP client into one that
// matches the destination package's sentinels: 404 is ErrNotExist; 401 that
// survived a token refresh, refused credentials and 403s other than rate
// limits are ErrPermission (refused credentials also ErrReauthorize); 403
// storageQuotaExceeded is ErrNoSpace; 5xx, 429, 403 rate limits and dropped
// connections are retryable. The *googleapi.Error stays reachable with
// errors.As. Context errors pass through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var te *tokenError
	if errors.As(err, &te) {
		return err // already classified by authError
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		// No answer from Drive: a refused or dropped connection, a timeout.
		return destination.Retryable(err)
	}
	switch {
	case ge.Code == http.StatusNotFound:
		return fmt.Errorf("%w: %w", destination.ErrNotExist, err)
	case ge.Code == http.StatusUnauthorized:
		return fmt.Errorf("Drive refused a freshly issued access token (%w); re-authorise: %w", destination.ErrPermission, err)
	case ge.Code == http.StatusForbidden && hasReason(ge, "userRateLimitExceeded", "rateLimitExceeded", "sharingRateLimitExceeded"):
		return destination.Retryable(err)
	case ge.Code == http.StatusForbidden && hasReason(ge, "storageQuotaExceeded", "quotaExceeded", "teamDriveFileLimitExceeded"):
		return fmt.Errorf("%w: %w", destination.ErrNoSpace, err)
	case ge.Code == http.StatusForbidden:
		return fmt.Errorf("%w: %w", destination.ErrPermission, err)
	case ge.Code == http.StatusTooManyRequests || ge.Code == http.StatusRequestTimeout || ge.Code >= 500:
		return destination.Retryable(err)
	}
	return err
}

func hasReason(ge *googleapi.Error, reasons ...string) bool {
	for _, it := range ge.Errors {
		for _, r := range reasons {
			if it.Reason == r {
				return true
			}
		}
	}
	return false
}

// isUnauthorized reports whether err is a 401 from Drive.
func isUnauthorized(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusUnauthorized
}

// DefaultBackoff is the pause before retry number attempt (1 for the first
// retry) when Options.Backoff is nil: exponential from one second, doubling
// up to 32 seconds, plus up to one second of random jitter, as Google's
// documentation for Drive recommends.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 5)
	return d + rand.N(time.Second)
}

// pause waits for the backoff before retry attempt, or until ctx is done.
func (d *Drive) pause(ctx context.Context, attempt int) error {
	p := d.backoff(attempt)
	if p <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(p)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retry runs op until it succeeds, fails with an error that is not
// retryable, or has been tried maxAttempts times, pausing between tries. A
// 401 is tried once more, since the transport has dropped the refused
// token. op's error is returned classified.
func (d *Drive) retry(ctx context.Context, op func() error) error {
	authRetried := false
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if isUnauthorized(err) && !authRetried {
			authRetried = true
			attempt--
			continue
		}
		err = classify(err)
		if !destination.IsRetryable(err) || attempt >= d.maxAttempts {
			return err
		}
		if perr := d.pause(ctx, attempt); perr != nil {
			return fmt.Errorf("%w (%v)", perr, err)
		}
	}
}
