package mysql_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mysql"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// server is the test server's connection settings and an admin connection
// without a default database.
type server struct {
	cfg   *gomysql.Config
	admin *sql.DB
}

func newServer(t testing.TB) *server {
	t.Helper()
	dsn := testenv.MySQL(t)
	cfg, err := gomysql.ParseDSN(dsn)
	require.NoError(t, err)
	cfg.DBName = ""
	cfg.MultiStatements = true
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	return &server{cfg: cfg, admin: admin}
}

func (s *server) opts(db string) mysql.Options {
	return mysql.Options{Addr: s.cfg.Addr, User: s.cfg.User, Password: s.cfg.Passwd, Database: db}
}

func (s *server) open(t testing.TB, o mysql.Options) *mysql.Database {
	t.Helper()
	d, err := mysql.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// newDB creates an empty database that is dropped when the test ends.
func (s *server) newDB(t testing.TB) string {
	t.Helper()
	name := testenv.UniqueName(t)
	s.exec(t, "", "CREATE DATABASE "+name+" CHARACTER SET utf8mb4")
	s.dropLater(t, name)
	return name
}

func (s *server) dropLater(t testing.TB, name string) {
	t.Cleanup(func() { _, _ = s.admin.Exec("DROP DATABASE IF EXISTS " + name) })
}

// exec runs SQL (several statements allowed) in database db.
func (s *server) exec(t testing.TB, db, query string) {
	t.Helper()
	conn, err := s.admin.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	if db != "" {
		_, err = conn.ExecContext(context.Background(), "USE "+db)
		require.NoError(t, err)
	}
	_, err = conn.ExecContext(context.Background(), query)
	require.NoError(t, err, "exec %.200s", query)
}

// checksums returns CHECKSUM TABLE of every base table of db, and each
// table's rows as text sorted.
func (s *server) checksums(t testing.TB, db string) map[string]string {
	t.Helper()
	rows, err := s.admin.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", db)
	require.NoError(t, err)
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	out := map[string]string{}
	for _, n := range names {
		q := "`" + db + "`.`" + strings.ReplaceAll(n, "`", "``") + "`"
		// MariaDB's CHECKSUM TABLE is not stable for tables with VIRTUAL
		// columns (equal rows can give different sums); their row sets,
		// which include the virtual values, are compared instead.
		var virtual int
		require.NoError(t, s.admin.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA LIKE '%VIRTUAL%'", db, n).Scan(&virtual))
		if virtual == 0 {
			var name string
			var sum sql.NullInt64
			require.NoError(t, s.admin.QueryRow("CHECKSUM TABLE "+q).Scan(&name, &sum))
			out[n] = fmt.Sprint(sum.Int64, sum.Valid)
		}
		out[n+" rows"] = s.rowSet(t, q)
	}
	return out
}

func (s *server) rowSet(t testing.TB, q string) string {
	rows, err := s.admin.Query("SELECT * FROM " + q)
	require.NoError(t, err)
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		var b strings.Builder
		for _, v := range vals {
			if v == nil {
				b.WriteString("NULL|")
			} else {
				fmt.Fprintf(&b, "%q|", v)
			}
		}
		lines = append(lines, b.String())
	}
	require.NoError(t, rows.Err())
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

const typesTable = "CREATE TABLE types (" +
	" id INT PRIMARY KEY AUTO_INCREMENT," +
	" ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED," +
	" i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED," +
	" dec1 DECIMAL(30,10), f FLOAT, d DOUBLE, b BIT(10), b64 BIT(64)," +
	" c CHAR(10), vc VARCHAR(100), tx TEXT, l1 VARCHAR(50) CHARACTER SET latin1," +
	" bin BINARY(4), vb VARBINARY(20), bl BLOB," +
	" dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, y YEAR," +
	" e ENUM('a','b','c'), st SET('x','y','z'), js JSON, g GEOMETRY, p POINT," +
	" gen BIGINT AS (i * 2) VIRTUAL, gens VARCHAR(20) AS (LEFT(vc, 3)) PERSISTENT" +
	") ENGINE=InnoDB AUTO_INCREMENT=1000 DEFAULT CHARSET=utf8mb4;\n"

var seeds = []string{
	typesTable +
		"INSERT INTO types (ti,tiu,si,siu,mi,miu,i,iu,bi,biu,dec1,f,d,b,b64,c,vc,tx,l1,bin,vb,bl,dt,tm,dtm,ts,y,e,st,js,g,p) VALUES " +
		"(-128,255,-32768,65535,-8388608,16777215,-2147483648,4294967295,-9223372036854775808,18446744073709551615," +
		" '-12345678901234567890.0123456789', 3.4028234e38, 2.2250738585072014e-308, b'1010101010', 0xFFFFFFFFFFFFFFFF," +
		" 'ab', 'héllo 😀 \\' \" \\\\ \\n \\r \\0 \\Z end', REPEAT('long text ', 200), 'café ÿ', 0x00FF0001, 0x00, 0x00FF80C0000A0D1A5C27," +
		" '2024-02-29', '-838:59:59.999', '2024-02-29 23:59:59.123456', '2038-01-19 03:14:07.999999', 2155," +
		" 'c', 'x,z', '{\"a\": [1, 2.5, \"ü\"], \"b\": null}', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), POINT(1.5, -2.25)),\n" +
		"(127,0,32767,0,8388607,0,2147483647,0,9223372036854775807,0, '0.0000000001', 0.1, 0.1, b'0', 0," +
		" '', '', '', '', 0x00000000, '', ''," +
		" '1000-01-01', '00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01', 1901, 'a', '', '[]', NULL, NULL),\n" +
		"(NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),\n" +
		"(1,1,1,1,1,1,1,1,1,1, '1', -1.17549435e-38, 1e300, b'1', 1, 'x', '\\t tab; -- not a comment /* nor this */ # nor', 'multi\nline', 'x', 0x61, 0x616263, 0xDEADBEEF," +
		" '2000-01-01', '12:34:56.5', '2000-01-01 00:00:00.5', '2000-06-30 12:00:00.000001', 2000, 'b', 'x,y,z', '\"str\"', NULL, NULL);\n" +
		"DELETE FROM types WHERE id = 1001;\n" +
		"CREATE TABLE `empty table` (a INT) ENGINE=InnoDB;\n" +
		"CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;\n" +
		"CREATE TABLE child (id INT PRIMARY KEY, pid INT, note VARCHAR(20), FOREIGN KEY (pid) REFERENCES parent(id)) ENGINE=InnoDB;\n" +
		"INSERT INTO parent VALUES (1),(2);\n" +
		"INSERT INTO child VALUES (10,1,'a'),(11,2,'b');\n" +
		"CREATE TABLE `odd ``name`` ü` (`col; 1` VARCHAR(10)) ENGINE=InnoDB;\n" +
		"INSERT INTO `odd ``name`` ü` VALUES ('x'),('x'),(NULL);\n" +
		"CREATE VIEW v AS SELECT id, vc FROM types WHERE id > 1;\n" +
		"CREATE VIEW a_view AS SELECT id AS `the id` FROM v;\n" +
		"CREATE TRIGGER trg BEFORE INSERT ON child FOR EACH ROW BEGIN SET NEW.note = CONCAT(NEW.note, ';'); SET NEW.note = TRIM(NEW.note); END;\n",
	"CREATE TABLE other (id BIGINT PRIMARY KEY, v VARCHAR(40), b LONGBLOB) ENGINE=InnoDB;\n" +
		"SET SESSION max_recursive_iterations = 1000000;\n" +
		"INSERT INTO other WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 3000) SELECT n, CONCAT('row ', n), IF(n % 7 = 0, NULL, UNHEX(SHA2(n, 256))) FROM seq;\n" +
		"CREATE TABLE nopk (x INT, y TEXT) ENGINE=InnoDB;\n" +
		"INSERT INTO nopk VALUES (3,'c'),(1,'a'),(2,NULL),(1,'a');\n",
}

type harness struct {
	s    *server
	db   string
	src  *mysql.Database
	opts func(string) mysql.Options
	hide bool
}

func newHarness(t *testing.T) *harness {
	s := newServer(t)
	h := &harness{s: s, db: s.newDB(t)}
	h.opts = func(db string) mysql.Options {
		o := s.opts(db)
		o.Parallel = 3
		o.RowsPerInsert = 500
		o.MaxInsertBytes = 16 << 10
		return o
	}
	h.src = s.open(t, h.opts(h.db))
	return h
}

func (h *harness) Source(t testing.TB) source.Source {
	if h.hide {
		return restoreOnly{h.src}
	}
	return h.src
}

// restoreOnly hides a Database's abilities but Source, Restorer and Checker.
type restoreOnly struct{ *mysql.Database }

func (r restoreOnly) Inspect()       {}
func (r restoreOnly) ScratchTarget() {}
func (r restoreOnly) DropTarget()    {}
func (r restoreOnly) TargetSource()  {}

func (h *harness) Seed(t testing.TB, variant int) {
	t.Helper()
	h.s.exec(t, "", "DROP DATABASE IF EXISTS "+h.db+"; CREATE DATABASE "+h.db+" CHARACTER SET utf8mb4")
	h.s.exec(t, h.db, seeds[variant])
}

func (h *harness) RestoreTarget(t testing.TB) string {
	name := testenv.UniqueName(t)
	h.s.dropLater(t, name)
	return name
}

func (h *harness) OpenTarget(t testing.TB, target string) source.Source {
	return h.s.open(t, h.opts(target))
}

// canonical is a dump without its comment lines (which name the database).
func canonical(t testing.TB, snap []byte) any {
	t.Helper()
	if !bytes.HasPrefix(snap, []byte("-- backupkit MySQL dump")) {
		t.Fatalf("not a dump: %.40q", snap)
	}
	var out []string
	for l := range strings.SplitSeq(string(snap), "\n") {
		if !strings.HasPrefix(l, "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestConformance(t *testing.T) {
	h := newHarness(t)
	// A password that is part of the user name (scripts/test-all's account
	// is backupkit:backupkit) cannot be told apart in Info.Location;
	// TestBadInput checks errors with a distinctive password instead.
	secret := h.s.cfg.Passwd
	if strings.Contains(h.s.cfg.User+"@"+h.s.cfg.Addr, secret) {
		secret = ""
	}
	sourcetest.Run(t, h, sourcetest.Config{
		Canonical: canonical,
		Secret:    secret,
	})
}

// TestRoundTripChecksums restores with Restore and with the mysql client and
// compares CHECKSUM TABLE and row sets with the original.
func TestRoundTripChecksums(t *testing.T) {
	h := newHarness(t)
	for v := range seeds {
		h.Seed(t, v)
		want := h.s.checksums(t, h.db)
		require.NotEmpty(t, want)
		var dump bytes.Buffer
		info, err := h.src.Snapshot(t.Context(), &dump)
		require.NoError(t, err)
		assert.True(t, info.PointInTime)
		assert.Equal(t, "parallel-locked", info.Details["consistency"])

		target := h.RestoreTarget(t)
		require.NoError(t, h.src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
		assert.Equal(t, want, h.s.checksums(t, target), "variant %d restored by Restore", v)
		var again bytes.Buffer
		info2, err := h.s.open(t, h.opts(target)).Snapshot(t.Context(), &again)
		require.NoError(t, err)
		require.Len(t, info2.Items, len(info.Items))
		for i, it := range info.Items {
			assert.NotEmpty(t, it.Name)
			assert.Equal(t, it.Count, info2.Items[i].Count, it.Name)
			assert.Equal(t, it.Checksum, info2.Items[i].Checksum, it.Name)
		}
		// Inspect of the restored copy, under the source's names, equals
		// the snapshot's items.
		got, err := h.src.Inspect(t.Context(), target)
		require.NoError(t, err)
		assert.Equal(t, info.Items, got.Items, "variant %d: Inspect of the restore", v)

		viaClient := h.RestoreTarget(t)
		h.s.exec(t, "", "CREATE DATABASE "+viaClient)
		mysqlClient(t, h.s, viaClient, dump.Bytes())
		assert.Equal(t, want, h.s.checksums(t, viaClient), "variant %d loaded by the mysql client", v)
	}
}

// mysqlClient loads dump into db with the mysql command-line client (no
// default database when db is empty).
func mysqlClient(t testing.TB, s *server, db string, dump []byte) {
	t.Helper()
	bin, err := exec.LookPath("mysql")
	if err != nil {
		bin, err = exec.LookPath("mariadb")
	}
	if err != nil {
		if testenv.Required() {
			t.Fatal("the mysql client is not installed")
		}
		t.Skip("the mysql client is not installed")
	}
	host, port, _ := net.SplitHostPort(s.cfg.Addr)
	args := []string{"--protocol=TCP", "-h", host, "-P", port, "-u", s.cfg.User, "--binary-mode"}
	if db != "" {
		args = append(args, db)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	if s.cfg.Passwd != "" {
		cmd.Env = append(cmd.Environ(), "MYSQL_PWD="+s.cfg.Passwd)
	}
	cmd.Stdin = bytes.NewReader(dump)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "mysql client: %s", out)
}

// TestConsistentUnderWriters dumps while a writer moves amounts between two
// tables inside transactions (their total stays 0), and checks that the
// restored copy still totals 0.
func TestConsistentUnderWriters(t *testing.T) {
	s := newServer(t)
	for _, parallel := range []int{1, 4} {
		t.Run(fmt.Sprint("parallel", parallel), func(t *testing.T) {
			db := s.newDB(t)
			s.exec(t, db, "CREATE TABLE a (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;"+
				"CREATE TABLE b (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;"+
				"SET SESSION max_recursive_iterations = 1000000;"+
				"INSERT INTO a WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20000) SELECT n, 0 FROM seq;"+
				"INSERT INTO b SELECT * FROM a;")
			o := s.opts(db)
			o.Parallel = parallel
			o.RowsPerInsert = 100
			src := s.open(t, o)

			w, err := sql.Open("mysql", s.cfg.FormatDSN())
			require.NoError(t, err)
			defer w.Close()
			stop := make(chan struct{})
			started := make(chan struct{})
			var wg sync.WaitGroup
			var writes int
			var werr error
			wg.Go(func() {
				for i := 0; ; i++ {
					if i == 20 {
						close(started)
					}
					select {
					case <-stop:
						if i < 20 {
							close(started)
						}
						return
					default:
					}
					tx, err := w.Begin()
					if err != nil {
						werr = err
						return
					}
					id := i%20000 + 1
					q := fmt.Sprintf("UPDATE %s.a SET v = v + %d WHERE id = %d", db, i+1, id)
					q2 := fmt.Sprintf("UPDATE %s.b SET v = v - %d WHERE id = %d", db, i+1, 20001-id)
					q3 := fmt.Sprintf("INSERT INTO %s.a VALUES (%d, 7)", db, 100000+i)
					q4 := fmt.Sprintf("INSERT INTO %s.b VALUES (%d, -7)", db, 100000+i)
					for _, q := range []string{q, q3, q2, q4} {
						if _, err := tx.Exec(q); err != nil {
							_ = tx.Rollback()
							werr = err
							return
						}
					}
					if err := tx.Commit(); err != nil {
						werr = err
						return
					}
					writes++
				}
			})
			<-started
			var dump bytes.Buffer
			_, err = src.Snapshot(t.Context(), &dump)
			close(stop)
			wg.Wait()
			require.NoError(t, err)
			require.NoError(t, werr)
			t.Logf("%d writer transactions committed", writes)

			target := testenv.UniqueName(t)
			s.dropLater(t, target)
			require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
			var total, na, nb int64
			require.NoError(t, s.admin.QueryRow(fmt.Sprintf("SELECT (SELECT SUM(v) FROM %[1]s.a) + (SELECT SUM(v) FROM %[1]s.b), (SELECT COUNT(*) FROM %[1]s.a), (SELECT COUNT(*) FROM %[1]s.b)", target)).Scan(&total, &na, &nb))
			assert.Zero(t, total, "the restored copy breaks the invariant: not one point in time")
			assert.Equal(t, na, nb, "a and b grow together")
		})
	}
}

func TestBadInput(t *testing.T) {
	s := newServer(t)
	db := s.newDB(t)
	const pw = "wrong-Pa55word-xyzzy"
	o := s.opts(db)
	o.Password = pw
	src := s.open(t, o)
	err := src.Check(t.Context())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
	assert.Contains(t, err.Error(), "Access denied")
	_, err = src.Snapshot(t.Context(), &bytes.Buffer{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)

	missing := s.open(t, s.opts("bknosuchdatabase"))
	err = missing.Check(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist")
	_, err = missing.Snapshot(t.Context(), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist")

	_, err = source.Open(t.Context(), "mysql://u:"+pw+"@127.0.0.1:1/db?bogus=1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
}

func TestProbe(t *testing.T) {
	s := newServer(t)
	db := s.newDB(t)
	s.exec(t, db, "CREATE TABLE t (a INT)")
	st, err := s.open(t, s.opts(db)).Probe(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, st.ServerVersion)
	assert.Equal(t, "parallel-locked", st.Consistency)
	assert.Equal(t, 1, st.Tables)
}

// TestUnprivileged uses an account without RELOAD: the snapshot falls back
// to one connection and says so.
func TestUnprivileged(t *testing.T) {
	s := newServer(t)
	db := s.newDB(t)
	s.exec(t, db, "CREATE TABLE t (a INT PRIMARY KEY); INSERT INTO t VALUES (1),(2)")
	user := testenv.UniqueName(t)
	s.exec(t, "", fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw-%s'; GRANT SELECT, SHOW VIEW, TRIGGER ON %s.* TO '%s'@'%%'", user, user, db, user))
	t.Cleanup(func() { _, _ = s.admin.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	o := s.opts(db)
	o.User, o.Password = user, "pw-"+user
	src := s.open(t, o)

	// Without any privilege on a database the account cannot even see it.
	other := s.newDB(t)
	s.exec(t, other, "CREATE TABLE t (a INT)")
	noAccess := s.open(t, func() mysql.Options { o := o; o.Database = other; return o }())
	err := noAccess.Check(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot see it")
	_, err = noAccess.Snapshot(t.Context(), &bytes.Buffer{})
	require.Error(t, err)
	// A table the account may not read fails Check, naming the table.
	s.exec(t, db, "CREATE TABLE secret (a INT)")
	s.exec(t, "", fmt.Sprintf("REVOKE SELECT ON %s.* FROM '%s'@'%%'; GRANT SELECT ON %s.t TO '%s'@'%%'", db, user, db, user))
	err = src.Check(t.Context())
	if err == nil {
		t.Log("the server lists only readable tables: Check passes")
	} else {
		assert.Contains(t, err.Error(), "secret")
	}
	s.exec(t, "", fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'; DROP TABLE %s.secret", db, user, db))

	st, err := src.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "single-connection", st.Consistency)
	assert.Contains(t, st.Reason, "RELOAD")
	var dump bytes.Buffer
	info, err := src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	assert.Equal(t, "single-connection", info.Details["consistency"])
	assert.Contains(t, info.Details["consistency_reason"], "RELOAD")
	assert.True(t, info.PointInTime)
	require.Len(t, info.Items, 1)
	assert.Equal(t, db+".t", info.Items[0].Name)
	assert.Equal(t, int64(2), info.Items[0].Count)
}

// TestTruncatedLeavesNoTrace: a truncated dump fails, the target database
// is not created and no scratch database is left.
func TestTruncatedLeavesNoTrace(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 0)
	var dump bytes.Buffer
	_, err := h.src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	target := h.RestoreTarget(t)
	for _, cut := range []int{dump.Len() / 2, dump.Len() - 2, bytes.LastIndex(dump.Bytes(), []byte("-- backupkit dump end"))} {
		err := h.src.Restore(t.Context(), bytes.NewReader(dump.Bytes()[:cut]), source.RestoreOptions{Target: target})
		require.ErrorIs(t, err, mysql.ErrTruncated, "cut at %d", cut)
		var n int
		require.NoError(t, h.s.admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&n))
		assert.Zero(t, n, "a failed restore created the target")
		assert.Zero(t, h.s.scratchLeft(t, target), "a failed restore left a scratch database")
	}
	// A changed byte is caught by the checksum.
	bad := bytes.Clone(dump.Bytes())
	i := bytes.Index(bad, []byte("héllo"))
	bad[i] = 'H'
	err = h.src.Restore(t.Context(), bytes.NewReader(bad), source.RestoreOptions{Target: target, DryRun: true})
	require.ErrorIs(t, err, mysql.ErrNotDump)
}

// killingWriter kills the snapshot's connections (those using db) on its
// first write, as if the server went away mid-dump.
type killingWriter struct {
	t      testing.TB
	s      *server
	db     string
	killed bool
	bytes.Buffer
}

func (w *killingWriter) Write(p []byte) (int, error) {
	if !w.killed {
		w.killed = true
		rows, err := w.s.admin.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", w.db)
		require.NoError(w.t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			require.NoError(w.t, rows.Scan(&id))
			ids = append(ids, id)
		}
		rows.Close()
		require.NotEmpty(w.t, ids)
		for _, id := range ids {
			_, _ = w.s.admin.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
		}
	}
	return w.Buffer.Write(p)
}

// TestServerGoesAway: connections killed mid-dump make Snapshot fail.
func TestServerGoesAway(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 1)
	w := &killingWriter{t: t, s: h.s, db: h.db}
	_, err := h.src.Snapshot(t.Context(), w)
	require.Error(t, err)
	t.Log(err)
	// The source still works afterwards.
	_, err = h.src.Snapshot(t.Context(), &bytes.Buffer{})
	require.NoError(t, err)
}

// TestRestoreRefusesForeign: a mysqldump-style file and a dump with an
// extra USE statement are refused before anything is loaded.
func TestRestoreRefusesForeign(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 1)
	var dump bytes.Buffer
	_, err := h.src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	err = h.src.Restore(t.Context(), strings.NewReader("-- Some other dump\nCREATE TABLE x (a INT);\n"), source.RestoreOptions{Target: h.RestoreTarget(t), DryRun: true})
	require.ErrorIs(t, err, mysql.ErrNotDump)
	err = h.src.Restore(t.Context(), strings.NewReader("-- MySQL dump 10.13\nCREATE TABLE x (a INT);\n"), source.RestoreOptions{Target: h.RestoreTarget(t), DryRun: true})
	require.ErrorIs(t, err, mysql.ErrTruncated, "a mysqldump file without its completion line")
	evil := strings.Replace(dump.String(), "SET NAMES utf8mb4;\n", "SET NAMES utf8mb4;\nUSE mysql;\n", 1)
	err = h.src.Restore(t.Context(), strings.NewReader(evil), source.RestoreOptions{Target: h.RestoreTarget(t)})
	require.ErrorContains(t, err, "not allowed")
}

func TestSplitter(t *testing.T) {
	in := "SET a=1;\n-- comment ; here\n# another ;\nINSERT INTO `x;y` VALUES ('a;b', \"c\\\";d\", 'e''f;', /* c;o */ 1);\n" +
		"/*!40101 SET x=2 */;\nDELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END ;;\nDELIMITER ;\n;\nSELECT 1;"
	sp := mysql.NewSplitter(strings.NewReader(in))
	var got []string
	for {
		st, err := sp.Next()
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
		got = append(got, string(st))
	}
	assert.Equal(t, []string{
		"SET a=1",
		"INSERT INTO `x;y` VALUES ('a;b', \"c\\\";d\", 'e''f;',  1)",
		"/*!40101 SET x=2 */",
		"CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END",
		"SELECT 1",
	}, got)
	for _, bad := range []string{"SELECT 'abc", "SELECT 1", "SELECT /* x", "SELECT `a"} {
		sp := mysql.NewSplitter(strings.NewReader(bad))
		_, err := sp.Next()
		assert.ErrorIs(t, err, mysql.ErrTruncated, bad)
	}
}

func TestWhereAndFilters(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 1)
	src, err := source.Open(t.Context(), "mysql://"+h.s.cfg.User+":"+h.s.cfg.Passwd+"@"+h.s.cfg.Addr+"/"+h.db+"?where=other:id%3C%3D10&exclude=nopk&parallel=2")
	require.NoError(t, err)
	var dump bytes.Buffer
	info, err := src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	require.Len(t, info.Items, 1)
	assert.Equal(t, int64(10), info.Items[0].Count)
	assert.Equal(t, "id<=10", info.Details["where.other"])
	assert.NotContains(t, dump.String(), "nopk")

	schema := h.opts(h.db)
	schema.SchemaOnly = true
	info, err = h.s.open(t, schema).Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	for _, it := range info.Items {
		assert.Zero(t, it.Count)
	}
}

// TestChunks splits a table into primary key ranges dumped by several
// connections: the table's statements stay contiguous and the data equal.
func TestChunks(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 1)
	h.s.exec(t, h.db, "ANALYZE TABLE other")
	whole := h.opts(h.db)
	whole.Parallel = 1
	var plain bytes.Buffer
	want, err := h.s.open(t, whole).Snapshot(t.Context(), &plain)
	require.NoError(t, err)

	o := h.opts(h.db)
	o.Parallel = 3
	o.ChunkRows = 400
	var dump bytes.Buffer
	info, err := h.s.open(t, o).Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	require.NotEmpty(t, info.Details["chunks"], "the table was not split")
	assert.Equal(t, want.Items, info.Items)
	assert.Equal(t, 1, strings.Count(dump.String(), "CREATE TABLE `other`"))

	target := h.RestoreTarget(t)
	require.NoError(t, h.src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
	assert.Equal(t, h.s.checksums(t, h.db), h.s.checksums(t, target))
	// Rows are in key order across chunks: the restored copy dumps like the
	// unchunked original.
	var again bytes.Buffer
	_, err = h.s.open(t, func() mysql.Options { o := whole; o.Database = target; return o }()).Snapshot(t.Context(), &again)
	require.NoError(t, err)
	assert.Equal(t, canonical(t, plain.Bytes()), canonical(t, again.Bytes()))
}

func TestStringsHidePassword(t *testing.T) {
	o := mysql.Options{User: "u", Password: "hunter2-secret", Database: "db"}
	assert.NotContains(t, fmt.Sprint(o), "hunter2-secret")
	assert.NotContains(t, fmt.Sprintf("%+v", o), "hunter2-secret")
	d, err := mysql.New(o)
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, "mysql://u@127.0.0.1:3306/db", d.String())
	assert.NotContains(t, fmt.Sprintf("%+v %v", d, d), "hunter2-secret")
}

func TestRoutinesAndEvents(t *testing.T) {
	s := newServer(t)
	db := s.newDB(t)
	s.exec(t, db, "CREATE TABLE t (a INT PRIMARY KEY);"+
		"CREATE PROCEDURE p(IN x INT) BEGIN INSERT INTO t VALUES (x); SELECT 'a;b'; END;"+
		"CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;"+
		"CREATE EVENT e ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM t;")
	o := s.opts(db)
	o.Routines, o.Events = true, true
	src := s.open(t, o)
	var dump bytes.Buffer
	_, err := src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	for _, want := range []string{"DROP PROCEDURE IF EXISTS `p`", "DROP FUNCTION IF EXISTS `f`", "DROP EVENT IF EXISTS `e`"} {
		assert.Contains(t, dump.String(), want)
	}
	for _, how := range []string{"restore", "client"} {
		target := testenv.UniqueName(t) + how[:1]
		s.dropLater(t, target)
		if how == "restore" {
			require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
		} else {
			s.exec(t, "", "CREATE DATABASE "+target)
			mysqlClient(t, s, target, dump.Bytes())
		}
		var n int
		require.NoError(t, s.admin.QueryRow("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", target).Scan(&n))
		assert.Equal(t, 2, n, how)
		require.NoError(t, s.admin.QueryRow("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", target).Scan(&n))
		assert.Equal(t, 1, n, how)
		var v int
		require.NoError(t, s.admin.QueryRow("SELECT `"+target+"`.f(21)").Scan(&v))
		assert.Equal(t, 42, v)
	}
}

// canonicalMysqldump is a mysqldump file without its comments and the
// mariadb-dump sandbox line.
func canonicalMysqldump(t testing.TB, snap []byte) any {
	t.Helper()
	var out []string
	for l := range strings.SplitSeq(string(snap), "\n") {
		if !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, "/*M!999999") {
			out = append(out, l)
		}
	}
	if len(out) < 5 {
		t.Fatalf("not a mysqldump file: %.60q", snap)
	}
	return strings.Join(out, "\n")
}

// TestConformanceMysqldump runs the suite with the engine that runs
// mysqldump; Restore loads its output.
func TestConformanceMysqldump(t *testing.T) {
	needMysqldump(t)
	h := newHarness(t)
	base := h.opts
	h.opts = func(db string) mysql.Options {
		o := base(db)
		o.Engine = mysql.EngineMysqldump
		return o
	}
	h.src = h.s.open(t, h.opts(h.db))
	// The mysqldump engine records no Info.Items: Inspect cannot be
	// compared with its snapshots, so the suite sees no Inspector.
	h.hide = true
	secret := h.s.cfg.Passwd
	if strings.Contains(h.s.cfg.User+"@"+h.s.cfg.Addr, secret) {
		secret = ""
	}
	sourcetest.Run(t, h, sourcetest.Config{
		Canonical: canonicalMysqldump,
		Secret:    secret,
	})
}

func TestMysqldumpMissing(t *testing.T) {
	d, err := mysql.New(mysql.Options{Database: "db", Engine: mysql.EngineMysqldump, DumpProgram: "bk-no-such-dump-program"})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Snapshot(t.Context(), &bytes.Buffer{})
	require.ErrorContains(t, err, "not found")
	_, err = mysql.New(mysql.Options{Database: "db", Engine: "bogus"})
	require.Error(t, err)
}

// needMysqldump skips t (fails it under scripts/test-all) when neither
// mysqldump nor mariadb-dump is installed.
func needMysqldump(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mysqldump"); err != nil {
		if _, err := exec.LookPath("mariadb-dump"); err != nil {
			if testenv.Required() {
				t.Fatal("mysqldump is not installed")
			}
			t.Skip("mysqldump is not installed")
		}
	}
}
