package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/source"
)

// Kind is the Info.Kind of this adapter's snapshots.
const Kind = "mysql"

// Format is the format of this adapter's snapshots: SQL text.
const Format = "sql"

// Defaults for Options fields left at zero.
const (
	// DefaultParallel is the number of connections that dump tables at once.
	DefaultParallel = 4
	// DefaultRowsPerInsert is the most rows one INSERT statement holds.
	DefaultRowsPerInsert = 10000
	// DefaultChunkRows is the estimated row count above which a table is
	// split into primary key ranges dumped in parallel.
	DefaultChunkRows = 1_000_000
	// DefaultMaxInsertBytes bounds the size of one INSERT statement; a single
	// row bigger than this gets a statement of its own.
	DefaultMaxInsertBytes = 1 << 20
)

var (
	_ source.Source        = (*Database)(nil)
	_ source.Restorer      = (*Database)(nil)
	_ source.Checker       = (*Database)(nil)
	_ source.Inspector     = (*Database)(nil)
	_ source.Scratcher     = (*Database)(nil)
	_ source.TargetSourcer = (*Database)(nil)
)

func init() {
	source.Register("mysql", openURL)
}

// Options configure a Database. Database or Databases is required.
type Options struct {
	// Addr is the server's "host:port"; empty means "127.0.0.1:3306", and a
	// missing port means 3306.
	Addr string
	// User and Password are the account's credentials.
	User, Password string
	// Database is the one database (schema) to dump, and the default
	// target of Restore. Its dump names no database, so it loads into any
	// database. Give Database or Databases, not both.
	Database string
	// Databases dumps several databases in one snapshot: their names, or
	// the single entry "*" for every database except the system ones
	// (mysql, information_schema, performance_schema, sys) and restore
	// scratch databases (ScratchPrefix…). The dump then creates and selects
	// each database (CREATE DATABASE IF NOT EXISTS, USE) like mysqldump
	// --databases; see the package documentation for how Restore maps
	// them to targets.
	Databases []string
	// Tables, when not empty, limits the dump to tables and views whose names
	// match one of these path.Match patterns ("orders", "log_*"). A pattern
	// with a '.' is matched against "db.table" instead.
	Tables []string
	// Exclude leaves out tables and views whose names match one of these
	// patterns (with a '.', against "db.table"); it wins over Tables.
	Exclude []string
	// Parallel is the number of connections that dump tables at the same
	// time from one snapshot (see the package documentation). Zero means
	// DefaultParallel; 1 dumps over a single connection and never takes the
	// global read lock.
	Parallel int
	// ChunkRows splits tables with more rows than this (the server's
	// estimate) and a single-column integer primary key into ranges of about
	// this many rows, which several connections dump at once; the table's
	// statements stay contiguous and in key order. Zero means
	// DefaultChunkRows.
	ChunkRows int
	// RowsPerInsert is the most rows one INSERT statement holds. Zero means
	// DefaultRowsPerInsert.
	RowsPerInsert int
	// MaxInsertBytes bounds the size of one INSERT statement. Zero means
	// DefaultMaxInsertBytes. Keep it well below the server's
	// max_allowed_packet.
	MaxInsertBytes int
	// Where maps a table name ("t", or "db.t" with several databases; "db.t"
	// wins) to an SQL condition: only the table's rows that satisfy it are
	// dumped, like mysqldump --where. The condition is
	// trusted SQL from the configuration.
	Where map[string]string
	// SchemaOnly dumps table, view and trigger definitions without rows.
	SchemaOnly bool
	// NoTriggers leaves triggers out of the dump.
	NoTriggers bool
	// Routines adds stored procedures and functions to the dump (the
	// account needs to be able to read their definitions).
	Routines bool
	// Events adds the database's scheduled events to the dump.
	Events bool
	// Engine is EngineNative (empty means the same) or EngineMysqldump,
	// which runs the mysqldump (or mariadb-dump) program instead; see the
	// package documentation.
	Engine string
	// DumpProgram is the program EngineMysqldump runs; empty means
	// mysqldump, else mariadb-dump, found on PATH.
	DumpProgram string
}

