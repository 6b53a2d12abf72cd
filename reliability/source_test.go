package reliability_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/internal/faults"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	_ "github.com/backupkit/backupkit/source/mongodb"
	_ "github.com/backupkit/backupkit/source/mysql"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// gatedRun backs src up to a local folder behind a faults.GateDestination
// that holds the stream after `after` bytes; fault runs while it is held
// (the source is then mid-dump, blocked by back-pressure), then the gate
// opens. A nil fault runs the backup without holding it. It returns the
// result and the run's error, and checks the catalog.
func gatedRun(t *testing.T, src source.Source, after int64, fault func()) (*backup.Result, error) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "store.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	disk, err := local.New(t.TempDir(), nil)
	require.NoError(t, err)
	gate := faults.NewGateDestination(disk, after)
	if fault == nil {
		gate.Release()
	}
	engine := backup.New(st, &backup.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	job := &backup.Job{Name: "srcfault", Source: src, Destinations: []backup.Target{{Name: "disk", Destination: gate}}, Compression: backup.None}
	type out struct {
		res *backup.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := engine.Run(ctx, job, backup.RunOptions{})
		done <- out{res, err}
	}()
	select {
	case <-gate.Reached():
		if fault == nil {
			break
		}
		fault()
		gate.Release()
	case o := <-done:
		if fault == nil {
			done <- o
			break
		}
		t.Fatalf("the backup ended (%v) before reaching the gate at %d bytes: the test proves nothing", o.err, after)
	}
	o := <-done
	require.NotNil(t, o.res, "run not recorded: %v", o.err)
	copies := checkCatalog(t, st, map[string]destination.Destination{"disk": disk})
	if o.res.Run.Status != store.RunSucceeded {
		assert.Zero(t, copies, "a failed run leaves nothing listed")
	}
	return o.res, o.err
}

// mysqlFixture is a fresh MariaDB database of four tables of about 4 MiB
// each, dropped at the end, and an administrator connection.
type mysqlFixture struct {
	admin *sql.DB
	cfg   *mysqldrv.Config
	db    string
}

