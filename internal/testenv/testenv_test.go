package testenv

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestServers calls every accessor with the real environment. Under
// scripts/test-all (BACKUPKIT_REQUIRE_SERVERS=1) a missing or dead server
// fails here; under plain go test each subtest skips with one line.
func TestServers(t *testing.T) {
	t.Run("MySQL", func(t *testing.T) {
		dsn := MySQL(t)
		u := MySQLURL(t)
		if dsn == "" || !strings.HasPrefix(u, "mysql://") {
			t.Fatalf("MySQL() = %q, MySQLURL() = %q", dsn, u)
		}
	})
	t.Run("Postgres", func(t *testing.T) {
		if u := Postgres(t); !strings.HasPrefix(u, "postgres") {
			t.Fatalf("Postgres() = %q", u)
		}
	})
	t.Run("MongoDB", func(t *testing.T) {
		if u := MongoDB(t); !strings.HasPrefix(u, "mongodb://") {
			t.Fatalf("MongoDB() = %q", u)
		}
	})
	t.Run("S3", func(t *testing.T) {
		s := S3(t)
		if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" || s.Region == "" {
			t.Fatalf("S3() = %+v", s)
		}
	})
	t.Run("SMTP", func(t *testing.T) {
		s := SMTP(t)
		if s.Addr == "" || s.APIURL == "" {
			t.Fatalf("SMTP() = %+v", s)
		}
	})
}

// fakeTB records what the decision did; Skip and Fatal return (unlike testing.T's).
type fakeTB struct {
	skipped, failed []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = append(f.skipped, join(args)) }
func (f *fakeTB) Fatal(args ...any) { f.failed = append(f.failed, join(args)) }

func join(args []any) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	return b.String()
}

func envOf(m map[string]string) lookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// serveTCP runs handle for each connection on a loopback listener.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return l.Addr().String()
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func fakeMySQL(c net.Conn) {
	payload := append([]byte{10}, "10.11.0-fake\x00"...)
	payload = append(payload, make([]byte, 40)...)
	c.Write([]byte{byte(len(payload)), 0, 0, 0})
	c.Write(payload)
}

func fakeMySQLRefusing(c net.Conn) {
	payload := append([]byte{0xff, 0x6a, 0x04}, "Host '1.2.3.4' is not allowed"...)
	c.Write([]byte{byte(len(payload)), 0, 0, 0})
	c.Write(payload)
}

func fakePostgres(c net.Conn) {
	var req [8]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || binary.BigEndian.Uint32(req[4:]) != 80877103 {
		return
	}
	c.Write([]byte{'N'})
}

func fakeMongo(ok float64, errmsg string) func(net.Conn) {
	return func(c net.Conn) {
		var hdr [16]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		body := make([]byte, binary.LittleEndian.Uint32(hdr[:])-16)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		doc := bsonDoc(func(b *bytes.Buffer) {
			bsonString(b, "version", "7.0.77")
			sub := bsonDoc(func(b *bytes.Buffer) { bsonInt32(b, "x", 1) })
			b.WriteByte(0x03)
			b.WriteString("nested\x00")
			b.Write(sub)
			b.WriteByte(0x08)
			b.WriteString("isWritablePrimary\x00\x01")
			if errmsg != "" {
				bsonString(b, "errmsg", errmsg)
			}
			b.WriteByte(0x01)
			b.WriteString("ok\x00")
			binary.Write(b, binary.LittleEndian, math.Float64bits(ok))
		})
		var out bytes.Buffer
		binary.Write(&out, binary.LittleEndian, []uint32{uint32(16 + 5 + len(doc)), 99, binary.LittleEndian.Uint32(hdr[4:]), 2013, 0})
		out.WriteByte(0)
		out.Write(doc)
		c.Write(out.Bytes())
	}
}

func fakeSMTP(c net.Conn) {
	io.WriteString(c, "220 localhost ESMTP fake\r\n")
	io.Copy(io.Discard, c)
}

func fakeHTTPGarbage(c net.Conn) {
	io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
}

func fakeHTTP(t *testing.T, status int) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/minio/health/live", "/api/v1/info":
			w.WriteHeader(status)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// TestDecision checks skip/fatal/pass for every accessor, with injected env
