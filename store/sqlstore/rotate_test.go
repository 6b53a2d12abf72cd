package sqlstore

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
)

// sealedFingerprints returns connection id -> the fingerprint its stored
// credentials name.
func sealedFingerprints(t *testing.T, db *DB) map[string]string {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), `SELECT id, secret FROM connections WHERE secret IS NOT NULL`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var sealed []byte
		require.NoError(t, rows.Scan(&id, &sealed))
		out[id] = sealedWith(sealed)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestKeyRotation: credentials written with key A are read by a store with
// keys (B, old A), which writes with B; RotateKeys re-seals everything with B,
// once; then B alone reads everything and A alone is refused naming B.
func TestKeyRotation(t *testing.T) {
	urls := map[string]func(testing.TB) string{
		"sqlite":   func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "store.db") },
		"postgres": testenv.FreshPostgresURL,
		"mysql":    testenv.FreshMySQLURL,
	}
	keyA := bytes.Repeat([]byte{0xA}, KeySize)
	keyB := bytes.Repeat([]byte{0xB}, KeySize)
	fpA, fpB := Fingerprint(keyA), Fingerprint(keyB)
	for name, mk := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			raw := mk(t)
			setup := openURLTest(t, raw) // the test's schema, migrated
			require.NoError(t, setup.Close())

			a, err := Open(ctx, raw, WithKey(keyA))
			require.NoError(t, err)
			secrets := map[string]map[string]string{}
			var ids []string
			for i, n := range []string{"s3", "mysql", "gdrive"} {
				c := store.Connection{Name: n, Kind: store.ConnectionDestination, Type: n,
					Secrets: map[string]string{"password": "secret-" + n, "i": string(rune('0' + i))}}
				require.NoError(t, a.CreateConnection(ctx, &c))
				secrets[c.ID] = c.Secrets
				ids = append(ids, c.ID)
			}
			plain := store.Connection{Name: "plain", Kind: store.ConnectionSource, Type: "dir"}
			require.NoError(t, a.CreateConnection(ctx, &plain))
			require.NoError(t, a.Close())

			ba, err := Open(ctx, raw, WithKeys(keyB, keyA))
			require.NoError(t, err)
			defer ba.Close()
			for _, id := range ids {
				got, err := ba.GetConnection(ctx, id)
				require.NoError(t, err, "an old key still decrypts")
				assert.Equal(t, secrets[id], got.Secrets)
			}
			c := store.Connection{Name: "new", Kind: store.ConnectionSource, Type: "mysql", Secrets: map[string]string{"password": "secret-new"}}
			require.NoError(t, ba.CreateConnection(ctx, &c))
			secrets[c.ID] = c.Secrets
			fps := sealedFingerprints(t, ba)
			assert.Equal(t, fpB, fps[c.ID], "new writes use the current key")
			assert.Equal(t, fpA, fps[ids[0]])
			// Updating a connection's secrets re-seals them with the current key.
			up, err := ba.GetConnection(ctx, ids[2])
			require.NoError(t, err)
			require.NoError(t, ba.UpdateConnection(ctx, &up))
			assert.Equal(t, fpB, sealedFingerprints(t, ba)[ids[2]])

			n, err := ba.RotateKeys(ctx)
			require.NoError(t, err)
			assert.Equal(t, 2, n, "the two connections still sealed with A")
			for id, fp := range sealedFingerprints(t, ba) {
				assert.Equal(t, fpB, fp, id)
			}
			n, err = ba.RotateKeys(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "rotating again rewrites nothing")

			b, err := Open(ctx, raw, WithKey(keyB))
			require.NoError(t, err)
			defer b.Close()
			for id, want := range secrets {
				got, err := b.GetConnection(ctx, id)
				require.NoError(t, err, "the old key is no longer needed")
				assert.Equal(t, want, got.Secrets)
			}
			got, err := b.GetConnection(ctx, plain.ID)
			require.NoError(t, err)
			assert.Nil(t, got.Secrets)

			onlyA, err := Open(ctx, raw, WithKey(keyA))
			require.NoError(t, err)
			defer onlyA.Close()
			_, err = onlyA.GetConnection(ctx, ids[0])
			require.ErrorIs(t, err, store.ErrWrongKey)
			assert.ErrorContains(t, err, fpB, "names the key it needs")
			assert.NotContains(t, err.Error(), "secret-")
			// Rotating with a store that lacks the key leaves the value as is.
			n, err = onlyA.RotateKeys(ctx)
			require.ErrorIs(t, err, store.ErrWrongKey)
			assert.ErrorContains(t, err, fpB)
			assert.Zero(t, n)
			got, err = b.GetConnection(ctx, ids[0])
			require.NoError(t, err)
			assert.Equal(t, secrets[ids[0]], got.Secrets)

			none, err := Open(ctx, raw)
			require.NoError(t, err)
			defer none.Close()
			_, err = none.RotateKeys(ctx)
			require.ErrorContains(t, err, "no credentials key")
		})
	}
}

