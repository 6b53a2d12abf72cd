package sqlstore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
)

// TestWrongKey: credentials sealed with one key are refused, with a clear
// error, by a store opened with another key or none, on every dialect.
func TestWrongKey(t *testing.T) {
	urls := map[string]func(testing.TB) string{
		"sqlite":   func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "store.db") },
		"postgres": testenv.FreshPostgresURL,
		"mysql":    testenv.FreshMySQLURL,
	}
	for name, mk := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			raw := mk(t)
			db := openURLTest(t, raw)
			defer db.Close()
			c := store.Connection{Name: "s3", Kind: store.ConnectionDestination, Type: "s3",
				Secrets: map[string]string{"secret_access_key": "AKIA-very-secret"}}
			require.NoError(t, db.CreateConnection(ctx, &c))

			// The secret is not stored in the clear.
			var sealed []byte
			require.NoError(t, db.readRow(ctx, `SELECT secret FROM connections WHERE id = ?`, c.ID).Scan(&sealed))
			assert.False(t, bytes.Contains(sealed, []byte("AKIA-very-secret")))

			other, err := Open(ctx, raw, WithKey(bytes.Repeat([]byte{7}, KeySize)))
			require.NoError(t, err)
			defer other.Close()
			_, err = other.GetConnection(ctx, c.ID)
			require.ErrorIs(t, err, store.ErrWrongKey)
			assert.ErrorContains(t, err, "another key")
			assert.NotContains(t, err.Error(), "AKIA")
			list, err := other.ListConnections(ctx, "")
			require.NoError(t, err, "listing needs no key")
			assert.Len(t, list, 1)

			none, err := Open(ctx, raw)
			require.NoError(t, err)
			defer none.Close()
			_, err = none.GetConnection(ctx, c.ID)
			require.ErrorIs(t, err, store.ErrWrongKey)
			assert.ErrorContains(t, err, "WithKey")
			err = none.CreateConnection(ctx, &store.Connection{Name: "x", Kind: store.ConnectionSource, Secrets: map[string]string{"a": "b"}})
			require.ErrorContains(t, err, "WithKey")

			// Altered ciphertext, or a sealed secret moved to another row.
			plain := store.Connection{Name: "plain", Kind: store.ConnectionSource}
			require.NoError(t, db.CreateConnection(ctx, &plain))
			_, err = db.write.ExecContext(ctx, db.d.rebind(`UPDATE connections SET secret = ? WHERE id = ?`), sealed, plain.ID)
			require.NoError(t, err)
			_, err = db.GetConnection(ctx, plain.ID)
			require.ErrorIs(t, err, store.ErrWrongKey)
			assert.ErrorContains(t, err, "do not decrypt")

			_, err = Open(ctx, raw, WithKey([]byte("short")))
			require.ErrorContains(t, err, "32")
		})
	}
}

func TestSealRoundTrip(t *testing.T) {
	db := &DB{key: testKey, keys: map[string][]byte{Fingerprint(testKey): testKey}}
	sealed, err := db.seal("id-1", map[string]string{"k": "v"})
	require.NoError(t, err)
	got, err := db.open("id-1", sealed)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v"}, got)
	again, err := db.seal("id-1", map[string]string{"k": "v"})
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce each time")
	none, err := db.seal("id-1", nil)
	require.NoError(t, err)
	assert.Nil(t, none)
	_, err = db.open("id-1", []byte{1, 2, 3})
	require.ErrorIs(t, err, store.ErrWrongKey)
}

func TestKeyFileInURL(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.key")
	require.NoError(t, os.WriteFile(raw, testKey, 0o600))
	hexKey := filepath.Join(dir, "hex.key")
	require.NoError(t, os.WriteFile(hexKey, []byte(hex.EncodeToString(testKey)+"\n"), 0o600))
	b64 := filepath.Join(dir, "b64.key")
	require.NoError(t, os.WriteFile(b64, []byte(base64.StdEncoding.EncodeToString(testKey)), 0o600))
	for _, p := range []string{raw, hexKey, b64} {
		k, err := LoadKey(p)
		require.NoError(t, err, p)
		assert.Equal(t, testKey, k, p)
	}

	path := filepath.Join(dir, "store.db")
	s, err := store.Open(ctx, "sqlite://"+path+"?key_file="+url.QueryEscape(hexKey))
	require.NoError(t, err)
	c := store.Connection{Name: "c", Kind: store.ConnectionSource, Secrets: map[string]string{"p": "v"}}
	require.NoError(t, s.CreateConnection(ctx, &c))
	require.NoError(t, s.Close())
	db, err := OpenSQLite(ctx, path, WithKey(testKey))
	require.NoError(t, err)
	defer db.Close()
	got, err := db.GetConnection(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "v", got.Secrets["p"], "the key came from the file")

	open := filepath.Join(dir, "open.key")
	require.NoError(t, os.WriteFile(open, testKey, 0o644))
	_, err = store.Open(ctx, "sqlite://"+path+"?key_file="+open)
	require.ErrorContains(t, err, "chmod 600")
	bad := filepath.Join(dir, "bad.key")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	_, err = LoadKey(bad)
	require.ErrorContains(t, err, "32-byte")
	assert.NotContains(t, err.Error(), "not a key")
	_, err = LoadKey(filepath.Join(dir, "missing.key"))
	require.Error(t, err)
	_, err = store.Open(ctx, "sqlite://"+path+"?key_file="+raw+"&mode=ro")
	require.ErrorContains(t, err, "no query parameters", "other parameters are still refused for SQLite")
}