// and fake servers.
func TestDecision(t *testing.T) {
	mysqlUp := serveTCP(t, fakeMySQL)
	mysqlRefusing := serveTCP(t, fakeMySQLRefusing)
	pgUp := serveTCP(t, fakePostgres)
	mongoUp := serveTCP(t, fakeMongo(1, ""))
	mongoErr := serveTCP(t, fakeMongo(0, "not authorized"))
	smtpUp := serveTCP(t, fakeSMTP)
	garbage := serveTCP(t, fakeHTTPGarbage)
	httpUp := fakeHTTP(t, http.StatusOK)
	httpSick := fakeHTTP(t, http.StatusServiceUnavailable)
	dead := deadAddr(t)

	type accessor func(r reporter, lookup lookupFunc, c *probeCache) bool
	mysql := func(r reporter, l lookupFunc, c *probeCache) bool { _, ok := mysqlFrom(r, l, c); return ok }
	pg := func(r reporter, l lookupFunc, c *probeCache) bool { _, ok := postgresFrom(r, l, c); return ok }
	mongo := func(r reporter, l lookupFunc, c *probeCache) bool { _, ok := mongoFrom(r, l, c); return ok }
	s3 := func(r reporter, l lookupFunc, c *probeCache) bool { _, ok := s3From(r, l, c); return ok }
	smtp := func(r reporter, l lookupFunc, c *probeCache) bool { _, ok := smtpFrom(r, l, c); return ok }
	s3env := func(endpoint string) map[string]string {
		return map[string]string{EnvS3Endpoint: endpoint, EnvS3AccessKey: "ak", EnvS3SecretKey: "sk"}
	}

	cases := []struct {
		name    string
		get     accessor
		env     map[string]string
		wantOK  bool
		wantVar string // named in the skip/fatal line
		wantIn  string // also in the line
	}{
		{"mysql/unset", mysql, nil, false, EnvMySQLDSN, "not set"},
		{"mysql/up", mysql, map[string]string{EnvMySQLDSN: "root@tcp(" + mysqlUp + ")/test"}, true, "", ""},
		{"mysql/url-up", mysql, map[string]string{EnvMySQLDSN: "mysql://root:pw@" + mysqlUp + "/test"}, true, "", ""},
		{"mysql/dead", mysql, map[string]string{EnvMySQLDSN: "root@tcp(" + dead + ")/test"}, false, EnvMySQLDSN, "refused"},
		{"mysql/refusing", mysql, map[string]string{EnvMySQLDSN: "root@tcp(" + mysqlRefusing + ")/test"}, false, EnvMySQLDSN, "not allowed"},
		{"mysql/not-mysql", mysql, map[string]string{EnvMySQLDSN: "root@tcp(" + garbage + ")/test"}, false, EnvMySQLDSN, "not a MySQL"},
		{"mysql/bad-dsn", mysql, map[string]string{EnvMySQLDSN: "nonsense"}, false, EnvMySQLDSN, "not a MySQL DSN"},
		{"mysql/secret-not-leaked", mysql, map[string]string{EnvMySQLDSN: "root:hunter2@unix(/x)/test"}, false, EnvMySQLDSN, "only tcp"},
		{"postgres/unset", pg, map[string]string{EnvPostgresURL: "  "}, false, EnvPostgresURL, "not set"},
		{"postgres/up", pg, map[string]string{EnvPostgresURL: "postgres://root@" + pgUp + "/test?sslmode=disable"}, true, "", ""},
		{"postgres/dead", pg, map[string]string{EnvPostgresURL: "postgres://root@" + dead + "/test"}, false, EnvPostgresURL, "refused"},
		{"postgres/not-postgres", pg, map[string]string{EnvPostgresURL: "postgres://" + garbage + "/x"}, false, EnvPostgresURL, "not a PostgreSQL"},
		{"mongodb/unset", mongo, nil, false, EnvMongoDBURI, "not set"},
		{"mongodb/up", mongo, map[string]string{EnvMongoDBURI: "mongodb://" + mongoUp + "/"}, true, "", ""},
		{"mongodb/not-ok", mongo, map[string]string{EnvMongoDBURI: "mongodb://" + mongoErr + "/"}, false, EnvMongoDBURI, "not authorized"},
		{"mongodb/dead", mongo, map[string]string{EnvMongoDBURI: "mongodb://" + dead}, false, EnvMongoDBURI, "refused"},
		{"mongodb/srv", mongo, map[string]string{EnvMongoDBURI: "mongodb+srv://x.example/"}, false, EnvMongoDBURI, "not supported"},
		{"s3/unset", s3, map[string]string{EnvS3Endpoint: httpUp}, false, EnvS3AccessKey + ", " + EnvS3SecretKey, "not set"},
		{"s3/up", s3, s3env(httpUp), true, "", ""},
		{"s3/sick", s3, s3env(httpSick), false, EnvS3Endpoint, "503"},
		{"s3/dead", s3, s3env("http://" + dead), false, EnvS3Endpoint, "refused"},
		{"s3/no-scheme", s3, s3env(dead), false, EnvS3Endpoint, "http://"},
		{"smtp/unset", smtp, map[string]string{EnvSMTPAddr: smtpUp}, false, EnvMailpitAPI, "not set"},
		{"smtp/up", smtp, map[string]string{EnvSMTPAddr: smtpUp, EnvMailpitAPI: httpUp}, true, "", ""},
		{"smtp/dead", smtp, map[string]string{EnvSMTPAddr: dead, EnvMailpitAPI: httpUp}, false, EnvSMTPAddr, "refused"},
		{"smtp/not-smtp", smtp, map[string]string{EnvSMTPAddr: garbage, EnvMailpitAPI: httpUp}, false, EnvSMTPAddr, "not 220"},
		{"smtp/api-sick", smtp, map[string]string{EnvSMTPAddr: smtpUp, EnvMailpitAPI: httpSick}, false, EnvMailpitAPI, "503"},
	}
	oneLine := regexp.MustCompile(`^testenv: [^\n]+scripts/test-all[^\n]*$`)
	for _, tc := range cases {
		for _, req := range []string{"", "1"} {
			name := tc.name
			if req != "" {
				name += "/required"
			}
			t.Run(name, func(t *testing.T) {
				env := map[string]string{EnvRequireServers: req}
				for k, v := range tc.env {
					env[k] = v
				}
				var r fakeTB
				ok := tc.get(&r, envOf(env), &probeCache{})
				if tc.wantOK {
					if !ok || len(r.skipped)+len(r.failed) > 0 {
						t.Fatalf("ok=%v skipped=%q failed=%q; want ok", ok, r.skipped, r.failed)
					}
					return
				}
				if ok {
					t.Fatalf("ok=true; want a skip or failure")
				}
				got, other := r.skipped, r.failed
				if req == "1" {
					got, other = r.failed, r.skipped
				}
				if len(got) != 1 || len(other) != 0 {
					t.Fatalf("required=%q: skipped=%q failed=%q; want exactly one %s", req, r.skipped, r.failed,
						map[string]string{"": "skip", "1": "failure"}[req])
				}
				msg := got[0]
				if !oneLine.MatchString(msg) {
					t.Errorf("message is not one line naming scripts/test-all: %q", msg)
				}
				if !strings.Contains(msg, tc.wantVar) || !strings.Contains(msg, tc.wantIn) {
					t.Errorf("message %q should name %q and contain %q", msg, tc.wantVar, tc.wantIn)
				}
				if strings.Contains(msg, "hunter2") {
					t.Errorf("message leaks the password: %q", msg)
				}
				if req == "1" && !strings.Contains(msg, EnvRequireServers) {
					t.Errorf("failure %q should name %s", msg, EnvRequireServers)
				}
				t.Log(msg)
			})
		}
	}
}

