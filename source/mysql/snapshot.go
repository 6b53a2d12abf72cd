package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/backupkit/backupkit/source"
)

// headerLine is the first line of every dump; Restore refuses streams that
// do not start with it.
const headerLine = "-- backupkit MySQL dump, format 1\n"

// trailerPrefix starts the last line of every dump; see the package
// documentation.
const trailerPrefix = "-- backupkit dump end: statements="

// chunkQueue is how many finished chunks (statements of up to MaxInsertBytes)
// a table's worker may hold while the writer is busy with an earlier table.
const chunkQueue = 4

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)
)

// table is one table or view to dump.
type table struct {
	name   string
	view   bool
	engine string
	cols   []column
	pk     []string
	// estRows is the server's estimate of the row count.
	estRows int64
}

// column is one column of a table.
type column struct {
	name      string
	dataType  string
	kind      valueKind
	float32   bool
	generated bool
}

type valueKind int

const (
	kindString valueKind = iota // quoted and escaped
	kindNumber                  // raw text (DECIMAL, integers)
	kindHex                     // 0x… (binary strings, BLOB, BIT, spatial)
)

func kindOf(dataType string) valueKind {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double", "real", "year":
		return kindNumber
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return kindHex
	}
	return kindString
}

// listTables lists the tables and views of database db that include
// accepts, with their columns and primary keys, sorted by name.
func listTables(ctx context.Context, q queryer, db string, include func(string) bool) ([]*table, error) {
	rows, err := q.QueryContext(ctx, "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, ''), COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", db)
	if err != nil {
		return nil, err
	}
	var tables []*table
	byName := map[string]*table{}
	for rows.Next() {
		t := &table{}
		var typ string
		if err := rows.Scan(&t.name, &typ, &t.engine, &t.estRows); err != nil {
			rows.Close()
			return nil, err
		}
		if (include != nil && !include(t.name)) || typ == "SYSTEM VIEW" || typ == "SEQUENCE" {
			continue
		}
		t.view = typ == "VIEW"
		tables = append(tables, t)
		byName[t.name] = t
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION", db)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var tn, cn, dt, extra, key string
		if err := rows.Scan(&tn, &cn, &dt, &extra, &key); err != nil {
			rows.Close()
			return nil, err
		}
		t := byName[tn]
		if t == nil {
			continue
		}
		ex := strings.ToUpper(extra)
		c := column{name: cn, dataType: strings.ToLower(dt), kind: kindOf(dt), float32: strings.EqualFold(dt, "float"),
			generated: strings.Contains(ex, "VIRTUAL GENERATED") || strings.Contains(ex, "STORED GENERATED") || ex == "VIRTUAL" || ex == "PERSISTENT"}
		t.cols = append(t.cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX", db)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var tn, cn string
		if err := rows.Scan(&tn, &cn); err != nil {
			rows.Close()
			return nil, err
		}
		if t := byName[tn]; t != nil {
			t.pk = append(t.pk, cn)
		}
	}
	return tables, rows.Err()
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// session is the set of connections of one snapshot, each inside a
// consistent-snapshot transaction of the same point in time.
type session struct {
	conns   []*sql.Conn
	details map[string]string
	version string
	dbs     []*dbState
}

// dbState is one database of a snapshot and what it holds.
type dbState struct {
	dbPair
	tables   []*table
	cs, coll string
}

func (s *session) close() {
	for _, c := range s.conns {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		_ = c.Close()
	}
}

func startSnapshot(ctx context.Context, c *sql.Conn) error {
	for _, q := range []string{
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"SET SESSION time_zone = '+00:00'",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT",
	} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// isPrivilegeError reports whether err is the server refusing a statement
// for lack of privileges.
func isPrivilegeError(err error) bool {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1044, 1045, 1142, 1227, 1370:
			return true
		}
	}
	return false
}

// open starts the snapshot: several connections under a short global read
// lock when Parallel > 1 and the account may take it, else one connection.
func (d *Database) open(ctx context.Context) (*session, error) {
	s := &session{details: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	lockConn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, d.wrap(ctx, "connect", err)
	}
	defer lockConn.Close()
	if err := lockConn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.version); err != nil {
		return nil, d.wrap(ctx, "connect", err)
	}
	pairs, err := d.resolve(ctx, lockConn)
	if err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("mysql: no database to dump on %s", d.opts.Addr)
	}
	for _, p := range pairs {
		if err := d.mustExist(ctx, lockConn, p.real); err != nil {
			return nil, err
		}
	}
	workers := d.opts.Parallel
	locked := false
	if workers > 1 {
		if _, err := lockConn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			if !isPrivilegeError(err) {
				return nil, d.wrap(ctx, "FLUSH TABLES WITH READ LOCK", err)
			}
			workers = 1
			s.details["consistency_reason"] = "no RELOAD privilege for FLUSH TABLES WITH READ LOCK: " + err.Error()
		} else {
			locked = true
			defer func() {
				if locked {
					_, _ = lockConn.ExecContext(context.Background(), "UNLOCK TABLES")
				}
			}()
		}
	}
	for range workers {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return nil, d.wrap(ctx, "connect", err)
		}
		s.conns = append(s.conns, c)
		if err := startSnapshot(ctx, c); err != nil {
			return nil, d.wrap(ctx, "start snapshot", err)
		}
	}
	for _, p := range pairs {
		st := &dbState{dbPair: p}
		if st.tables, err = listTables(ctx, s.conns[0], p.real, func(n string) bool { return d.included(p.label, n) }); err != nil {
			return nil, d.wrap(ctx, "list tables", err)
		}
		if err := s.conns[0].QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", p.real).Scan(&st.cs, &st.coll); err != nil {
			return nil, d.wrap(ctx, "database "+quoteIdent(p.real), err)
		}
		s.dbs = append(s.dbs, st)
	}
	for _, c := range s.conns {
		if _, err := c.ExecContext(ctx, "USE "+quoteIdent(s.dbs[0].real)); err != nil {
			return nil, d.wrap(ctx, "use database", err)
		}
	}
	if locked {
		var file, pos string
		if rows, err := lockConn.QueryContext(ctx, "SHOW MASTER STATUS"); err == nil {
			cols, _ := rows.Columns()
			if rows.Next() && len(cols) >= 2 {
				vals := make([]any, len(cols))
				vals[0], vals[1] = &file, &pos
				for i := 2; i < len(cols); i++ {
					vals[i] = new(sql.RawBytes)
				}
				if rows.Scan(vals...) == nil && file != "" {
					s.details["binlog_file"], s.details["binlog_position"] = file, pos
				}
			}
			rows.Close()
		}
		if _, err := lockConn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			return nil, d.wrap(ctx, "UNLOCK TABLES", err)
		}
		locked = false
		s.details["consistency"] = "parallel-locked"
	} else {
		s.details["consistency"] = "single-connection"
	}
	s.details["connections"] = strconv.Itoa(len(s.conns))
	ok = true
	return s, nil
}

