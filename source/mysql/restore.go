package mysql

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/backupkit/backupkit/internal/dbtarget"
	"github.com/backupkit/backupkit/source"
)

// maxStatement bounds one statement in a dump given to Restore.
const maxStatement = 256 << 20

// ErrTruncated is wrapped by Restore's error when the dump ends before its
// end marker: it was cut short.
var ErrTruncated = errors.New("dump is truncated (no end marker)")

// ErrNotDump is wrapped by Restore's error when the stream is not a dump
// written by this package, or was changed after it was written.
var ErrNotDump = errors.New("not a backupkit MySQL dump")

// trailerReader passes a dump through while checksumming it and keeping the
// last complete line, so that the end marker can be checked at EOF.
type trailerReader struct {
	r            io.Reader
	crc          uint32 // of everything read
	lineStartCRC uint32 // of everything before the current line
	line         []byte // the current, incomplete line (capped)
	lineLong     bool
	last         []byte // the last complete line, without '\n'
	lastCRC      uint32 // of everything before it
	lastLong     bool
	n            int64
}

const maxTrailer = 128

func (t *trailerReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	b := p[:n]
	t.n += int64(n)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.crc = crc32.Update(t.crc, crcTable, b)
			t.addLine(b)
			break
		}
		t.crc = crc32.Update(t.crc, crcTable, b[:i+1])
		t.addLine(b[:i])
		t.last, t.line = append(t.last[:0], t.line...), t.line[:0]
		t.lastCRC, t.lastLong, t.lineLong = t.lineStartCRC, t.lineLong, false
		t.lineStartCRC = t.crc
		b = b[i+1:]
	}
	return n, err
}

func (t *trailerReader) addLine(b []byte) {
	if t.lineLong || len(t.line)+len(b) > maxTrailer {
		t.lineLong = true
		t.line = t.line[:0]
		return
	}
	t.line = append(t.line, b...)
}

// verify checks the end marker once the stream has ended, given the number
// of statements read.
func (t *trailerReader) verify(stmts int) error {
	if len(t.line) > 0 || t.lineLong {
		return ErrTruncated
	}
	if t.lastLong || !bytes.HasPrefix(t.last, []byte(trailerPrefix)) {
		return ErrTruncated
	}
	var n int
	var crc uint32
	if _, err := fmt.Sscanf(string(t.last[len(trailerPrefix):]), "%d crc32c=%08x", &n, &crc); err != nil {
		return fmt.Errorf("%w: malformed end marker", ErrNotDump)
	}
	if crc != t.lastCRC {
		return fmt.Errorf("%w: checksum mismatch (the dump was changed or damaged)", ErrNotDump)
	}
	if n != stmts {
		return fmt.Errorf("%w: end marker counts %d statements, read %d", ErrNotDump, n, stmts)
	}
	return nil
}

// Splitter splits SQL text, as the mysql client reads it, into statements.
// It understands single- and double-quoted strings with backslash escapes
// and doubled quotes, backquoted identifiers, "-- ", "#" and "/* */"
// comments (dropped), "/*! */" and "/*+ */" comments (kept, the server
// runs them) and the client's DELIMITER command.
type Splitter struct {
	r     *bufio.Reader
	delim []byte
	buf   []byte
	line  int
}

// NewSplitter returns a Splitter reading r.
func NewSplitter(r io.Reader) *Splitter {
	return &Splitter{r: bufio.NewReaderSize(r, 1<<20), delim: []byte(";"), line: 1}
}