func TestRequired(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "true": true, " 1 ": true, "no": false} {
		if got := required(envOf(map[string]string{EnvRequireServers: v})); got != want {
			t.Errorf("required(%q) = %v, want %v", v, got, want)
		}
	}
	if required(envOf(nil)) {
		t.Error("required with the variable unset")
	}
}

func TestProbeCache(t *testing.T) {
	var c probeCache
	calls := 0
	f := func() error { calls++; return io.EOF }
	for range 3 {
		if err := c.probe("k", f); err != io.EOF {
			t.Fatalf("err = %v", err)
		}
	}
	if calls != 1 {
		t.Fatalf("probe ran %d times, want 1", calls)
	}
}

func TestS3Defaults(t *testing.T) {
	up := fakeHTTP(t, http.StatusOK)
	env := map[string]string{EnvS3Endpoint: up + "/", EnvS3AccessKey: "ak", EnvS3SecretKey: "sk"}
	var r fakeTB
	s, ok := s3From(&r, envOf(env), &probeCache{})
	if !ok || s.Region != DefaultS3Region || s.Endpoint != up {
		t.Fatalf("s3From = %+v, %v", s, ok)
	}
	env[EnvS3Region] = "eu-west-3"
	if s, _ = s3From(&r, envOf(env), &probeCache{}); s.Region != "eu-west-3" {
		t.Fatalf("region = %q", s.Region)
	}
}

