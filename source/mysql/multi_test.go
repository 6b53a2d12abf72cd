package mysql_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mysql"
)

// twoDatabases creates two databases with a table of the same name in each,
// a view, a trigger and a routine, and returns their names, sorted.
func twoDatabases(t *testing.T, s *server) (string, string) {
	a, b := s.newDB(t), s.newDB(t)
	if b < a {
		a, b = b, a
	}
	s.exec(t, a, seeds[1]+"CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10)); INSERT INTO t VALUES (1,'a'),(2,'😀');"+
		"CREATE VIEW v AS SELECT id FROM t;")
	s.exec(t, b, "CREATE TABLE t (id INT PRIMARY KEY, n BIGINT) CHARACTER SET latin1; INSERT INTO t VALUES (7, -1);"+
		"CREATE TABLE log (x INT);"+
		"CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (NEW.id);"+
		"CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN x + 1;")
	return a, b
}

func (s *server) objects(t testing.TB, db string) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SELECT CONCAT(TABLE_TYPE, ' ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
		"SELECT CONCAT('TRIGGER ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1",
		"SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY 1",
	} {
		rows, err := s.admin.Query(q, db)
		require.NoError(t, err)
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			out = append(out, n)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return strings.Join(out, ", ")
}

// state is what a test compares to tell that a database did not change.
func (s *server) state(t testing.TB, db string) string {
	return fmt.Sprint(s.objects(t, db), s.checksums(t, db))
}

func (s *server) exists(t testing.TB, db string) bool {
	var n int
	require.NoError(t, s.admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&n))
	return n > 0
}

func (s *server) scratchLeft(t testing.TB, target string) int {
	var n int
	require.NoError(t, s.admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
		`bkscratch\_%\_`+target).Scan(&n))
	return n
}

// TestMultiDatabase dumps two databases in one snapshot, restores them under
// other names with a map and a pattern, checks what an ambiguous target
// gets, and loads the same dump with the mysql client.
func TestMultiDatabase(t *testing.T) {
	s := newServer(t)
	a, b := twoDatabases(t, s)
	want := map[string]string{a: s.state(t, a), b: s.state(t, b)}
	url := fmt.Sprintf("mysql://%s:%s@%s/?databases=%s,%s&parallel=2&rows_per_insert=100&routines=true", s.cfg.User, s.cfg.Passwd, s.cfg.Addr, b, a)
	opened, err := source.Open(t.Context(), url)
	require.NoError(t, err)
	src := opened.(*mysql.Database)
	t.Cleanup(func() { src.Close() })
	var dump bytes.Buffer
	info, err := src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	assert.True(t, info.PointInTime)
	var names []string
	for _, it := range info.Items {
		names = append(names, it.Name)
	}
	assert.Equal(t, []string{a + ".nopk", a + ".other", a + ".t", a + ".v", b + ".log", b + ".t"}, names)
	assert.Contains(t, dump.String(), "CREATE DATABASE IF NOT EXISTS `"+a+"` DEFAULT CHARACTER SET utf8mb4")
	assert.Contains(t, dump.String(), "USE `"+b+"`;\n")
	assert.Contains(t, info.Location, "?databases="+a+","+b)

	// A map.
	a2, b2 := a+"m", b+"m"
	s.dropLater(t, a2)
	s.dropLater(t, b2)
	target := a + "=" + a2 + "," + b + "=" + b2
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
	assert.Equal(t, want[a], s.state(t, a2))
	assert.Equal(t, want[b], s.state(t, b2))
	got, err := src.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items, "Inspect of the restore")
	assert.Zero(t, s.scratchLeft(t, a2)+s.scratchLeft(t, b2))
	// The trigger works in its new home.
	s.exec(t, b2, "INSERT INTO t VALUES (8, 0)")
	var logged int
	require.NoError(t, s.admin.QueryRow("SELECT COUNT(*) FROM "+b2+".log").Scan(&logged))
	assert.Equal(t, 1, logged)

	// Restored again over itself: refused without DropExisting, then
	// replaced with it.
	err = src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target})
	require.ErrorContains(t, err, "already holds")
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target, DropExisting: true}))
	assert.Equal(t, want[b], s.state(t, b2))

	// A snapshot of the target, taken as the engine's safety backup, names
	// the databases as the source does: restored with the same Target, it
	// puts them back.
	ts, err := src.TargetSource(target)
	require.NoError(t, err)
	var safety bytes.Buffer
	_, err = ts.Snapshot(t.Context(), &safety)
	require.NoError(t, err)
	assert.Equal(t, canonical(t, dump.Bytes()), canonical(t, safety.Bytes()))

	// A pattern.
	s.dropLater(t, a+"p")
	s.dropLater(t, b+"p")
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: "*p"}))
	assert.Equal(t, want[a], s.state(t, a+"p"))
	assert.Equal(t, want[b], s.state(t, b+"p"))
	got, err = src.Inspect(t.Context(), "*p")
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items)

	// Ambiguous or incomplete targets are refused, in a dry run too, and
	// leave nothing behind.
	one := a + "x"
	s.dropLater(t, one)
	for _, dry := range []bool{true, false} {
		err = src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: one, DryRun: dry})
		require.ErrorContains(t, err, "ambiguous")
		err = src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: a + "=" + one, DryRun: dry})
		require.ErrorContains(t, err, "no entry for database")
	}
	assert.False(t, s.exists(t, one))
	assert.Zero(t, s.scratchLeft(t, one))
	for _, bad := range []string{"a=x,b=x", "*x*", "a=mysql", "x.y"} {
		err = src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: bad, DryRun: true})
		assert.Error(t, err, bad)
	}

	// DropTarget drops scratch copies, never the source's databases.
	require.Error(t, src.DropTarget(t.Context(), ""))
	require.ErrorContains(t, src.DropTarget(t.Context(), a+"="+a), "refusing")
	require.NoError(t, src.DropTarget(t.Context(), "*p"))
	assert.False(t, s.exists(t, a+"p"))
	assert.False(t, s.exists(t, b+"p"))
	assert.True(t, s.exists(t, a))
	scratch, err := src.ScratchTarget(t.Context(), "run 42")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(scratch, mysql.ScratchPrefix+"run_42_") && strings.HasSuffix(scratch, "_*"), scratch)

	// The mysql client loads the same dump into the original databases.
	s.exec(t, "", "DROP DATABASE "+a+"; DROP DATABASE "+b)
	mysqlClient(t, s, "", dump.Bytes())
	assert.Equal(t, want[a], s.state(t, a))
	assert.Equal(t, want[b], s.state(t, b))
}