// Next returns the next statement without its delimiter, valid until the
// next call, and io.EOF at a clean end of input. Text after the last
// delimiter that is not only blanks and comments is an error wrapping
// ErrTruncated.
func (s *Splitter) Next() ([]byte, error) {
	s.buf = s.buf[:0]
	atLineStart := true
	content := false // whether buf holds more than blanks
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				if content {
					return nil, fmt.Errorf("%w: statement at line %d has no terminating %q", ErrTruncated, s.line, s.delim)
				}
				return nil, io.EOF
			}
			return nil, err
		}
		if len(s.buf) > maxStatement {
			return nil, fmt.Errorf("statement at line %d is longer than %d bytes", s.line, maxStatement)
		}
		if !content && atLineStart && (c == 'D' || c == 'd') {
			peek, _ := s.r.Peek(9)
			if len(peek) == 9 && strings.EqualFold("ELIMITER ", string(peek[:8])+" ") && (peek[8] == ' ' || peek[8] == '\t') {
				line, err := s.r.ReadString('\n')
				if err != nil {
					return nil, fmt.Errorf("%w: DELIMITER command at line %d", ErrTruncated, s.line)
				}
				s.line++
				d := strings.TrimSpace(line[8:])
				if d == "" || strings.ContainsAny(d, "'\"`\\") {
					return nil, fmt.Errorf("bad DELIMITER at line %d", s.line-1)
				}
				s.delim = []byte(d)
				continue
			}
		}
		switch {
		case c == '\n':
			s.line++
			atLineStart = true
			if content {
				s.buf = append(s.buf, c)
			}
			continue
		case c == ' ' || c == '\t' || c == '\r':
			if content {
				s.buf = append(s.buf, c)
			}
			continue
		}
		atLineStart = false
		switch {
		case c == '\'' || c == '"' || c == '`':
			content = true
			s.buf = append(s.buf, c)
			if err := s.quoted(c); err != nil {
				return nil, err
			}
		case c == '#' || (c == '-' && s.dashComment()):
			if err := s.skipLine(); err != nil {
				return nil, err
			}
			atLineStart = true
		case c == '/' && s.peekIs('*'):
			_, _ = s.r.ReadByte()
			keep := s.peekIs('!') || s.peekIs('+')
			if keep {
				content = true
				s.buf = append(s.buf, '/', '*')
			}
			if err := s.blockComment(keep); err != nil {
				return nil, err
			}
		case c == s.delim[0] && s.delimRest():
			if content {
				return bytes.TrimRight(s.buf, " \t\r\n"), nil
			}
			// An empty statement: skip it.
		default:
			content = true
			s.buf = append(s.buf, c)
			// Fast path: copy up to the next byte that may need attention.
			p, _ := s.r.Peek(s.r.Buffered())
			i := 0
			for i < len(p) && !s.special(p[i]) {
				i++
			}
			if i > 0 {
				s.buf = append(s.buf, p[:i]...)
				_, _ = s.r.Discard(i)
			}
		}
	}
}

// special reports whether c may start a quote, comment, delimiter or line.
func (s *Splitter) special(c byte) bool {
	switch c {
	case '\'', '"', '`', '#', '-', '/', '\n', '\r', ' ', '\t':
		return true
	}
	return c == s.delim[0]
}

// Line returns the current line number.
func (s *Splitter) Line() int { return s.line }

func (s *Splitter) peekIs(c byte) bool {
	p, _ := s.r.Peek(1)
	return len(p) == 1 && p[0] == c
}

// dashComment reports whether a '-' just read starts a "-- " comment.
func (s *Splitter) dashComment() bool {
	p, _ := s.r.Peek(2)
	if len(p) >= 1 && p[0] == '-' {
		if len(p) == 1 {
			return true // "--" at the very end
		}
		switch p[1] {
		case ' ', '\t', '\n', '\r':
			return true
		}
	}
	return false
}

func (s *Splitter) delimRest() bool {
	if len(s.delim) == 1 {
		return true
	}
	p, _ := s.r.Peek(len(s.delim) - 1)
	if bytes.Equal(p, s.delim[1:]) {
		_, _ = s.r.Discard(len(p))
		return true
	}
	return false
}

func (s *Splitter) skipLine() error {
	for {
		b, err := s.r.ReadSlice('\n')
		if err == nil {
			s.line++
			return nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			_ = b
			return nil // a comment on the last line
		}
		return err
	}
}

func (s *Splitter) blockComment(keep bool) error {
	start := s.line
	prev := byte(0)
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("%w: comment opened at line %d is not closed", ErrTruncated, start)
			}
			return err
		}
		if c == '\n' {
			s.line++
		}
		if keep {
			s.buf = append(s.buf, c)
		}
		if prev == '*' && c == '/' {
			return nil
		}
		prev = c
	}
}

// quoted copies a quoted string or identifier whose opening quote q was
// just read.
func (s *Splitter) quoted(q byte) error {
	start := s.line
	for {
		// Fast path: copy up to the next interesting byte.
		p, _ := s.r.Peek(s.r.Buffered())
		i := 0
		for i < len(p) && p[i] != q && p[i] != '\\' && p[i] != '\n' {
			i++
		}
		if i > 0 {
			s.buf = append(s.buf, p[:i]...)
			_, _ = s.r.Discard(i)
		}
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("%w: string opened at line %d is not closed", ErrTruncated, start)
			}
			return err
		}
		if len(s.buf) > maxStatement {
			return fmt.Errorf("statement at line %d is longer than %d bytes", start, maxStatement)
		}
		s.buf = append(s.buf, c)
		switch {
		case c == '\n':
			s.line++
		case c == '\\' && q != '`':
			e, err := s.r.ReadByte()
			if err != nil {
				if err == io.EOF {
					return fmt.Errorf("%w: string opened at line %d is not closed", ErrTruncated, start)
				}
				return err
			}
			if e == '\n' {
				s.line++
			}
			s.buf = append(s.buf, e)
		case c == q:
			if s.peekIs(q) { // doubled quote
				_, _ = s.r.ReadByte()
				s.buf = append(s.buf, q)
				continue
			}
			return nil
		}
	}
}

