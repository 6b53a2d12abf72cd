// Package mongodb is the source adapter for MongoDB. It dumps databases
// through the official Go driver (no mongodump binary needed) into the
// mongodump --archive stream, which `mongorestore --archive` reads, and
// restores such streams, its own or mongodump's, plain or gzipped.
//
// Open a source in code with [New], or from a URL once this package is
// imported:
//
//	src, err := mongodb.New("mongodb://user:pass@db1:27017/?replicaSet=rs0",
//		mongodb.Databases("shop"), mongodb.Collections("orders*"))
//	src, err := source.Open(ctx, "mongodb://db1:27017/shop?collections=orders*&exclude=tmp_*")
//
// The URL is a MongoDB connection string (schemes "mongodb" and
// "mongodb+srv"). Its path names the one database to dump ("/shop"); without
// a path every database is dumped except admin, local and config. The driver
// sees the path too (as the default authentication database, as mongodump
// --uri does). These query parameters are the adapter's and are removed
// before the driver sees the rest: "databases" (a comma-separated list of
// databases, instead of the path; system databases named here are dumped),
// "collections" and "exclude" (comma-separated collection patterns, may
// repeat; see [Collections]), "parallel" (see [Parallel]). All other
// parameters go to the driver. Without a path or databases, databases
// whose names start with "backupkit_scratch_" (scratch targets, see
// [Source.ScratchTarget]) are left out too.
//
// RestoreOptions.Target (for Restore, and in the same syntax for Inspect
// and TargetSource) says where each database goes:
//
//   - "" (the default): each database under its own name.
//   - a database name ("shop_copy"): the one database goes there. An
//     archive (or Source) of several databases is refused as ambiguous.
//   - a map "a=a2,b=b2": database a goes to a2, b to b2. Every database of
//     the archive (or Source) needs an entry; two databases may not map to
//     one name.
//   - a pattern with exactly one '*' ("*_copy", "restored_*"): the '*' is
//     replaced by each database's name.
//
// Every resulting name must be a valid MongoDB database name (at most 63
// bytes, without '/', '\', '.', ' ', '"', '$' or NUL). A target that does
// not fit the archive is refused before anything is written.
// [Source.Inspect] of a target reports its collections under the Source's
// own database names (so does the snapshot of [Source.TargetSource] for a
// Source of several databases), so that verify at level "restore"
// (ScratchTarget, Restore, Inspect, DropTarget) works for a Source of
// several databases too: its ScratchTarget is a pattern
// "backupkit_scratch_<hint>_<id>_*", and DropTarget drops only scratch
// targets.
//
// See docs/mongodb.md for the format, consistency and restore details.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/backupkit/backupkit/internal/dbtarget"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/source"
)

// Kind is the Info.Kind of this adapter's snapshots.
const Kind = "mongodb"

// Format is the format of this adapter's snapshots: a mongodump archive.
const Format = "archive"

// ToolVersion is written as tool_version in the archive header.
const ToolVersion = "backupkit"

var (
	_ source.Source   = (*Source)(nil)
	_ source.Restorer = (*Source)(nil)
	_ source.Checker  = (*Source)(nil)
)

func init() {
	source.Register("mongodb", openURL)
	source.Register("mongodb+srv", openURL)
}

// systemDatabases are skipped when every database is dumped.
var systemDatabases = []string{"admin", "local", "config"}

// Source is a MongoDB deployment (or some of its databases) as a source.
// Create one with New. A Source is immutable and safe for concurrent use;
// every Snapshot, Restore and Check opens its own connection pool.
type Source struct {
	uri       string // with credentials; never printed
	password  string // to scrub from errors
	location  string // redacted
	databases []string
	include   []string
	exclude   []string
	filters   map[string]bson.Raw
	parallel  int
	batchDocs int
	timeout   time.Duration
	tempDir   string
	patternDB string // when set, the database name patterns are matched with
	// target, for a Source of several (or all) databases, reads that
	// restore target instead of its own databases (see forTarget).
	target *dbtarget.Spec
}

// Option configures a Source.
type Option func(*Source) error

// Databases sets the databases to dump, replacing the URI's path. Without
// it (and without a path) every database except admin, local and config is
// dumped; those are dumped when named here.
func Databases(names ...string) Option {
	return func(s *Source) error {
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "/\\. \"$") {
				return fmt.Errorf("invalid database name %q", n)
			}
		}
		s.databases = append(s.databases, names...)
		return nil
	}
}

