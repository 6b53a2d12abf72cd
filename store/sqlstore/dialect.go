package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is everything that differs between the databases sqlstore speaks.
// The store's queries are written once, in the common subset of SQLite,
// PostgreSQL and MySQL/MariaDB, with '?' placeholders; a dialect rewrites the
// placeholders, says how times are bound and how the database clock is read,
// and brings its own migration set. Adding a database means adding a dialect
// value and a migrations/<name> folder.
//
// Deliberately portable choices the queries rely on (so a new dialect does not
// have to emulate anything):
//   - no RETURNING (MySQL lacks it): assigned values are computed in Go, from
//     the database clock read once per transaction (nowQuery);
//   - no upsert: inserts report conflicts, which map to store.ErrConflict;
//     when the schedules API needs an upsert, ON CONFLICT (SQLite, PostgreSQL)
//     and ON DUPLICATE KEY UPDATE (MySQL) become a dialect field;
//   - "rows affected" means rows matched (MySQL needs clientFoundRows=true);
//   - LIMIT inside a derived table, never inside IN (...) (MySQL refuses it).
type dialect struct {
	// name is the dialect's name, also the migrations folder and the URL scheme.
	name string
	// driver is the database/sql driver name.
	driver string
	// numbered reports whether bind parameters are $1, $2, ... (PostgreSQL)
	// instead of '?'.
	numbered bool
	// nowQuery selects the database clock as one value timeScanner reads.
	nowQuery string
	// encodeTime turns a time into the bind value of a time column; the zero
	// time must become nil (NULL).
	encodeTime func(time.Time) any
	// descNullsLast is the ORDER BY suffix sorting NULLs after everything else.
	descNullsLast string
	// forUpdate is appended to a SELECT that is followed by an UPDATE of the
	// same rows in one transaction ("" where writers are serialized anyway).
	forUpdate string
	// migrationsTable creates schema_migrations if missing.
	migrationsTable string
	// isUnique reports whether err is a unique or primary key violation.
	isUnique func(error) bool
	// claimConflict is appended to the INSERT of a claimed run so that losing
	// the slot (runs_slot_claim) inserts nothing instead of failing; "" where
	// the database cannot name the conflict target (MySQL), which then fails
	// with an error isSlotTaken recognizes.
	claimConflict string
	// isSlotTaken reports whether err is a violation of runs_slot_claim; nil
	// when claimConflict is set.
	isSlotTaken func(error) bool
	// isRetryable reports whether a write transaction failed only because of
	// another one (deadlock, serialization failure) and may be run again; nil
	// when writers are serialized (SQLite).
	isRetryable func(error) bool
	// lockMigrations takes a lock, held by the connection c, that serializes
	// migrations across processes, and returns its release; nil where the
	// migration's write transaction is lock enough (SQLite).
	lockMigrations func(ctx context.Context, c *sql.Conn) (unlock func(), err error)
	// splitScripts reports whether a migration must be executed a statement
	// at a time (the MySQL driver runs one statement per call).
	splitScripts bool
	// alreadyDone reports whether a migration statement failed only because
	// what it creates exists (a re-run after a crash half-way through a
	// migration whose DDL was not transactional); nil where DDL is
	// transactional.
	alreadyDone func(error) bool
	// forceIndex names the index a keyset-paged listing must walk, placed
	// after the table name; "" where the planner finds it alone. MySQL and
	// MariaDB otherwise prefer scanning the filter's equality prefix from
	// the top, which makes a page's cost grow with its position.
	forceIndex func(index string) string
	// rowValues reports whether (a, b) < (x, y) is planned as an index
	// range; otherwise the keyset condition is written expanded.
	rowValues bool

	rebinds sync.Map // query -> rebound query, for numbered dialects
}

// rebind rewrites the '?' placeholders of q for d. Question marks inside
// string literals, quoted identifiers and comments are left alone.
func (d *dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	if v, ok := d.rebinds.Load(q); ok {
		return v.(string)
	}
	r := numberPlaceholders(q)
	d.rebinds.Store(q, r)
	return r
}

func numberPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// migrationSet returns the dialect's migrations, in order.
func (d *dialect) migrationSet() ([]migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	return loadMigrations(sub)
}

// sqliteDialect is SQLite through modernc.org/sqlite.
//
// Times are INTEGER Unix nanoseconds (UTC by definition, sortable, exact; the
// range 1678-2262 is plenty), NULL for the zero time. The clock is SQLite's
// own, in milliseconds.
var sqliteDialect = &dialect{
	name:   "sqlite",
	driver: "sqlite",
	// unixepoch('subsec') is seconds with millisecond precision (SQLite >= 3.42).
	nowQuery:      "SELECT CAST(ROUND(unixepoch('subsec') * 1000) AS INTEGER) * 1000000",
	encodeTime:    unixNanos,
	descNullsLast: "DESC NULLS LAST",
	forUpdate:     "", // write transactions are BEGIN IMMEDIATE on the single writer
	claimConflict: " ON CONFLICT (job, schedule_id, slot, attempt) DO NOTHING",
	rowValues:     true,
	forceIndex:    noIndexHint,
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`,
	isUnique: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
}

func noIndexHint(string) string { return "" }

// unixNanos encodes t as Unix nanoseconds, nil for the zero time.
func unixNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// timeScanner reads a time column of any dialect into *t: NULL is the zero
// time, integers are Unix nanoseconds, time values are taken as they are.
// Times come back in UTC.
type timeScanner struct{ t *time.Time }

// Scan implements sql.Scanner.
func (s timeScanner) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.Unix(0, v).UTC()
	case time.Time:
		*s.t = v.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot read %T as a time", v)
	}
	return nil
}

// nullJSON maps a nil document to NULL.
func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
