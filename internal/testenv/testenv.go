// Package testenv hands integration tests the real servers they need, or skips.
//
// Each accessor (MySQL, Postgres, MongoDB, S3, SMTP) reads documented
// environment variables, checks with a short protocol-level probe that the
// server answers, and returns its address. When a variable is unset or the
// server does not answer, the test is skipped with one line naming the
// variable and scripts/test-all — unless BACKUPKIT_REQUIRE_SERVERS=1 (which
// scripts/test-all sets), in which case the test fails instead.
//
// scripts/test-all provisions every server on loopback and exports the
// variables; to point tests at servers of your own, set them yourself (see
// docs/testing.md). Probe results are cached for the life of the test binary,
// keyed by server kind and address.
//
// Servers are shared by all tests and by all packages, which go test runs in
// parallel: use UniqueName for databases, tables, buckets and collections.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	// EnvRequireServers, when "1" (or "true"), turns every skip into a failure.
	EnvRequireServers = "BACKUPKIT_REQUIRE_SERVERS"

	// EnvMySQLDSN is a MySQL/MariaDB DSN in go-sql-driver/mysql form,
	// e.g. "root@tcp(127.0.0.1:3306)/backupkit_test"; a
	// "mysql://user:pass@host:port/db" URL is accepted too.
	EnvMySQLDSN = "BACKUPKIT_TEST_MYSQL_DSN"

	// EnvPostgresURL is a PostgreSQL URL,
	// e.g. "postgres://root@127.0.0.1:5432/backupkit_test?sslmode=disable".
	EnvPostgresURL = "BACKUPKIT_TEST_POSTGRES_URL"

	// EnvMongoDBURI is a MongoDB URI, e.g. "mongodb://127.0.0.1:27018/".
	// scripts/test-all points it at FerretDB (see docs/testing.md).
	EnvMongoDBURI = "BACKUPKIT_TEST_MONGODB_URI"

	// EnvS3Endpoint is an S3 endpoint URL, e.g. "http://127.0.0.1:9000" (MinIO).
	EnvS3Endpoint = "BACKUPKIT_TEST_S3_ENDPOINT"
	// EnvS3AccessKey and EnvS3SecretKey are the S3 credentials.
	EnvS3AccessKey = "BACKUPKIT_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey = "BACKUPKIT_TEST_S3_SECRET_KEY"
	// EnvS3Region is optional; DefaultS3Region when unset.
	EnvS3Region = "BACKUPKIT_TEST_S3_REGION"

	// EnvSMTPAddr is an SMTP server's host:port, e.g. "127.0.0.1:1025" (mailpit).
	EnvSMTPAddr = "BACKUPKIT_TEST_SMTP_ADDR"
	// EnvMailpitAPI is mailpit's HTTP base URL, e.g. "http://127.0.0.1:8025";
	// its REST API is under /api/v1/.
	EnvMailpitAPI = "BACKUPKIT_TEST_MAILPIT_API"
)

// DefaultS3Region is the region S3 returns when EnvS3Region is unset.
const DefaultS3Region = "us-east-1"

// probeTimeout bounds each probe: connect plus the first exchange.
const probeTimeout = 3 * time.Second

// S3Server is an S3-compatible server (MinIO under scripts/test-all).
type S3Server struct {
	Endpoint  string // URL with scheme, e.g. "http://127.0.0.1:9000"
	AccessKey string
	SecretKey string
	Region    string
}

// SMTPServer is an SMTP server whose received mail can be read back over
// mailpit's HTTP API.
type SMTPServer struct {
	Addr   string // host:port of the SMTP listener (no TLS, no auth)
	APIURL string // mailpit base URL; e.g. GET APIURL+"/api/v1/messages"
}

// MySQL returns the DSN (go-sql-driver/mysql form) of a MySQL-compatible
// server (MariaDB under scripts/test-all), from BACKUPKIT_TEST_MYSQL_DSN.
func MySQL(t testing.TB) string {
	t.Helper()
	d, ok := mysqlFrom(t, os.LookupEnv, defaultCache)
	if !ok {
		return ""
	}
	return d.DSN()
}

