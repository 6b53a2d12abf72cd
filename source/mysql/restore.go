package mysql

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"

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

// Restore loads a dump written by Snapshot into the database opts.Target
// (default: the source's own database); see the package documentation for
// what it checks and what a failure leaves behind.
func (d *Database) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	target := opts.Target
	if target == "" {
		target = d.opts.Database
	}
	if err := checkIdent(target); err != nil {
		return fmt.Errorf("mysql: restore: target database name %q: %w", target, err)
	}

	// Pass 1: read and check the whole stream, spooling its statements to a
	// temporary file, before anything touches the server.
	var spool *os.File
	var sw *bufio.Writer
	if !opts.DryRun {
		f, err := os.CreateTemp("", "backupkit-mysql-restore-*")
		if err != nil {
			return fmt.Errorf("mysql: restore: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		spool, sw = f, bufio.NewWriterSize(f, 1<<20)
	}
	tr := &trailerReader{r: r}
	br := bufio.NewReaderSize(tr, 1<<16)
	head, _ := br.Peek(64)
	native := bytes.HasPrefix(head, []byte(headerLine))
	if !native && !isMysqldump(head) {
		_, err := io.Copy(io.Discard, br) // read to the end so the reader's own error shows
		if err != nil {
			return fmt.Errorf("mysql: restore: %w", err)
		}
		return fmt.Errorf("mysql: restore: %w (bad first line)", ErrNotDump)
	}
	sp := NewSplitter(br)
	n := 0
	var lenBuf [binary.MaxVarintLen64]byte
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
		if err := allowedStatement(stmt); err != nil {
			return fmt.Errorf("mysql: restore: line %d: %w", sp.Line(), err)
		}
		n++
		if sw != nil {
			k := binary.PutUvarint(lenBuf[:], uint64(len(stmt)))
			_, _ = sw.Write(lenBuf[:k])
			if _, err := sw.Write(stmt); err != nil {
				return fmt.Errorf("mysql: restore: spooling: %w", err)
			}
		}
	}
	verify := tr.verify
	if !native {
		verify = tr.verifyCompleted
	}
	if err := verify(n); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	if opts.DryRun {
		return nil
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("mysql: restore: spooling: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("mysql: restore: %w", err)
	}
	return d.load(ctx, bufio.NewReaderSize(spool, 1<<20), n, target, opts.DropExisting, native)
}

// load runs the n spooled statements against target.
func (d *Database) load(ctx context.Context, r *bufio.Reader, n int, target string, drop, native bool) (err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.wrap(ctx, "restore: connect", err)
	}
	defer discard(conn)
	var exists int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&exists); err != nil {
		return d.wrap(ctx, "restore", err)
	}
	created := false
	if exists > 0 {
		var objects int
		if err := conn.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)", target, target).Scan(&objects); err != nil {
			return d.wrap(ctx, "restore", err)
		}
		if objects > 0 {
			if !drop {
				return fmt.Errorf("mysql: restore: database %q already holds %d tables, views or routines; use DropExisting to replace them", target, objects)
			}
			var cs, coll string
			if err := conn.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&cs, &coll); err != nil {
				return d.wrap(ctx, "restore", err)
			}
			if _, err := conn.ExecContext(ctx, "DROP DATABASE "+quoteIdent(target)); err != nil {
				return d.wrap(ctx, "restore: drop existing database", err)
			}
			if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(target)+" CHARACTER SET "+cs+" COLLATE "+coll); err != nil {
				return d.wrap(ctx, "restore: recreate database", err)
			}
		}
	} else {
		if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(target)); err != nil {
			return d.wrap(ctx, "restore: create database", err)
		}
		created = true
	}
	defer func() {
		if err != nil && created {
			_, _ = d.db.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteIdent(target))
		}
	}()
	if _, err := conn.ExecContext(ctx, "USE "+quoteIdent(target)); err != nil {
		return d.wrap(ctx, "restore: use database", err)
	}
	// INSERT statements go to Parallel connections whose session is set as
	// a dump's header sets it; every other statement runs on conn, in
	// order, after all INSERTs before it have finished.
	workers := d.opts.Parallel
	if !native {
		// mysqldump's output locks each table (LOCK TABLES … WRITE) on the
		// main connection: its INSERTs must run there too.
		workers = 1
	}
	var (
		wg       sync.WaitGroup // workers
		inflight sync.WaitGroup // INSERTs sent and not yet done
		mu       sync.Mutex
		firstErr error
		stmts    chan []byte
	)
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	if workers > 1 {
		stmts = make(chan []byte, workers)
		defer func() {
			close(stmts)
			wg.Wait()
		}()
		for range workers {
			wc, err := d.db.Conn(ctx)
			if err != nil {
				return d.wrap(ctx, "restore: connect", err)
			}
			for _, q := range []string{"USE " + quoteIdent(target), "SET NAMES utf8mb4", "SET TIME_ZONE='+00:00'", "SET UNIQUE_CHECKS=0",
				"SET FOREIGN_KEY_CHECKS=0", "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'", "SET SQL_NOTES=0"} {
				if _, err := wc.ExecContext(ctx, q); err != nil {
					discard(wc)
					return d.wrap(ctx, "restore: session", err)
				}
			}
			wg.Go(func() {
				defer discard(wc)
				for st := range stmts {
					if failed() == nil {
						if err := execRetry(ctx, wc, st); err != nil {
							mu.Lock()
							if firstErr == nil {
								firstErr = d.wrap(ctx, "restore: statement ("+truncate(oneLine(string(st)), 60)+")", err)
							}
							mu.Unlock()
						}
					}
					inflight.Done()
				}
			})
		}
	}
	var stmt []byte
	for i := range n {
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("mysql: restore: reading spool: %w", err)
		}
		if stmts != nil {
			stmt = nil // each parallel statement needs its own buffer
		}
		if cap(stmt) < int(size) {
			stmt = make([]byte, size)
		}
		stmt = stmt[:size]
		if _, err := io.ReadFull(r, stmt); err != nil {
			return fmt.Errorf("mysql: restore: reading spool: %w", err)
		}
		if stmts != nil && bytes.HasPrefix(stmt, []byte("INSERT INTO ")) {
			inflight.Add(1)
			select {
			case stmts <- stmt:
			case <-ctx.Done():
				inflight.Done()
				inflight.Wait()
				return fmt.Errorf("mysql: restore: %w", ctx.Err())
			}
			continue
		}
		inflight.Wait()
		if err := failed(); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, string(stmt)); err != nil {
			return d.wrap(ctx, "restore: statement "+strconv.Itoa(i+1)+" ("+truncate(oneLine(string(stmt)), 60)+")", err)
		}
	}
	inflight.Wait()
	return failed()
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
