// Package mysql is the source adapter for MySQL and MariaDB databases. It
// dumps a database natively over github.com/go-sql-driver/mysql, without a
// mysqldump binary, as SQL text that both its own Restore and the plain
// mysql client load. See docs/mysql.md for a guide.
//
// Open a source in code with [New], or from a URL once this package is
// imported:
//
//	db, err := mysql.New(mysql.Options{Addr: "db:3306", User: "backup", Password: pw, Database: "shop"})
//	src, err := source.Open(ctx, "mysql://backup:pw@db:3306/shop?exclude=cache_*&parallel=4")
//
// URL query parameters: tables and exclude (path.Match patterns, repeated
// or comma-separated), where (TABLE:CONDITION, repeatable, like mysqldump
// --where; recorded in Info.Details["where.TABLE"]), chunk_rows, parallel,
// rows_per_insert and max_insert_bytes (positive integers), schema_only,
// no_triggers, routines and events (booleans), engine (native or
// mysqldump); each maps to a field of
// [Options]. Unknown parameters are errors. Errors, Info and the String
// methods never contain the password.
//
// # Consistency
//
// A snapshot is one point in time for InnoDB tables: every connection that
// reads runs SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ and
// START TRANSACTION WITH CONSISTENT SNAPSHOT. With Options.Parallel > 1
// (the default is 4) the snapshot takes FLUSH TABLES WITH READ LOCK on a
// separate connection, opens the snapshot transaction on every worker
// connection, lists the tables, records the binary log position when the
// server has one (Info.Details "binlog_file", "binlog_position"), and
// releases the lock: writers are blocked only for that moment. An account
// without the RELOAD privilege cannot take the lock; the snapshot then uses
// one connection, still consistent, and says why in
// Info.Details["consistency_reason"]. Info.Details["consistency"] is
// "parallel-locked" or "single-connection"; [Database.Inspect] tells which
// mode a snapshot will get. Tables of non-transactional engines (MyISAM,
// Aria) that hold rows are listed in Info.Details["non_transactional"], and
// Info.PointInTime is then false. DDL run during a snapshot is not
// isolated by the snapshot (MySQL's own limitation); avoid it.
//
// # Dump layout
//
// The dump is UTF-8 SQL text (binary values are hex), byte-identical for
// identical data:
//
//   - A first line "-- backupkit MySQL dump, format 1", then comments
//     naming the server version and database, then a header like
//     mysqldump's that saves and sets the session: SET NAMES utf8mb4,
//     TIME_ZONE='+00:00', UNIQUE_CHECKS=0, FOREIGN_KEY_CHECKS=0,
//     SQL_MODE='NO_AUTO_VALUE_ON_ZERO', SQL_NOTES=0.
//   - For each table, sorted by name: DROP TABLE IF EXISTS, CREATE TABLE as
//     SHOW CREATE TABLE gives it (with its AUTO_INCREMENT counter and
//     foreign keys), then INSERT statements naming their columns, each of
//     at most Options.RowsPerInsert rows and about Options.MaxInsertBytes
//     bytes, rows in primary key order. Generated columns are left out of
//     the INSERTs. No statement names the database, so a dump loads into
//     any database.
//   - Views after all tables: first every view as a placeholder
//     (DROP TABLE IF EXISTS, CREATE OR REPLACE VIEW v AS SELECT 1 AS col,
//     ...) with its column names, then each view's definition (CREATE OR
//     REPLACE), so that views using other views load in any order. Then
//     triggers, each between "DELIMITER ;;" and "DELIMITER ;" with its own
//     SQL_MODE. With Options.Routines, stored procedures and functions
//     follow, and with Options.Events the database's events, each with
//     its SQL_MODE, a DROP … IF EXISTS and its definition between the same
//     DELIMITER lines. DEFINER clauses are removed, so the restoring
//     account becomes the definer.
//   - A footer that restores the saved session settings, and a last line
//     "-- backupkit dump end: statements=N crc32c=XXXXXXXX" counting the
//     statements and checksumming (CRC-32C) every byte before it.
//
// Values: NULL; integers in decimal; DECIMAL as the server's text; FLOAT
// and DOUBLE read over the binary protocol and written with the shortest
// decimal that parses back to the same double (strconv 'g', -1), so they
// round-trip exactly; BINARY, VARBINARY, BLOB, BIT and spatial values as
// 0x… hex (an empty quoted string when empty); all other values (CHAR, VARCHAR, TEXT in any
// character set, which the server converts to utf8mb4; ENUM, SET, JSON,
// DATE, TIME, DATETIME, TIMESTAMP, and YEAR as a number) as single-quoted
// strings escaped like mysql_real_escape_string. TIMESTAMP values are read
// and written with the session time zone '+00:00', so the dump does not
// depend on the server's or client's time zone.
//
// # Parallel workers, one stream
//
// Workers dump whole tables, and big tables in parts: a table with a
// single-column integer primary key and more than Options.ChunkRows rows
// (the server's estimate) is split into primary key ranges of about that
// many rows (at most 64), each dumped by whichever connection is free;
// Info.Details["chunks"] then counts the parts. Parts are handed to workers
// in order (tables by name, a table's ranges by key) and their output is
// written in that same order, so every table's statements are contiguous
// and its rows stay in key order: the worker of the part being written
// streams it, and a worker that runs ahead buffers at most 4 finished
// statements (about 4 × MaxInsertBytes) before it waits. Memory use is
// therefore bounded by about Parallel × 5 × MaxInsertBytes, whatever the
// size of the data.
//
// Info.Items has one item per table ("db.table") with its row count and the
// bytes of its INSERT statements, and one per view with count 0.
// Info.Details["checksum.TABLE"] is an order-independent checksum of the
// table's rows as written in the dump (sum of the CRC-32Cs of the row tuples):
// snapshotting a restored copy must give the same values.
//
// # The mysqldump engine
//
// With Options.Engine EngineMysqldump, Snapshot runs mysqldump (or
// mariadb-dump, or Options.DumpProgram) with --single-transaction
// --hex-blob --tz-utc --default-character-set=utf8mb4 --skip-dump-date and
// the options that match Tables, Exclude, NoTriggers, Routines, Events and
// SchemaOnly, passing the password in the MYSQL_PWD environment variable,
// and streams its output unchanged. It fails with a clear error when the
// program is missing, and with its standard error when it fails. Where
// filters are not supported; Info has no Items (mysqldump does not count
// rows) and Details["engine"] is "mysqldump".
//
// # Restore
//
// [Database.Restore] accepts dumps written by this package and, in a
// weaker form, by mysqldump or mariadb-dump (below). It reads
// the whole stream first, splitting it into statements (quotes, escapes,
// comments and DELIMITER handled as the mysql client does), refusing
// statements a one-database dump never holds (USE, CREATE/DROP DATABASE,
// GRANT and anything but SET, CREATE, DROP, ALTER, INSERT, REPLACE, LOCK,
// UNLOCK and /*! */ comments), and checking the end marker's statement
// count and checksum; the statements are spooled to a temporary file. A
// truncated stream fails with an error wrapping [ErrTruncated], a foreign
// or damaged one with [ErrNotDump], and in both cases, as when the reader
// fails or ctx is canceled during this phase, nothing has been sent to the
// server. With DryRun, Restore stops there.
//
// Only then does it connect and load the statements, over one connection,
// into opts.Target (default: the source's database), creating that
// database if it does not exist. A target that holds tables, views or
// routines is refused unless DropExisting, which drops and recreates the
// database (keeping its default character set and collation).
//
// Guarantee on failure: a failure before loading leaves the target
// untouched. A failure while loading (server error, lost connection,
// canceled context) drops the target database if Restore created it;
// otherwise the target is left partly loaded and the error says which
// statement failed. Loading into a scratch database and renaming it into
// place is future work.
package mysql
