package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// mysqlDSN is a parsed MySQL DSN. Errors from parsing never quote the
// password.
type mysqlDSN struct {
	User, Password string
	HasPassword    bool
	Addr           string // host:port (TCP only)
	DB             string
	Params         string // raw query, without '?'
}

// parseMySQLDSN accepts go-sql-driver/mysql's
// "[user[:password]@][tcp[(host:port)]]/db[?params]" and
// "mysql://user:pass@host[:port]/db[?params]".
func parseMySQLDSN(s string) (mysqlDSN, error) {
	var d mysqlDSN
	if strings.HasPrefix(s, "mysql://") {
		u, err := url.Parse(s)
		if err != nil {
			return d, errors.New("not a valid mysql:// URL")
		}
		if u.User != nil {
			d.User = u.User.Username()
			d.Password, d.HasPassword = u.User.Password()
		}
		d.Addr = u.Host
		d.DB = strings.TrimPrefix(u.Path, "/")
		d.Params = u.RawQuery
	} else {
		slash := strings.LastIndexByte(s, '/')
		if slash < 0 {
			return d, errors.New(`not a MySQL DSN: want "user:pass@tcp(host:port)/db" or "mysql://user:pass@host:port/db"`)
		}
		head, tail := s[:slash], s[slash+1:]
		d.DB, d.Params, _ = strings.Cut(tail, "?")
		if at := strings.LastIndexByte(head, '@'); at >= 0 {
			d.User, d.Password, d.HasPassword = strings.Cut(head[:at], ":")
			head = head[at+1:]
		}
		switch {
		case head == "" || head == "tcp":
		case strings.HasPrefix(head, "tcp(") && strings.HasSuffix(head, ")"):
			d.Addr = head[len("tcp(") : len(head)-1]
		default:
			proto, _, _ := strings.Cut(head, "(")
			return d, fmt.Errorf("MySQL DSN protocol %q: only tcp is supported", proto)
		}
	}
	if d.Addr == "" {
		d.Addr = "127.0.0.1:3306"
	}
	if _, _, err := net.SplitHostPort(d.Addr); err != nil {
		d.Addr = net.JoinHostPort(strings.Trim(d.Addr, "[]"), "3306")
	}
	if d.DB == "" {
		return d, errors.New("MySQL DSN names no database")
	}
	return d, nil
}

// DSN formats d in go-sql-driver/mysql form.
func (d mysqlDSN) DSN() string {
	var b strings.Builder
	if d.User != "" || d.HasPassword {
		b.WriteString(d.User)
		if d.HasPassword {
			b.WriteString(":" + d.Password)
		}
		b.WriteString("@")
	}
	b.WriteString("tcp(" + d.Addr + ")/" + d.DB)
	if d.Params != "" {
		b.WriteString("?" + d.Params)
	}
	return b.String()
}

// URL formats d as a mysql:// URL.
func (d mysqlDSN) URL() string {
	u := url.URL{Scheme: "mysql", Host: d.Addr, Path: "/" + d.DB, RawQuery: d.Params}
	switch {
	case d.HasPassword:
		u.User = url.UserPassword(d.User, d.Password)
	case d.User != "":
		u.User = url.User(d.User)
	}
	return u.String()
}

// postgresAddr returns host:port from a postgres:// or postgresql:// URL.
func postgresAddr(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New(`want a URL like "postgres://user@127.0.0.1:5432/db?sslmode=disable"`)
	}
	host := u.Hostname()
	if host == "" || strings.Contains(u.Host, ",") {
		return "", errors.New("PostgreSQL URL needs exactly one TCP host")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port), nil
}

// mongoAddr returns the first host:port of a mongodb:// URI.
func mongoAddr(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "mongodb://")
	if !ok {
		return "", errors.New(`want a URI like "mongodb://127.0.0.1:27017/" (mongodb+srv:// is not supported)`)
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	host, _, _ := strings.Cut(rest, ",")
	if host == "" {
		return "", errors.New("MongoDB URI names no host")
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "27017")
	}
	return host, nil
}