func newMySQLFixture(t *testing.T) *mysqlFixture {
	dsn := testenv.MySQL(t)
	cfg, err := mysqldrv.ParseDSN(dsn)
	require.NoError(t, err)
	admin, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	admin.SetMaxOpenConns(1)
	name := testenv.UniqueName(t)
	_, err = admin.Exec("CREATE DATABASE `" + name + "`")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`") })
	for i := 1; i <= 4; i++ {
		_, err = admin.Exec(fmt.Sprintf("CREATE TABLE `%s`.t%d (id INT PRIMARY KEY, pad VARCHAR(255))", name, i))
		require.NoError(t, err)
		_, err = admin.Exec(fmt.Sprintf("INSERT INTO `%s`.t%d SELECT seq, REPEAT(MD5(seq), 6) FROM seq_1_to_20000", name, i))
		require.NoError(t, err)
	}
	_, err = admin.Exec("SET SESSION lock_wait_timeout = 10")
	require.NoError(t, err)
	return &mysqlFixture{admin: admin, cfg: cfg, db: name}
}

func (f *mysqlFixture) source(t *testing.T, user, pass, addr string) source.Source {
	u := url.URL{Scheme: "mysql", User: url.UserPassword(user, pass), Host: addr, Path: "/" + f.db, RawQuery: "parallel=1"}
	src, err := source.Open(context.Background(), u.String())
	require.NoError(t, err)
	return src
}

// TestSourceTableDroppedMidDump drops a table the dump has not reached yet.
func TestSourceTableDroppedMidDump(t *testing.T) {
	f := newMySQLFixture(t)
	src := f.source(t, f.cfg.User, f.cfg.Passwd, f.cfg.Addr)
	res, err := gatedRun(t, src, 256<<10, func() {
		_, derr := f.admin.Exec("DROP TABLE `" + f.db + "`.t4")
		t.Logf("DROP TABLE t4 mid-dump: %v", derr)
	})
	t.Logf("table dropped mid-dump: run %s: %v", res.Run.Status, err)
	switch res.Run.Status {
	case store.RunFailed:
		assert.Contains(t, err.Error(), "t4", "the error names the table")
	case store.RunSucceeded:
		// The snapshot kept the table (consistent read) or the dump listed
		// tables after the drop: either way the catalog checked out.
	default:
		t.Fatalf("unexpected status %s: %v", res.Run.Status, err)
	}
}

// TestSourceCredentialsRevokedMidDump revokes a dedicated account's rights
// and locks it while it dumps. MariaDB checks database-level privileges of
// an open session only at its next USE, so a dump whose connections stay
// open may finish; an administrator who also kills the account's sessions
// stops it. Either way the next backup fails with an access error, and no
// error carries the password.
func TestSourceCredentialsRevokedMidDump(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "revoke and lock", true: "revoke, lock and kill sessions"}[kill], func(t *testing.T) {
			f := newMySQLFixture(t)
			user, pass := "bkrev"+f.db[len(f.db)-8:], "revoke-me-"+f.db[len(f.db)-6:]
			for _, q := range []string{
				fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, pass),
				fmt.Sprintf("GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON `%s`.* TO '%s'@'%%'", f.db, user),
			} {
				_, err := f.admin.Exec(q)
				require.NoError(t, err)
			}
			t.Cleanup(func() { _, _ = f.admin.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
			src := f.source(t, user, pass, f.cfg.Addr)
			res, err := gatedRun(t, src, 256<<10, func() {
				_, e1 := f.admin.Exec(fmt.Sprintf("REVOKE ALL PRIVILEGES ON `%s`.* FROM '%s'@'%%'", f.db, user))
				_, e2 := f.admin.Exec(fmt.Sprintf("ALTER USER '%s'@'%%' ACCOUNT LOCK", user))
				require.NoError(t, errors.Join(e1, e2))
				if kill {
					rows, err := f.admin.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
					require.NoError(t, err)
					var ids []int64
					for rows.Next() {
						var id int64
						require.NoError(t, rows.Scan(&id))
						ids = append(ids, id)
					}
					rows.Close()
					for _, id := range ids {
						_, _ = f.admin.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
					}
					t.Logf("killed %d sessions of %s", len(ids), user)
				}
			})
			t.Logf("in-flight run: %s: %v", res.Run.Status, err)
			if kill {
				require.Equal(t, store.RunFailed, res.Run.Status, "run error: %v", err)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), pass, "the error leaks the password")
			}
			assert.NotContains(t, res.Run.Reason, pass, "the run's reason leaks the password")

			res, err = gatedRun(t, src, 0, nil)
			t.Logf("next run: %s: %v", res.Run.Status, err)
			require.Equal(t, store.RunFailed, res.Run.Status)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), pass, "the error leaks the password")
		})
	}
}

// TestSourceConnectionCutMidDump cuts a TCP proxy in front of MariaDB
// mid-dump. This stands in for a server restart: the machine's MariaDB is
// shared with concurrent test runs and must not be restarted. Then the proxy
// is restored and the next backup succeeds.
func TestSourceConnectionCutMidDump(t *testing.T) {
	f := newMySQLFixture(t)
	proxy, err := faults.NewProxy(f.cfg.Addr)
	require.NoError(t, err)
	defer proxy.Close()
	src := f.source(t, f.cfg.User, f.cfg.Passwd, proxy.Addr())
	res, err := gatedRun(t, src, 256<<10, func() {
		proxy.Cut()
		time.Sleep(200 * time.Millisecond)
		proxy.Restore()
	})
	t.Logf("connection cut mid-dump: run %s: %v", res.Run.Status, err)
	require.Equal(t, store.RunFailed, res.Run.Status, "run error: %v", err)
	assert.NotContains(t, err.Error(), ":"+f.cfg.Passwd+"@", "the error leaks the password")

	res, err = gatedRun(t, src, 0, nil)
	require.NoError(t, err, "the next backup after the server is back")
	assert.Equal(t, store.RunSucceeded, res.Run.Status)
}

// TestSourceCollectionGrowsWhileDumped inserts documents into a FerretDB
// collection while it is being dumped. FerretDB has no snapshot reads: the
// dump may or may not include the new documents, but it must succeed and
// count what it wrote.
func TestSourceCollectionGrowsWhileDumped(t *testing.T) {
	uri := testenv.MongoDB(t)
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	name := testenv.UniqueName(t)
	t.Cleanup(func() { _ = client.Database(name).Drop(ctx) })
	coll := client.Database(name).Collection("growing")
	const initial = 5000
	docs := make([]any, 0, 500)
	for i := range initial {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", 200)}})
		if len(docs) == cap(docs) {
			_, err := coll.InsertMany(ctx, docs)
			require.NoError(t, err)
			docs = docs[:0]
		}
	}
	u, err := url.Parse(uri)
	require.NoError(t, err)
	u.Path = "/" + name
	src, err := source.Open(ctx, u.String())
	require.NoError(t, err)
	added := 0
	res, err := gatedRun(t, src, 64<<10, func() {
		for i := range 1000 {
			_, ierr := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: initial + i}, {Key: "pad", Value: "new"}})
			require.NoError(t, ierr)
			added++
		}
	})
	require.NoError(t, err)
	require.Equal(t, store.RunSucceeded, res.Run.Status)
	var count int64 = -1
	for _, it := range res.Info.Items {
		if strings.HasSuffix(it.Name, ".growing") {
			count = it.Count
		}
	}
	t.Logf("collection grew by %d while dumped: the dump holds %d documents (started with %d)", added, count, initial)
	assert.GreaterOrEqual(t, count, int64(initial))
	assert.LessOrEqual(t, count, int64(initial+added))
}
