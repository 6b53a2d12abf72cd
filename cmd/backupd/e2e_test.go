package main_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// These tests run the real backupd binary, as a user would.

var backupdBin string

func TestMain(m *testing.M) {
	os.Setenv("BACKUPD_LISTEN", "127.0.0.1:0") // tests' serves run side by side: each on a free port
	dir, err := os.MkdirTemp("", "backupd-e2e")
	if err != nil {
		panic(err)
	}
	backupdBin = filepath.Join(dir, "backupd")
	build := exec.Command("go", "build", "-o", backupdBin, ".")
	if testingRace() {
		build.Args = append(build.Args[:2], append([]string{"-race"}, build.Args[2:]...)...)
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building backupd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func backupd(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(backupdBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BACKUPD_CONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code}
}

// quickstart copies examples/quickstart into a temp folder, as a newcomer's
// checkout would have it, with the schedule given.
func quickstart(t *testing.T, schedule string) string {
	dir := t.TempDir()
	src := filepath.Join("..", "..", "examples", "quickstart")
	require.NoError(t, os.CopyFS(dir, os.DirFS(src)))
	cfg, err := os.ReadFile(filepath.Join(dir, "backupd.yaml"))
	require.NoError(t, err)
	cfg = bytes.Replace(cfg, []byte(`schedule: "* * * * *"`), []byte(`schedule: "`+schedule+`"`), 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "backupd.yaml"), cfg, 0o644))
	return dir
}

// tree returns path -> content hash (files), "dir" or "-> target" (links).
func tree(t *testing.T, root string) map[string]string {
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			out[rel] = "-> " + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			sum := sha256.Sum256(data)
			out[rel] = hex.EncodeToString(sum[:])
		}
		return nil
	}))
	return out
}

var backupIDRE = regexp.MustCompile(`(?m)^backup (\S+):`)

func TestQuickstartBackupListRestore(t *testing.T) {
	dir := quickstart(t, "* * * * *")
	require.NoError(t, os.Symlink("hello.txt", filepath.Join(dir, "data", "link-to-hello")))

	r := backupd(t, dir, "backup", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "succeeded")
	m := backupIDRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	id := m[1]

	r = backupd(t, dir, "list", "--config", "backupd.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, id)
	assert.Contains(t, r.stdout, "local")

	target := filepath.Join(t.TempDir(), "restored")
	r = backupd(t, dir, "restore", "--config", "backupd.yaml", "--target", target, id)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Equal(t, tree(t, filepath.Join(dir, "data")), tree(t, target))
}

func TestServeRunsScheduledBackups(t *testing.T) {
	dir := quickstart(t, "* * * * * *") // every second
	cmd := exec.Command(backupdBin, "serve", "--config", "backupd.yaml")
	cmd.Dir = dir
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Wait for two backups: the loop keeps scheduling after the first.
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := backupd(t, dir, "list", "--config", "backupd.yaml")
		if strings.Count(r.stdout, "quickstart") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two backups within 60 s; serve said:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-done, logs.String())
	assert.Contains(t, logs.String(), "stopped")
}

func TestKilledBackupLeavesNothingListedAndNextStartCleansUp(t *testing.T) {
	dir := quickstart(t, "")
	// Enough data that the backup is still streaming when it is killed: a
	// large incompressible file makes the run last a while.
	testenv.WriteNoise(t, filepath.Join(dir, "data", "big.bin"), 64<<20)
	cfg := filepath.Join(dir, "backupd.yaml")
	data, _ := os.ReadFile(cfg)
	data = bytes.Replace(data, []byte("compression: zstd"), []byte("compression: none"), 1)
	require.NoError(t, os.WriteFile(cfg, data, 0o644))

	cmd := exec.Command(backupdBin, "backup", "--config", "backupd.yaml", "quickstart")
	cmd.Dir = dir
	require.NoError(t, cmd.Start())
	// Kill as soon as a temporary file appears in the backup folder.
	deadline := time.Now().Add(60 * time.Second)
	for !hasTempFile(t, filepath.Join(dir, "backups")) {
		if time.Now().After(deadline) {
			t.Fatal("the backup never started writing")
		}
		time.Sleep(2 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	r := backupd(t, dir, "list", "--config", "backupd.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "quickstart", "a killed run must not be listed")
	require.True(t, hasTempFile(t, filepath.Join(dir, "backups")), "the kill left no temp file: the test proves nothing")

	// The next start removes the leftovers and marks the run interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve := exec.CommandContext(ctx, backupdBin, "serve", "--config", "backupd.yaml")
	serve.Dir = dir
	var logs syncBuffer
	serve.Stdout, serve.Stderr = &logs, &logs
	require.NoError(t, serve.Start())
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "backupd serving") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait(), logs.String())
	assert.False(t, hasTempFile(t, filepath.Join(dir, "backups")), "temp files left after restart:\n%s", logs.String())
	objects := 0
	_ = filepath.WalkDir(filepath.Join(dir, "backups"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			objects++
		}
		return nil
	})
	assert.Zero(t, objects, "no artifact may remain from a killed run")

	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "backupd.db"))
	require.NoError(t, err)
	defer st.Close()
	runs, err := st.ListRuns(context.Background(), store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, store.RunInterrupted, runs[0].Status)
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer = testenv.SyncBuffer