// Database is a MySQL or MariaDB database, as a source. Create one with New.
// It is safe for concurrent use; Close releases its idle connections.
type Database struct {
	opts Options
	db   *sql.DB
	// target, when not empty, makes the Database read a restore target
	// (RestoreOptions.Target syntax) under the source's names; see
	// TargetSource. shared marks such a Database: Close leaves the pool.
	target string
	shared bool
}

// New returns the source for the database described by opts. It does not
// connect; Check, Snapshot and Restore do.
func New(opts Options) (*Database, error) {
	switch {
	case opts.Database == "" && len(opts.Databases) == 0:
		return nil, errors.New("mysql: no database named (Options.Database or Options.Databases)")
	case opts.Database != "" && len(opts.Databases) > 0:
		return nil, errors.New("mysql: give Options.Database or Options.Databases, not both")
	case opts.Database != "":
		if err := checkIdent(opts.Database); err != nil {
			return nil, fmt.Errorf("mysql: Options.Database %q: %w", opts.Database, err)
		}
	default:
		seen := map[string]bool{}
		for _, n := range opts.Databases {
			if n == "*" {
				if len(opts.Databases) > 1 {
					return nil, errors.New("mysql: Options.Databases: \"*\" (all databases) must be the only entry")
				}
				continue
			}
			if err := checkIdent(n); err != nil {
				return nil, fmt.Errorf("mysql: Options.Databases: %q: %w", n, err)
			}
			if seen[n] {
				return nil, fmt.Errorf("mysql: Options.Databases: %q is listed twice", n)
			}
			seen[n] = true
		}
		opts.Databases = slices.Clone(opts.Databases)
		if opts.Databases[0] != "*" {
			slices.Sort(opts.Databases)
		}
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:3306"
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		opts.Addr = net.JoinHostPort(strings.Trim(opts.Addr, "[]"), "3306")
	}
	if opts.Parallel < 0 || opts.RowsPerInsert < 0 || opts.MaxInsertBytes < 0 || opts.ChunkRows < 0 {
		return nil, errors.New("mysql: Parallel, ChunkRows, RowsPerInsert and MaxInsertBytes must not be negative")
	}
	switch opts.Engine {
	case "", EngineNative, EngineMysqldump:
	default:
		return nil, fmt.Errorf("mysql: unknown engine %q (known: %s, %s)", opts.Engine, EngineNative, EngineMysqldump)
	}
	if opts.ChunkRows == 0 {
		opts.ChunkRows = DefaultChunkRows
	}
	if opts.Parallel == 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.RowsPerInsert == 0 {
		opts.RowsPerInsert = DefaultRowsPerInsert
	}
	if opts.MaxInsertBytes == 0 {
		opts.MaxInsertBytes = DefaultMaxInsertBytes
	}
	for _, p := range append(append([]string(nil), opts.Tables...), opts.Exclude...) {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return nil, fmt.Errorf("mysql: bad table pattern %q", p)
		}
	}
	cfg := gomysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = opts.Addr
	cfg.User = opts.User
	cfg.Passwd = opts.Password
	cfg.AllowNativePasswords = true
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	if err := cfg.Apply(gomysql.Charset("utf8mb4", "")); err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	cfg.Timeout = 30 * time.Second
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetConnMaxIdleTime(time.Minute)
	db.SetMaxIdleConns(opts.Parallel + 1)
	return &Database{opts: opts, db: db}, nil
}

// String describes the Database without its password:
// "mysql://user@host:port/db".
func (d *Database) String() string { return "mysql://" + d.location() }

// String describes the options with the password masked, so that printing
// them never shows it.
func (o Options) String() string {
	o.Password = redact.Mask
	type plain Options // without this method
	return fmt.Sprintf("%+v", plain(o))
}

// Options returns the Database's options with defaults filled in.
func (d *Database) Options() Options { return d.opts }

// Format returns "sql".
func (d *Database) Format() string { return Format }