// countingWriter counts and checksums what it passes on, and remembers the
// first error of w.
type countingWriter struct {
	w   io.Writer
	n   int64
	crc uint32
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crcTable, p[:n])
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		c.err = fmt.Errorf("mysql: snapshot: writing: %w", err)
	}
	return n, c.err
}

func (c *countingWriter) WriteString(s string) { _, _ = io.WriteString(c, s) }

// tableJob is one table's dump, produced by a worker and written in order.
type tableJob struct {
	db    *dbState
	t     *table
	out   chan []byte
	sum   tableSum
	stmts int
	err   error
	// part numbers the chunks of a table split by primary key ranges; part 0
	// writes the table's definition; last marks the table's last chunk.
	part int
	last bool
	// cond limits the chunk's rows (empty: all).
	cond string
}

// sessionHeader is the dump's header after its comments: it saves and sets
// the session like mysqldump's.
var sessionHeader = []string{
	"SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT",
	"SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS",
	"SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION",
	"SET NAMES utf8mb4",
	"SET @OLD_TIME_ZONE=@@TIME_ZONE",
	"SET TIME_ZONE='+00:00'",
	"SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0",
	"SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0",
	"SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO'",
	"SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0",
}

// Snapshot writes a dump of the database (or databases) to w; see the
// package documentation for its layout and consistency.
func (d *Database) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	if d.opts.Engine == EngineMysqldump {
		return d.snapshotExternal(ctx, w)
	}
	info := source.Info{Kind: Kind, Format: Format, Location: d.location()}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mysql: snapshot: %w", err)
	}
	s, err := d.open(ctx)
	if err != nil {
		return info, err
	}
	defer s.close()
	info.ServerVersion = s.version
	info.Details = s.details

	cw := &countingWriter{w: w}
	stmts := 0
	cw.WriteString(headerLine)
	cw.WriteString("-- Server version: " + oneLine(s.version) + "\n")
	if d.multi() {
		names := make([]string, len(s.dbs))
		for i, db := range s.dbs {
			names[i] = oneLine(db.label)
		}
		cw.WriteString("-- Databases: " + strings.Join(names, ", ") + "\n\n")
	} else {
		cw.WriteString("-- Database: " + oneLine(s.dbs[0].label) + "\n\n")
	}
	for _, st := range sessionHeader {
		cw.WriteString(st + ";\n")
		stmts++
	}
	var nonTx []string
	chunks := 0
	for i, db := range s.dbs {
		if d.multi() {
			cw.WriteString("\n--\n-- Database " + quoteIdent(oneLine(db.label)) + "\n--\n")
			cw.WriteString("CREATE DATABASE IF NOT EXISTS " + quoteIdent(db.label) + " DEFAULT CHARACTER SET " + db.cs + " COLLATE " + db.coll + ";\n")
			cw.WriteString("USE " + quoteIdent(db.label) + ";\n")
			stmts += 2
		}
		for _, c := range s.conns {
			if i == 0 {
				break // open selected the first database
			}
			if _, err := c.ExecContext(ctx, "USE "+quoteIdent(db.real)); err != nil {
				return info, d.wrap(ctx, "use database", err)
			}
		}
		items, n, nt, nchunks, err := d.dumpTables(ctx, s, db, cw)
		if err != nil {
			return info, err
		}
		info.Items = append(info.Items, items...)
		stmts += n
		nonTx = append(nonTx, nt...)
		chunks += nchunks
		// Views, triggers, routines and events, on the first connection,
		// inside its snapshot; with several databases, the views'
		// definitions come after the last database's tables (below).
		parts := allObjects
		if d.multi() {
			parts = viewPlaceholders | otherObjects
		}
		n, err = d.writeObjects(ctx, s.conns[0], db.real, db.tables, cw, parts, d.opts.NoTriggers, d.opts.Routines, d.opts.Events)
		if err != nil {
			return info, err
		}
		stmts += n
		for _, t := range db.tables {
			if t.view {
				info.Items = append(info.Items, source.Item{Name: db.label + "." + t.name})
			}
		}
	}
	if d.multi() {
		for _, db := range s.dbs {
			if !slices.ContainsFunc(db.tables, func(t *table) bool { return t.view }) {
				continue
			}
			if _, err := s.conns[0].ExecContext(ctx, "USE "+quoteIdent(db.real)); err != nil {
				return info, d.wrap(ctx, "use database", err)
			}
			cw.WriteString("\n--\n-- Views of " + quoteIdent(oneLine(db.label)) + "\n--\n")
			cw.WriteString("USE " + quoteIdent(db.label) + ";\n")
			n, err := d.writeObjects(ctx, s.conns[0], db.real, db.tables, cw, viewDefinitions, false, false, false)
			if err != nil {
				return info, err
			}
			stmts += 1 + n
		}
	}
	if chunks > 0 {
		info.Details["chunks"] = strconv.Itoa(chunks)
	}
	cw.WriteString("\n")
	for _, st := range []string{
		"SET SQL_NOTES=@OLD_SQL_NOTES",
		"SET SQL_MODE=@OLD_SQL_MODE",
		"SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS",
		"SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS",
		"SET TIME_ZONE=@OLD_TIME_ZONE",
		"SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT",
		"SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS",
		"SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION",
	} {
		cw.WriteString(st + ";\n")
		stmts++
	}
	cw.WriteString(fmt.Sprintf("%s%d crc32c=%08x\n", trailerPrefix, stmts, cw.crc))
	if cw.err != nil {
		return info, cw.err
	}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mysql: snapshot: %w", err)
	}
	info.PointInTime = len(nonTx) == 0
	if len(nonTx) > 0 {
		info.Details["non_transactional"] = strings.Join(nonTx, ",")
	}
	if d.opts.SchemaOnly {
		info.Details["schema_only"] = "true"
	}
	return info, nil
}