func TestParseMySQLDSN(t *testing.T) {
	cases := []struct {
		in, dsn, url string
	}{
		{"root@tcp(127.0.0.1:3306)/test", "root@tcp(127.0.0.1:3306)/test", "mysql://root@127.0.0.1:3306/test"},
		{"u:p@ss@tcp(db:3307)/x?parseTime=true", "u:p@ss@tcp(db:3307)/x?parseTime=true", "mysql://u:p%40ss@db:3307/x?parseTime=true"},
		{"/test", "tcp(127.0.0.1:3306)/test", "mysql://127.0.0.1:3306/test"},
		{"root@tcp(localhost)/t", "root@tcp(localhost:3306)/t", "mysql://root@localhost:3306/t"},
		{"mysql://root:@127.0.0.1/t?a=b", "root:@tcp(127.0.0.1:3306)/t?a=b", "mysql://root:@127.0.0.1:3306/t?a=b"},
		{"mysql://u:p%40ss@[::1]:3307/t", "u:p@ss@tcp([::1]:3307)/t", "mysql://u:p%40ss@[::1]:3307/t"},
	}
	for _, tc := range cases {
		d, err := parseMySQLDSN(tc.in)
		if err != nil {
			t.Errorf("parseMySQLDSN(%q): %v", tc.in, err)
			continue
		}
		if d.DSN() != tc.dsn || d.URL() != tc.url {
			t.Errorf("parseMySQLDSN(%q): DSN %q URL %q; want %q %q", tc.in, d.DSN(), d.URL(), tc.dsn, tc.url)
		}
	}
	for _, bad := range []string{"", "nonsense", "root@tcp(h:1)/", "root:pw@unix(/run/mysqld.sock)/t"} {
		if _, err := parseMySQLDSN(bad); err == nil {
			t.Errorf("parseMySQLDSN(%q): no error", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("parseMySQLDSN(%q) error leaks password: %v", bad, err)
		}
	}
}

func TestAddrs(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://root@127.0.0.1:5432/test?sslmode=disable": "127.0.0.1:5432",
		"postgresql://localhost/db":                           "localhost:5432",
		"postgres://[::1]:6000/db":                            "[::1]:6000",
	} {
		if got, err := postgresAddr(in); got != want || err != nil {
			t.Errorf("postgresAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"host=localhost dbname=x", "postgres:///db", "postgres://a:1,b:2/db"} {
		if _, err := postgresAddr(bad); err == nil {
			t.Errorf("postgresAddr(%q): no error", bad)
		}
	}
	for in, want := range map[string]string{
		"mongodb://127.0.0.1:27018/":                        "127.0.0.1:27018",
		"mongodb://u:p@w@h1:1,h2:2/db?replicaSet=rs0":       "h1:1",
		"mongodb://localhost":                               "localhost:27017",
		"mongodb://localhost/?directConnection=true":        "localhost:27017",
		"mongodb://user:pass@[::1]:27019/admin?authSource=": "[::1]:27019",
	} {
		if got, err := mongoAddr(in); got != want || err != nil {
			t.Errorf("mongoAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^bk[a-z0-9]{8,38}$`)
	a, b := UniqueName(t), UniqueName(t)
	if a == b || !valid.MatchString(a) || len(a) > 40 {
		t.Fatalf("UniqueName: %q, %q", a, b)
	}
	t.Run("A Very_Long/Sub-test name with SPACES and more and more", func(t *testing.T) {
		if n := UniqueName(t); !valid.MatchString(n) || len(n) > 40 {
			t.Fatalf("UniqueName = %q", n)
		}
	})
}