// allowedStatement refuses statements a dump of one database never holds
// and that could reach outside the restore target.
func allowedStatement(stmt []byte) error {
	word := stmt
	if i := bytes.IndexAny(word, " \t\r\n("); i >= 0 {
		word = word[:i]
	}
	w := strings.ToUpper(string(word))
	switch w {
	case "SET", "INSERT", "CREATE", "DROP", "ALTER", "LOCK", "UNLOCK", "REPLACE":
	default:
		if bytes.HasPrefix(stmt, []byte("/*!")) {
			return nil
		}
		return fmt.Errorf("statement %q is not allowed in a dump", truncate(string(word), 20))
	}
	rest := strings.ToUpper(strings.Join(strings.Fields(string(stmt[len(word):min(len(stmt), len(word)+40)])), " "))
	if (w == "CREATE" || w == "DROP" || w == "ALTER") && (strings.HasPrefix(rest, "DATABASE") || strings.HasPrefix(rest, "SCHEMA") || strings.HasPrefix(rest, "USER") || strings.HasPrefix(rest, "SERVER")) {
		return fmt.Errorf("statement \"%s %s\" is not allowed in a dump", w, truncate(rest, 20))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Restore loads a dump written by Snapshot (or by mysqldump) into the
// database or databases opts.Target names: first into a scratch database
// per target, then, once the whole stream has been read and checked, into
// the target by renaming. See the package documentation for the Target
// syntax, what it checks and what a failure leaves behind.
func (d *Database) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	spec := opts.Target
	if spec == "" {
		spec = d.target
	}
	ts, err := parseTarget(spec)
	if err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	tr := &trailerReader{r: r}
	br := bufio.NewReaderSize(tr, 1<<16)
	head, _ := br.Peek(br.Size()) // the header, with a long "-- Databases:" line
	native := bytes.HasPrefix(head, []byte(headerLine))
	if !native && !isMysqldump(head) {
		_, err := io.Copy(io.Discard, br) // read to the end so the reader's own error shows
		if err != nil {
			return fmt.Errorf("mysql: restore: %w", err)
		}
		return fmt.Errorf("mysql: restore: %w (bad first line)", ErrNotDump)
	}
	rs := &restoreRun{d: d, ts: ts, drop: opts.DropExisting, dry: opts.DryRun, native: native, label: headerDatabase(head[:min(len(head), 1024)]),
		labels: headerDatabases(head), scratchNames: map[string]string{}}
	defer rs.cleanup(ctx)
	sp := NewSplitter(br)
	n := 0
	for {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("mysql: restore: %w", err)
			}
		}
		stmt, err := sp.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("mysql: restore: line %d: %w", sp.Line(), err)
		}
		n++
		if err := rs.statement(ctx, stmt, n); err != nil {
			if strings.HasPrefix(err.Error(), "mysql: ") {
				return fmt.Errorf("%w (dump line %d)", err, sp.Line())
			}
			return fmt.Errorf("mysql: restore: line %d: %w", sp.Line(), err)
		}
	}
	verify := tr.verify
	if !native {
		verify = tr.verifyCompleted
	}
	if err := verify(n); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	if rs.dry {
		return nil
	}
	return rs.commit(ctx)
}

// headerDatabase returns the database a one-database dump names in its
// header comments ("-- Database: shop", mysqldump's "-- Host: …
// Database: shop"), or "".
func headerDatabase(head []byte) string {
	for l := range strings.SplitSeq(string(head), "\n") {
		if !strings.HasPrefix(l, "--") {
			continue
		}
		if _, db, ok := strings.Cut(l, "Database: "); ok && checkIdent(strings.TrimSpace(db)) == nil {
			return strings.TrimSpace(db)
		}
	}
	return ""
}

// headerDatabases returns the databases a dump of several databases lists
// in its header ("-- Databases: a, b"), or nil, also when the line does not
// end within head (64 KiB).
func headerDatabases(head []byte) []string {
	lines := strings.Split(string(head), "\n")
	for i, l := range lines {
		if list, ok := strings.CutPrefix(l, "-- Databases: "); ok && i < len(lines)-1 { // a whole line
			return strings.Split(strings.TrimSpace(list), ", ")
		}
		if !strings.HasPrefix(l, "--") {
			break // past the header
		}
	}
	return nil
}

