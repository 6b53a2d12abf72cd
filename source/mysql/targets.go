package mysql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/backupkit/backupkit/internal/dbtarget"
	"github.com/backupkit/backupkit/source"
)

// ScratchPrefix starts the names of the scratch databases Restore loads into
// before swapping them into the target, and of the targets ScratchTarget
// returns. Databases("*") never includes them.
const ScratchPrefix = "bkscratch_"

// systemDatabases are never part of Databases("*") and never restore
// targets.
var systemDatabases = []string{"mysql", "information_schema", "performance_schema", "sys"}

// dbPair is one database of a snapshot: label is the name the dump and
// Info.Items give it (the source's name), real the database read.
type dbPair struct{ label, real string }

// parseTarget parses a RestoreOptions.Target: "" (each database under its
// own name), a database name, a rename map "a=a2,b=b2" or a pattern with
// one '*' ("*_copy").
func parseTarget(s string) (dbtarget.Spec, error) { return dbtarget.Parse(s, checkIdent, checkTarget) }

// checkTarget accepts database names a restore may write to.
func checkTarget(s string) error {
	if err := checkIdent(s); err != nil {
		return err
	}
	if slices.Contains(systemDatabases, strings.ToLower(s)) {
		return errors.New("a system database")
	}
	return nil
}

// dest maps the database a dump calls label to the database to restore it
// into; own is the default for a dump of one database that names none.
func dest(ts dbtarget.Spec, label string) (string, error) {
	switch {
	case ts.Name != "":
		return ts.Name, nil
	case ts.Renames != nil:
		to, ok := ts.Renames[label]
		if !ok {
			return "", fmt.Errorf("target %q has no entry for database %q of the dump", ts.Raw, label)
		}
		return to, nil
	case ts.Pattern != "":
		to := strings.Replace(ts.Pattern, "*", label, 1)
		if err := checkTarget(to); err != nil {
			return "", fmt.Errorf("target %q gives database %q for %q: %w", ts.Raw, to, label, err)
		}
		return to, nil
	}
	if err := checkTarget(label); err != nil {
		return "", fmt.Errorf("database %q of the dump: %w", label, err)
	}
	return label, nil
}