// Collections limits the dump to the collections and views matching one of
// the patterns (path.Match syntax), matched against the collection name
// ("orders*") and against the namespace "db.collection" ("shop.orders*").
// Collections may be given several times; the patterns add up.
func Collections(patterns ...string) Option {
	return func(s *Source) error { s.include = append(s.include, patterns...); return checkPatterns(patterns) }
}

// ExcludeCollections leaves out the collections and views matching one of
// the patterns, matched as for Collections. Exclude wins over Collections.
func ExcludeCollections(patterns ...string) Option {
	return func(s *Source) error { s.exclude = append(s.exclude, patterns...); return checkPatterns(patterns) }
}

func checkPatterns(ps []string) error {
	for _, p := range ps {
		if p == "" {
			return errors.New("empty collection pattern")
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("collection pattern %q: %w", p, err)
		}
	}
	return nil
}

// Filter dumps only the documents of namespace ("db.collection") that match
// filter, a query document (bson.D, bson.M, bson.Raw or a struct).
func Filter(namespace string, filter any) Option {
	return func(s *Source) error {
		b, err := bson.Marshal(filter)
		if err != nil {
			return fmt.Errorf("filter for %s: %w", namespace, err)
		}
		if s.filters == nil {
			s.filters = map[string]bson.Raw{}
		}
		s.filters[namespace] = b
		return nil
	}
}

// Parallel sets how many collections are read (on Snapshot) or written (on
// Restore) at once. The default is 4.
func Parallel(n int) Option {
	return func(s *Source) error {
		if n < 1 {
			return fmt.Errorf("parallel must be at least 1, not %d", n)
		}
		s.parallel = n
		return nil
	}
}

// BatchDocuments sets the largest number of documents Restore inserts with
// one insert command (default 1000; batches are also cut at 4 MiB).
func BatchDocuments(n int) Option {
	return func(s *Source) error {
		if n < 1 {
			return fmt.Errorf("batch size must be at least 1, not %d", n)
		}
		s.batchDocs = n
		return nil
	}
}

// TempDir sets the folder where Restore spools the archive before loading
// it (it needs as much space as the archive, compressed if it is). The
// default is os.TempDir().
func TempDir(dir string) Option {
	return func(s *Source) error { s.tempDir = dir; return nil }
}

// ConnectTimeout bounds server selection when connecting (default 10s), so
// that an unreachable server fails promptly.
func ConnectTimeout(d time.Duration) Option {
	return func(s *Source) error { s.timeout = d; return nil }
}

// New returns the source for the deployment at uri, a MongoDB connection
// string (several hosts allowed). It checks the URI's syntax but does not
// connect.
func New(uri string, opts ...Option) (*Source, error) {
	p, err := splitURI(uri)
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	s := &Source{uri: uri, password: p.password, parallel: 4, batchDocs: 1000, timeout: 10 * time.Second}
	if p.db != "" {
		s.databases = []string{p.db}
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("mongodb: %w", err)
		}
	}
	// A mongodb+srv URI is checked when connecting: parsing it looks up DNS.
	if p.scheme == "mongodb" {
		if err := options.Client().ApplyURI(uri).Validate(); err != nil {
			return nil, fmt.Errorf("mongodb: URI %s: %w", p.redacted(), s.scrub(err))
		}
	}
	s.location = p.scheme + "://" + p.hosts + "/" + p.db
	return s, nil
}

// uriParts are the pieces of a connection string.
type uriParts struct {
	scheme, userinfo, password, hosts, db, query string
}

func (p uriParts) redacted() string {
	r := p.scheme + "://"
	if p.userinfo != "" {
		user, _, _ := strings.Cut(p.userinfo, ":")
		r += user + ":" + redact.Mask + "@"
	}
	r += p.hosts + "/" + p.db
	if p.query != "" {
		r += "?…"
	}
	return r
}

// splitURI splits a connection string without net/url, which refuses
// several hosts ("h1:27017,h2").
func splitURI(uri string) (uriParts, error) {
	var p uriParts
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return p, fmt.Errorf("%s is not a mongodb:// or mongodb+srv:// URI", redact.URLString(uri))
	}
	p.scheme = scheme
	rest, p.query, _ = strings.Cut(rest, "?")
	authority, dbPath, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		p.userinfo, authority = authority[:at], authority[at+1:]
		if _, pw, ok := strings.Cut(p.userinfo, ":"); ok {
			if u, err := url.PathUnescape(pw); err == nil {
				pw = u
			}
			p.password = pw
		}
	}
	if authority == "" {
		return p, errors.New("the URI names no host")
	}
	p.hosts = authority
	db, err := url.PathUnescape(dbPath)
	if err != nil {
		return p, fmt.Errorf("URI database: %w", err)
	}
	p.db = db
	return p, nil
}