// TestAllDatabases dumps every database ("*"), limited by table patterns to
// two of them, which other test runs cannot disturb.
func TestAllDatabases(t *testing.T) {
	s := newServer(t)
	a, b := twoDatabases(t, s)
	o := s.opts("")
	o.Databases = []string{"*"}
	o.Tables = []string{a + ".*", b + ".*"}
	src := s.open(t, o)
	var dump bytes.Buffer
	var info source.Info
	var err error
	for range 3 { // another run may drop its database mid-dump
		dump.Reset()
		if info, err = src.Snapshot(t.Context(), &dump); err == nil {
			break
		}
	}
	require.NoError(t, err)
	n := 0
	for _, it := range info.Items {
		assert.True(t, strings.HasPrefix(it.Name, a+".") || strings.HasPrefix(it.Name, b+"."), it.Name)
		n++
	}
	assert.Equal(t, 6, n)
	for _, sys := range []string{"mysql", "information_schema", "performance_schema", "sys"} {
		assert.NotContains(t, dump.String(), "CREATE DATABASE IF NOT EXISTS `"+sys+"`")
	}
	assert.NotContains(t, dump.String(), "CREATE DATABASE IF NOT EXISTS `bkscratch_")
	// Restoring a dump of everything needs a target for every database.
	err = src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: a + "=" + a + "z", DryRun: true})
	require.ErrorContains(t, err, "no entry")
	_, err = source.Open(t.Context(), "mysql://u@h/db?databases=x")
	require.ErrorContains(t, err, "not both")
	_, err = mysql.New(mysql.Options{Databases: []string{"*", "x"}})
	require.Error(t, err)
}

// failAt is a reader that runs hook once after n bytes and then goes on,
// or fails with err at the end when err is set.
type failAt struct {
	r    io.Reader
	n    int
	hook func()
	err  error
}