// dumpTables dumps the tables of db with all of s's connections (each
// already using db) and writes them to cw in name order. It returns their
// items, the number of statements written, the non-transactional tables
// holding rows and the number of key-range parts when tables were split.
func (d *Database) dumpTables(ctx context.Context, s *session, db *dbState, cw *countingWriter) (items []source.Item, stmts int, nonTx []string, nchunks int, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var jobs []*tableJob
	tables := 0
	for _, t := range db.tables {
		if t.view {
			continue
		}
		tables++
		conds, err := d.chunks(ctx, s, t)
		if err != nil {
			return nil, 0, nil, 0, err
		}
		for i, cond := range conds {
			jobs = append(jobs, &tableJob{db: db, t: t, out: make(chan []byte, chunkQueue), part: i, last: i == len(conds)-1, cond: cond})
		}
	}
	if len(jobs) > tables {
		nchunks = len(jobs)
	}
	next := make(chan *tableJob)
	var wg sync.WaitGroup
	for _, c := range s.conns {
		wg.Go(func() {
			for j := range next {
				j.err = d.dumpTable(wctx, c, j)
				close(j.out)
			}
		})
	}
	go func() {
		defer close(next)
		for i, j := range jobs {
			select {
			case next <- j:
			case <-wctx.Done():
				// Jobs no worker took end here, so that nobody waits for them.
				for _, j := range jobs[i:] {
					j.err = fmt.Errorf("mysql: snapshot: %w", wctx.Err())
					close(j.out)
				}
				return
			}
		}
	}()
	var werr error
	var tab tableSum
	for _, j := range jobs {
		for chunk := range j.out {
			if _, err := cw.Write(chunk); err != nil {
				werr = err
				break
			}
		}
		if werr == nil && j.err != nil {
			werr = j.err
		}
		if werr != nil {
			cancel()
			break
		}
		stmts += j.stmts
		if j.part == 0 {
			tab = tableSum{}
		}
		tab.rows += j.sum.rows
		tab.bytes += j.sum.bytes
		tab.sum += j.sum.sum
		if !j.last {
			continue
		}
		name := db.label + "." + j.t.name
		items = append(items, tab.item(name))
		if e := strings.ToLower(j.t.engine); e != "innodb" && e != "" && !d.opts.SchemaOnly && tab.rows > 0 {
			if d.multi() {
				nonTx = append(nonTx, name)
			} else {
				nonTx = append(nonTx, j.t.name)
			}
		}
	}
	cancel()
	// Drain so that workers blocked on a full queue can finish.
	for _, j := range jobs {
		go func() {
			for range j.out {
			}
		}()
	}
	wg.Wait()
	if werr != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(werr, cerr) {
			return nil, 0, nil, 0, fmt.Errorf("mysql: snapshot: %w (%v)", cerr, werr)
		}
		return nil, 0, nil, 0, werr
	}
	for _, t := range db.tables {
		if c, ok := d.where(db.label, t.name); ok && !t.view {
			key := t.name
			if d.multi() {
				key = db.label + "." + t.name
			}
			s.details["where."+key] = c
		}
	}
	return items, stmts, nonTx, nchunks, nil
}

