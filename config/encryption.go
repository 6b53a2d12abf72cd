package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"filippo.io/age"

	"github.com/backupkit/backupkit/secret"
)

// Encryption is a job's "encryption": the job's artifacts are encrypted with
// age (see docs/security.md) either to recipients (public keys; the daemon
// cannot read its own backups) or with a passphrase:
//
//	encryption:
//	  recipients: ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
//	  recipients_file: keys/backup.pub     # one recipient a line, # comments
//	# or
//	encryption:
//	  passphrase: ${BACKUP_PASSPHRASE}
//	# or
//	encryption:
//	  passphrase_file: /run/secrets/backup-passphrase
//
// Recipients and RecipientsFile may be combined; a passphrase excludes
// recipients. Relative file paths are resolved against the config file's
// folder by Parse and Load, which also read the files to check them; Open
// reads them again.
type Encryption struct {
	// Recipients are age public keys ("age1…", or "age1pq1…" for
	// post-quantum hybrid keys). Never secret keys (AGE-SECRET-KEY-1…).
	Recipients []string `yaml:"recipients"`
	// RecipientsFile names a file of recipients, one a line, as age -R reads.
	RecipientsFile string `yaml:"recipients_file"`
	// Passphrase encrypts with scrypt. Write it as ${ENV}, not in the file.
	Passphrase secret.String `yaml:"passphrase"`
	// PassphraseFile names a file holding the passphrase; one trailing line
	// break is removed.
	PassphraseFile string `yaml:"passphrase_file"`
	// WorkFactor is the scrypt work factor (log2 of N) for a passphrase, 10
	// to 22; 0 means age's default, 18 (about a second per backup and per
	// restore).
	WorkFactor int `yaml:"work_factor"`
}

// Keys returns the recipients or the passphrase e describes, reading
// RecipientsFile and PassphraseFile. Exactly one of the two results is set
// when err is nil. Errors name the setting and never contain the passphrase.
func (e *Encryption) Keys() (recipients []age.Recipient, passphrase secret.String, err error) {
	hasRecipients := len(e.Recipients) > 0 || e.RecipientsFile != ""
	hasPassphrase := !e.Passphrase.IsZero() || e.PassphraseFile != ""
	switch {
	case hasRecipients && hasPassphrase:
		return nil, secret.String{}, errors.New("set recipients or a passphrase, not both (age takes a passphrase only on its own)")
	case !e.Passphrase.IsZero() && e.PassphraseFile != "":
		return nil, secret.String{}, errors.New("set passphrase or passphrase_file, not both")
	case !hasRecipients && !hasPassphrase:
		return nil, secret.String{}, errors.New("set recipients, recipients_file, passphrase or passphrase_file")
	case e.WorkFactor != 0 && (e.WorkFactor < 10 || e.WorkFactor > 22):
		return nil, secret.String{}, fmt.Errorf("work_factor: %d is outside 10..22", e.WorkFactor)
	case e.WorkFactor != 0 && !hasPassphrase:
		return nil, secret.String{}, errors.New("work_factor: applies to a passphrase only")
	case hasPassphrase:
		if e.PassphraseFile == "" {
			return nil, e.Passphrase, nil
		}
		data, err := os.ReadFile(e.PassphraseFile)
		if err != nil {
			return nil, secret.String{}, fmt.Errorf("passphrase_file: %w", err)
		}
		p := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if p == "" {
			return nil, secret.String{}, fmt.Errorf("passphrase_file: %s is empty", e.PassphraseFile)
		}
		return nil, secret.New(p), nil
	}
	for i, r := range e.Recipients {
		rs, err := parseRecipients(r)
		if err != nil {
			return nil, secret.String{}, fmt.Errorf("recipients[%d]: %w", i, err)
		}
		recipients = append(recipients, rs...)
	}
	if e.RecipientsFile != "" {
		data, err := os.ReadFile(e.RecipientsFile)
		if err != nil {
			return nil, secret.String{}, fmt.Errorf("recipients_file: %w", err)
		}
		rs, err := parseRecipients(string(data))
		if err != nil {
			return nil, secret.String{}, fmt.Errorf("recipients_file: %s: %w", e.RecipientsFile, err)
		}
		recipients = append(recipients, rs...)
	}
	return recipients, secret.String{}, nil
}

// parseRecipients parses age recipients, one a line. Errors never quote the
// text: a secret key pasted by mistake must not end up in a log.
func parseRecipients(text string) ([]age.Recipient, error) {
	if strings.Contains(text, "AGE-SECRET-KEY-") {
		return nil, errors.New("holds an age secret key (AGE-SECRET-KEY-…); give its public key instead (age-keygen -y), the daemon needs only that")
	}
	rs, err := age.ParseRecipients(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("not an age recipient (want a public key such as age1…): %v", err)
	}
	return rs, nil
}

// encryption checks a job's encryption settings at path, resolving relative
// file paths first when v.resolve is set.
func (v *validator) encryption(e *Encryption, path string) {
	if v.resolve {
		for _, f := range []*string{&e.RecipientsFile, &e.PassphraseFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(v.baseDir, *f)
			}
		}
	}
	if _, _, err := e.Keys(); err != nil {
		// Errors of Keys start with the setting ("recipients[1]: …"); report
		// them at that setting.
		key, msg := path, err.Error()
		if k, rest, ok := strings.Cut(msg, ": "); ok && settingRE.MatchString(k) {
			key, msg = path+"."+k, rest
		}
		if !v.bad(key) {
			v.add(key, path, "%s", msg)
		}
	}
}

var settingRE = regexp.MustCompile(`^[a-z_]+(\[\d+\])?$`)
