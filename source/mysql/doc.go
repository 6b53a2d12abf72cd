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
//	all, err := source.Open(ctx, "mysql://backup:pw@db:3306/?databases=*")
//
// The URL's path names one database; instead, the databases parameter
// names several (comma-separated or repeated) or "*" for all but the
// system databases (Options.Databases). URL query parameters: tables and
// exclude (path.Match patterns, repeated or comma-separated; a pattern
// with a '.' matches "db.table"), where (TABLE:CONDITION, repeatable, like mysqldump
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
// "parallel-locked" or "single-connection"; [Database.Probe] tells which
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
//   - With Options.Databases, the header comment lists the databases
//     ("-- Databases: a, b") and each database, in name order, starts with
//     CREATE DATABASE IF NOT EXISTS `a` DEFAULT CHARACTER SET … COLLATE …
//     and USE `a`, followed by its tables, its views' placeholders,
//     triggers, routines and events as above; after the last database,
//     for each database with views, USE `a` again and its views'
//     definitions, so that a view may use any database of the dump. The
//     mysql client loads it without a database argument, like mysqldump
//     --databases' output. Restored under other names, the references of
//     views, triggers, routines and events to the dump's other databases
//     are renamed too (see docs/mysql.md). A dump of one database
//     (Database) names no database in its statements.
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
// Info.Items has one item per table ("db.table") with its row count, Bytes
// (the size of its row tuples "(v1,v2,…)" as written in the dump) and
// Checksum, an order-independent digest of those tuples (the sum of their
// CRC-32Cs, 16 hex digits); then one item per view with count 0 and no
// checksum. [Database.Inspect] computes the same items from the rows of
// any database, so that a faithful restore compares equal.
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
// weaker form, by mysqldump or mariadb-dump (below). It reads the stream
// once, splitting it into statements (quotes, escapes, comments and
// DELIMITER handled as the mysql client does), refusing statements a dump
// never holds (GRANT, CREATE/DROP/ALTER DATABASE other than the CREATE
// DATABASE IF NOT EXISTS and USE of dumps of several databases, and
// anything but SET, CREATE, DROP, ALTER, INSERT, REPLACE, LOCK, UNLOCK and
// /*! */ comments), and checking the end marker's statement count and
// checksum. A truncated stream fails with an error wrapping
// [ErrTruncated], a foreign or damaged one with [ErrNotDump]. With DryRun
// it checks the stream and the Target and never connects.
//
// RestoreOptions.Target says where each database of the dump goes:
//
//   - "" (the default): a dump of one database goes to the source's
//     Database; each database of a dump of several goes to its own name.
//   - a name ("shop_copy"): the one database of the dump goes there. A
//     dump of several databases is refused as ambiguous.
//   - a map "a=a2,b=b2": database a of the dump goes to a2, b to b2; a
//     database of the dump the map does not name is an error.
//   - a pattern with one '*' ("*_copy", "restored_*"): the '*' is replaced
//     by the dump's name of each database. A dump of one database uses the
//     name in its header comment.
//
// Two databases mapped to one target, system databases (mysql,
// information_schema, performance_schema, sys) and invalid names are
// refused before anything is written.
//
// Safe restore: every database is loaded first into a new scratch
// database named ScratchPrefix + random + target name, while the stream is
// read; the target is not touched. INSERTs go to Options.Parallel
// connections. Once the stream has ended cleanly (end marker and checksum
// verified, and the reader returned io.EOF), Restore reads the views,
// triggers, routines and events of each scratch database, checks each
// target again, and moves all tables into their targets with one RENAME
// TABLE statement, which is atomic: the target's existing tables and views
// step aside under temporary names in that same statement. This is the
// commit point; after it the context no longer cancels. Restore then drops
// the target's old tables, views, routines and events, recreates the
// dump's views, triggers, routines and events in the target, and drops the
// scratch databases. A target that does not exist is created just before
// the swap with the scratch database's character set and collation (the
// dump's, for dumps of several databases).
//
// DropExisting: a target that holds tables, views, routines or events is
// refused without it (before loading, and again before the swap). With it,
// everything in the target is replaced by the dump's content: tables of
// the target that the dump does not have are dropped too. The database
// itself is kept (its character set, collation and grants).
//
// Guarantee on failure: a failure before the commit point (a truncated or
// damaged dump, an error of the reader, even at its very end, a server
// error, a killed connection, a canceled context) leaves every target
// exactly as it was (a target that did not exist still does not) and
// drops the scratch databases (over a new connection; if the server is
// gone, a database named ScratchPrefix… may be left and can be dropped).
// A failure after it (a view or trigger that cannot be recreated, the
// server going away during those few statements) is reported with the
// target named: its data is the dump's, and some views, triggers, routines
// or events may be missing. With several databases, all tables move in
// the same RENAME TABLE.
//
// The account needs CREATE and DROP on the scratch databases (the global
// CREATE privilege, or on `bkscratch\_%`), and ALTER, CREATE, DROP, INSERT,
// CREATE VIEW, TRIGGER, CREATE ROUTINE and EVENT on the targets. Events
// exist in the scratch database while it loads; with the event scheduler
// on, an enabled event could run there.
//
// Restore also loads mysqldump/mariadb-dump output, recognized by its
// first line (with --databases: its CREATE DATABASE and USE statements).
// Such a file has no statement count or checksum: only its final "-- Dump
// completed" line is checked, and it is loaded over one connection, since
// it locks each table while loading it. Restore does not parse statements
// beyond their first words: a hostile dump could still name another
// database in a qualified table name; restore untrusted dumps with an
// account limited to the targets.
//
// # Inspect, scratch targets and safety backups
//
// [Database.Inspect] (source.Inspector) reports the items of a restore
// target, named with the source's database names, with the same counts,
// sizes and checksums as Snapshot's Info.Items. It applies Tables and
// Exclude but not Where. [Database.ScratchTarget] returns an unused
// Target ("bkscratch_HINT_RANDOM", a pattern "…_*" for several databases)
// and [Database.DropTarget] drops a target's databases, refusing the
// source's own. [Database.TargetSource] returns a Source that snapshots a
// target under the source's names, so that Restore with the same Target
// puts that snapshot back (the safety backup of a restore).
package mysql