// MySQLURL is MySQL, as a "mysql://user:pass@host:port/db?params" URL (the
// form backupkit's source and store URLs use).
func MySQLURL(t testing.TB) string {
	t.Helper()
	d, ok := mysqlFrom(t, os.LookupEnv, defaultCache)
	if !ok {
		return ""
	}
	return d.URL()
}

// Postgres returns the URL of a PostgreSQL server, from
// BACKUPKIT_TEST_POSTGRES_URL.
func Postgres(t testing.TB) string {
	t.Helper()
	v, _ := postgresFrom(t, os.LookupEnv, defaultCache)
	return v
}

// MongoDB returns the URI of a MongoDB-compatible server (FerretDB under
// scripts/test-all), from BACKUPKIT_TEST_MONGODB_URI.
func MongoDB(t testing.TB) string {
	t.Helper()
	v, _ := mongoFrom(t, os.LookupEnv, defaultCache)
	return v
}

// S3 returns an S3-compatible server (MinIO under scripts/test-all), from
// BACKUPKIT_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and optional _REGION.
func S3(t testing.TB) S3Server {
	t.Helper()
	v, _ := s3From(t, os.LookupEnv, defaultCache)
	return v
}

// SMTP returns an SMTP server with mailpit's API beside it, from
// BACKUPKIT_TEST_SMTP_ADDR and BACKUPKIT_TEST_MAILPIT_API.
func SMTP(t testing.TB) SMTPServer {
	t.Helper()
	v, _ := smtpFrom(t, os.LookupEnv, defaultCache)
	return v
}

// Required reports whether BACKUPKIT_REQUIRE_SERVERS asks for missing servers
// to fail tests rather than skip them.
func Required() bool { return required(os.LookupEnv) }

// UniqueName returns a fresh name, safe as a MySQL or PostgreSQL database or
// table name, a MongoDB database or collection name and an S3 bucket name:
// lower-case letters and digits only, starting with "bk", at most 40 bytes,
// made of a slug of the test's name and 8 random hex digits.
func UniqueName(t testing.TB) string {
	t.Helper()
	var slug strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if slug.Len() >= 22 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			slug.WriteRune(r)
		}
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testenv: random name: %v", err)
	}
	return "bk" + slug.String() + hex.EncodeToString(b[:])
}

// --- shared decision logic; unexported so tests can inject env and reporter ---

// reporter is the part of testing.TB the decision uses. Skip and Fatal stop
// the test in real use; a fake in the unit tests records and returns.
type reporter interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
}

type lookupFunc func(string) (string, bool)

func required(lookup lookupFunc) bool {
	v, _ := lookup(EnvRequireServers)
	v = strings.TrimSpace(v)
	return v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
}