// The parts of writeObjects' output.
type objectParts int

const (
	viewPlaceholders objectParts = 1 << iota // a placeholder for every view
	viewDefinitions                          // the views' definitions
	otherObjects                             // triggers, routines, events
	allObjects       = viewPlaceholders | viewDefinitions | otherObjects
)

// writeObjects writes the parts asked of: the views of tables (placeholders
// first, then their definitions), then unless noTriggers the triggers of
// its tables, and when asked the routines and events of database db,
// reading them on c, which uses db. It returns the number of statements.
//
// A dump of several databases writes every database's placeholders and
// other objects with its tables, and the view definitions of all of them
// after the last database's tables, so that a view may use the tables and
// views of any database of the dump, as mysqldump --databases does.
func (d *Database) writeObjects(ctx context.Context, c *sql.Conn, db string, tables []*table, cw *countingWriter, parts objectParts, noTriggers, routines, events bool) (int, error) {
	stmts := 0
	first := true
	for _, t := range tables {
		if parts&viewPlaceholders == 0 || !t.view || len(t.cols) == 0 {
			continue
		}
		if first {
			cw.WriteString("\n--\n-- Placeholders for views\n--\n")
			first = false
		}
		cols := make([]string, len(t.cols))
		for i, col := range t.cols {
			cols[i] = "1 AS " + quoteIdent(col.name)
		}
		cw.WriteString("DROP TABLE IF EXISTS " + quoteIdent(t.name) + ";\n")
		cw.WriteString("CREATE OR REPLACE VIEW " + quoteIdent(t.name) + " AS SELECT " + strings.Join(cols, ", ") + ";\n")
		stmts += 2
	}
	for _, t := range tables {
		if parts&viewDefinitions == 0 || !t.view {
			continue
		}
		var name, def string
		var cs, coll string
		if err := c.QueryRowContext(ctx, "SHOW CREATE VIEW "+quoteIdent(t.name)).Scan(&name, &def, &cs, &coll); err != nil {
			return 0, d.wrap(ctx, "view "+quoteIdent(t.name), err)
		}
		cw.WriteString("\n--\n-- View " + quoteIdent(oneLine(t.name)) + "\n--\n")
		def = stripDefiner(def)
		if rest, ok := strings.CutPrefix(def, "CREATE "); ok {
			def = "CREATE OR REPLACE " + rest
		}
		cw.WriteString(def + ";\n")
		stmts++
	}
	if parts&otherObjects == 0 {
		return stmts, nil
	}
	if !noTriggers {
		n, err := d.dumpTriggers(ctx, c, db, tables, cw)
		if err != nil {
			return 0, err
		}
		stmts += n
	}
	if routines {
		for _, kind := range []string{"PROCEDURE", "FUNCTION"} {
			n, err := d.dumpObjects(ctx, c, db, cw, kind,
				"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = '"+kind+"' ORDER BY ROUTINE_NAME", 2)
			if err != nil {
				return 0, err
			}
			stmts += n
		}
	}
	if events {
		n, err := d.dumpObjects(ctx, c, db, cw, "EVENT",
			"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME", 3)
		if err != nil {
			return 0, err
		}
		stmts += n
	}
	return stmts, nil
}