// Close closes the Database's idle connections. A closed Database cannot be
// used again. Closing a Database returned by TargetSource does nothing.
func (d *Database) Close() error {
	if d.shared {
		return nil
	}
	return d.db.Close()
}

// multi reports whether the Database dumps several databases (Databases).
func (d *Database) multi() bool { return len(d.opts.Databases) > 0 }

// location names the database without secrets.
func (d *Database) location() string {
	u := ""
	if d.opts.User != "" {
		u = d.opts.User + "@"
	}
	l := u + d.opts.Addr + "/" + d.opts.Database
	if d.multi() {
		l += "?databases=" + strings.Join(d.opts.Databases, ",")
	}
	if d.target != "" {
		l += " (restore target " + d.target + ")"
	}
	return l
}

// included reports whether a table or view of database db (as the dump
// names it) is dumped.
func (d *Database) included(db, name string) bool {
	match := func(p string) bool {
		n := name
		if strings.Contains(p, ".") {
			n = db + "." + name
		}
		ok, _ := path.Match(p, n)
		return ok
	}
	for _, p := range d.opts.Exclude {
		if match(p) {
			return false
		}
	}
	if len(d.opts.Tables) == 0 {
		return true
	}
	return slices.ContainsFunc(d.opts.Tables, match)
}

// where returns the row filter of table name of database db.
func (d *Database) where(db, name string) (string, bool) {
	if c, ok := d.opts.Where[db+"."+name]; ok {
		return c, true
	}
	c, ok := d.opts.Where[name]
	return c, ok
}

// Status is what Probe finds out about a source.
type Status struct {
	// ServerVersion is the server's version string.
	ServerVersion string
	// Consistency is the mode a snapshot will use: "parallel-locked" (short
	// FLUSH TABLES WITH READ LOCK, then Parallel connections share one
	// point in time) or "single-connection".
	Consistency string
	// Reason explains a single-connection mode when Parallel > 1 was asked.
	Reason string
	// Tables is the number of tables and views the snapshot would dump.
	Tables int
}

// Probe connects, checks that the databases exist and that the account can
// read them, and reports which consistency mode a snapshot will get.
func (d *Database) Probe(ctx context.Context) (Status, error) {
	var st Status
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return st, d.wrap(ctx, "connect", err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&st.ServerVersion); err != nil {
		return st, d.wrap(ctx, "check", err)
	}
	dbs, err := d.resolve(ctx, conn)
	if err != nil {
		return st, err
	}
	for _, p := range dbs {
		if err := d.mustExist(ctx, conn, p.real); err != nil {
			return st, err
		}
		tables, err := listTables(ctx, conn, p.real, func(n string) bool { return d.included(p.label, n) })
		if err != nil {
			return st, d.wrap(ctx, "check", err)
		}
		st.Tables += len(tables)
		for _, t := range tables {
			if t.view {
				continue
			}
			if _, err := conn.ExecContext(ctx, "SELECT 1 FROM "+quoteIdent(p.real)+"."+quoteIdent(t.name)+" LIMIT 0"); err != nil {
				return st, d.wrap(ctx, "check: read table "+quoteIdent(p.real)+"."+quoteIdent(t.name), err)
			}
		}
	}
	st.Consistency = "single-connection"
	if d.opts.Parallel > 1 {
		var reload int
		err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'RELOAD'").Scan(&reload)
		switch {
		case err != nil:
			st.Reason = "cannot read privileges: " + err.Error()
		case reload == 0:
			st.Reason = "the account lacks the RELOAD privilege needed for FLUSH TABLES WITH READ LOCK"
		default:
			st.Consistency = "parallel-locked"
		}
	}
	return st, nil
}

// Check returns nil when the server is reachable with the credentials, the
// databases exist and every table to dump can be read.
func (d *Database) Check(ctx context.Context) error {
	_, err := d.Probe(ctx)
	return err
}

// wrap turns a driver error into one that names the operation and the
// database, wraps ctx.Err() when the context ended, and never holds the
// password (driver errors do not quote it).
func (d *Database) wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("mysql: %s (%s): %w (%v)", op, d.location(), cerr, err)
	}
	if errors.Is(err, gomysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("mysql: %s (%s): the connection to the server was lost (killed, or the server went away): %w", op, d.location(), err)
	}
	return fmt.Errorf("mysql: %s (%s): %w", op, d.location(), err)
}

