//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package local

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCleanup(t *testing.T) {
	f := newFolder(t, nil)
	root := f.Root()
	put(t, f, "x/y/obj", "keep")

	// Leftovers of killed writers: temporary files nobody holds locked.
	dead := []string{
		filepath.Join(root, "x", "y", TempPrefix+"0123456789abcdef01234567"),
		filepath.Join(root, TempPrefix+"deadbeefdeadbeefdeadbeef"),
	}
	for _, p := range dead {
		require.NoError(t, os.WriteFile(p, []byte("half a backup"), 0o640))
	}
	// A Put in progress in this process.
	finish := startBlockedPut(t, f, "x/y/inflight", "partial")
	live := tempFiles(t, root)
	require.Len(t, live, 3)

	n, err := f.Cleanup(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, p := range dead {
		require.NoFileExists(t, p)
	}
	require.Len(t, tempFiles(t, root), 1, "the in-progress Put's file stays")

	require.NoError(t, finish())
	require.Equal(t, []string{"x/y/inflight", "x/y/obj"}, keys(t, f, ""))
	require.Empty(t, tempFiles(t, root))
	n, err = f.Cleanup(t.Context())
	require.NoError(t, err)
	require.Zero(t, n)
}

// helperEnv names the environment variable that makes TestCleanupOtherProcess
// act as the child writer process; its value is the root to write to.
const helperEnv = "BACKUPKIT_LOCAL_TEST_WRITER_ROOT"

// TestCleanupOtherProcess checks Cleanup against a writer in another process:
// while the writer lives its temporary file stays; once it is killed (its
// lock goes with it) Cleanup removes the file.
func TestCleanupOtherProcess(t *testing.T) {
	if root := os.Getenv(helperEnv); root != "" {
		writerProcess(root)
		return
	}
	f := newFolder(t, nil)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCleanupOtherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+f.Root())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Wait for the child to be blocked mid-Put.
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "blocked" {
	}
	require.Equal(t, "blocked", lines.Text(), "the writer process did not start its Put")
	tmps := tempFiles(t, f.Root())
	require.Len(t, tmps, 1)

	n, err := f.Cleanup(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "Cleanup removed the file of a live writer in another process")
	require.Equal(t, tmps, tempFiles(t, f.Root()))

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait() // the kernel has dropped the child's locks once it is reaped
	killed = true

	require.Equal(t, tmps, tempFiles(t, f.Root()), "the killed writer left its file")
	require.Empty(t, keys(t, f, ""), "and nothing under a key")
	n, err = f.Cleanup(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, tempFiles(t, f.Root()))
	require.Empty(t, keys(t, f, ""))
}

// writerProcess is the child of TestCleanupOtherProcess: it starts a Put
// whose reader, after some bytes, prints "blocked" and reads stdin, which the
// parent never writes to, until the parent kills it.
func writerProcess(root string) {
	f, err := New(root, nil)
	if err != nil {
		panic(err)
	}
	r := io.MultiReader(strings.NewReader("half of a backup"), readerFunc(func(p []byte) (int, error) {
		os.Stdout.WriteString("blocked\n")
		return os.Stdin.Read(p)
	}))
	_, err = f.Put(context.Background(), "held/obj", r, nil)
	panic(fmt.Sprintf("the writer process's Put returned: %v", err))
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
