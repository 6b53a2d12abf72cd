package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/backupkit/backupkit/internal/id"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

func init() {
	for _, scheme := range []string{"sqlite", "postgres", "postgresql", "mysql"} {
		store.Register(scheme, func(ctx context.Context, u *url.URL) (store.Store, error) {
			db, err := OpenURL(ctx, u)
			if err != nil {
				return nil, err
			}
			return db, nil
		})
	}
}

// Memory is the path OpenSQLite understands as a private in-memory database,
// gone when the DB is closed. Meant for tests.
const Memory = ":memory:"

// DefaultBusyTimeout is how long an SQLite connection waits for a lock held by
// another process before failing.
const DefaultBusyTimeout = 10 * time.Second

// DB is a store.Store in an SQL database. It is safe for concurrent use.
type DB struct {
	d *dialect
	// write runs every write transaction. For SQLite it holds one connection,
	// so that the process's writers queue in Go instead of failing with
	// SQLITE_BUSY; read is a separate pool of read-only connections (WAL lets
	// them read while the writer writes). For an in-memory SQLite database both
	// are the same single-connection pool.
	write *sql.DB
	read  *sql.DB
	// key encrypts connection credentials (WithKey, WithKeys); nil when none
	// was given. keys decrypt them: key and the old keys, by fingerprint.
	key  []byte
	keys map[string][]byte

	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Store      = (*DB)(nil)
	_ store.KeyRotator = (*DB)(nil)
)

// Option changes how a DB is opened.
type Option func(*options)

type options struct {
	busyTimeout  time.Duration
	maxReadConns int
	maxConns     int
	key          []byte
	oldKeys      [][]byte
}

// WithBusyTimeout sets how long SQLite waits for another process's lock before
// failing (DefaultBusyTimeout by default). Writers of one DB never wait on
// each other through SQLite: they queue for the single write connection.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithMaxReadConns caps the read connection pool (by default the larger of 4
// and GOMAXPROCS). Values below 1 are ignored.
func WithMaxReadConns(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.maxReadConns = n
		}
	}
}

// OpenURL opens the store a URL names and brings its schema up to date. The
// scheme selects the dialect: "sqlite", "postgres" or "postgresql", "mysql"
// (see the package documentation for the accepted forms). Any of them may
// carry key_file=/path (KeyFileParam): the credentials key is loaded from
// that file (LoadKey), and old_key_file=/path (OldKeyFileParam, repeatable)
// for old keys that still decrypt (WithKeys). Errors never include the URL's password.
func OpenURL(ctx context.Context, u *url.URL, opts ...Option) (*DB, error) {
	d, err := dialectFor(u.Scheme)
	if err != nil {
		return nil, err
	}
	u, keyOpt, err := keyFromURL(u)
	if err != nil {
		return nil, err
	}
	if keyOpt != nil {
		opts = append([]Option{keyOpt}, opts...) // an explicit WithKey or WithKeys wins
	}
	switch d {
	case sqliteDialect:
		p, err := sqlitePath(u)
		if err != nil {
			return nil, err
		}
		return OpenSQLite(ctx, p, opts...)
	case postgresDialect:
		return openPostgres(ctx, u, opts...)
	default:
		return openMySQL(ctx, u, opts...)
	}
}

// Open is OpenURL for a URL string, such as "sqlite:///var/lib/backupd/store.db"
// or "postgres://backupd:secret@db.internal:5432/backupd".
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: cannot parse store URL %s", redact.URLString(rawURL))
	}
	return OpenURL(ctx, u, opts...)
}

// sqlitePath extracts the database path from a sqlite URL.
func sqlitePath(u *url.URL) (string, error) {
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("sqlstore: sqlite URL takes no query parameters or fragment")
	}
	if u.User != nil || (u.Host != "" && u.Host != "localhost") {
		return "", errors.New("sqlstore: sqlite URL has a host; use sqlite:///absolute/path.db or sqlite:relative/path.db")
	}
	var p string
	if u.Opaque != "" {
		var err error
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return "", errors.New("sqlstore: sqlite URL: bad escape in path")
		}
	} else {
		p = u.Path
	}
	if p == "" {
		return "", errors.New("sqlstore: sqlite URL has no path")
	}
	return p, nil
}

