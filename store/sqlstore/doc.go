// Package sqlstore is the SQL implementation of store.Store: run history with
// leases, the backup catalog, run logs, and (in the schema already) schedules
// and the audit trail.
//
// # Dialects
//
// The queries are written once, in the SQL that SQLite, PostgreSQL and
// MySQL/MariaDB share, and a small dialect value carries the differences:
// placeholders ('?' or '$1'), how a time is bound (SQLite: INTEGER Unix
// nanoseconds; PostgreSQL: timestamptz; MySQL: DATETIME(6) in UTC, both to the
// microsecond), how the database clock is read (now(), UTC_TIMESTAMP(6)),
// NULLS LAST, row locking, how a unique violation and a retryable conflict
// (deadlock, serialization failure: the transaction is run again) are
// recognized, how migrations are locked, and one migration set per dialect
// under migrations/<dialect>/. The drivers are modernc.org/sqlite (pure Go,
// no cgo), github.com/jackc/pgx/v5 (database/sql driver "pgx") and
// github.com/go-sql-driver/mysql, opened with parseTime, clientFoundRows (so
// that "rows affected" counts matched rows), loc=UTC, time_zone '+00:00' and
// sql_mode TRADITIONAL (strict).
//
// # Opening
//
// OpenSQLite opens a database file by path; Open and OpenURL take a URL, and
// the package registers the "sqlite", "postgres", "postgresql" and "mysql"
// schemes with store.Register, so a blank import makes store.Open understand:
//
//	sqlite:///var/lib/backupd/store.db   absolute path
//	sqlite:/var/lib/backupd/store.db     absolute path
//	sqlite://localhost/var/lib/store.db  absolute path
//	sqlite:data/store.db                 path relative to the working directory
//	sqlite::memory:                      private in-memory database (tests)
//	postgres://user:pass@host:5432/db?sslmode=require   (or postgresql://)
//	mysql://user:pass@host:3306/db?tls=true
//
// SQLite paths are percent-decoded; query parameters are refused. A missing
// database file is created with mode 0600 (it will hold credentials), and its
// parent folder with mode 0700. PostgreSQL URLs take any parameter pgx
// understands (sslmode, search_path, ...); MySQL URLs take go-sql-driver DSN
// parameters, except the ones the store fixes. The database must exist; the
// store creates its tables. Errors never contain the URL's password.
//
// # SQLite settings and concurrency
//
// Every connection is opened with these pragmas, passed as _pragma DSN
// parameters so that each pooled connection gets them:
//
//   - journal_mode=WAL: readers and the writer do not block each other;
//   - busy_timeout=10s (WithBusyTimeout): wait for another process's lock;
//   - foreign_keys=ON: copies and log lines go with their backup and run;
//   - synchronous=FULL: in WAL mode NORMAL can lose the last transactions on
//     power loss. The catalog is written a few times per backup, so the fsync
//     per commit is cheap, and a lost row could be a forgotten backup copy or
//     a slot claimed twice.
//
// Writers are serialized in the process: every write transaction runs on a
// single dedicated connection and starts with BEGIN IMMEDIATE, so goroutines
// queue for it (honouring their contexts) instead of failing with SQLITE_BUSY,
// and a write transaction never fails half-way because another process wrote
// in between; other processes are waited for through busy_timeout. Reads use a
// separate pool of read-only connections and see one snapshot per call. An
// in-memory database uses one connection for everything.
//
// # Schema and migrations
//
// Migrations are SQL files embedded in the binary, named NNNN_description.sql
// and numbered from 1 without gaps. At Open every migration newer than the
// database's version (the highest version in the schema_migrations table) runs
// in its own transaction, which first checks the version again, so that
// processes opening one database at once apply each migration exactly once;
// on PostgreSQL and MySQL the whole migration also holds a database lock
// (pg_advisory_lock per database and schema, GET_LOCK per database). MySQL
// commits DDL implicitly, so its migration statements are written to be run
// again safely after a crash half-way.
// Opening is idempotent. A database whose version is newer than the last
// migration this code knows is refused with an error matching ErrSchemaTooNew:
// an older backupkit must not write to a schema it does not know. Migrations
// only ever add; a released migration file is never edited.
//
// The schema is designed for the roadmap: schedules, runs, backups,
// backup_copies, run_logs and audit_log; the schedules and audit_log tables
// are not used by store.Store yet. Conventions:
//
//   - Times are stored in UTC to the nanosecond (SQLite: INTEGER Unix
//     nanoseconds, which sort correctly and compare exactly); the zero time is
//     NULL and reads back as the zero time. Times read back are in UTC.
//   - Optional text is the empty string, optional JSON documents are NULL.
//     SourceInfo is kept byte for byte and must be valid JSON.
//   - Record IDs are 26-character, time-sortable strings (ULID layout) made by
//     the process (internal/id); times that the contract says come from "the
//     store's clock" (StartedAt, leases, FinishedAt of interrupted runs,
//     default CreatedAt of backups) are read from the database with SQL, so
//     replicas sharing a PostgreSQL or MySQL store agree on them. SQLite's
//     clock has millisecond precision.
//
// # Slot claiming and leases
//
// A run claims (Job, ScheduleID, Slot, Attempt) with a unique key, so of many
// replicas exactly one records a given attempt at a scheduled slot; the others
// get store.ErrConflict. Manual runs have no slot (NULL), and NULLs never
// collide in a unique key, so manual runs are never refused. ScheduleID is empty
// for schedules that live only in configuration; the job is part of the key so
// that those do not collide across jobs. Skipped and missed slots are runs
// too, so a slot is either run or skipped, never both.
//
// A running run carries an owner and a lease. RenewLease extends it from the
// database clock and is fenced: it fails with store.ErrConflict once the run
// is no longer running or belongs to another owner. A non-positive ttl
// expires the lease at once. InterruptExpired marks running runs whose lease
// ended at or before the database's now (or that have no lease) as
// interrupted.
package sqlstore
