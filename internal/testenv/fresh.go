package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	_ "github.com/go-sql-driver/mysql" // "mysql" driver for FreshMySQLURL
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for FreshPostgresURL
)

// FreshPostgresURL returns the URL of a new, empty schema on the test
// PostgreSQL server (search_path set to it), dropped when the test ends. It
// skips or fails as Postgres does when there is no server.
func FreshPostgresURL(t testing.TB) string {
	t.Helper()
	base := Postgres(t)
	name := UniqueName(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if _, err := admin.ExecContext(context.Background(), `CREATE SCHEMA `+name); err != nil {
		admin.Close()
		t.Fatalf("testenv: create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), `DROP SCHEMA `+name+` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// FreshMySQLURL returns the mysql:// URL of a new, empty database on the test
// MySQL/MariaDB server, dropped when the test ends. It skips or fails as MySQL
// does when there is no server.
func FreshMySQLURL(t testing.TB) string {
	t.Helper()
	base := MySQLURL(t)
	name := UniqueName(t)
	admin, err := sql.Open("mysql", MySQL(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE `"+name+"`"); err != nil {
		admin.Close()
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE `"+name+"`")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
