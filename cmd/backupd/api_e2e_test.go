package main_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/internal/testenv"
)

// daemon is a `backupd serve` process under test.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *lockedBuffer
	exited chan error
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu   chan struct{}
	data []byte
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{mu: make(chan struct{}, 1)} }

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	b.data = append(b.data, p...)
	<-b.mu
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return string(b.data)
}

var listeningRE = regexp.MustCompile(`msg="backupd listening" url=(http://\S+)/`)

// startServe starts `backupd serve` in dir and waits for its "backupd
// listening" log line.
func startServe(t *testing.T, dir, cfgPath string) *daemon {
	t.Helper()
	d := &daemon{t: t, stderr: newLockedBuffer(), exited: make(chan error, 1)}
	d.cmd = exec.Command(backupdBin, "serve", "--config", cfgPath)
	d.cmd.Dir = dir
	d.cmd.Env = append(os.Environ(), "BACKUPD_CONFIG=")
	pr, pw := io.Pipe()
	d.cmd.Stderr = io.MultiWriter(d.stderr, pw)
	require.NoError(t, d.cmd.Start())
	go func() { d.exited <- d.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("backupd serve log:\n%s", d.stderr.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case d.base = <-found:
	case err := <-d.exited:
		t.Fatalf("backupd serve exited (%v):\n%s", err, d.stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("backupd serve did not log \"backupd listening\":\n%s", d.stderr.String())
	}
	return d
}

// call sends a request with a bearer token and returns the status and body.
func (d *daemon) call(method, path, token, body string) (int, []byte) {
	d.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	require.NoError(d.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(d.t, err)
	return resp.StatusCode, b
}

// follow reads a run's event stream to its "end" event and returns the
// names of the events seen and the final run.
func (d *daemon) follow(runID, token string) (events []string, end map[string]any) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", d.base+"/api/v1/runs/"+runID+"/events", nil)
	require.NoError(d.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err)
	defer resp.Body.Close()
	require.Equal(d.t, 200, resp.StatusCode)
	require.Equal(d.t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			events = append(events, e)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && event == "end" {
			require.NoError(d.t, json.Unmarshal([]byte(data), &end))
			return events, end
		}
	}
	d.t.Fatalf("event stream of run %s ended without an end event (%v); events: %v", runID, sc.Err(), events)
	return nil, nil
}

// mysqlDB opens database name on the test server.
func mysqlDB(t *testing.T, name string) *sql.DB {
	cfg, err := mysql.ParseDSN(testenv.MySQL(t))
	require.NoError(t, err)
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestAPIEndToEnd runs `backupd serve` with a MariaDB source and two
// destinations (MinIO and local disk), as a user would: trigger a run over
// the API, follow its events to completion, download the backup and check
// its SHA-256, restore it into another database and compare, then check the
// audit trail and that a viewer may not restore.
func TestAPIEndToEnd(t *testing.T) {
	srcURL := testenv.FreshMySQLURL(t)
	minio := s3test.MinIO(t)
	bucket := s3test.NewBucket(t, minio)

	srcName := strings.TrimPrefix(mustParse(t, srcURL).Path, "/")
	src := mysqlDB(t, srcName)
	_, err := src.Exec("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL, price DECIMAL(10,2))")
	require.NoError(t, err)
	for i := 1; i <= 200; i++ {
		_, err := src.Exec("INSERT INTO orders VALUES (?, ?, ?)", i, fmt.Sprintf("item-%03d ✓", i), float64(i)*1.25)
		require.NoError(t, err)
	}

	adminTok, adminHash, err := config.NewToken()
	require.NoError(t, err)
	viewerTok, viewerHash, err := config.NewToken()
	require.NoError(t, err)
	dir := t.TempDir()
	s3URL := fmt.Sprintf("s3://%s/e2e?endpoint=%s&path_style=true&region=%s&access_key_id=%s&secret_access_key=%s",
		bucket, url.QueryEscape(minio.Endpoint), minio.Region, url.QueryEscape(minio.AccessKey), url.QueryEscape(minio.SecretKey))
	cfgPath := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`store: sqlite:backupd.db
server:
  listen: 127.0.0.1:0
  log_format: text
  tokens:
    - name: alice
      role: admin
      hash: `+adminHash+`
    - name: victor
      role: viewer
      hash: `+viewerHash+`
destinations:
  local:
    url: file:backups
  minio:
    url_file: minio.url
jobs:
  - name: shop
    source_file: shop.url
    destinations: [local, minio]
    schedule: "0 3 * * *"
`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "minio.url"), []byte(s3URL), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shop.url"), []byte(srcURL), 0o600))

	d := startServe(t, dir, cfgPath)
	status, body := d.call("GET", "/healthz", "", "")
	require.Equal(t, 200, status, string(body))

	// Trigger a run and follow it.
	status, body = d.call("POST", "/api/v1/jobs/shop/run", adminTok, "")
	require.Equal(t, 202, status, string(body))
	var acc struct {
		RunID string `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(body, &acc))
	require.NotEmpty(t, acc.RunID)
	events, end := d.follow(acc.RunID, viewerTok)
	assert.Contains(t, events, "log")
	require.Equal(t, "succeeded", end["status"], "run: %v\nevents: %v", end, events)
	assert.Equal(t, "alice", end["triggered_by"])
	backupID, _ := end["backup_id"].(string)
	require.NotEmpty(t, backupID)

	// The catalog entry has a copy on each destination.
	status, body = d.call("GET", "/api/v1/backups/"+backupID, viewerTok, "")
	require.Equal(t, 200, status, string(body))
	var b struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
		Copies []struct {
			Destination string `json:"destination"`
		} `json:"copies"`
	}
	require.NoError(t, json.Unmarshal(body, &b))
	var dests []string
	for _, c := range b.Copies {
		dests = append(dests, c.Destination)
	}
	assert.ElementsMatch(t, []string{"local", "minio"}, dests)

	// Download as stored: the SHA-256 matches the catalog's.
	status, _ = d.call("GET", "/api/v1/backups/"+backupID+"/download?raw=true", viewerTok, "")
	assert.Equal(t, 403, status, "a viewer may not download backups")
	status, body = d.call("GET", "/api/v1/backups/"+backupID+"/download?raw=true", adminTok, "")
	require.Equal(t, 200, status, string(body[:min(len(body), 300)]))
	sum := sha256.Sum256(body)
	assert.Equal(t, b.SHA256, hex.EncodeToString(sum[:]))
	assert.Equal(t, b.Size, int64(len(body)))

	// A viewer may not restore; an admin restores into another database.
	target := testenv.UniqueName(t) + "_restored"
	admin := mysqlDB(t, "")
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS `" + target + "`") })
	status, _ = d.call("POST", "/api/v1/backups/"+backupID+"/restore", viewerTok, `{"target":"`+target+`"}`)
	assert.Equal(t, 403, status)
	status, body = d.call("POST", "/api/v1/backups/"+backupID+"/restore", adminTok, `{"target":"`+target+`"}`)
	require.Equal(t, 202, status, string(body))
	require.NoError(t, json.Unmarshal(body, &acc))
	require.NotEmpty(t, acc.RunID)
	_, end = d.follow(acc.RunID, adminTok)
	require.Equal(t, "succeeded", end["status"], "restore run: %v", end)
	restored := mysqlDB(t, target)
	var n int
	var total float64
	require.NoError(t, restored.QueryRow("SELECT COUNT(*), SUM(price) FROM orders").Scan(&n, &total))
	assert.Equal(t, 200, n)
	assert.InDelta(t, 25125.0, total, 0.001)
	var item string
	require.NoError(t, restored.QueryRow("SELECT item FROM orders WHERE id = 7").Scan(&item))
	assert.Equal(t, "item-007 ✓", item)

	// A bad token is refused and recorded; the audit trail has it all.
	status, _ = d.call("GET", "/api/v1/runs", "bkd_guessed", "")
	assert.Equal(t, 401, status)
	status, body = d.call("GET", "/api/v1/audit?limit=100", viewerTok, "")
	require.Equal(t, 200, status)
	var audit struct {
		Entries []struct {
			Actor, Action, Target string
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(body, &audit))
	seen := map[string]string{}
	for _, e := range audit.Entries {
		seen[e.Action] = e.Actor + " " + e.Target
	}
	assert.Equal(t, "alice shop", seen["run.trigger"])
	assert.Equal(t, "alice "+backupID, seen["backup.restore"])
	assert.Contains(t, seen, "auth.failed")
	assert.Equal(t, "victor GET /api/v1/backups/"+backupID+"/download", seen["auth.denied"])
	assert.NotContains(t, string(body), minio.SecretKey)

	// Nothing secret in the daemon's log either; it stops cleanly.
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-d.exited:
		require.NoError(t, err, d.stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("backupd serve did not stop on SIGTERM")
	}
	log := d.stderr.String()
	assert.NotContains(t, log, minio.SecretKey)
	assert.NotContains(t, log, adminTok)
	if u := mustParse(t, srcURL).User; u != nil {
		if pw, ok := u.Password(); ok && pw != "" {
			assert.NotContains(t, log, ":"+pw+"@")
		}
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}