// restoreTarget is one database being restored: the dump's name for it,
// the target and the scratch database it is loaded into first.
type restoreTarget struct {
	label, dest, scratch string
	// names are the tables and views the dump creates in it.
	names map[string]bool
	// created is set once commit created dest.
	created bool
}

// restoreRun is the state of one Restore.
type restoreRun struct {
	d      *Database
	ts     dbtarget.Spec
	drop   bool
	dry    bool
	native bool
	// label is the database a one-database dump names in its header;
	// labels are those a dump of several databases lists in its header.
	label  string
	labels []string
	// scratchNames are the scratch databases of the dump's databases, by
	// label, named before their CREATE DATABASE comes (see scratchName).
	scratchNames map[string]string
	targets      []*restoreTarget
	cur          *restoreTarget

	conn      *sql.Conn // the main connection: every statement but parallel INSERTs
	workers   *insertWorkers
	committed bool
}

// createDatabaseRE matches the CREATE DATABASE statements of dumps of
// several databases (this package's and mysqldump --databases').
var createDatabaseRE = regexp.MustCompile("(?s)^(?i:CREATE DATABASE)\\s+(?:/\\*!32312 )?(?i:IF NOT EXISTS)(?:\\s*\\*/)?\\s+`((?:[^`]|``)+)`(.*)$")

// charsetRE and collateRE find the character set and collation of such a
// statement.
var (
	charsetRE = regexp.MustCompile(`(?i)CHARACTER SET\s+([A-Za-z0-9_]+)`)
	collateRE = regexp.MustCompile(`(?i)COLLATE\s+([A-Za-z0-9_]+)`)
	useRE     = regexp.MustCompile("^(?i:USE)\\s+`((?:[^`]|``)+)`$")
)

// statement checks and (unless dry) runs statement number n of the dump.
func (rs *restoreRun) statement(ctx context.Context, stmt []byte, n int) error {
	if m := createDatabaseRE.FindSubmatch(stmt); m != nil {
		label := strings.ReplaceAll(string(m[1]), "``", "`")
		var cs, coll string
		if c := charsetRE.FindSubmatch(m[2]); c != nil {
			cs = string(c[1])
		}
		if c := collateRE.FindSubmatch(m[2]); c != nil {
			coll = string(c[1])
		}
		return rs.database(ctx, label, cs, coll)
	}
	if m := useRE.FindSubmatch(stmt); m != nil {
		return rs.use(ctx, strings.ReplaceAll(string(m[1]), "``", "`"))
	}
	if err := allowedStatement(stmt); err != nil {
		return err
	}
	if rs.cur == nil && !isSet(stmt) {
		// A dump of one database: it names none in its statements.
		if len(rs.targets) > 0 {
			return errors.New("statement outside a database after a USE of none")
		}
		if err := rs.database(ctx, "", "", ""); err != nil {
			return err
		}
		if err := rs.use(ctx, ""); err != nil {
			return err
		}
	}
	if rs.cur != nil && bytes.HasPrefix(bytes.TrimLeft(stmt, "/*!0123456789 "), []byte("CREATE")) {
		if m := tableNameRE.FindSubmatch(stmt); m != nil {
			rs.cur.names[strings.ReplaceAll(string(m[1]), "``", "`")] = true
		}
	}
	if rs.dry {
		return nil
	}
	if rs.conn == nil {
		if err := rs.connect(ctx); err != nil {
			return err
		}
	}
	if len(rs.labels) > 1 && createTableRE.Match(stmt) && bytes.Contains(stmt, []byte("REFERENCES")) {
		stmt = rs.referencesRequalifier().rewrite(stmt)
	} else if len(rs.targets) > 1 && viewDefinitionRE.Match(stmt) {
		// A view of a dump of several databases may use the others': point
		// it at their scratch databases, where their tables are now.
		stmt = rs.requalifier(func(t *restoreTarget) string { return t.scratch }).rewrite(stmt)
	}
	if rs.workers != nil && bytes.HasPrefix(stmt, []byte("INSERT INTO ")) {
		return rs.workers.send(ctx, stmt)
	}
	if rs.workers != nil {
		if err := rs.workers.wait(); err != nil {
			return err
		}
	}
	if _, err := rs.conn.ExecContext(ctx, string(stmt)); err != nil {
		return rs.d.wrap(ctx, "restore: statement "+strconv.Itoa(n)+" ("+truncate(oneLine(string(stmt)), 60)+")", err)
	}
	return nil
}

// requalifier renames the dump's databases (their labels) and their scratch
// databases to what name returns for each target.
func (rs *restoreRun) requalifier(name func(*restoreTarget) string) requalifier {
	q := requalifier{to: map[string]string{}, names: map[string]map[string]bool{}}
	for _, t := range rs.targets {
		for _, from := range []string{t.label, t.scratch} {
			if from != "" {
				q.to[from], q.names[from] = name(t), t.names
			}
		}
	}
	return q
}

