package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/storetest"
)

func openFile(t *testing.T) *DB {
	t.Helper()
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "store.db"), WithKey(testKey))
	require.NoError(t, err)
	return db
}

// testKey is the credentials key of the tests' stores.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestConformanceFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFile(t) })
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := OpenSQLite(t.Context(), Memory, WithKey(testKey))
		require.NoError(t, err)
		return db
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	ms, err := sqliteDialect.migrationSet()
	require.NoError(t, err)

	db, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	v, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(ms), v)
	require.NoError(t, db.migrate(ctx), "migrating again is a no-op")
	require.NoError(t, db.Close())

	db, err = OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	var rows int
	require.NoError(t, db.readRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows))
	assert.Equal(t, len(ms), rows, "each migration recorded once")
	v, err = db.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(ms), v)
}

func TestMigrationFiles(t *testing.T) {
	ms, err := sqliteDialect.migrationSet()
	require.NoError(t, err)
	for i, m := range ms {
		assert.Equal(t, i+1, m.version)
		assert.NotEmpty(t, m.sql)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = OpenSQLite(ctx, path) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		defer dbs[i].Close()
	}
	var rows int
	require.NoError(t, dbs[0].readRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows))
	ms, err := sqliteDialect.migrationSet()
	require.NoError(t, err)
	assert.Equal(t, len(ms), rows)
}

func TestFutureSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	_, err = db.write.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	_, err = OpenSQLite(ctx, path)
	require.ErrorIs(t, err, ErrSchemaTooNew)
	assert.ErrorContains(t, err, "9999")
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	r := store.Run{Job: "j", Owner: "o"}
	require.NoError(t, db.CreateRun(ctx, &r))
	require.NoError(t, db.AppendLogs(ctx, r.ID, store.LogEntry{Level: store.LevelInfo, Message: "hello"}))
	b := store.Backup{Job: "j", RunID: r.ID, Copies: []store.Copy{{Destination: "d", Key: "k"}}}
	require.NoError(t, db.AddBackup(ctx, &b))
	require.NoError(t, db.Close())

	db, err = OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	got, err := db.GetRun(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, r.ID, got.ID)
	assert.True(t, r.LeaseUntil.Equal(got.LeaseUntil))
	logs, err := db.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	gb, err := db.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Len(t, gb.Copies, 1)
	require.NoError(t, db.AppendLogs(ctx, r.ID, store.LogEntry{Level: store.LevelInfo, Message: "again"}))
	logs, err = db.RunLogs(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello", "again"}, []string{logs[0].Message, logs[1].Message})
}

func TestFileModeAndFolder(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "store.db")
	db, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	r := store.Run{Job: "j"}
	require.NoError(t, db.CreateRun(ctx, &r)) // makes sure the WAL file exists
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm()&0o700)
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	db := openFile(t)
	defer db.Close()
	for name, pool := range map[string]*sql.DB{"write": db.write, "read": db.read} {
		var mode string
		var fk, sync, busy int
		require.NoError(t, pool.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode), name)
		require.NoError(t, pool.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk), name)
		require.NoError(t, pool.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync), name)
		require.NoError(t, pool.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy), name)
		assert.Equal(t, "wal", mode, name)
		assert.Equal(t, 1, fk, name)
		assert.Equal(t, 2, sync, name+": synchronous=FULL")
		assert.Equal(t, int(DefaultBusyTimeout/time.Millisecond), busy, name)
	}
	_, err := db.read.ExecContext(ctx, `DELETE FROM runs`)
	assert.Error(t, err, "the read pool is read-only")
}

