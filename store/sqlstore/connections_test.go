package sqlstore

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

// TestWrongKey: credentials sealed with one key are refused, with a clear
// error, by a store opened with another key or none, on every dialect.
func TestWrongKey(t *testing.T) {
	urls := map[string]func(testing.TB) string{
		"sqlite":   func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "store.db") },
		"postgres": postgresURL,
		"mysql":    mysqlURL,
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
	db := &DB{key: testKey}
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
