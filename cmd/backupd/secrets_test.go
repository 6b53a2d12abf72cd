package main_test

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// setStore points the quickstart configuration in dir at its SQLite store
// with the query given ("" for none).
func setStore(t *testing.T, dir, query string) {
	t.Helper()
	p := filepath.Join(dir, "backupd.yaml")
	cfg, err := os.ReadFile(p)
	require.NoError(t, err)
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "store:") {
			lines[i] = "store: sqlite:backupd.db" + query
		}
	}
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644))
}

// TestSecretsRotate: connections written with key A are re-encrypted with key
// B by `backupd secrets rotate` (B current, A old), once, with an audit
// entry; afterwards B alone reads them.
func TestSecretsRotate(t *testing.T) {
	ctx := t.Context()
	dir := quickstart(t, "* * * * *")
	keys := t.TempDir()
	keyA, keyB := bytes.Repeat([]byte{0xA}, sqlstore.KeySize), bytes.Repeat([]byte{0xB}, sqlstore.KeySize)
	fileA, fileB := filepath.Join(keys, "a.key"), filepath.Join(keys, "b.key")
	require.NoError(t, os.WriteFile(fileA, keyA, 0o600))
	require.NoError(t, os.WriteFile(fileB, keyB, 0o600))
	dbPath := filepath.Join(dir, "backupd.db")

	db, err := sqlstore.OpenSQLite(ctx, dbPath, sqlstore.WithKey(keyA))
	require.NoError(t, err)
	var ids []string
	for _, name := range []string{"offsite", "shop-db"} {
		c := store.Connection{Name: name, Kind: store.ConnectionDestination, Type: "s3",
			Secrets: map[string]string{"secret_access_key": "very-secret-" + name}}
		require.NoError(t, db.CreateConnection(ctx, &c))
		ids = append(ids, c.ID)
	}
	require.NoError(t, db.Close())

	// No key configured: a clear error, exit status 1.
	r := backupd(t, dir, "secrets", "rotate", "--config", "backupd.yaml")
	assert.Equal(t, 1, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, "no credentials key")

	setStore(t, dir, "?key_file="+url.QueryEscape(fileB)+"&old_key_file="+url.QueryEscape(fileA))
	r = backupd(t, dir, "secrets", "rotate", "--config", "backupd.yaml")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "re-encrypted 2 connection(s)")
	assert.NotContains(t, r.stdout+r.stderr, "very-secret")
	r = backupd(t, dir, "secrets", "rotate", "--config", "backupd.yaml")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "re-encrypted 0 connection(s)", "a second run has nothing left to do")

	db, err = sqlstore.OpenSQLite(ctx, dbPath, sqlstore.WithKey(keyB))
	require.NoError(t, err)
	defer db.Close()
	for i, id := range ids {
		c, err := db.GetConnection(ctx, id)
		require.NoError(t, err, "the new key alone reads every connection")
		assert.Equal(t, "very-secret-"+[]string{"offsite", "shop-db"}[i], c.Secrets["secret_access_key"])
	}
	audit, err := db.ListAudit(ctx, store.AuditFilter{Action: "secrets.rotate"})
	require.NoError(t, err)
	require.Len(t, audit, 2)
	assert.True(t, strings.HasPrefix(audit[0].Actor, "cli:"), audit[0].Actor)
	assert.JSONEq(t, `{"rewritten":2,"complete":true,"via":"cli"}`, string(audit[1].Details))
	assert.JSONEq(t, `{"rewritten":0,"complete":true,"via":"cli"}`, string(audit[0].Details))

	// The old key alone no longer reads them, and says which key is needed.
	old, err := sqlstore.OpenSQLite(ctx, dbPath, sqlstore.WithKey(keyA))
	require.NoError(t, err)
	defer old.Close()
	_, err = old.GetConnection(ctx, ids[0])
	require.ErrorIs(t, err, store.ErrWrongKey)
	assert.ErrorContains(t, err, sqlstore.Fingerprint(keyB))

	r = backupd(t, dir, "secrets", "--config", "backupd.yaml")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "rotate")
}
