package mysql

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRequalifier(t *testing.T) {
	q := requalifier{
		to: map[string]string{"a": "a2", "b": "b`2", "s1": "a2"},
		names: map[string]map[string]bool{
			"a": {"t": true, "v": true}, "b": {"log": true, "t": true}, "s1": {"t": true},
		},
	}
	for in, want := range map[string]string{
		"select `a`.`t`.`id` AS `id` from `a`.`t`":                "select `a2`.`t`.`id` AS `id` from `a2`.`t`",
		"INSERT INTO b.log VALUES (NEW.id)":                       "INSERT INTO `b``2`.log VALUES (NEW.id)",
		"INSERT INTO `b`.`log` SELECT * FROM s1.t":                "INSERT INTO `b``2`.`log` SELECT * FROM `a2`.t",
		"select `a`.`nope` from `a`.`nope`":                       "select `a`.`nope` from `a`.`nope`", // not a table of a
		"select 'a.t', \"`a`.`t`\", 'it''s a.t' from a.t":         "select 'a.t', \"`a`.`t`\", 'it''s a.t' from `a2`.t",
		"select 'esc\\' a.t' from x":                              "select 'esc\\' a.t' from x",
		"select 1 -- a.t\n, 2 # a.t\n/* a.t */ from a.t":          "select 1 -- a.t\n, 2 # a.t\n/* a.t */ from `a2`.t",
		"/*!50001 VIEW `v` AS select `a`.`t`.`x` from `a`.`t` */": "/*!50001 VIEW `v` AS select `a2`.`t`.`x` from `a2`.`t` */",
		"select xa.t, ab.t, @a.t, 1.5, a.t2":                      "select xa.t, ab.t, @a.t, 1.5, a.t2", // other names, a variable, a number
		"select `a``b`.`t`":                                       "select `a``b`.`t`",
		"select `a`.`t":                                           "select `a`.`t", // unbalanced: left to the server
		"select t.id from a.t as t":                               "select t.id from `a2`.t as t",
	} {
		assert.Equal(t, want, string(q.rewrite([]byte(in))), in)
	}
	assert.Equal(t, "select a.t", string(requalifier{}.rewrite([]byte("select a.t"))), "an empty requalifier changes nothing")

	// Only the first part of a longer name can be a database.
	three := requalifier{to: map[string]string{"a": "a2", "b": "b2"},
		names: map[string]map[string]bool{"a": {"b": true}, "b": {"c": true, "f": true}}}
	assert.Equal(t, "select `a2`.`b`.`c` from `a2`.`b`", string(three.rewrite([]byte("select `a`.`b`.`c` from `a`.`b`"))))
	assert.Equal(t, "select `b2`.f(1), x.b.c", string(three.rewrite([]byte("select `b`.f(1), x.b.c"))), "a function of the dump; b after a dot is not a database")

	// For CREATE TABLE, before the other database's tables are known.
	refs := requalifier{to: map[string]string{"b": "s_b"}, anyName: true}
	assert.Equal(t,
		"CREATE TABLE `u` (`tid` int, CONSTRAINT `f` FOREIGN KEY (`tid`) REFERENCES `s_b`.`later` (`id`), `c` varchar(9) COMMENT '`b`.`x`')",
		string(refs.rewrite([]byte("CREATE TABLE `u` (`tid` int, CONSTRAINT `f` FOREIGN KEY (`tid`) REFERENCES `b`.`later` (`id`), `c` varchar(9) COMMENT '`b`.`x`')"))))
	assert.True(t, createTableRE.MatchString("CREATE TABLE `u` (a int)"))
	assert.False(t, createTableRE.MatchString("CREATE OR REPLACE VIEW `u` AS SELECT 1"))
}

func TestViewDefinitionRE(t *testing.T) {
	for s, want := range map[string]bool{
		"CREATE OR REPLACE VIEW `v` AS SELECT 1 AS `id`":                                                                             true,
		"CREATE OR REPLACE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1":                                            true,
		"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`r`@`%` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 */": true,
		"CREATE TABLE `view` (a INT)":                                 false,
		"CREATE TRIGGER tr AFTER INSERT ON u FOR EACH ROW SET @x = 1": false,
		"INSERT INTO `v` VALUES (1)":                                  false,
	} {
		assert.Equal(t, want, viewDefinitionRE.MatchString(s), s)
	}
}

// FuzzRequalifier: any statement is rewritten without panicking, and a
// statement that names none of the databases comes back unchanged.
func FuzzRequalifier(f *testing.F) {
	for _, s := range []string{"select `a`.`t` from a.t", "'a.t' -- a.t\n", "/*!5 a.t */", "`a`.`t", "'", "`", "a.", "a.`t"} {
		f.Add(s)
	}
	q := requalifier{to: map[string]string{"a": "z"}, names: map[string]map[string]bool{"a": {"t": true}}}
	f.Fuzz(func(t *testing.T, s string) {
		out := q.rewrite([]byte(s))
		if !strings.Contains(s, "a") {
			assert.Equal(t, s, string(out))
		}
	})
}

func TestHeaderDatabases(t *testing.T) {
	head := "-- backupkit MySQL dump, format 1\n-- Server version: 10.11\n-- Databases: a, b c, d\n\nSET NAMES utf8mb4;\n-- Databases: x\n"
	assert.Equal(t, []string{"a", "b c", "d"}, headerDatabases([]byte(head)))
	assert.Nil(t, headerDatabases([]byte("-- backupkit MySQL dump, format 1\n-- Databases: a, b, c")), "a line cut short is not trusted")
	assert.Nil(t, headerDatabases([]byte("-- backupkit MySQL dump, format 1\n-- Database: a\n\n")))
}