// listDatabases lists the databases of Databases("*"), sorted.
func listDatabases(ctx context.Context, q queryer) ([]string, error) {
	all, err := listNames(ctx, q, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range all {
		if !slices.Contains(systemDatabases, strings.ToLower(n)) && !strings.HasPrefix(n, ScratchPrefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// sourceNames lists the databases the source dumps, under its own names.
func (d *Database) sourceNames(ctx context.Context, q queryer) ([]string, error) {
	switch {
	case !d.multi():
		return []string{d.opts.Database}, nil
	case d.opts.Databases[0] != "*":
		return d.opts.Databases, nil
	}
	names, err := listDatabases(ctx, q)
	if err != nil {
		return nil, d.wrap(ctx, "list databases", err)
	}
	return names, nil
}

// resolve lists the databases a snapshot reads: the source's own, or with
// d.target those of the restore target, labeled with the source's names.
func (d *Database) resolve(ctx context.Context, q queryer) ([]dbPair, error) {
	ts, err := parseTarget(d.target)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	var out []dbPair
	switch {
	case ts.Renames != nil:
		for from, to := range ts.Renames {
			out = append(out, dbPair{from, to})
		}
	case ts.Pattern != "" && d.multi() && d.opts.Databases[0] == "*":
		// The source's databases are whatever exists: find the target's
		// by the pattern.
		pre, suf, _ := strings.Cut(ts.Pattern, "*")
		all, err := listNames(ctx, q, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
		if err != nil {
			return nil, d.wrap(ctx, "list databases", err)
		}
		for _, n := range all {
			if len(n) > len(pre)+len(suf) && strings.HasPrefix(n, pre) && strings.HasSuffix(n, suf) {
				out = append(out, dbPair{n[len(pre) : len(n)-len(suf)], n})
			}
		}
	default:
		names, err := d.sourceNames(ctx, q)
		if err != nil {
			return nil, err
		}
		if ts.Name != "" && len(names) != 1 {
			return nil, fmt.Errorf("mysql: target %q names one database, but the source has %d; give a map (a=a2,b=b2) or a pattern (*_copy)", ts.Raw, len(names))
		}
		for _, n := range names {
			real, err := dest(ts, n)
			if err != nil {
				return nil, fmt.Errorf("mysql: %w", err)
			}
			out = append(out, dbPair{n, real})
		}
	}
	slices.SortFunc(out, func(a, b dbPair) int { return strings.Compare(a.label, b.label) })
	return out, nil
}

// mustExist fails unless database db exists and the account can see it.
func (d *Database) mustExist(ctx context.Context, q queryer, db string) error {
	ok, err := dbExists(ctx, q, db)
	if err != nil {
		return d.wrap(ctx, "connect", err)
	}
	if !ok {
		return fmt.Errorf("mysql: database %q does not exist on %s or the account cannot see it", db, d.opts.Addr)
	}
	return nil
}

func dbExists(ctx context.Context, q queryer, db string) (bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	ok := rows.Next()
	return ok, rows.Err()
}

// withTarget returns a Database that reads the restore target target under
// the source's names, sharing d's connections.
func (d *Database) withTarget(target string) (*Database, error) {
	if target == "" || target == d.target {
		return d, nil
	}
	if _, err := parseTarget(target); err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return &Database{opts: d.opts, db: d.db, target: target, shared: true}, nil
}

// TargetSource returns a Source whose Snapshot reads the restore target
// target (RestoreOptions.Target syntax; "" is d itself). Its dump and
// Info.Items name the databases as d does, so that Restore with the same
// Target puts it back where it was read. It shares d's connections; its
// Close does nothing.
func (d *Database) TargetSource(target string) (source.Source, error) {
	return d.withTarget(target)
}

// Inspect reports the tables and views at the restore target target
// ("" means the source's own databases), named "db.table" with the
// source's database names, in Snapshot's order: each table's row count,
// Bytes (the size of its rows as a dump writes them) and Checksum (the
// order-independent digest Snapshot computes), and each view with count 0.
// It reads every row, inside one consistent snapshot. The source's Tables
// and Exclude filters apply; Where does not. Databases that do not exist
// are left out.
func (d *Database) Inspect(ctx context.Context, target string) (source.Info, error) {
	t, err := d.withTarget(target)
	if err != nil {
		return source.Info{Kind: Kind, Format: Format}, err
	}
	return t.inspect(ctx)
}

func (d *Database) inspect(ctx context.Context) (source.Info, error) {
	info := source.Info{Kind: Kind, Format: Format, Location: d.location(), Details: map[string]string{}}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return info, d.wrap(ctx, "inspect: connect", err)
	}
	defer discard(conn)
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&info.ServerVersion); err != nil {
		return info, d.wrap(ctx, "inspect", err)
	}
	if err := startSnapshot(ctx, conn); err != nil {
		return info, d.wrap(ctx, "inspect: start snapshot", err)
	}
	dbs, err := d.resolve(ctx, conn)
	if err != nil {
		return info, err
	}
	for _, p := range dbs {
		ok, err := dbExists(ctx, conn, p.real)
		if err != nil {
			return info, d.wrap(ctx, "inspect", err)
		}
		if !ok {
			continue
		}
		tables, err := listTables(ctx, conn, p.real, func(n string) bool { return d.included(p.label, n) })
		if err != nil {
			return info, d.wrap(ctx, "inspect: list tables", err)
		}
		var views []source.Item
		for _, t := range tables {
			if t.view {
				views = append(views, source.Item{Name: p.label + "." + t.name})
				continue
			}
			var sum tableSum
			cols := dumpedColumns(t)
			if len(cols) > 0 {
				q := "SELECT " + selectList(cols) + " FROM " + quoteIdent(p.real) + "." + quoteIdent(t.name)
				err := scanRows(ctx, conn, q, cols, func(row []byte) error {
					sum.add(row)
					return nil
				})
				if err != nil {
					return info, d.wrap(ctx, "inspect: table "+quoteIdent(p.real)+"."+quoteIdent(t.name), err)
				}
			}
			info.Items = append(info.Items, sum.item(p.label+"."+t.name))
		}
		info.Items = append(info.Items, views...)
	}
	return info, nil
}

// ScratchTarget returns an unused RestoreOptions.Target for a test restore:
// a database named ScratchPrefix + hint + a random suffix, or for a source
// of several databases a pattern of such names ("bkscratch_HINT_x1y2_*").
// It creates nothing.
func (d *Database) ScratchTarget(ctx context.Context, hint string) (string, error) {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, hint)
	if len(clean) > 12 {
		clean = clean[:12] // room for the database names of a pattern
	}
	for range 5 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name := ScratchPrefix + clean + "_" + hex.EncodeToString(b[:])
		if d.multi() {
			name += "_*"
		}
		conn, err := d.db.Conn(ctx)
		if err != nil {
			return "", d.wrap(ctx, "scratch target: connect", err)
		}
		var n int
		err = conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
			strings.ReplaceAll(strings.TrimSuffix(name, "*"), "_", `\_`)+"%").Scan(&n)
		conn.Close()
		if err != nil {
			return "", d.wrap(ctx, "scratch target", err)
		}
		if n == 0 {
			return name, nil
		}
	}
	return "", errors.New("mysql: scratch target: no unused name found")
}

// DropTarget drops the databases of the restore target target
// (RestoreOptions.Target syntax). It refuses "" and any target that names
// one of the source's own databases (for Databases("*"): any database
// but ScratchPrefix ones) or a system database.
func (d *Database) DropTarget(ctx context.Context, target string) error {
	if target == "" {
		return errors.New("mysql: drop target: refusing to drop the source's own databases (empty target)")
	}
	t, err := d.withTarget(target)
	if err != nil {
		return err
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.wrap(ctx, "drop target: connect", err)
	}
	defer conn.Close()
	own, err := d.sourceNames(ctx, conn)
	if err != nil {
		return err
	}
	dbs, err := t.resolve(ctx, conn)
	if err != nil {
		return err
	}
	for _, p := range dbs {
		if slices.Contains(own, p.real) || slices.Contains(systemDatabases, strings.ToLower(p.real)) {
			return fmt.Errorf("mysql: drop target %q: refusing to drop %q, one of the source's own databases", target, p.real)
		}
	}
	for _, p := range dbs {
		if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(p.real)); err != nil {
			return d.wrap(ctx, "drop target "+quoteIdent(p.real), err)
		}
	}
	return nil
}
