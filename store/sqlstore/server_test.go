package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/storetest"
)

func openURLTest(t *testing.T, raw string) *DB {
	t.Helper()
	db, err := Open(t.Context(), raw, WithKey(testKey))
	require.NoError(t, err)
	return db
}

func TestConformancePostgres(t *testing.T) {
	testenv.Postgres(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openURLTest(t, testenv.FreshPostgresURL(t)) })
}

func TestConformanceMySQL(t *testing.T) {
	testenv.MySQL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openURLTest(t, testenv.FreshMySQLURL(t)) })
}

func TestServerURLErrors(t *testing.T) {
	ctx := t.Context()
	for raw, want := range map[string]string{
		"postgres://user:s3cr3t@/db":                                "no host",
		"postgres://user:s3cr3t@127.0.0.1:5432":                     "names no database",
		"postgresql://user:s3cr3t@127.0.0.1:5432/":                  "names no database",
		"mysql://user:s3cr3t@/db":                                   "no host",
		"mysql://user:s3cr3t@127.0.0.1:3306/":                       "must name one database",
		"mysql://user:s3cr3t@127.0.0.1:3306/a/b":                    "must name one database",
		"mysql://user:s3cr3t@127.0.0.1:3306/db?bogus=%zz":           "",
		"mysql://user:s3cr3t@127.0.0.1:3306/db?parseTime=x":         "",
		"oracle://user:s3cr3t@host/db":                              "unsupported URL scheme",
		"postgres://user:s3cr3t@127.0.0.1:5432/db?sslmode=nonsense": "",
	} {
		_, err := Open(ctx, raw)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cr3t", raw)
		if want != "" {
			assert.ErrorContains(t, err, want, raw)
		}
	}
	_, err := Open(ctx, "postgres://user:s3cr3t@host:99999999/db")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t")
	_, err = Open(ctx, "mysql://us er:s3cr3t@ho st/db\x7f")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t")
}

func TestMaskSecret(t *testing.T) {
	err := maskSecret(fmt.Errorf("dial: password p@ss/w0rd rejected (p%%40ss%%2Fw0rd): %w", store.ErrConflict), "p@ss/w0rd")
	assert.NotContains(t, err.Error(), "p@ss/w0rd")
	assert.NotContains(t, err.Error(), "p%40ss%2Fw0rd")
	assert.ErrorIs(t, err, store.ErrConflict)
	assert.Nil(t, maskSecret(nil, "x"))
}

func TestMySQLWrongPassword(t *testing.T) {
	raw := testenv.FreshMySQLURL(t)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), "wr0ng-Pa55")
	_, err = Open(t.Context(), u.String())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "wr0ng-Pa55")
	assert.ErrorContains(t, err, "Access denied")
	assert.ErrorContains(t, err, "xxxxx", "the URL in the message is redacted")
}

func TestPostgresWrongDatabase(t *testing.T) {
	raw := testenv.FreshPostgresURL(t)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.Path = "/no_such_database_bk"
	u.User = url.UserPassword(u.User.Username(), "s3cr3t-pw")
	_, err = Open(t.Context(), u.String())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t-pw")
	assert.ErrorContains(t, err, "no_such_database_bk")
}

// TestServerConcurrentOpen opens one fresh database from several handles at
// once: the migration lock makes each migration run exactly once.
func TestServerConcurrentOpen(t *testing.T) {
	for name, mk := range map[string]func(testing.TB) string{"postgres": testenv.FreshPostgresURL, "mysql": testenv.FreshMySQLURL} {
		t.Run(name, func(t *testing.T) {
			raw := mk(t)
			const n = 4
			dbs := make([]*DB, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), raw) })
			}
			wg.Wait()
			for i := range n {
				require.NoError(t, errs[i])
				defer dbs[i].Close()
			}
			var rows int
			require.NoError(t, dbs[0].readRow(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows))
			ms, err := dbs[0].d.migrationSet()
			require.NoError(t, err)
			assert.Equal(t, len(ms), rows)

			// A newer schema is refused.
			_, err = dbs[0].write.ExecContext(t.Context(), dbs[0].d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				9999, "9999_future.sql", time.Now().UTC())
			require.NoError(t, err)
			_, err = Open(t.Context(), raw)
			require.ErrorIs(t, err, ErrSchemaTooNew)
			assert.ErrorContains(t, err, "9999")
		})
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- c;\nCREATE TABLE a (\n  x INT -- note\n);\n\nCREATE TABLE b (y INT);\nSELECT 1")
	assert.Equal(t, []string{"CREATE TABLE a (\n  x INT -- note\n);", "CREATE TABLE b (y INT);", "SELECT 1"}, got)
}

// TestMySQLOddPassword: a password with URL and DSN delimiters works when
// percent-encoded in the URL, and never shows in errors.
func TestMySQLOddPassword(t *testing.T) {
	raw := testenv.FreshMySQLURL(t)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	admin, err := sql.Open("mysql", testenv.MySQL(t))
	require.NoError(t, err)
	defer admin.Close()
	user, pw := testenv.UniqueName(t)[:30], "p@ss/w:rd?x&y=#z"
	_, err = admin.ExecContext(t.Context(), "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+pw+"'")
	require.NoError(t, err)
	defer admin.ExecContext(context.Background(), "DROP USER '"+user+"'@'%'")
	_, err = admin.ExecContext(t.Context(), "GRANT ALL ON `"+strings.TrimPrefix(u.Path, "/")+"`.* TO '"+user+"'@'%'")
	require.NoError(t, err)

	u.User = url.UserPassword(user, pw)
	db, err := Open(t.Context(), u.String())
	require.NoError(t, err)
	require.NoError(t, db.Close())

	u.User = url.UserPassword(user, pw+"-wrong")
	_, err = Open(t.Context(), u.String())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "p@ss")
	assert.NotContains(t, err.Error(), url.QueryEscape(pw))
}