// TestTwoHandlesConcurrentWriters is two DBs on one file (as two processes
// would be) with many writers each: SQLite's locking and busy_timeout, not
// only the Go-side write queue, keep everyone from failing with SQLITE_BUSY.
func TestTwoHandlesConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	a, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer a.Close()
	b, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer b.Close()

	const perHandle, each = 10, 10
	errs := make(chan error, 2*perHandle)
	var wg sync.WaitGroup
	for h, db := range []*DB{a, b} {
		for w := range perHandle {
			wg.Go(func() {
				errs <- func() error {
					r := store.Run{Job: fmt.Sprintf("h%d", h), Owner: fmt.Sprintf("h%d-w%d", h, w)}
					if err := db.CreateRun(ctx, &r); err != nil {
						return err
					}
					for i := range each {
						if err := db.AppendLogs(ctx, r.ID, store.LogEntry{Level: store.LevelInfo, Message: fmt.Sprint(i)}); err != nil {
							return err
						}
					}
					if err := db.RenewLease(ctx, r.ID, r.Owner, time.Hour); err != nil {
						return err
					}
					_, err := db.InterruptExpired(ctx)
					return err
				}()
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	runs, err := a.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	assert.Len(t, runs, 2*perHandle)
	for _, r := range runs {
		logs, err := b.RunLogs(ctx, r.ID)
		require.NoError(t, err)
		assert.Len(t, logs, each)
	}
}

func TestSQLitePathFromURL(t *testing.T) {
	for raw, want := range map[string]string{
		"sqlite:///var/lib/backupd/store.db":         "/var/lib/backupd/store.db",
		"sqlite://localhost/var/lib/store.db":        "/var/lib/store.db",
		"sqlite:/var/lib/backupd/store.db":           "/var/lib/backupd/store.db",
		"sqlite:data/store.db":                       "data/store.db",
		"sqlite:store.db":                            "store.db",
		"sqlite:dir%20with%20space/s.db":             "dir with space/s.db",
		"sqlite:///tmp/dir%20with%20space/odd%3F.db": "/tmp/dir with space/odd?.db",
		"sqlite::memory:":                            Memory,
		"SQLITE:///x.db":                             "/x.db",
	} {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		got, err := sqlitePath(u)
		require.NoError(t, err, raw)
		assert.Equal(t, want, got, raw)
	}
	for _, raw := range []string{
		"sqlite://host/x.db",
		"sqlite://user:secret@localhost/x.db",
		"sqlite:///x.db?mode=ro",
		"sqlite:",
		"sqlite://",
	} {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		_, err = sqlitePath(u)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "secret")
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs", "store.db")
	for _, raw := range []string{"sqlite://" + abs, "sqlite:" + abs, "sqlite::memory:"} {
		s, err := store.Open(ctx, raw)
		require.NoError(t, err, raw)
		r := store.Run{Job: "j"}
		require.NoError(t, s.CreateRun(ctx, &r), raw)
		require.NoError(t, s.Close())
	}
	_, err := os.Stat(abs)
	require.NoError(t, err)

	t.Chdir(dir)
	s, err := store.Open(ctx, "sqlite:rel/store.db")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = os.Stat(filepath.Join(dir, "rel", "store.db"))
	require.NoError(t, err)

	_, err = store.Open(ctx, "sqlite://user:secret@elsewhere/x.db")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}

func TestOddFileNames(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "we?ird #name%41.db")
	db, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "the database is at the path given, not at a decoded one")
}

func TestRebind(t *testing.T) {
	assert.Equal(t, "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)",
		numberPlaceholders("SELECT a FROM t WHERE x = ? AND y IN (?, ?)"))
	assert.Equal(t, "SELECT '?', \"a?\", `b?` -- what?\nFROM t WHERE x = $1",
		numberPlaceholders("SELECT '?', \"a?\", `b?` -- what?\nFROM t WHERE x = ?"))
	assert.Equal(t, "x = '?", numberPlaceholders("x = '?"), "unterminated literal")
	q := "SELECT 1 WHERE a = ?"
	assert.Equal(t, q, sqliteDialect.rebind(q))
}

func TestTimeScanner(t *testing.T) {
	var got time.Time
	require.NoError(t, timeScanner{&got}.Scan(int64(1_700_000_000_123_456_789)))
	assert.Equal(t, time.Unix(0, 1_700_000_000_123_456_789).UTC(), got)
	require.NoError(t, timeScanner{&got}.Scan(nil))
	assert.True(t, got.IsZero())
	local := time.Date(2025, 1, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	require.NoError(t, timeScanner{&got}.Scan(local))
	assert.Equal(t, time.UTC, got.Location())
	assert.True(t, local.Equal(got))
	assert.Error(t, timeScanner{&got}.Scan("yesterday"))
	assert.Nil(t, unixNanos(time.Time{}))
}

func TestCanceledContext(t *testing.T) {
	db := openFile(t)
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := store.Run{Job: "j"}
	require.ErrorIs(t, db.CreateRun(ctx, &r), context.Canceled)
	assert.Empty(t, r.ID, "a failed CreateRun leaves the run unchanged")
}

// TestReadOnlyFile: a database file the process cannot write is refused at
// open with an error that says so (chattr +i makes it read-only even for
// root).
func TestReadOnlyFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
			t.Skipf("cannot make the file read-only as root: chattr: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
	} else {
		require.NoError(t, os.Chmod(path, 0o400))
	}
	_, err = OpenSQLite(ctx, path)
	require.Error(t, err)
	assert.ErrorContains(t, err, "cannot be opened for writing")
	assert.ErrorContains(t, err, path)
}