// isSet reports whether stmt sets session variables ("SET …", "/*!40101
// SET … */"), which needs no database.
func isSet(stmt []byte) bool {
	if rest, ok := bytes.CutPrefix(stmt, []byte("/*!")); ok {
		stmt = bytes.TrimLeft(rest, "0123456789 ")
	}
	return len(stmt) > 4 && strings.EqualFold(string(stmt[:4]), "SET ")
}

func (rs *restoreRun) connect(ctx context.Context) error {
	c, err := rs.d.db.Conn(ctx)
	if err != nil {
		return rs.d.wrap(ctx, "restore: connect", err)
	}
	rs.conn = c
	return nil
}

// dest returns the target of the dump's database label ("" for a dump of
// one database that names none in its statements).
func (rs *restoreRun) dest(label string) (string, error) {
	if label == "" {
		switch {
		case rs.ts.Name != "":
			return rs.ts.Name, nil
		case rs.ts.Raw == "" && !rs.d.multi():
			return rs.d.opts.Database, nil
		case rs.label != "":
			label = rs.label
		case rs.ts.Raw == "":
			return "", errors.New("the dump names no database and the source has several: give RestoreOptions.Target")
		default:
			return "", fmt.Errorf("target %q maps databases, but the dump names none: give a database name", rs.ts.Raw)
		}
	}
	return dest(rs.ts, label)
}

// database starts the dump's database label: it maps it to its target,
// refuses a target that holds data without DropExisting, and creates the
// scratch database (character set cs and collation coll, when given).
func (rs *restoreRun) database(ctx context.Context, label, cs, coll string) error {
	dest, err := rs.dest(label)
	if err != nil {
		return err
	}
	for _, t := range rs.targets {
		if t.label == label {
			return fmt.Errorf("the dump creates database %q twice", label)
		}
		if t.dest == dest {
			return fmt.Errorf("target %q is ambiguous: databases %q and %q of the dump would both go to %q; give a map (a=a2,b=b2) or a pattern (*_copy)", rs.ts.Raw, t.label, label, dest)
		}
	}
	t := &restoreTarget{label: label, dest: dest, names: map[string]bool{}}
	rs.targets = append(rs.targets, t)
	if rs.dry {
		return nil
	}
	if rs.conn == nil {
		if err := rs.connect(ctx); err != nil {
			return err
		}
	}
	if err := rs.refuseExisting(ctx, dest); err != nil {
		return err
	}
	if cs == "" {
		// Without the dump's: the target's, else the server's default.
		_ = rs.conn.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", dest).Scan(&cs, &coll)
	}
	t.scratch = rs.scratchName(label, dest)
	q := "CREATE DATABASE " + quoteIdent(t.scratch)
	if cs != "" {
		q += " CHARACTER SET " + cs
	}
	if coll != "" {
		q += " COLLATE " + coll
	}
	if _, err := rs.conn.ExecContext(ctx, q); err != nil {
		t.scratch = ""
		return rs.d.wrap(ctx, "restore: create scratch database", err)
	}
	return nil
}

// scratchName returns the scratch database of the dump's database label,
// whose target is dest: a new random name the first time, the same name
// after. A table's foreign key to another database of the dump names that
// database's scratch database before it is created.
func (rs *restoreRun) scratchName(label, dest string) string {
	if n, ok := rs.scratchNames[label]; ok {
		return n
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := ScratchPrefix + hex.EncodeToString(b[:]) + "_" + cutRunes(dest, 64-len(ScratchPrefix)-9)
	rs.scratchNames[label] = n
	return n
}

// referencesRequalifier points the foreign keys of a CREATE TABLE at the
// scratch databases of the dump's other databases (a dump of several
// databases lists them in its header), so that after the swap they follow
// the referenced tables into their targets (InnoDB keeps a foreign key on a
// table across RENAME TABLE).
func (rs *restoreRun) referencesRequalifier() requalifier {
	q := requalifier{to: map[string]string{}, anyName: true}
	for _, label := range rs.labels {
		if dest, err := rs.dest(label); err == nil {
			q.to[label] = rs.scratchName(label, dest)
		}
	}
	return q
}

// cutRunes returns the longest prefix of s of at most n bytes that ends at
// a character boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// refuseExisting fails when dest holds tables, views, routines or events
// and the restore may not replace them.
func (rs *restoreRun) refuseExisting(ctx context.Context, dest string) error {
	n, err := objectCount(ctx, rs.conn, dest)
	if err != nil {
		return rs.d.wrap(ctx, "restore", err)
	}
	if n > 0 && !rs.drop {
		return fmt.Errorf("database %q already holds %d tables, views, routines or events; use DropExisting to replace them", dest, n)
	}
	return nil
}

func objectCount(ctx context.Context, q queryer, db string) (int, error) {
	rows, err := q.QueryContext(ctx, "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)", db, db, db)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		err = rows.Scan(&n)
	}
	if err == nil {
		err = rows.Err()
	}
	return n, err
}

