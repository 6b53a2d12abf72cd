package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// RestoreOptions control a restore. The embedded source.RestoreOptions go to
// the source's Restorer as they are.
type RestoreOptions struct {
	source.RestoreOptions
	// Identities decrypt backups encrypted with age to recipients (see
	// Encryption), for example from age.ParseIdentities on an identity file.
	// A job's Passphrase is used on its own; it need not be given here.
	Identities []age.Identity
}

// ErrChecksum is matched (errors.Is) by errors about an artifact whose bytes do
// not match the size or SHA-256 recorded when it was made.
var ErrChecksum = errors.New("artifact does not match its recorded checksum")

// Restore loads a backup of job back through the job's source, which must
// implement source.Restorer. It reads the first copy it can open, in the order
// of job.Destinations, checks the artifact's size and SHA-256 while streaming,
// decrypts it (see Encryption), decompresses it and feeds the Restorer. A
// missing or wrong identity fails with ErrIdentity before the Restorer is
// called. A mismatch or a truncated artifact makes the stream fail before its
// end, so a Restorer that commits only at a clean end (as source/dir does)
// leaves the target untouched.
func (e *Engine) Restore(ctx context.Context, job *Job, backupID string, opts RestoreOptions) error {
	restorer, ok := job.Source.(source.Restorer)
	if !ok {
		return fmt.Errorf("job %s: its source cannot restore", job.Name)
	}
	b, err := e.store.GetBackup(ctx, backupID)
	if err != nil {
		return fmt.Errorf("restore: backup %s: %w", backupID, err)
	}
	if b.Job != job.Name {
		return fmt.Errorf("restore: backup %s belongs to job %s, not %s", backupID, b.Job, job.Name)
	}
	compression, err := ParseCompression(b.Compression)
	if err != nil {
		return fmt.Errorf("restore: backup %s: %w", backupID, err)
	}
	if b.Encryption != "" && b.Encryption != EncryptionAge {
		return fmt.Errorf("restore: backup %s is encrypted (%s), which this version cannot read", backupID, b.Encryption)
	}
	artifact, copyName, err := e.openCopy(ctx, job, b)
	if err != nil {
		return err
	}
	defer artifact.Close()
	e.opts.Logger.Info("restore started", "job", job.Name, "backup", b.ID, "copy", copyName)

	checked := &checkingReader{r: artifact, hash: sha256.New(), wantSize: b.Size, wantSum: b.SHA256}
	decrypted, err := decrypter(checked, b.Encryption, job, opts, func() []string { return e.recipientsOf(ctx, job, b) })
	if err != nil {
		return fmt.Errorf("restore: backup %s from %s: %w", b.ID, copyName, err)
	}
	plain, err := compression.decompressor(decrypted)
	if err != nil {
		return fmt.Errorf("restore: backup %s from %s: %w", b.ID, copyName, err)
	}
	defer plain.Close()
	if err := restorer.Restore(ctx, plain, opts.RestoreOptions); err != nil {
		return fmt.Errorf("restore: backup %s from %s: %w", b.ID, copyName, err)
	}
	// A Restorer reads to EOF; make sure the artifact's end was checked too.
	if _, err := io.Copy(io.Discard, checked); err != nil {
		return fmt.Errorf("restore: backup %s from %s: %w", b.ID, copyName, err)
	}
	e.opts.Logger.Info("restore finished", "job", job.Name, "backup", b.ID)
	return nil
}

// recipientsOf returns the recipient fingerprints the manifest of the first
// readable copy of b records, or nil.
func (e *Engine) recipientsOf(ctx context.Context, job *Job, b store.Backup) []string {
	for _, t := range job.Destinations {
		for _, c := range b.Copies {
			if c.Destination != t.Name {
				continue
			}
			r, err := t.Destination.Open(ctx, c.Key+ManifestSuffix)
			if err != nil {
				continue
			}
			m, err := ParseManifest(r)
			r.Close()
			if err == nil && len(m.Recipients) > 0 {
				return m.Recipients
			}
		}
	}
	return nil
}

// openCopy opens the first readable copy of b, in the job's destination order.
func (e *Engine) openCopy(ctx context.Context, job *Job, b store.Backup) (io.ReadCloser, string, error) {
	var errs []error
	for _, t := range job.Destinations {
		for _, c := range b.Copies {
			if c.Destination != t.Name {
				continue
			}
			r, err := t.Destination.Open(ctx, c.Key)
			if err == nil {
				return r, t.Name, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
		}
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("restore: backup %s: none of its copies is on a destination of job %s", b.ID, job.Name)
	}
	return nil, "", fmt.Errorf("restore: backup %s: no copy can be read: %w", b.ID, errors.Join(errs...))
}

// checkingReader hashes and counts what it reads; at the end of the stream it
// returns ErrChecksum instead of io.EOF when the bytes are not the recorded ones.
type checkingReader struct {
	r        io.Reader
	hash     hash.Hash
	n        int64
	wantSize int64
	wantSum  string
}

func (c *checkingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.hash.Write(p[:n])
	c.n += int64(n)
	if c.n > c.wantSize {
		return n, fmt.Errorf("%w: more than the recorded %d bytes", ErrChecksum, c.wantSize)
	}
	if err == io.EOF {
		if c.n != c.wantSize {
			return n, fmt.Errorf("%w: %d bytes, recorded %d (truncated)", ErrChecksum, c.n, c.wantSize)
		}
		if got := hex.EncodeToString(c.hash.Sum(nil)); got != c.wantSum {
			return n, fmt.Errorf("%w: sha256 %s, recorded %s", ErrChecksum, got, c.wantSum)
		}
	}
	return n, err
}
