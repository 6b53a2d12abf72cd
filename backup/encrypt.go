package backup

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/backupkit/backupkit/secret"
)

// EncryptionAge is what manifests and the catalog record (Manifest.Encryption,
// store.Backup.Encryption) for an artifact encrypted with age.
const EncryptionAge = "age"

// ScryptFingerprint is the one recipient fingerprint a manifest records for an
// artifact encrypted with a passphrase.
const ScryptFingerprint = "scrypt"

// ErrIdentity is matched (errors.Is) by the error of a restore of an encrypted
// backup when no identity was given or none of those given can decrypt it. The
// error names the recipients the backup was made for. It is returned before
// any byte reaches the source's Restorer.
var ErrIdentity = errors.New("no identity can decrypt the backup")

// Encryption says how a job encrypts its artifacts with age
// (https://age-encryption.org): after compression, before hashing, so the
// recorded size and SHA-256 are those of the encrypted bytes as stored.
//
// Set either Recipients or Passphrase. With Recipients, the process that makes
// backups needs only public keys and cannot read its own backups; restoring
// needs one of the matching identities (RestoreOptions.Identities). With a
// Passphrase (scrypt), the same passphrase restores: Engine.Restore uses the
// job's Passphrase on its own.
type Encryption struct {
	// Recipients receive the artifact's file key, for example
	// *age.X25519Recipient from age.ParseX25519Recipient("age1…"). Their
	// fingerprints (String(), the public key, for X25519 and hybrid
	// recipients) are written into manifests.
	Recipients []age.Recipient
	// Passphrase encrypts with scrypt instead; it cannot be combined with
	// Recipients.
	Passphrase secret.String
	// WorkFactor is the scrypt work factor (log2 of N) for Passphrase, 10 to
	// 22; 0 means age's default (18, about a second per backup and per
	// restore). Restores accept up to 22 whatever this says.
	WorkFactor int
}

// validate reports a problem with the encryption settings.
func (e *Encryption) validate() error {
	switch {
	case len(e.Recipients) > 0 && !e.Passphrase.IsZero():
		return errors.New("encryption: set recipients or a passphrase, not both (age allows a passphrase only as the sole recipient)")
	case len(e.Recipients) == 0 && e.Passphrase.IsZero():
		return errors.New("encryption: set at least one recipient or a passphrase")
	case e.WorkFactor != 0 && (e.WorkFactor < 10 || e.WorkFactor > 22):
		return fmt.Errorf("encryption: work factor %d is outside 10..22", e.WorkFactor)
	}
	for i, r := range e.Recipients {
		if r == nil {
			return fmt.Errorf("encryption: recipients[%d]: nil", i)
		}
	}
	return nil
}

// recipients returns the age recipients and the fingerprints to record.
func (e *Encryption) recipients() ([]age.Recipient, []string, error) {
	if !e.Passphrase.IsZero() {
		r, err := age.NewScryptRecipient(e.Passphrase.Reveal())
		if err != nil {
			return nil, nil, fmt.Errorf("encryption: passphrase: %w", err)
		}
		if e.WorkFactor != 0 {
			r.SetWorkFactor(e.WorkFactor)
		}
		return []age.Recipient{r}, []string{ScryptFingerprint}, nil
	}
	fps := make([]string, len(e.Recipients))
	for i, r := range e.Recipients {
		fps[i] = Fingerprint(r)
	}
	return e.Recipients, fps, nil
}

// Fingerprint is what a manifest records for an age recipient: its String()
// (the public key, such as "age1…", for X25519 and hybrid recipients) when it
// has one, else its Go type. It never contains secret material, since
// recipients hold none.
func Fingerprint(r age.Recipient) string {
	switch r := r.(type) {
	case *age.ScryptRecipient:
		return ScryptFingerprint
	case fmt.Stringer:
		return r.String()
	}
	return fmt.Sprintf("%T", r)
}

// encryptStage returns the writer compression writes into: w itself, or an
// age encryptor writing into w. fingerprints is nil without encryption.
func (x *execution) encryptStage(w io.Writer) (io.WriteCloser, []string, error) {
	if x.job.Encryption == nil {
		return nopWriteCloser{w}, nil, nil
	}
	rs, fps, err := x.job.Encryption.recipients()
	if err != nil {
		return nil, nil, err
	}
	enc, err := age.Encrypt(w, rs...)
	if err != nil {
		return nil, nil, fmt.Errorf("encryption: %w", err)
	}
	return enc, fps, nil
}

// pipeline returns the writer the source's snapshot goes into: compression,
// then (with Encryption) age, into artifact. Closing it ends the compressed
// stream and then the encrypted one; it does not close artifact.
func (x *execution) pipeline(artifact io.Writer) (io.WriteCloser, error) {
	enc, fps, err := x.encryptStage(artifact)
	if err != nil {
		return nil, err
	}
	x.recipients = fps
	comp, err := x.compression.compressor(enc)
	if err != nil {
		return nil, fmt.Errorf("compression: %w", err)
	}
	return chainCloser{comp, enc}, nil
}

// chainCloser writes into the first writer and closes both, in order. The
// second is closed only if the first closed cleanly: a broken compressed
// stream is discarded anyway.
type chainCloser struct {
	io.WriteCloser
	next io.Closer
}

func (c chainCloser) Close() error {
	if err := c.WriteCloser.Close(); err != nil {
		return err
	}
	return c.next.Close()
}

// decrypter returns a reader of r decrypted with the identities, for a backup
// cataloged with encryption enc. It reads the age header only, so a missing or
// wrong identity fails here, before the Restorer reads anything. recipients
// names the backup's recipients for the error (from its manifest).
func decrypter(r io.Reader, enc string, job *Job, opts RestoreOptions, recipients func() []string) (io.Reader, error) {
	switch enc {
	case "":
		return r, nil
	case EncryptionAge:
	default:
		return nil, fmt.Errorf("encrypted with %q, which this version cannot read", enc)
	}
	ids := append([]age.Identity(nil), opts.Identities...)
	if job.Encryption != nil && !job.Encryption.Passphrase.IsZero() {
		id, err := age.NewScryptIdentity(job.Encryption.Passphrase.Reveal())
		if err != nil {
			return nil, fmt.Errorf("encryption: passphrase: %w", err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: it is encrypted with age to %s, and no identity was given", ErrIdentity, describeRecipients(recipients()))
	}
	plain, err := age.Decrypt(r, ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, fmt.Errorf("%w: it is encrypted with age to %s, and none of the %d identities given matches", ErrIdentity, describeRecipients(recipients()), len(ids))
		}
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return plain, nil
}

// describeRecipients names a backup's recipients for an error message.
func describeRecipients(fps []string) string {
	switch {
	case len(fps) == 0:
		return "recipients this program cannot name (its manifest cannot be read)"
	case len(fps) == 1 && fps[0] == ScryptFingerprint:
		return "a passphrase (scrypt)"
	case len(fps) == 1:
		return "the recipient " + fps[0]
	}
	return "the recipients " + strings.Join(fps, ", ")
}
