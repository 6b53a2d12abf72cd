package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// postgresDialect is PostgreSQL through pgx's database/sql driver.
//
// Times are timestamptz (microseconds), NULL for the zero time; the clock is
// the server's now(). Writers run at READ COMMITTED; the queries lock the rows
// they read before updating them (forUpdate, or an UPDATE first).
var postgresDialect = &dialect{
	name:          "postgres",
	driver:        "pgx",
	numbered:      true,
	nowQuery:      "SELECT now()",
	encodeTime:    utcTime,
	descNullsLast: "DESC NULLS LAST",
	forUpdate:     " FOR UPDATE",
	claimConflict: " ON CONFLICT (job, schedule_id, slot, attempt) DO NOTHING",
	rowValues:     true,
	forceIndex:    noIndexHint,
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER     PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL
)`,
	isUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	isRetryable: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01") // serialization failure, deadlock
	},
	// A session-level advisory lock, keyed by database and schema, so that
	// replicas opening one store at once migrate one after the other.
	lockMigrations: func(ctx context.Context, c *sql.Conn) (func(), error) {
		const key = `hashtext('backupkit.migrate.' || current_database() || '.' || COALESCE(current_schema(), ''))`
		if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
			return nil, err
		}
		return func() { _, _ = c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`) }, nil
	},
}

// mysqlDialect is MySQL and MariaDB through go-sql-driver/mysql, opened with
// parseTime, clientFoundRows (rows affected = rows matched), loc=UTC and the
// session time zone UTC.
//
// Times are DATETIME(6) in UTC, NULL for the zero time; the clock is
// UTC_TIMESTAMP(6). MySQL sorts NULLs last in descending order already. DDL
// is not transactional in MySQL: its migrations are written to be re-run
// safely (CREATE TABLE IF NOT EXISTS, indexes inside the table definition).
var mysqlDialect = &dialect{
	name:          "mysql",
	driver:        "mysql",
	nowQuery:      "SELECT UTC_TIMESTAMP(6)",
	encodeTime:    utcTime,
	descNullsLast: "DESC",
	forUpdate:     " FOR UPDATE",
	splitScripts:  true,
	forceIndex:    func(index string) string { return " FORCE INDEX (" + index + ")" },
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER      NOT NULL PRIMARY KEY,
	name       VARCHAR(255) NOT NULL,
	applied_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	isUnique: func(err error) bool {
		var e *mysql.MySQLError
		return errors.As(err, &e) && e.Number == 1062
	},
	isSlotTaken: func(err error) bool {
		var e *mysql.MySQLError
		return errors.As(err, &e) && e.Number == 1062 && strings.Contains(e.Message, "runs_slot_claim")
	},
	isRetryable: func(err error) bool {
		var e *mysql.MySQLError
		return errors.As(err, &e) && e.Number == 1213 // deadlock found
	},
	alreadyDone: func(err error) bool {
		var e *mysql.MySQLError
		// table exists, duplicate column name, duplicate key name
		return errors.As(err, &e) && (e.Number == 1050 || e.Number == 1060 || e.Number == 1061)
	},
	// GET_LOCK is held by the connection until RELEASE_LOCK; the name is
	// per database (at most 64 characters).
	lockMigrations: func(ctx context.Context, c *sql.Conn) (func(), error) {
		const name = `LEFT(CONCAT('backupkit.migrate.', DATABASE()), 64)`
		var got sql.NullInt64
		if err := c.QueryRowContext(ctx, `SELECT GET_LOCK(`+name+`, 600)`).Scan(&got); err != nil {
			return nil, err
		}
		if !got.Valid || got.Int64 != 1 {
			return nil, errors.New("timed out waiting for another process's migration lock")
		}
		return func() {
			var ignored sql.NullInt64
			_ = c.QueryRowContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(`+name+`)`).Scan(&ignored)
		}, nil
	},
}

// utcTime binds t as a time in UTC, nil for the zero time.
func utcTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// splitStatements splits a migration script into statements: each ends with
// a ';' at the end of a line. Lines that are only comments are dropped.
func splitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// dialectFor returns the dialect of a URL scheme.
func dialectFor(scheme string) (*dialect, error) {
	switch strings.ToLower(scheme) {
	case "sqlite":
		return sqliteDialect, nil
	case "postgres", "postgresql":
		return postgresDialect, nil
	case "mysql":
		return mysqlDialect, nil
	}
	return nil, fmt.Errorf("sqlstore: unsupported URL scheme %q (supported: sqlite, postgres, postgresql, mysql)", scheme)
}
