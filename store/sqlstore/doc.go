// Package sqlstore is the SQL implementation of store.Store on SQLite,
// PostgreSQL and MySQL/MariaDB: schedules, run history with slot claims,
// fencing and leases, the backup catalog, run logs, the audit trail and
// connections with encrypted credentials.
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
// parameters, except the ones the store fixes. Every form may add
// key_file=/path/to/key (KeyFileParam), the current credentials key file
// (LoadKey), and old_key_file=/path (OldKeyFileParam, repeatable) for old
// keys, for hosts that open the store by URL. The database must exist; the store
// creates its tables. Errors never contain the URL's password.
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
// The tables: schedules (with schedule_tags and schedule_connections),
// runs, backups, backup_copies, run_logs, audit_log and connections.
// Conventions:
//
//   - Times are stored in UTC to the nanosecond (SQLite: INTEGER Unix
//     nanoseconds, which sort correctly and compare exactly); the zero time is
//     NULL and reads back as the zero time. Times read back are in UTC.
//   - Optional text is the empty string, optional JSON documents are NULL.
//     SourceInfo is kept byte for byte and must be valid JSON.
//   - Record IDs are 26-character, time-sortable strings (ULID layout) made by
//     the process (internal/id); times that the contract says come from "the
//     store's clock" (StartedAt, leases, FinishedAt of interrupted runs,
//     default CreatedAt of backups, schedule and connection timestamps) are
//     read from the database with SQL, so replicas sharing a PostgreSQL or
//     MySQL store agree on them. SQLite's clock has millisecond precision;
//     PostgreSQL and MySQL keep microseconds.
//
// # Slot claiming, fencing and leases
//
// A run claims (Job, ScheduleID, Slot, Attempt) with a unique key
// (runs_slot_claim), so of many replicas exactly one records a given attempt
// at a scheduled slot. ClaimRun is the scheduler's call: the loser gets false
// and no error (an INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL,
// the duplicate-key error of that key on MySQL; most losers are told by a read
// before any write). CreateRun fails with store.ErrConflict instead. Manual
// runs have no slot (NULL), and NULLs never collide in a unique key, so manual
// runs are never refused. ScheduleID is empty for schedules that live only in
// configuration; the job is part of the key so that those do not collide
// across jobs. Skipped and missed slots are runs too, so a slot is either run
// or skipped, never both. A retry is the next Attempt of the slot, claimed the
// same way.
//
// A running run carries an owner and a lease. RenewLease extends it from the
// database clock; UpdateRun changes a run only while it is running and only
// for its owner and attempt. Both fail with store.ErrConflict otherwise
// (fencing), naming the status or the owner that holds the run, so a replica
// that stalled past its lease and was interrupted learns it and changes
// nothing. A non-positive ttl expires the lease at once. InterruptExpired
// marks running runs whose lease ended at or before the database's now (or
// that have no lease) as interrupted. When a run of a stored schedule
// finishes (UpdateRun to a final status, or InterruptExpired), the schedule's
// last run, last status and success or failure count change in the same
// transaction.
//
// Write transactions that a database aborts because of another one
// (PostgreSQL serialization failures and deadlocks, MySQL deadlocks) are run
// again, up to 10 times.
//
// # Listing and pages
//
// ListRunsPage and ListBackupsPage return pages with an opaque cursor (the
// sort key of the page's last row). The next page selects rows after that key
// along an index ((time, id) < (?, ?) on SQLite and PostgreSQL; the expanded
// form with an index hint on MySQL/MariaDB, whose planner otherwise scans from
// the top), so the 1,000th page costs what the first does; scripts/bench-store
// measures it.
//
// # Connections and credentials
//
// Connections hold a source's or destination's settings (Config, in clear)
// and its credentials (Secrets), sealed with AES-256-GCM under the key given
// with WithKey (32 bytes the host keeps outside the database). A sealed value
// is version || key fingerprint (8 bytes of SHA-256 of the key) || nonce ||
// ciphertext, with the connection's ID as additional data. WithKeys adds old
// keys for rotation: the current key seals, the stored fingerprint picks the
// key that opens, and DB.RotateKeys re-seals every value under the current
// key. A value whose key the store does not have fails with
// store.ErrWrongKey naming the fingerprint it needs; altered data, or a value
// copied to another row, fails the same way ("do not decrypt"); never
// garbage. Without a key, connections without
// Secrets still work. Schedules refer to connections by name within their
// tenant; deleting a connection in use is refused naming the schedules, or
// deletes them too with cascade.
package sqlstore