// use makes the dump's database label the current one: the following
// statements load into its scratch database.
func (rs *restoreRun) use(ctx context.Context, label string) error {
	var t *restoreTarget
	for _, x := range rs.targets {
		if x.label == label {
			t = x
		}
	}
	if t == nil {
		return fmt.Errorf("USE of database %q, which the dump did not create before", label)
	}
	if rs.dry {
		rs.cur = t
		return nil
	}
	if rs.workers != nil {
		if err := rs.workers.close(); err != nil {
			return err
		}
		rs.workers = nil
	}
	if _, err := rs.conn.ExecContext(ctx, "USE "+quoteIdent(t.scratch)); err != nil {
		return rs.d.wrap(ctx, "restore: use scratch database", err)
	}
	rs.cur = t
	// INSERT statements go to Parallel connections whose session is set as
	// a dump's header sets it; mysqldump's output locks each table (LOCK
	// TABLES … WRITE) on the main connection: its INSERTs run there.
	if rs.native && rs.d.opts.Parallel > 1 {
		w, err := rs.d.startWorkers(ctx, t.scratch)
		if err != nil {
			return err
		}
		rs.workers = w
	}
	return nil
}

// insertWorkers run INSERT statements on several connections.
type insertWorkers struct {
	d        *Database
	stmts    chan []byte
	wg       sync.WaitGroup // workers
	inflight sync.WaitGroup // INSERTs sent and not yet done
	mu       sync.Mutex
	err      error
}

func (d *Database) startWorkers(ctx context.Context, db string) (*insertWorkers, error) {
	w := &insertWorkers{d: d, stmts: make(chan []byte, d.opts.Parallel)}
	for range d.opts.Parallel {
		wc, err := d.db.Conn(ctx)
		if err != nil {
			_ = w.close()
			return nil, d.wrap(ctx, "restore: connect", err)
		}
		for _, q := range append([]string{"USE " + quoteIdent(db)}, sessionSettings...) {
			if _, err := wc.ExecContext(ctx, q); err != nil {
				discard(wc)
				_ = w.close()
				return nil, d.wrap(ctx, "restore: session", err)
			}
		}
		w.wg.Go(func() {
			defer discard(wc)
			for st := range w.stmts {
				if w.failed() == nil {
					if err := execRetry(ctx, wc, st); err != nil {
						w.mu.Lock()
						if w.err == nil {
							w.err = d.wrap(ctx, "restore: statement ("+truncate(oneLine(string(st)), 60)+")", err)
						}
						w.mu.Unlock()
					}
				}
				w.inflight.Done()
			}
		})
	}
	return w, nil
}

// sessionSettings are the settings of a dump's header, for connections
// that run its statements.
var sessionSettings = []string{"SET NAMES utf8mb4", "SET TIME_ZONE='+00:00'", "SET UNIQUE_CHECKS=0",
	"SET FOREIGN_KEY_CHECKS=0", "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'", "SET SQL_NOTES=0"}

func (w *insertWorkers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// send hands an INSERT to a worker; stmt must not be reused.
func (w *insertWorkers) send(ctx context.Context, stmt []byte) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.inflight.Add(1)
	select {
	case w.stmts <- bytes.Clone(stmt):
		return nil
	case <-ctx.Done():
		w.inflight.Done()
		return fmt.Errorf("mysql: restore: %w", ctx.Err())
	}
}

// wait waits for the INSERTs sent so far and returns the first error.
func (w *insertWorkers) wait() error {
	w.inflight.Wait()
	return w.failed()
}

// close stops the workers after their INSERTs and returns the first error.
func (w *insertWorkers) close() error {
	close(w.stmts)
	w.wg.Wait()
	return w.failed()
}