// openURL opens a mysql:// URL; see the package documentation.
func openURL(_ context.Context, u *url.URL) (source.Source, error) {
	var o Options
	if u.Opaque != "" || u.Fragment != "" {
		return nil, errors.New("mysql URL must look like mysql://user:pass@host:port/db")
	}
	if u.User != nil {
		o.User = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	o.Addr = u.Host
	o.Database = strings.TrimPrefix(u.Path, "/")
	q := u.Query()
	if _, ok := q["databases"]; ok && o.Database != "" {
		return nil, errors.New("mysql URL: name one database in the path or several with ?databases=, not both")
	}
	if _, ok := q["databases"]; !ok && (o.Database == "" || strings.Contains(o.Database, "/")) {
		return nil, errors.New("mysql URL must name one database (mysql://user:pass@host:port/db) or several (mysql://user:pass@host:port/?databases=a,b or ?databases=*)")
	}
	for k, vs := range q {
		var err error
		switch k {
		case "databases":
			for _, v := range vs {
				for p := range strings.SplitSeq(v, ",") {
					if p != "" {
						o.Databases = append(o.Databases, p)
					}
				}
			}
			if len(o.Databases) == 0 {
				return nil, errors.New("mysql URL: parameter \"databases\" is empty")
			}
		case "tables", "exclude":
			var ps []string
			for _, v := range vs {
				for p := range strings.SplitSeq(v, ",") {
					if p != "" {
						ps = append(ps, p)
					}
				}
			}
			if k == "tables" {
				o.Tables = ps
			} else {
				o.Exclude = ps
			}
		case "parallel":
			o.Parallel, err = positive(vs)
		case "chunk_rows":
			o.ChunkRows, err = positive(vs)
		case "rows_per_insert":
			o.RowsPerInsert, err = positive(vs)
		case "max_insert_bytes":
			o.MaxInsertBytes, err = positive(vs)
		case "where":
			o.Where = map[string]string{}
			for _, v := range vs {
				t, cond, ok := strings.Cut(v, ":")
				if !ok || t == "" || cond == "" {
					return nil, fmt.Errorf("mysql URL: parameter \"where\": want TABLE:CONDITION, got %q", v)
				}
				o.Where[t] = cond
			}
		case "schema_only":
			o.SchemaOnly, err = boolean(vs)
		case "no_triggers":
			o.NoTriggers, err = boolean(vs)
		case "engine":
			if len(vs) != 1 {
				return nil, errors.New("mysql URL: parameter \"engine\": give it once")
			}
			o.Engine = vs[0]
		case "routines":
			o.Routines, err = boolean(vs)
		case "events":
			o.Events, err = boolean(vs)
		default:
			return nil, fmt.Errorf("mysql URL: unknown parameter %q (known: databases, tables, exclude, where, parallel, chunk_rows, rows_per_insert, max_insert_bytes, schema_only, no_triggers, routines, events, engine)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("mysql URL: parameter %q: %w", k, err)
		}
	}
	return New(o)
}

func positive(vs []string) (int, error) {
	if len(vs) != 1 {
		return 0, errors.New("give it once")
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive integer, got %q", vs[0])
	}
	return n, nil
}

func boolean(vs []string) (bool, error) {
	if len(vs) != 1 {
		return false, errors.New("give it once")
	}
	return strconv.ParseBool(vs[0])
}

// checkIdent accepts names MySQL accepts as database names.
func checkIdent(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > 64:
		return errors.New("longer than 64 bytes")
	case strings.ContainsAny(s, "\x00/\\."):
		return errors.New("contains NUL, '/', '\\' or '.'")
	case strings.TrimRight(s, " ") != s:
		return errors.New("ends with a space")
	}
	return nil
}

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// discard makes database/sql drop conn instead of pooling it (its session
// state was changed by a dump's SET statements).
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
