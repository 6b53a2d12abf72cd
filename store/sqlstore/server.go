package sqlstore

import (
	"context"
	"database/sql"

	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/backupkit/backupkit/internal/redact"
)

// DefaultMaxConns is the default size of the connection pool to a PostgreSQL
// or MySQL server.
const DefaultMaxConns = 10

// WithMaxConns caps the connection pool to a PostgreSQL or MySQL server
// (DefaultMaxConns by default). Values below 1 are ignored. SQLite ignores it.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.maxConns = n
		}
	}
}

func serverOptions(opts []Option) options {
	o := options{maxConns: DefaultMaxConns}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// openPostgres opens a postgres:// or postgresql:// URL with pgx. Every
// libpq-style parameter pgx understands may be given in the query.
func openPostgres(ctx context.Context, u *url.URL, opts ...Option) (*DB, error) {
	secret := urlPassword(u)
	where := redact.URL(u)
	if u.Host == "" && u.Query().Get("host") == "" {
		return nil, fmt.Errorf("sqlstore: postgres URL %s has no host; want postgres://user:password@host:5432/database", where)
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("sqlstore: postgres URL %s names no database; want postgres://user:password@host:5432/database", where)
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, maskSecret(fmt.Errorf("sqlstore: postgres URL %s: %w", where, err), secret)
	}
	o := serverOptions(opts)
	pool := stdlib.OpenDB(*cfg)
	return openServer(ctx, postgresDialect, pool, o, where, secret)
}

// openMySQL opens a mysql://user:password@host:port/database URL with
// go-sql-driver/mysql. Query parameters are the driver's DSN parameters
// (tls, timeout, ...); parseTime, clientFoundRows, loc and the session time
// zone are set by the store and cannot be changed.
func openMySQL(ctx context.Context, u *url.URL, opts ...Option) (*DB, error) {
	secret := urlPassword(u)
	where := redact.URL(u)
	if u.Host == "" {
		return nil, fmt.Errorf("sqlstore: mysql URL %s has no host; want mysql://user:password@host:3306/database", where)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if dbName == "" || strings.Contains(dbName, "/") {
		return nil, fmt.Errorf("sqlstore: mysql URL %s must name one database; want mysql://user:password@host:3306/database", where)
	}
	// The query's driver parameters are parsed alone, so that the user and
	// password never go through a DSN string (where '@', '/' or '?' in a
	// password would be ambiguous).
	cfg, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, maskSecret(fmt.Errorf("sqlstore: mysql URL %s: %w", where, err), secret)
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.DBName = dbName
	cfg.ParseTime = true
	cfg.ClientFoundRows = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "'TRADITIONAL'"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, maskSecret(fmt.Errorf("sqlstore: mysql URL %s: %w", where, err), secret)
	}
	o := serverOptions(opts)
	return openServer(ctx, mysqlDialect, sql.OpenDB(conn), o, where, secret)
}

// openServer finishes opening a store on a database server: pool limits, a
// ping, the migrations.
func openServer(ctx context.Context, d *dialect, pool *sql.DB, o options, where, secret string) (*DB, error) {
	keys, err := keyring(o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	pool.SetMaxOpenConns(o.maxConns)
	pool.SetMaxIdleConns(o.maxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{d: d, write: pool, read: pool, key: o.key, keys: keys}
	if err := pool.PingContext(ctx); err != nil {
		db.Close()
		return nil, maskSecret(fmt.Errorf("sqlstore: connect to %s: %w", where, err), secret)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, maskSecret(fmt.Errorf("%w (store %s)", err, where), secret)
	}
	return db, nil
}

// urlPassword returns the URL's password, "" when it has none.
func urlPassword(u *url.URL) string {
	if u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// maskSecret returns err with every occurrence of secret (as given and
// URL-escaped) in its message replaced by redact.Mask. errors.Is and
// errors.As see through it.
func maskSecret(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &maskedError{err: err, secrets: []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}}
}

type maskedError struct {
	err     error
	secrets []string
}

func (e *maskedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redact.Mask)
		}
	}
	return msg
}

func (e *maskedError) Unwrap() error { return e.err }