func (f *failAt) Read(p []byte) (int, error) {
	if f.hook != nil && f.n <= 0 {
		f.hook()
		f.hook = nil
	}
	if f.hook != nil && len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	if err == io.EOF && f.err != nil {
		return n, f.err
	}
	return n, err
}

// TestRestoreLeavesTargetOnFailure restores over a target that holds data
// (DropExisting) with a truncated dump, a reader that fails at its very
// end, a canceled context and a connection killed mid-load: each fails,
// the target stays exactly as it was and no scratch database is left.
func TestRestoreLeavesTargetOnFailure(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 1)
	var dump bytes.Buffer
	_, err := h.src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	h.Seed(t, 0)
	target := h.RestoreTarget(t)
	var old bytes.Buffer
	_, err = h.src.Snapshot(t.Context(), &old)
	require.NoError(t, err)
	require.NoError(t, h.src.Restore(t.Context(), bytes.NewReader(old.Bytes()), source.RestoreOptions{Target: target}))
	before := h.s.state(t, target)
	opts := source.RestoreOptions{Target: target, DropExisting: true}
	check := func(what string) {
		t.Helper()
		assert.Equal(t, before, h.s.state(t, target), "%s changed the target", what)
		assert.Zero(t, h.s.scratchLeft(t, target), "%s left a scratch database", what)
	}

	err = h.src.Restore(t.Context(), bytes.NewReader(dump.Bytes()[:dump.Len()-10]), opts)
	require.ErrorIs(t, err, mysql.ErrTruncated)
	check("a truncated dump")

	checksum := errors.New("checksum mismatch (test)")
	err = h.src.Restore(t.Context(), &failAt{r: bytes.NewReader(dump.Bytes()), err: checksum}, opts)
	require.ErrorIs(t, err, checksum)
	check("a reader failing at the end")

	killed := false
	kill := func() {
		rows, err := h.s.admin.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB LIKE ?", `bkscratch\_%\_`+target)
		require.NoError(t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := h.s.admin.Exec(fmt.Sprintf("KILL CONNECTION %d", id)); err == nil {
				killed = true
			}
		}
	}
	err = h.src.Restore(t.Context(), &failAt{r: bytes.NewReader(dump.Bytes()), n: dump.Len() / 2, hook: kill}, opts)
	require.True(t, killed, "no restore connection found to kill")
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "mysql: restore")
	check("a killed connection")

	ctx, cancel := contextCancelAt(t)
	err = h.src.Restore(ctx, &failAt{r: bytes.NewReader(dump.Bytes()), n: dump.Len() / 2, hook: cancel}, opts)
	require.ErrorIs(t, err, errCanceled)
	check("a cancel mid-load")

	// And the same dump, whole, replaces the target.
	require.NoError(t, h.src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), opts))
	assert.NotEqual(t, before, h.s.state(t, target))
	assert.Zero(t, h.s.scratchLeft(t, target))
}

var errCanceled = context.Canceled

func contextCancelAt(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// TestMultiDatabaseMysqldump: the mysqldump engine dumps several databases
// with --databases, and Restore maps them like its own dumps.
func TestMultiDatabaseMysqldump(t *testing.T) {
	needMysqldump(t)
	s := newServer(t)
	a, b := twoDatabases(t, s)
	o := s.opts("")
	o.Databases = []string{a, b}
	o.Engine = mysql.EngineMysqldump
	o.Routines = true
	o.Exclude = []string{b + ".log"}
	src := s.open(t, o)
	var dump bytes.Buffer
	_, err := src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	assert.Contains(t, dump.String(), "USE `"+b+"`;")
	assert.NotContains(t, dump.String(), "CREATE TABLE `log`")
	target := "*m"
	s.dropLater(t, a+"m")
	s.dropLater(t, b+"m")
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
	assert.Equal(t, s.checksums(t, a), s.checksums(t, a+"m"))
	assert.Equal(t, s.objects(t, a), s.objects(t, a+"m"))
	assert.Equal(t, strings.Replace(s.objects(t, b), "BASE TABLE log, ", "", 1), s.objects(t, b+"m"))
	assert.Zero(t, s.scratchLeft(t, a+"m")+s.scratchLeft(t, b+"m"))
}
