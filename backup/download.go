package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// DownloadOptions control Download.
type DownloadOptions struct {
	// Raw streams the artifact as stored (compressed, encrypted); otherwise it
	// is decrypted and decompressed.
	Raw bool
	// Restore carries identities for encrypted backups, and Prefer, the
	// order in which copies are read (see RestoreOptions).
	Restore RestoreOptions
}

// Download streams backupID of job to w from its best copy (in the order of
// RestoreOptions.Prefer), checking the SHA-256 as it reads: a mismatch
// returns ErrChecksum (after the bytes were written: callers writing to a
// file remove it). A copy that cannot be opened is skipped for the next;
// once bytes were written to w, a failure is returned as it is. It returns
// the number of bytes written to w. It records no run.
func (e *Engine) Download(ctx context.Context, job *Job, backupID string, w io.Writer, opts DownloadOptions) (int64, error) {
	b, err := e.backupOf(ctx, job, backupID)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	cands := candidates(job, b, opts.Restore.Prefer)
	if len(cands) == 0 {
		return 0, fmt.Errorf("download: backup %s: none of its copies is on a destination of job %s", b.ID, job.Name)
	}
	var errs []error
	for _, c := range cands {
		if opts.Raw {
			r, err := c.target.Destination.Open(ctx, c.copy.Key)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.target.Name, err))
				continue
			}
			n, err := io.Copy(w, &checkingReader{r: r, hash: sha256.New(), wantSize: b.Size, wantSum: b.SHA256})
			r.Close()
			if err != nil {
				return n, fmt.Errorf("download: backup %s from %s: %w", b.ID, c.target.Name, err)
			}
			return n, nil
		}
		d, err := openDecoded(ctx, job, b, c, opts.Restore, e, nil)
		if err != nil {
			if errors.Is(err, ErrIdentity) {
				return 0, fmt.Errorf("download: backup %s: %w", b.ID, err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", c.target.Name, err))
			continue
		}
		n, err := io.Copy(w, d.plain)
		if err == nil {
			// The decoder may stop before the artifact's end: check it.
			_, err = io.Copy(io.Discard, d.checked)
		}
		d.Close()
		if err != nil {
			return n, fmt.Errorf("download: backup %s from %s: %w", b.ID, c.target.Name, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("download: backup %s: no copy can be read: %w", b.ID, errors.Join(errs...))
}