// definerRE matches the DEFINER clause of views and triggers.
var definerRE = regexp.MustCompile("DEFINER=(`(?:[^`]|``)*`|'(?:[^']|'')*'|[^ @]+)@(`(?:[^`]|``)*`|'(?:[^']|'')*'|[^ ]+) ")

// stripDefiner removes "DEFINER=user@host " so that the restoring account
// becomes the definer.
func stripDefiner(s string) string {
	loc := definerRE.FindStringIndex(s)
	if loc == nil {
		return s
	}
	return s[:loc[0]] + s[loc[1]:]
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

func (d *Database) dumpTriggers(ctx context.Context, c *sql.Conn, db string, tables []*table, cw *countingWriter) (int, error) {
	incl := map[string]bool{}
	for _, t := range tables {
		if !t.view {
			incl[t.name] = true
		}
	}
	rows, err := c.QueryContext(ctx, "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER, TRIGGER_NAME", db)
	if err != nil {
		return 0, d.wrap(ctx, "list triggers", err)
	}
	var names []string
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			rows.Close()
			return 0, d.wrap(ctx, "list triggers", err)
		}
		if incl[t] {
			names = append(names, n)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, d.wrap(ctx, "list triggers", err)
	}
	stmts := 0
	for _, n := range names {
		rows, err := c.QueryContext(ctx, "SHOW CREATE TRIGGER "+quoteIdent(n))
		if err != nil {
			return 0, d.wrap(ctx, "trigger "+quoteIdent(n), err)
		}
		cols, _ := rows.Columns()
		if !rows.Next() {
			rows.Close()
			return 0, d.wrap(ctx, "trigger "+quoteIdent(n), errors.New("SHOW CREATE TRIGGER returned nothing"))
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil || len(cols) < 3 {
			rows.Close()
			return 0, d.wrap(ctx, "trigger "+quoteIdent(n), fmt.Errorf("reading SHOW CREATE TRIGGER: %v", err))
		}
		mode, def := string(vals[1]), stripDefiner(string(vals[2]))
		rows.Close()
		if strings.Contains(def, ";;") {
			return 0, fmt.Errorf("mysql: snapshot: trigger %s contains \";;\", which the dump uses as delimiter", quoteIdent(n))
		}
		cw.WriteString("\n--\n-- Trigger " + quoteIdent(oneLine(n)) + "\n--\n")
		cw.WriteString("SET @OLD_TRIGGER_SQL_MODE=@@SQL_MODE, SQL_MODE=" + quoteString(mode) + ";\n")
		cw.WriteString("DELIMITER ;;\n" + def + " ;;\nDELIMITER ;\n")
		cw.WriteString("SET SQL_MODE=@OLD_TRIGGER_SQL_MODE;\n")
		stmts += 3
	}
	return stmts, nil
}

func quoteString(s string) string {
	return string(appendQuoted(nil, []byte(s)))
}

// dumpTable writes a table's DROP/CREATE and INSERT statements to j.out in
// chunks.
func (d *Database) dumpTable(ctx context.Context, c *sql.Conn, j *tableJob) error {
	t := j.t
	send := func(b []byte) error {
		select {
		case j.out <- b:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("mysql: snapshot: %w", ctx.Err())
		}
	}
	if j.part == 0 {
		var name, create string
		if err := c.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdent(t.name)).Scan(&name, &create); err != nil {
			return d.wrap(ctx, "table "+quoteIdent(t.name), err)
		}
		var head bytes.Buffer
		head.WriteString("\n--\n-- Table " + quoteIdent(oneLine(t.name)) + "\n--\n")
		head.WriteString("DROP TABLE IF EXISTS " + quoteIdent(t.name) + ";\n")
		head.WriteString(create + ";\n")
		j.stmts += 2
		if err := send(head.Bytes()); err != nil {
			return err
		}
	}
	if d.opts.SchemaOnly {
		return nil
	}
	cols := dumpedColumns(t)
	if len(cols) == 0 {
		return nil
	}
	ins := make([]string, len(cols))
	for i, c := range cols {
		ins[i] = quoteIdent(c.name)
	}
	query := "SELECT " + selectList(cols) + " FROM " + quoteIdent(t.name)
	var where []string
	if cond, ok := d.where(j.db.label, t.name); ok {
		where = append(where, "("+cond+")")
	}
	if j.cond != "" {
		where = append(where, j.cond)
	}
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if len(t.pk) > 0 {
		pk := make([]string, len(t.pk))
		for i, p := range t.pk {
			pk[i] = quoteIdent(p)
		}
		query += " ORDER BY " + strings.Join(pk, ", ")
	}
	insertHead := "INSERT INTO " + quoteIdent(t.name) + " (" + strings.Join(ins, ",") + ") VALUES\n"
	var buf []byte
	inStmt := 0
	flush := func() error {
		if inStmt == 0 {
			return nil
		}
		buf = append(buf, ";\n"...)
		j.stmts++
		inStmt = 0
		b := buf
		buf = nil
		return send(b)
	}
	var sendErr error
	err := scanRows(ctx, c, query, cols, func(row []byte) error {
		j.sum.add(row)
		if inStmt > 0 && (inStmt >= d.opts.RowsPerInsert || len(buf)+len(row)+3 > d.opts.MaxInsertBytes) {
			if err := flush(); err != nil {
				sendErr = err
				return err
			}
		}
		if inStmt == 0 {
			buf = make([]byte, 0, min(d.opts.MaxInsertBytes+len(row)+len(insertHead)+8, 4<<20))
			buf = append(buf, insertHead...)
		} else {
			buf = append(buf, ",\n"...)
		}
		buf = append(buf, row...)
		inStmt++
		return nil
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return d.wrap(ctx, "table "+quoteIdent(t.name), err)
	}
	return flush()
}

// dumpedColumns returns the columns of t a dump writes: all but generated
// ones.
func dumpedColumns(t *table) []column {
	var cols []column
	for _, c := range t.cols {
		if !c.generated {
			cols = append(cols, c)
		}
	}
	return cols
}

// selectList is the quoted, comma-separated names of cols.
func selectList(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.name)
	}
	return strings.Join(names, ", ")
}

