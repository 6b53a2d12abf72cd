package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFiles embed.FS

// ErrSchemaTooNew is matched (errors.Is) by the error Open returns for a
// database migrated by a newer backupkit than this one: its schema version is
// higher than the last migration this code knows. Opening it anyway could
// corrupt it; upgrade backupkit instead.
var ErrSchemaTooNew = errors.New("database schema is newer than this backupkit")

// migration is one versioned SQL file, migrations/<dialect>/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the *.sql files at the root of fsys. Versions must
// start at 1 and have no gaps, so that "schema version N" means one schema.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names { // fs.Glob returns names sorted
		num, rest, ok := strings.Cut(strings.TrimSuffix(n, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || rest == "" {
			return nil, fmt.Errorf("sqlstore: migration %q: name must be NNNN_description.sql", n)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("sqlstore: migration %q: version %d, want %d (no gaps or duplicates)", n, v, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: path.Base(n), sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, errors.New("sqlstore: no migrations")
	}
	return ms, nil
}

// migrate brings the schema up to date: each missing migration runs in its own
// write transaction, which first checks again that nobody else applied it (two
// processes may open one database at once). On PostgreSQL and MySQL the whole
// migration holds a database lock (pg_advisory_lock, GET_LOCK), since their
// concurrent DDL is not serialized by the write transaction alone. It refuses
// a database whose version is newer than the last migration known.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := db.d.migrationSet()
	if err != nil {
		return err
	}
	if db.d.lockMigrations != nil {
		c, err := db.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		defer c.Close()
		unlock, err := db.d.lockMigrations(ctx, c)
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: take the migration lock: %w", err)
		}
		defer unlock()
	}
	if _, err := db.write.ExecContext(ctx, db.d.migrationsTable); err != nil {
		return fmt.Errorf("sqlstore: create schema_migrations: %w", err)
	}
	latest := ms[len(ms)-1].version
	tooNew := func(cur int) error {
		return fmt.Errorf("sqlstore: %s database schema version %d, this backupkit knows up to %d: %w; upgrade backupkit",
			db.d.name, cur, latest, ErrSchemaTooNew)
	}
	cur, err := schemaVersion(ctx, db.write)
	if err != nil {
		return err
	}
	if cur > latest {
		return tooNew(cur)
	}
	for _, m := range ms[cur:] {
		err := db.inWrite(ctx, func(t *tx) error {
			cur, err := schemaVersion(ctx, t) // again, under the write lock
			switch {
			case err != nil:
				return err
			case cur > latest:
				return tooNew(cur)
			case cur >= m.version:
				return nil // another process applied it meanwhile
			}
			stmts := []string{m.sql}
			if db.d.splitScripts {
				stmts = splitStatements(m.sql)
			}
			for _, st := range stmts {
				if _, err := t.ExecContext(ctx, st); err != nil && (db.d.alreadyDone == nil || !db.d.alreadyDone(err)) {
					return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
				}
			}
			now, err := t.now(ctx)
			if err != nil {
				return err
			}
			_, err = t.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, db.d.encodeTime(now))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, q queryRower) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlstore: read schema version: %w", err)
	}
	return v, nil
}

// SchemaVersion returns the version of the database's schema: the number of
// the last migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, db.read)
}