// unavailable skips or fails the test with one line. detail says what is
// wrong and starts with the variable's name.
func unavailable(r reporter, lookup lookupFunc, what, detail string) {
	r.Helper()
	detail = oneLine(detail)
	if required(lookup) {
		r.Fatal(fmt.Sprintf("testenv: %s server required (%s=1) but %s; scripts/test-all provisions one",
			what, EnvRequireServers, detail))
		return
	}
	r.Skip(fmt.Sprintf("testenv: skipped, no %s server: %s; set it or run scripts/test-all", what, detail))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// getAll reads every named variable; it returns the values, or the names of
// the ones unset or empty.
func getAll(lookup lookupFunc, names ...string) (vals []string, missing []string) {
	for _, n := range names {
		v, _ := lookup(n)
		v = strings.TrimSpace(v)
		if v == "" {
			missing = append(missing, n)
		}
		vals = append(vals, v)
	}
	return vals, missing
}

// need is the common path: variables set, value valid, server answers.
// check parses the values and probes the server (through the cache); its
// error starts with the name of the variable at fault.
func need(r reporter, lookup lookupFunc, what string, names []string, check func(vals []string) error) ([]string, bool) {
	r.Helper()
	vals, missing := getAll(lookup, names...)
	if len(missing) > 0 {
		unavailable(r, lookup, what, strings.Join(missing, ", ")+" not set")
		return nil, false
	}
	if err := check(vals); err != nil {
		unavailable(r, lookup, what, err.Error())
		return nil, false
	}
	return vals, true
}

// probeCache memoizes probe results (success and failure) per kind+address.
type probeCache struct {
	mu   sync.Mutex
	done map[string]error
}

var defaultCache = &probeCache{}

func (c *probeCache) probe(key string, f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err, ok := c.done[key]; ok {
		return err
	}
	err := f()
	if c.done == nil {
		c.done = map[string]error{}
	}
	c.done[key] = err
	return err
}

func mysqlFrom(r reporter, lookup lookupFunc, c *probeCache) (mysqlDSN, bool) {
	r.Helper()
	var d mysqlDSN
	_, ok := need(r, lookup, "MySQL", []string{EnvMySQLDSN}, func(v []string) error {
		var err error
		if d, err = parseMySQLDSN(v[0]); err != nil {
			return fmt.Errorf("%s: %w", EnvMySQLDSN, err)
		}
		return named(EnvMySQLDSN, c.probe("mysql "+d.Addr, func() error { return probeMySQL(d.Addr) }))
	})
	return d, ok
}

func postgresFrom(r reporter, lookup lookupFunc, c *probeCache) (string, bool) {
	r.Helper()
	v, ok := need(r, lookup, "PostgreSQL", []string{EnvPostgresURL}, func(v []string) error {
		addr, err := postgresAddr(v[0])
		if err != nil {
			return fmt.Errorf("%s: %w", EnvPostgresURL, err)
		}
		return named(EnvPostgresURL, c.probe("postgres "+addr, func() error { return probePostgres(addr) }))
	})
	if !ok {
		return "", false
	}
	return v[0], true
}

func mongoFrom(r reporter, lookup lookupFunc, c *probeCache) (string, bool) {
	r.Helper()
	v, ok := need(r, lookup, "MongoDB", []string{EnvMongoDBURI}, func(v []string) error {
		addr, err := mongoAddr(v[0])
		if err != nil {
			return fmt.Errorf("%s: %w", EnvMongoDBURI, err)
		}
		return named(EnvMongoDBURI, c.probe("mongodb "+addr, func() error { return probeMongoDB(addr) }))
	})
	if !ok {
		return "", false
	}
	return v[0], true
}

func s3From(r reporter, lookup lookupFunc, c *probeCache) (S3Server, bool) {
	r.Helper()
	v, ok := need(r, lookup, "S3", []string{EnvS3Endpoint, EnvS3AccessKey, EnvS3SecretKey}, func(v []string) error {
		base, err := httpBase(v[0])
		if err != nil {
			return fmt.Errorf("%s: %w", EnvS3Endpoint, err)
		}
		return named(EnvS3Endpoint, c.probe("s3 "+base, func() error { return probeHTTP(base+"/minio/health/live", false) }))
	})
	if !ok {
		return S3Server{}, false
	}
	region, _ := lookup(EnvS3Region)
	if region = strings.TrimSpace(region); region == "" {
		region = DefaultS3Region
	}
	return S3Server{Endpoint: strings.TrimRight(v[0], "/"), AccessKey: v[1], SecretKey: v[2], Region: region}, true
}

func smtpFrom(r reporter, lookup lookupFunc, c *probeCache) (SMTPServer, bool) {
	r.Helper()
	v, ok := need(r, lookup, "SMTP", []string{EnvSMTPAddr, EnvMailpitAPI}, func(v []string) error {
		if _, _, err := net.SplitHostPort(v[0]); err != nil {
			return fmt.Errorf("%s: want host:port: %v", EnvSMTPAddr, err)
		}
		if err := c.probe("smtp "+v[0], func() error { return probeSMTP(v[0]) }); err != nil {
			return named(EnvSMTPAddr, err)
		}
		base, err := httpBase(v[1])
		if err != nil {
			return fmt.Errorf("%s: %w", EnvMailpitAPI, err)
		}
		return named(EnvMailpitAPI, c.probe("mailpit "+base, func() error { return probeHTTP(base+"/api/v1/info", true) }))
	})
	if !ok {
		return SMTPServer{}, false
	}
	return SMTPServer{Addr: v[0], APIURL: strings.TrimRight(v[1], "/")}, true
}

// named prefixes a probe error with the variable it came from.
func named(env string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", env, err)
}

// httpBase validates an http(s) base URL and returns it without a trailing slash.
func httpBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New(`want an http:// or https:// URL, e.g. "http://127.0.0.1:9000"`)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("want an http:// or https:// URL with a host, got scheme %q host %q", u.Scheme, u.Host)
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), nil
}