// scanRows runs query on c and calls fn with each row as a dump writes it:
// "(v1,v2,…)", valid until fn returns. The driver's own rows are read
// (through Conn.Raw) so that values are not copied, and over a prepared
// statement, so that the server uses the binary protocol, which gives
// FLOAT and DOUBLE values exactly.
func scanRows(ctx context.Context, c *sql.Conn, query string, cols []column, fn func(row []byte) error) error {
	return c.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("driver connection cannot prepare statements")
		}
		st, err := pc.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer st.Close()
		sq, ok := st.(driver.StmtQueryContext)
		if !ok {
			return errors.New("driver statement cannot query")
		}
		rows, err := sq.QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]driver.Value, len(cols))
		var row []byte
		for {
			if err := rows.Next(vals); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			row = append(row[:0], '(')
			for i, v := range vals {
				if i > 0 {
					row = append(row, ',')
				}
				row = appendValue(row, v, &cols[i])
			}
			row = append(row, ')')
			if err := fn(row); err != nil {
				return err
			}
		}
	})
}

// appendValue appends v, a value of column c as the driver returned it, as
// an SQL literal.
func appendValue(b []byte, v any, c *column) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "NULL"...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float32:
		// The shortest text of the float32 can parse, as a double, above
		// FLT_MAX; the float64 widening of it is exact and parses back to
		// the same float32.
		return strconv.AppendFloat(b, float64(x), 'g', -1, 64)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case string:
		if c.kind == kindNumber {
			return append(b, x...)
		}
		return appendQuoted(b, []byte(x))
	case []byte:
		switch c.kind {
		case kindNumber:
			return append(b, x...)
		case kindHex:
			if len(x) == 0 {
				return append(b, "''"...)
			}
			b = append(b, "0x"...)
			return hex.AppendEncode(b, x)
		}
		return appendQuoted(b, x)
	}
	return appendQuoted(b, fmt.Append(nil, v))
}