// OpenSQLite opens (creating it if missing, with its parent folder) the SQLite
// database at path and brings its schema up to date. A new database file is
// created with mode 0600: the store will hold credentials. Memory (":memory:")
// opens a private in-memory database.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{busyTimeout: DefaultBusyTimeout, maxReadConns: max(4, runtime.GOMAXPROCS(0))}
	for _, opt := range opts {
		opt(&o)
	}
	keys, err := keyring(o)
	if err != nil {
		return nil, err
	}
	db := &DB{d: sqliteDialect, key: o.key, keys: keys}
	if path == Memory {
		w, err := sql.Open(sqliteDialect.driver, Memory+"?"+sqliteParams(o, true, false))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxIdleTime(0)
		w.SetConnMaxLifetime(0)
		db.write, db.read = w, w
	} else {
		abs, err := prepareFile(path)
		if err != nil {
			return nil, err
		}
		file := "file:" + uriEscape(abs)
		w, err := sql.Open(sqliteDialect.driver, file+"?"+sqliteParams(o, true, true))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		r, err := sql.Open(sqliteDialect.driver, file+"?"+sqliteParams(o, false, true))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
		r.SetMaxOpenConns(o.maxReadConns)
		r.SetMaxIdleConns(o.maxReadConns)
		db.write, db.read = w, r
	}
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sqliteParams returns the DSN query every connection of a pool is opened
// with (modernc.org/sqlite runs them on each new connection):
//
//   - busy_timeout: wait for other processes' locks instead of failing;
//   - foreign_keys(1): copies and log lines go with their backup and run;
//   - journal_mode(WAL): readers do not block the writer nor it them;
//   - synchronous(FULL): in WAL mode NORMAL may lose the last commits on power
//     loss. This catalog is small and written a few times per backup, so an
//     fsync per commit costs nothing noticeable, while a lost row could mean a
//     forgotten backup copy or a slot run twice;
//   - _txlock=immediate (writer only): write transactions take the write lock
//     at BEGIN, so they never fail half-way with SQLITE_BUSY when another
//     process wrote in between;
//   - _query_only (readers only): the read pool cannot write by mistake.
func sqliteParams(o options, writer, wal bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if wal {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "synchronous(FULL)")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	return q.Encode()
}

// prepareFile makes path absolute, creates its parent folder (0700) and, when
// the database does not exist yet, an empty file with mode 0600, which SQLite
// then adopts (its -wal and -shm files copy the database file's mode).
func prepareFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlstore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("sqlstore: create folder for database: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("sqlstore: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		// SQLite would silently open a file it cannot write read-only, and
		// fail later with "attempt to write a readonly database".
		f, err := os.OpenFile(abs, os.O_RDWR, 0)
		if err != nil {
			return "", fmt.Errorf("sqlstore: database file %s cannot be opened for writing (%v); the store writes to it: check its permissions and file system", abs, errors.Unwrap(err))
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("sqlstore: %w", err)
		}
	default:
		return "", fmt.Errorf("sqlstore: create database file: %w", err)
	}
	return abs, nil
}

// uriEscape escapes the characters that would end or change an SQLite URI's
// path.
func uriEscape(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(p))
}

// Close closes the database connections. Calling it again is harmless.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.read != nil && db.read != db.write {
			errs = append(errs, db.read.Close())
		}
		if db.write != nil {
			errs = append(errs, db.write.Close())
		}
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// newID returns a new record id.
func (db *DB) newID() string { return id.New() }

// tx is a transaction that rebinds its queries for the dialect.
type tx struct {
	*sql.Tx
	d *dialect
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.ExecContext(ctx, t.d.rebind(q), args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(ctx, t.d.rebind(q), args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.QueryRowContext(ctx, t.d.rebind(q), args...)
}

// now reads the database clock.
func (t *tx) now(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := t.QueryRowContext(ctx, t.d.nowQuery).Scan(timeScanner{&now}); err != nil {
		return time.Time{}, fmt.Errorf("sqlstore: read database clock: %w", err)
	}
	return now, nil
}

// inWrite runs fn in a write transaction, committing when it returns nil.
func (db *DB) inWrite(ctx context.Context, fn func(*tx) error) error {
	return db.inTx(ctx, db.write, nil, fn)
}

// inRead runs fn in a read-only transaction, so that its queries see one
// snapshot.
func (db *DB) inRead(ctx context.Context, fn func(*tx) error) error {
	return db.inTx(ctx, db.read, &sql.TxOptions{ReadOnly: true}, fn)
}

// maxTxAttempts bounds how often a transaction that lost a deadlock or a
// serialization conflict is run again.
const maxTxAttempts = 10

// inTx runs fn in a transaction on pool. A transaction that the database
// aborted because of another one (dialect.isRetryable) is rolled back and run
// again, so fn must not have effects outside the transaction other than
// overwriting what it computes.
func (db *DB) inTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.inTxOnce(ctx, pool, opts, fn)
		if err == nil || db.d.isRetryable == nil || !db.d.isRetryable(err) || attempt == maxTxAttempts || ctx.Err() != nil {
			return err
		}
	}
}

func (db *DB) inTxOnce(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*tx) error) error {
	sqlTx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	if err := fn(&tx{Tx: sqlTx, d: db.d}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// readRow runs a single-row query on the read pool.
func (db *DB) readRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.read.QueryRowContext(ctx, db.d.rebind(q), args...)
}