func hasTempFile(t *testing.T, root string) bool {
	found := false
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), "backupkit-tmp") {
			found = true
		}
		return nil
	})
	return found
}

func TestBadInput(t *testing.T) {
	dir := quickstart(t, "* * * * *")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return name
	}
	badCron := write("badcron.yaml", "destinations:\n  local:\n    url: file:backups\njobs:\n  - name: q\n    source: dir:data\n    destinations: [local]\n    schedule: \"61 * * * *\"\n")
	unknownKey := write("typo.yaml", "destinations:\n  local:\n    url: file:backups\njobs:\n  - name: q\n    source: dir:data\n    destinatons: [local]\n")
	blocker := write("not-a-folder", "x")
	unwritable := write("unwritable.yaml", "destinations:\n  local:\n    url: file:"+blocker+"/backups\njobs:\n  - name: q\n    source: dir:data\n    destinations: [local]\n")

	for name, tc := range map[string]struct {
		args []string
		code int
		want []string
	}{
		"missing config": {[]string{"list", "--config", "nope.yaml"}, 2, []string{"nope.yaml", "no such file"}},
		"unknown job":    {[]string{"backup", "--config", "backupd.yaml", "nojob"}, 2, []string{`unknown job "nojob"`, "quickstart"}},
		"bad cron":       {[]string{"list", "--config", badCron}, 2, []string{"badcron.yaml:8", "jobs[0].schedule", "61 * * * *"}},
		"unknown key":    {[]string{"list", "--config", unknownKey}, 2, []string{"typo.yaml:7", "destinatons", `did you mean "destinations"`}},
		"unwritable":     {[]string{"backup", "--config", unwritable, "q"}, 1, []string{"not-a-folder"}},
		"no command":     {nil, 2, []string{"Usage"}},
		"bad command":    {[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		"restore no id":  {[]string{"restore", "--config", "backupd.yaml", "--target", "x"}, 2, []string{"BACKUP_ID"}},
		"restore bad id": {[]string{"restore", "--config", "backupd.yaml", "--target", "x", "nope"}, 1, []string{"nope", "not found"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := backupd(t, dir, tc.args...)
			assert.Equal(t, tc.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.NotContains(t, r.stderr, "panic")
			assert.NotContains(t, r.stderr, "goroutine")
		})
	}
}

// TestRestoreRefusesEscapingTar plants a hostile artifact, cataloged with its
// correct checksum, and checks that restoring it fails without writing
// outside the target.
func TestRestoreRefusesEscapingTar(t *testing.T) {
	dir := quickstart(t, "")
	r := backupd(t, dir, "backup", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	id := backupIDRE.FindStringSubmatch(r.stdout)[1]

	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	body := []byte("owned\n")
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "../escaped.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, _ = tw.Write(body)
	require.NoError(t, tw.Close())
	sum := sha256.Sum256(evil.Bytes())

	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "backupd.db"))
	require.NoError(t, err)
	b, err := st.GetBackup(ctx, id)
	require.NoError(t, err)
	b.ID, b.RunID = "", ""
	b.Compression, b.Size, b.SHA256 = "none", int64(evil.Len()), hex.EncodeToString(sum[:])
	b.Copies[0].Key = "quickstart/evil.tar"
	b.Copies[0].Size = b.Size
	require.NoError(t, os.WriteFile(filepath.Join(dir, "backups", "quickstart", "evil.tar"), evil.Bytes(), 0o644))
	require.NoError(t, st.AddBackup(ctx, &b))
	require.NoError(t, st.Close())

	parent := t.TempDir()
	r = backupd(t, dir, "restore", "--config", "backupd.yaml", "--target", filepath.Join(parent, "target"), b.ID)
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, "escaped.txt")
	assert.NotContains(t, r.stderr, "panic")
	_, err = os.Stat(filepath.Join(parent, "escaped.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(parent, "target"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused restore leaves no target")
}

// TestQuickstartAsANewcomerRunsIt runs the README's first command with the
// quickstart config exactly as shipped (every minute, on the minute) and
// waits for the first backup: it must come within a minute and a bit.
func TestQuickstartAsANewcomerRunsIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))))
	cmd := exec.Command(backupdBin, "serve", "--config", "backupd.yaml")
	cmd.Dir = dir
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// The dashboard answers at the address serve prints.
	listening := regexp.MustCompile(`msg="backupd listening" url=(\S+)`)
	var dashboard string
	deadline := time.Now().Add(75 * time.Second)
	for dashboard == "" {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			dashboard = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never printed its address; it said:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	page := func() string {
		resp, err := http.Get(dashboard)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return string(body)
	}
	require.Contains(t, page(), "quickstart")

	for {
		r := backupd(t, dir, "list", "--config", "backupd.yaml")
		if strings.Contains(r.stdout, "quickstart") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup within 75 s; serve said:\n%s", logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The first backup shows on the dashboard as a succeeded run (the run's
	// final status may be stored a moment after the catalog entry).
	for !strings.Contains(page(), "succeeded") {
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard never showed a succeeded run; serve said:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-done, logs.String())
}
