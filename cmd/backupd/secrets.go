package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/store"
)

// cmdSecrets manages the credentials the store keeps encrypted. Its one
// subcommand, rotate, re-encrypts every stored connection's credentials with
// the store's current key (key_file= in the store URL) and records it in the
// audit trail.
func cmdSecrets(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError{errors.New("secrets: the subcommand is rotate: backupd secrets rotate [--config FILE]")}
	}
	fs, path := flags("secrets rotate", stderr)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Errorf("secrets rotate: unexpected argument %q", pos[0])}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError{err}
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	kr, ok := st.(store.KeyRotator)
	if !ok {
		return errors.New("secrets rotate: this store does not encrypt credentials with rotating keys")
	}
	n, rotateErr := kr.RotateKeys(ctx)
	if rotateErr != nil && n == 0 && !errors.Is(rotateErr, store.ErrWrongKey) {
		return fmt.Errorf("secrets rotate: %w", rotateErr) // nothing happened: no key, or the store failed
	}
	details := map[string]any{"rewritten": n, "complete": rotateErr == nil, "via": "cli"}
	if rotateErr != nil {
		details["error"] = rotateErr.Error() // connection ids and key fingerprints, never keys or secrets
	}
	raw, _ := json.Marshal(details)
	entry := &store.AuditEntry{Actor: "cli:" + currentUser(), Action: "secrets.rotate", Target: "connections", Details: raw}
	auditErr := st.AppendAudit(context.WithoutCancel(ctx), entry)
	fmt.Fprintf(stdout, "re-encrypted %d connection(s) with the current key\n", n)
	if rotateErr != nil {
		return errors.Join(fmt.Errorf("secrets rotate: %w (run it again once fixed: it only rewrites what is left)", rotateErr), auditErr)
	}
	if auditErr != nil {
		return fmt.Errorf("secrets rotate: %d connection(s) re-encrypted, but the audit entry failed: %w", n, auditErr)
	}
	return nil
}