// TestRotateInterrupted: a rotation canceled part-way leaves every
// connection readable, and running it again finishes the job.
func TestRotateInterrupted(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	keyA := bytes.Repeat([]byte{1}, KeySize)
	keyB := bytes.Repeat([]byte{2}, KeySize)
	a, err := OpenSQLite(ctx, path, WithKey(keyA))
	require.NoError(t, err)
	const total = rotateBatch + 20
	for i := range total {
		c := store.Connection{Name: "c" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Kind: store.ConnectionSource,
			Secrets: map[string]string{"k": "v"}}
		require.NoError(t, a.CreateConnection(ctx, &c))
	}
	require.NoError(t, a.Close())
	ba, err := OpenSQLite(ctx, path, WithKeys(keyB, keyA))
	require.NoError(t, err)
	defer ba.Close()

	// Stop after the first committed batch, as if the process was killed.
	canceled, cancel := context.WithCancel(ctx)
	defer cancel()
	testHookAfterRotateBatch = cancel
	n, err := ba.RotateKeys(canceled)
	testHookAfterRotateBatch = nil
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, rotateBatch, n, "the first batch was committed")
	fps := sealedFingerprints(t, ba)
	require.Len(t, fps, total)
	for id := range fps {
		got, err := ba.GetConnection(ctx, id)
		require.NoError(t, err, "every connection stays readable")
		assert.Equal(t, "v", got.Secrets["k"])
	}
	n, err = ba.RotateKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, total-rotateBatch, n, "running it again finishes the job")
	for id, fp := range sealedFingerprints(t, ba) {
		assert.Equal(t, Fingerprint(keyB), fp, id)
	}
	n, err = ba.RotateKeys(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestKeyFilesInURL(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	keyA := bytes.Repeat([]byte{0xA}, KeySize)
	keyB := bytes.Repeat([]byte{0xB}, KeySize)
	fileA, fileB := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	require.NoError(t, os.WriteFile(fileA, keyA, 0o600))
	require.NoError(t, os.WriteFile(fileB, keyB, 0o600))
	path := filepath.Join(dir, "store.db")
	base := "sqlite://" + path

	s, err := store.Open(ctx, base+"?key_file="+url.QueryEscape(fileA))
	require.NoError(t, err)
	c := store.Connection{Name: "c", Kind: store.ConnectionSource, Secrets: map[string]string{"p": "v"}}
	require.NoError(t, s.CreateConnection(ctx, &c))
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, base+"?key_file="+url.QueryEscape(fileB)+"&old_key_file="+url.QueryEscape(fileA))
	require.NoError(t, err)
	got, err := s.GetConnection(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "v", got.Secrets["p"])
	kr, ok := s.(store.KeyRotator)
	require.True(t, ok)
	n, err := kr.RotateKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, s.Close())

	_, err = store.Open(ctx, base+"?old_key_file="+url.QueryEscape(fileA))
	require.ErrorContains(t, err, "no key_file")
	_, err = store.Open(ctx, base+"?key_file="+url.QueryEscape(fileA)+"&key_file="+url.QueryEscape(fileB))
	require.ErrorContains(t, err, "old_key_file")
	_, err = Open(ctx, base, WithKeys(nil, keyA))
	require.ErrorContains(t, err, "without a current key")
	_, err = Open(ctx, base, WithKeys(keyB, []byte("short")))
	require.ErrorContains(t, err, "32")
}
