package mysql

import (
	"bytes"
	"regexp"
	"strings"
)

// requalifier renames the database qualifiers of references to the dump's
// own tables and views in view, trigger, routine and event definitions, so
// that a dump of several databases restored under other names (or through
// scratch databases) refers to the restored databases, not to the
// originals.
//
// A reference is rewritten only when it is a db.name pair (back-quoted, as
// SHOW CREATE VIEW writes them, or not, as trigger and routine bodies keep
// what their author wrote) that is not itself the end of a longer name,
// whose db is a key of to and whose name is a table, view, function or
// procedure of that database in the dump: t.col (a table and its
// column) stays as it is unless a database of the dump is called t and has
// a table called col. Quoted strings and comments are copied unchanged;
// the code inside /*!NNNNN … */ comments (mysqldump's) is rewritten like
// any other.
type requalifier struct {
	to    map[string]string          // database -> new name
	names map[string]map[string]bool // database -> its tables and views
	// anyName rewrites every db.name of a database of to, whatever name is:
	// for CREATE TABLE statements, where only REFERENCES clauses name
	// tables of other databases, before those are known.
	anyName bool
}

// rewrite returns stmt with its qualifiers renamed (stmt itself when
// nothing changes).
func (q requalifier) rewrite(stmt []byte) []byte {
	if len(q.to) == 0 || bytes.IndexByte(stmt, '.') < 0 {
		return stmt
	}
	var out []byte
	last := 0 // stmt[last:] is not yet copied to out
	for i := 0; i < len(stmt); {
		switch c := stmt[i]; {
		case c == '\'' || c == '"':
			i = skipQuoted(stmt, i)
		case c == '#':
			i = skipLine(stmt, i)
		case c == '-' && i+2 < len(stmt) && stmt[i+1] == '-' && (stmt[i+2] == ' ' || stmt[i+2] == '\t' || stmt[i+2] == '\n'):
			i = skipLine(stmt, i)
		case c == '/' && i+1 < len(stmt) && stmt[i+1] == '*':
			if i+2 < len(stmt) && stmt[i+2] == '!' {
				i += 3 // executable comment: its code is code
				for i < len(stmt) && stmt[i] >= '0' && stmt[i] <= '9' {
					i++
				}
				continue
			}
			if end := bytes.Index(stmt[i+2:], []byte("*/")); end >= 0 {
				i += 2 + end + 2
			} else {
				i = len(stmt)
			}
		case c == '`' || identByte(c) && (i == 0 || !identByte(stmt[i-1]) && stmt[i-1] != '@'):
			db, next := identifier(stmt, i)
			if next < 0 {
				return stmt // unbalanced: leave the statement to the server
			}
			if i > 0 && stmt[i-1] == '.' {
				i = next // the second or third part of a name: never a database
				continue
			}
			if next+1 < len(stmt) && stmt[next] == '.' {
				name, after := identifier(stmt, next+1)
				if after < 0 {
					return stmt
				}
				if newDB, ok := q.to[db]; ok && after > next+1 && (q.anyName || q.names[db][name]) && newDB != db {
					out = append(out, stmt[last:i]...)
					out = append(out, quoteIdent(newDB)...)
					last = next
				}
				if after > next+1 {
					next = after // the name part is done with
				}
			}
			i = next
		default:
			i++
		}
	}
	if out == nil {
		return stmt
	}
	return append(out, stmt[last:]...)
}

// identByte reports whether c may be part of an unquoted identifier.
func identByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// identifier reads the identifier starting at stmt[i], back-quoted or not,
// and returns its name and the index just after it: -1 for a back-quoted
// one that never ends, i when there is none.
func identifier(stmt []byte, i int) (string, int) {
	if i < len(stmt) && stmt[i] == '`' {
		return backquoted(stmt, i)
	}
	j := i
	for j < len(stmt) && identByte(stmt[j]) {
		j++
	}
	return string(stmt[i:j]), j
}

// backquoted reads the `identifier` starting at stmt[i] (a backquote) and
// returns its name and the index just after it, or -1 when it never ends.
func backquoted(stmt []byte, i int) (string, int) {
	var b strings.Builder
	for j := i + 1; j < len(stmt); j++ {
		if stmt[j] != '`' {
			b.WriteByte(stmt[j])
			continue
		}
		if j+1 < len(stmt) && stmt[j+1] == '`' {
			b.WriteByte('`')
			j++
			continue
		}
		return b.String(), j + 1
	}
	return "", -1
}

// skipQuoted returns the index just after the string starting at stmt[i]
// (' or "), with backslash escapes and doubled quotes; len(stmt) when it
// never ends.
func skipQuoted(stmt []byte, i int) int {
	q := stmt[i]
	for j := i + 1; j < len(stmt); j++ {
		switch stmt[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(stmt) && stmt[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(stmt)
}

// skipLine returns the index of the end of the line holding stmt[i].
func skipLine(stmt []byte, i int) int {
	if end := bytes.IndexByte(stmt[i:], '\n'); end >= 0 {
		return i + end
	}
	return len(stmt)
}

// viewDefinitionRE matches the statements that define a view, this
// package's (CREATE OR REPLACE … VIEW) and mysqldump's (/*!50001 CREATE …
// VIEW … */).
var viewDefinitionRE = regexp.MustCompile(`^(?:/\*!\d+\s*)?(?i:CREATE)\s+(?:(?i:OR\s+REPLACE)\s+)?(?:(?i:ALGORITHM)\s*=\s*\w+\s+)?(?:\*/\s*)?(?:/\*!\d+\s*)?(?:(?i:DEFINER)\s*=\s*\S+\s+)?(?:(?i:SQL\s+SECURITY)\s+\w+\s+)?(?:\*/\s*)?(?:/\*!\d+\s*)?(?i:VIEW)\s`)

// createTableRE matches CREATE TABLE statements.
var createTableRE = regexp.MustCompile(`^(?:/\*!\d+\s*)?(?i:CREATE)\s+(?i:TABLE)\s`)

// tableNameRE finds the name a CREATE TABLE, VIEW, FUNCTION or PROCEDURE
// statement creates (the first back-quoted name after the keyword): the
// names another database's views and routines may call it by.
var tableNameRE = regexp.MustCompile("(?i:\\b(?:TABLE|VIEW|FUNCTION|PROCEDURE))\\s+(?i:IF\\s+NOT\\s+EXISTS\\s+)?`((?:[^`]|``)+)`")