// needsEscape marks the bytes appendQuoted escapes.
var needsEscape = [256]bool{0: true, '\n': true, '\r': true, '\\': true, '\'': true, '"': true, 0x1a: true}

// appendQuoted appends s as a single-quoted string literal, escaped as
// mysql_real_escape_string does.
func appendQuoted(b, s []byte) []byte {
	b = append(b, '\'')
	start := 0
	for i, c := range s {
		if !needsEscape[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case 0:
			b = append(b, '\\', '0')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0x1a:
			b = append(b, '\\', 'Z')
		default:
			b = append(b, '\\', c)
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '\'')
}

// tableSum adds up the rows of one table: their number, their size as
// written in the dump, and the sum of their CRC-32Cs (order-independent).
type tableSum struct {
	rows, bytes int64
	sum         uint64
}

func (s *tableSum) add(row []byte) {
	s.rows++
	s.bytes += int64(len(row))
	s.sum += uint64(crc32.Checksum(row, crcTable))
}

// item is the table's Info item; Inspect computes the same.
func (s tableSum) item(name string) source.Item {
	return source.Item{Name: name, Count: s.rows, Bytes: s.bytes, Checksum: fmt.Sprintf("%016x", s.sum)}
}

// chunks returns the row conditions of the parts a table is dumped in: one
// empty condition, or primary key ranges when the table has a single-column
// integer primary key, more than Options.ChunkRows rows by the server's
// estimate, and several connections read.
func (d *Database) chunks(ctx context.Context, s *session, t *table) ([]string, error) {
	if d.opts.SchemaOnly || len(s.conns) < 2 || len(t.pk) != 1 || t.estRows <= int64(d.opts.ChunkRows) {
		return []string{""}, nil
	}
	integer := false
	for _, c := range t.cols {
		if c.name == t.pk[0] {
			switch c.dataType {
			case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
				integer = true
			}
		}
	}
	if !integer {
		return []string{""}, nil
	}
	pk := quoteIdent(t.pk[0])
	var lo, hi sql.NullInt64
	if err := s.conns[0].QueryRowContext(ctx, "SELECT MIN("+pk+"), MAX("+pk+") FROM "+quoteIdent(t.name)).Scan(&lo, &hi); err != nil {
		// An unsigned key above the int64 range: dump the table whole.
		if ctx.Err() != nil {
			return nil, d.wrap(ctx, "table "+quoteIdent(t.name), err)
		}
		return []string{""}, nil
	}
	if !lo.Valid || !hi.Valid || hi.Int64 <= lo.Int64 {
		return []string{""}, nil
	}
	n := min((t.estRows+int64(d.opts.ChunkRows)-1)/int64(d.opts.ChunkRows), maxChunks)
	span := uint64(hi.Int64) - uint64(lo.Int64)
	step := span/uint64(n) + 1
	var conds []string
	prev := ""
	for i := int64(1); i < n; i++ {
		b := strconv.FormatInt(int64(uint64(lo.Int64)+uint64(i)*step), 10)
		if prev == "" {
			conds = append(conds, pk+" < "+b)
		} else {
			conds = append(conds, pk+" >= "+prev+" AND "+pk+" < "+b)
		}
		prev = b
	}
	if prev == "" {
		return []string{""}, nil
	}
	return append(conds, pk+" >= "+prev), nil
}

// maxChunks bounds the parts one table is split into.
const maxChunks = 64

// dumpObjects writes the stored procedures, functions or events (kind)
// that list names, each with the SQL_MODE it was created under, a DROP …
// IF EXISTS and its definition (column defCol of SHOW CREATE kind) between
// DELIMITER ;; and DELIMITER ;.
func (d *Database) dumpObjects(ctx context.Context, c *sql.Conn, db string, cw *countingWriter, kind, list string, defCol int) (int, error) {
	lower := strings.ToLower(kind)
	rows, err := c.QueryContext(ctx, list, db)
	if err != nil {
		return 0, d.wrap(ctx, "list "+lower+"s", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, d.wrap(ctx, "list "+lower+"s", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return 0, d.wrap(ctx, "list "+lower+"s", err)
	}
	stmts := 0
	for _, n := range names {
		rows, err := c.QueryContext(ctx, "SHOW CREATE "+kind+" "+quoteIdent(n))
		if err != nil {
			return 0, d.wrap(ctx, lower+" "+quoteIdent(n), err)
		}
		cols, _ := rows.Columns()
		if !rows.Next() || len(cols) <= defCol {
			rows.Close()
			return 0, d.wrap(ctx, lower+" "+quoteIdent(n), errors.New("SHOW CREATE "+kind+" returned nothing"))
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return 0, d.wrap(ctx, lower+" "+quoteIdent(n), err)
		}
		if vals[defCol] == nil {
			rows.Close()
			return 0, fmt.Errorf("mysql: snapshot: the account may not read the definition of %s %s", lower, quoteIdent(n))
		}
		mode, def := string(vals[1]), stripDefiner(string(vals[defCol]))
		rows.Close()
		if strings.Contains(def, ";;") {
			return 0, fmt.Errorf("mysql: snapshot: %s %s contains \";;\", which the dump uses as delimiter", lower, quoteIdent(n))
		}
		cw.WriteString("\n--\n-- " + strings.ToUpper(lower[:1]) + lower[1:] + " " + quoteIdent(oneLine(n)) + "\n--\n")
		cw.WriteString("SET @OLD_OBJECT_SQL_MODE=@@SQL_MODE, SQL_MODE=" + quoteString(mode) + ";\n")
		cw.WriteString("DROP " + kind + " IF EXISTS " + quoteIdent(n) + ";\n")
		cw.WriteString("DELIMITER ;;\n" + def + " ;;\nDELIMITER ;\n")
		cw.WriteString("SET SQL_MODE=@OLD_OBJECT_SQL_MODE;\n")
		stmts += 4
	}
	return stmts, nil
}
