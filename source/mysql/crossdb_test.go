package mysql_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mysql"
)

// TestCrossDatabaseReferences: views, triggers and foreign keys of one
// database of a dump that use another database of the same dump. The dump loads where neither
// database exists (the mysql client too), and restored under other names
// they use the restored databases, not the originals.
func TestCrossDatabaseReferences(t *testing.T) {
	s := newServer(t)
	a, b := s.newDB(t), s.newDB(t)
	if b < a {
		a, b = b, a
	}
	// a (dumped first) uses b, and b uses a.
	s.exec(t, b, "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20)) ENGINE=InnoDB; INSERT INTO t VALUES (1, 'from b');"+
		"CREATE TABLE log (id INT);"+
		"CREATE FUNCTION f(x INT) RETURNS VARCHAR(20) DETERMINISTIC RETURN CONCAT('f', x);")
	s.exec(t, a, "CREATE TABLE u (id INT PRIMARY KEY, tid INT, FOREIGN KEY (tid) REFERENCES `"+b+"`.t (id)) ENGINE=InnoDB; INSERT INTO u VALUES (1, 1);"+
		"CREATE VIEW va AS SELECT t.id, t.s, '`"+b+"`.`t` in a string' AS note, `"+b+"`.f(t.id) AS fx FROM `"+b+"`.t AS t JOIN u ON u.id = t.id;"+
		"CREATE TRIGGER tr AFTER INSERT ON u FOR EACH ROW INSERT INTO `"+b+"`.log VALUES (NEW.id);")
	s.exec(t, b, "CREATE VIEW vb AS SELECT va.id, va.s FROM `"+a+"`.va AS va;")

	src, err := mysql.New(mysql.Options{Addr: s.cfg.Addr, User: s.cfg.User, Password: s.cfg.Passwd, Databases: []string{a, b}, Routines: true})
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	var dump bytes.Buffer
	_, err = src.Snapshot(t.Context(), &dump)
	require.NoError(t, err)
	// Every view definition comes after every table.
	text := dump.String()
	assert.Less(t, strings.LastIndex(text, "CREATE TABLE"), strings.Index(text, "SQL SECURITY"), "view definitions after the tables")

	showView := func(db, view string) string {
		var name, def, cs, coll string
		require.NoError(t, s.admin.QueryRow("SHOW CREATE VIEW `"+db+"`.`"+view+"`").Scan(&name, &def, &cs, &coll))
		return def
	}
	query := func(q string) string {
		var out string
		require.NoError(t, s.admin.QueryRow(q).Scan(&out))
		return out
	}

	// Under other names, next to the originals.
	a2, b2 := a+"x", b+"x"
	s.dropLater(t, a2)
	s.dropLater(t, b2)
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: a + "=" + a2 + "," + b + "=" + b2}))
	s.exec(t, b2, "UPDATE t SET s = 'from b2'")
	assert.Equal(t, "from b2", query("SELECT s FROM `"+a2+"`.va"), "a2's view reads b2")
	assert.Equal(t, "from b2", query("SELECT s FROM `"+b2+"`.vb"), "b2's view reads a2's view")
	assert.NotContains(t, showView(a2, "va"), "`"+b+"`.`t`.", "no reference to the original")
	assert.Contains(t, showView(a2, "va"), "'`"+b+"`.`t` in a string'", "string literals are left alone")
	assert.NotContains(t, showView(a2, "va"), mysql.ScratchPrefix)
	assert.Contains(t, showView(a2, "va"), "`"+b2+"`.`f`(", "a2's view calls b2's function")
	assert.Equal(t, "f1", query("SELECT fx FROM `"+a2+"`.va"))
	showTable := func(db, table string) string {
		var name, def string
		require.NoError(t, s.admin.QueryRow("SHOW CREATE TABLE `"+db+"`.`"+table+"`").Scan(&name, &def))
		return def
	}
	assert.Contains(t, showTable(a2, "u"), "REFERENCES `"+b2+"`.`t`", "a2's foreign key points at b2")
	s.exec(t, a2, "INSERT INTO u VALUES (2, NULL)")
	assert.Equal(t, "1", query("SELECT COUNT(*) FROM `"+b2+"`.log"), "a2's trigger writes to b2")
	assert.Equal(t, "0", query("SELECT COUNT(*) FROM `"+b+"`.log"), "not to the original")

	// A mysqldump dump: its views are pointed at the new names too (its
	// header does not list the databases, so foreign keys are not).
	t.Run("mysqldump", func(t *testing.T) {
		needMysqldump(t)
		o := s.opts("")
		o.Databases, o.Engine, o.Routines = []string{a, b}, mysql.EngineMysqldump, true
		md := s.open(t, o)
		var out bytes.Buffer
		_, err := md.Snapshot(t.Context(), &out)
		require.NoError(t, err)
		a3, b3 := a+"y", b+"y"
		s.dropLater(t, a3)
		s.dropLater(t, b3)
		require.NoError(t, md.Restore(t.Context(), bytes.NewReader(out.Bytes()), source.RestoreOptions{Target: a + "=" + a3 + "," + b + "=" + b3}))
		s.exec(t, b3, "UPDATE t SET s = 'from b3'")
		assert.Equal(t, "from b3", query("SELECT s FROM `"+a3+"`.va"))
		assert.Equal(t, "from b3", query("SELECT s FROM `"+b3+"`.vb"))
		s.exec(t, "", "SET FOREIGN_KEY_CHECKS=0; DROP DATABASE `"+a3+"`; DROP DATABASE `"+b3+"`")
	})

	// Where neither database exists: backupkit, then the mysql client.
	for _, load := range []string{"restore", "mysql client"} {
		t.Run(load, func(t *testing.T) {
			s.exec(t, "", fmt.Sprintf("DROP DATABASE `%s`; DROP DATABASE `%s`", a, b))
			if load == "restore" {
				require.NoError(t, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{}))
			} else {
				mysqlClient(t, s, "", dump.Bytes())
			}
			assert.Equal(t, "from b", query("SELECT s FROM `"+a+"`.va"))
			assert.Equal(t, "from b", query("SELECT s FROM `"+b+"`.vb"))
			assert.Contains(t, showTable(a, "u"), "REFERENCES `"+b+"`.`t`")
			assert.Zero(t, s.scratchLeft(t, a)+s.scratchLeft(t, b))
		})
	}
}
