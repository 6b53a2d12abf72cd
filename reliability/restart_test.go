package reliability_test

import (
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// throwawayMariaDB is a MariaDB server of this test's own (its own data
// folder and port), which the test may stop and start: the machine's
// MariaDB is shared and is never restarted.
type throwawayMariaDB struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

func newThrowawayMariaDB(t *testing.T) *throwawayMariaDB {
	install, err1 := exec.LookPath("mariadb-install-db")
	_, err2 := os.Stat("/usr/sbin/mariadbd")
	if err1 != nil || err2 != nil || os.Geteuid() != 0 {
		const why = "no throwaway MariaDB here (needs root, mariadb-install-db and /usr/sbin/mariadbd)"
		if testenv.Required() {
			t.Fatal(why + "; scripts/test-all runs as root on a machine with MariaDB installed")
		}
		t.Skip(why + "; the proxy-cut test covers the client side")
	}
	m := &throwawayMariaDB{dir: t.TempDir()}
	out, err := exec.Command(install, "--no-defaults", "--user=root", "--datadir="+filepath.Join(m.dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	require.NoError(t, err, "mariadb-install-db: %s", out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m.start(t)
	t.Cleanup(func() { m.stop(t) })
	return m
}

func (m *throwawayMariaDB) addr() string { return fmt.Sprintf("127.0.0.1:%d", m.port) }

func (m *throwawayMariaDB) start(t *testing.T) {
	log, err := os.OpenFile(filepath.Join(m.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer log.Close()
	m.cmd = exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir="+filepath.Join(m.dir, "data"),
		fmt.Sprintf("--port=%d", m.port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.dir, "sock"),
		"--pid-file="+filepath.Join(m.dir, "pid"), "--innodb-buffer-pool-size=32M")
	m.cmd.Stdout, m.cmd.Stderr = log, log
	require.NoError(t, m.cmd.Start())
	db, err := sql.Open("mysql", "root@tcp("+m.addr()+")/")
	require.NoError(t, err)
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for db.Ping() != nil {
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(m.dir, "server.log"))
			t.Fatalf("throwaway MariaDB did not answer within 60 s:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the server down with SIGTERM (a clean shutdown, as a service
// restart does) and waits for it.
func (m *throwawayMariaDB) stop(t *testing.T) {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// TestSourceServerRestartMidDump restarts a throwaway MariaDB server while
// a backup dumps it: the run fails with nothing listed, and the next backup
// (the same source) succeeds against the restarted server.
func TestSourceServerRestartMidDump(t *testing.T) {
	m := newThrowawayMariaDB(t)
	admin, err := sql.Open("mysql", "root@tcp("+m.addr()+")/")
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec("CREATE DATABASE shop")
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		_, err := admin.Exec(fmt.Sprintf("CREATE TABLE shop.t%d (id INT PRIMARY KEY, pad VARCHAR(255))", i))
		require.NoError(t, err)
		_, err = admin.Exec(fmt.Sprintf("INSERT INTO shop.t%d SELECT seq, REPEAT(MD5(seq), 6) FROM shop.seq_1_to_20000", i))
		require.NoError(t, err)
	}
	u := url.URL{Scheme: "mysql", User: url.User("root"), Host: m.addr(), Path: "/shop", RawQuery: "parallel=1"}
	src, err := source.Open(t.Context(), u.String())
	require.NoError(t, err)

	var restart time.Duration
	res, err := gatedRun(t, src, 256<<10, func() {
		start := time.Now()
		m.stop(t)
		m.start(t)
		restart = time.Since(start)
	})
	t.Logf("server restarted mid-dump (down for %s): run %s: %v", restart.Round(time.Millisecond), res.Run.Status, err)
	require.Equal(t, store.RunFailed, res.Run.Status, "run error: %v", err)

	res, err = gatedRun(t, src, 0, nil)
	require.NoError(t, err, "the next backup after the restart")
	assert.Equal(t, store.RunSucceeded, res.Run.Status)
}