// openURL opens a mongodb:// URL; see the package documentation.
func openURL(_ context.Context, u *url.URL) (source.Source, error) {
	q := u.Query()
	var opts []Option
	for _, k := range []string{"databases", "collections", "exclude", "parallel"} {
		vs, ok := q[k]
		if !ok {
			continue
		}
		q.Del(k)
		var list []string
		for _, v := range vs {
			for p := range strings.SplitSeq(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					list = append(list, p)
				}
			}
		}
		switch k {
		case "databases":
			opts = append(opts, Databases(list...))
		case "collections":
			opts = append(opts, Collections(list...))
		case "exclude":
			opts = append(opts, ExcludeCollections(list...))
		case "parallel":
			n, err := strconv.Atoi(strings.Join(list, ""))
			if err != nil {
				return nil, fmt.Errorf("mongodb URL: parallel: %w", err)
			}
			opts = append(opts, Parallel(n))
		}
	}
	c := *u
	c.RawQuery = q.Encode()
	if len(q) == 0 {
		c.RawQuery = ""
	}
	if _, ok := u.Query()["databases"]; ok && strings.Trim(u.Path, "/") != "" {
		return nil, errors.New("mongodb URL: give the database either as the path or as databases=, not both")
	}
	return New(c.String(), opts...)
}

// Format returns "archive".
func (s *Source) Format() string { return Format }

// Location returns the deployment's address and path, without credentials
// or parameters.
func (s *Source) Location() string { return s.location }

// connect opens a client; the caller disconnects it.
func (s *Source) connect(ctx context.Context) (*mongo.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := options.Client().ApplyURI(s.uri).SetServerSelectionTimeout(s.timeout).SetConnectTimeout(s.timeout).
		SetAppName("backupkit")
	c, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", s.location, s.scrub(err))
	}
	return c, nil
}

// scrub returns err with the password removed from its text, keeping
// context errors matchable.
func (s *Source) scrub(err error) error {
	msg := err.Error()
	if s.password != "" {
		msg = strings.ReplaceAll(msg, s.password, redact.Mask)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", msg, context.Canceled)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// serverInfo reports the server's version and whether it is a replica set
// member or mongos (so that snapshot reads are possible).
func serverInfo(ctx context.Context, c *mongo.Client) (version string, replicated bool, why string, err error) {
	var bi struct {
		Version string `bson:"version"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&bi); err != nil {
		return "", false, "", fmt.Errorf("buildInfo: %w", err)
	}
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return bi.Version, false, "", fmt.Errorf("hello: %w", err)
	}
	ok, why := snapshotSupport(bi.Version, hello.SetName, hello.Msg)
	return bi.Version, ok, why, nil
}

// snapshotSupport decides from buildInfo's version and hello's setName and
// msg whether snapshot reads are possible, and if not, why.
func snapshotSupport(version, setName, msg string) (bool, string) {
	if setName == "" && msg != "isdbgrid" {
		return false, "the server is not a replica set member (standalone), so no snapshot read is possible"
	}
	major, _, _ := strings.Cut(version, ".")
	if m, err := strconv.Atoi(major); err != nil || m < 5 {
		return false, "server version " + version + " has no snapshot reads outside transactions (MongoDB 5.0 or later needed)"
	}
	return true, ""
}

// Check connects, pings the server and reads its version.
func (s *Source) Check(ctx context.Context) error {
	c, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("mongodb: check: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	if err := c.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongodb: check: ping %s: %w", s.location, s.scrub(err))
	}
	if _, _, _, err := serverInfo(ctx, c); err != nil {
		return fmt.Errorf("mongodb: check %s: %w", s.location, s.scrub(err))
	}
	return nil
}

// ServerVersion connects and returns the server's version string.
func (s *Source) ServerVersion(ctx context.Context) (string, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("mongodb: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	v, _, _, err := serverInfo(ctx, c)
	if err != nil {
		return "", fmt.Errorf("mongodb: %s: %w", s.location, s.scrub(err))
	}
	return v, nil
}

// matches reports whether the collection is selected by the patterns.
func (s *Source) matches(db, coll string) bool {
	if s.patternDB != "" {
		db = s.patternDB
	}
	m := func(ps []string) bool {
		for _, p := range ps {
			if ok, _ := path.Match(p, coll); ok {
				return true
			}
			if ok, _ := path.Match(p, db+"."+coll); ok {
				return true
			}
		}
		return false
	}
	if len(s.include) > 0 && !m(s.include) {
		return false
	}
	return !m(s.exclude)
}