// commit swaps the loaded scratch databases into their targets; see the
// package documentation.
func (rs *restoreRun) commit(ctx context.Context) error {
	if rs.workers != nil {
		err := rs.workers.close()
		rs.workers = nil
		if err != nil {
			return err
		}
	}
	if len(rs.targets) == 0 {
		return errors.New("mysql: restore: the dump holds no statement to load")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	d, c := rs.d, rs.conn
	for _, q := range sessionSettings {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return d.wrap(ctx, "restore: session", err)
		}
	}
	// 1. Read what must be recreated in each target (views, triggers,
	// routines, events) from its scratch database, drop the scratch
	// triggers (a table with triggers cannot move to another database) and
	// check the target again.
	placeholders := make([]bytes.Buffer, len(rs.targets))
	others := make([]bytes.Buffer, len(rs.targets))
	views := make([]bytes.Buffer, len(rs.targets))
	var renames []string
	tok := make([]byte, 3)
	_, _ = rand.Read(tok)
	var olds [][]string
	for i, t := range rs.targets {
		if _, err := c.ExecContext(ctx, "USE "+quoteIdent(t.scratch)); err != nil {
			return d.wrap(ctx, "restore: use scratch database", err)
		}
		tables, err := listTables(ctx, c, t.scratch, nil)
		if err != nil {
			return d.wrap(ctx, "restore: list scratch tables", err)
		}
		// Every target's view placeholders, triggers, routines and events
		// are created before any view, so that a view may use another
		// target's views and functions.
		for _, part := range []struct {
			w     *bytes.Buffer
			parts objectParts
		}{{&placeholders[i], viewPlaceholders}, {&others[i], otherObjects}, {&views[i], viewDefinitions}} {
			if _, err := d.writeObjects(ctx, c, t.scratch, tables, &countingWriter{w: part.w}, part.parts, false, true, true); err != nil {
				return err
			}
		}
		trg, err := listNames(ctx, c, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", t.scratch)
		if err != nil {
			return d.wrap(ctx, "restore: list scratch triggers", err)
		}
		for _, n := range trg {
			if _, err := c.ExecContext(ctx, "DROP TRIGGER "+quoteIdent(t.scratch)+"."+quoteIdent(n)); err != nil {
				return d.wrap(ctx, "restore: drop scratch trigger", err)
			}
		}
		if err := rs.refuseExisting(ctx, t.dest); err != nil {
			return fmt.Errorf("mysql: restore: %w", err)
		}
		// The target's tables and views step aside under temporary names in
		// the same statement that moves the new ones in.
		old, err := listTables(ctx, c, t.dest, nil)
		if err != nil {
			return d.wrap(ctx, "restore: list target tables", err)
		}
		var aside []string
		for k, tb := range old {
			o := fmt.Sprintf("bkold_%x_%d", tok, k)
			renames = append(renames, quoteIdent(t.dest)+"."+quoteIdent(tb.name)+" TO "+quoteIdent(t.dest)+"."+quoteIdent(o))
			if tb.view {
				o = "view:" + o
			}
			aside = append(aside, o)
		}
		olds = append(olds, aside)
		for _, tb := range tables {
			if !tb.view {
				renames = append(renames, quoteIdent(t.scratch)+"."+quoteIdent(tb.name)+" TO "+quoteIdent(t.dest)+"."+quoteIdent(tb.name))
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	// 2. Create missing targets and swap every table in one RENAME TABLE,
	// which is atomic: the commit point. From here on the context no
	// longer cancels.
	for _, t := range rs.targets {
		ok, err := dbExists(ctx, c, t.dest)
		if err != nil {
			return d.wrap(ctx, "restore", err)
		}
		if ok {
			continue
		}
		var cs, coll string
		if err := c.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", t.scratch).Scan(&cs, &coll); err != nil {
			return d.wrap(ctx, "restore", err)
		}
		if _, err := c.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(t.dest)+" CHARACTER SET "+cs+" COLLATE "+coll); err != nil {
			return d.wrap(ctx, "restore: create database "+quoteIdent(t.dest), err)
		}
		t.created = true
	}
	if len(renames) > 0 {
		if _, err := c.ExecContext(ctx, "RENAME TABLE "+strings.Join(renames, ", ")); err != nil {
			return d.wrap(ctx, "restore: swap tables into the target", err)
		}
	}
	rs.committed = true
	ctx = context.WithoutCancel(ctx)
	// 3. Drop what was in the targets and recreate the views, triggers,
	// routines and events there: first every target's view placeholders,
	// then its triggers, routines and events, then the views' definitions. With several targets, definitions that name
	// another database of the dump (or its scratch database) are pointed
	// at its target.
	q := requalifier{}
	if len(rs.targets) > 1 {
		q = rs.requalifier(func(t *restoreTarget) string { return t.dest })
	}
	for i, t := range rs.targets {
		if err := rs.finish(ctx, t, olds[i], placeholders[i].Bytes(), q); err != nil {
			return fmt.Errorf("mysql: restore: the data of %q is in place, but %w", t.dest, err)
		}
	}
	for _, scripts := range [][]bytes.Buffer{others, views} {
		for i, t := range rs.targets {
			if err := rs.runScript(ctx, t, scripts[i].Bytes(), q); err != nil {
				return fmt.Errorf("mysql: restore: the data of %q is in place, but %w", t.dest, err)
			}
		}
	}
	return nil
}

// finish drops the target's old tables and views (renamed to old), routines
// and events, and runs script (view placeholders) there.
func (rs *restoreRun) finish(ctx context.Context, t *restoreTarget, old []string, script []byte, q requalifier) error {
	d, c := rs.d, rs.conn
	if _, err := c.ExecContext(ctx, "USE "+quoteIdent(t.dest)); err != nil {
		return d.wrap(ctx, "use target", err)
	}
	for _, n := range old {
		q := "DROP TABLE IF EXISTS "
		if v, ok := strings.CutPrefix(n, "view:"); ok {
			q, n = "DROP VIEW IF EXISTS ", v
		}
		if _, err := c.ExecContext(ctx, q+quoteIdent(n)); err != nil {
			return d.wrap(ctx, "drop the old "+quoteIdent(n), err)
		}
	}
	for _, kind := range []string{"PROCEDURE", "FUNCTION"} {
		names, err := listNames(ctx, c, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = '"+kind+"'", t.dest)
		if err != nil {
			return d.wrap(ctx, "list old routines", err)
		}
		for _, n := range names {
			if _, err := c.ExecContext(ctx, "DROP "+kind+" IF EXISTS "+quoteIdent(n)); err != nil {
				return d.wrap(ctx, "drop old routine", err)
			}
		}
	}
	names, err := listNames(ctx, c, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", t.dest)
	if err != nil {
		return d.wrap(ctx, "list old events", err)
	}
	for _, n := range names {
		if _, err := c.ExecContext(ctx, "DROP EVENT IF EXISTS "+quoteIdent(n)); err != nil {
			return d.wrap(ctx, "drop old event", err)
		}
	}
	return rs.runScript(ctx, t, script, q)
}

// runScript runs script (views, triggers, routines, events) in t's
// target, its qualifiers renamed by q.
func (rs *restoreRun) runScript(ctx context.Context, t *restoreTarget, script []byte, q requalifier) error {
	d, c := rs.d, rs.conn
	if _, err := c.ExecContext(ctx, "USE "+quoteIdent(t.dest)); err != nil {
		return d.wrap(ctx, "use target", err)
	}
	sp := NewSplitter(bytes.NewReader(script))
	for {
		st, err := sp.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("recreating views, triggers and routines: %w", err)
		}
		st = q.rewrite(st)
		if _, err := c.ExecContext(ctx, string(st)); err != nil {
			return d.wrap(ctx, "recreate ("+truncate(oneLine(string(st)), 60)+")", err)
		}
	}
}

// listNames returns the first column of query's rows.
func listNames(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// cleanup drops the scratch databases, and before the commit point the
// targets commit created, and releases the connections.
func (rs *restoreRun) cleanup(ctx context.Context) {
	if rs.workers != nil {
		_ = rs.workers.close()
	}
	if rs.conn != nil {
		discard(rs.conn)
	}
	ctx = context.WithoutCancel(ctx)
	for _, t := range rs.targets {
		if t.scratch != "" {
			_, _ = rs.d.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(t.scratch))
		}
		if t.created && !rs.committed {
			_, _ = rs.d.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(t.dest))
		}
	}
}

// execRetry runs one autocommitted INSERT, again when InnoDB chose it as a
// deadlock victim (concurrent inserts into one table can deadlock; the
// statement was rolled back as a whole).
func execRetry(ctx context.Context, c *sql.Conn, st []byte) error {
	for attempt := 1; ; attempt++ {
		_, err := c.ExecContext(ctx, string(st))
		var me *gomysql.MySQLError
		if err == nil || attempt == 10 || !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return err
		}
	}
}

// isMysqldump reports whether a stream starts like mysqldump's or
// mariadb-dump's output.
func isMysqldump(head []byte) bool {
	h := head
	if bytes.HasPrefix(h, []byte("/*M!999999")) { // mariadb-dump's sandbox line
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			h = h[i+1:]
		}
	}
	return bytes.HasPrefix(h, []byte("-- MySQL dump ")) || bytes.HasPrefix(h, []byte("-- MariaDB dump "))
}

// verifyCompleted checks that a mysqldump stream ends with its "-- Dump
// completed" line.
func (t *trailerReader) verifyCompleted(int) error {
	if len(t.line) > 0 || t.lineLong || t.lastLong || !bytes.HasPrefix(t.last, []byte("-- Dump completed")) {
		return ErrTruncated
	}
	return nil
}
