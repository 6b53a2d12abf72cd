package reliability_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// backupd returns the backupd binary the crash tests run, built once per
// test binary (with -race when the tests run with it).
func backupd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildBin = filepath.Join(buildDir, "backupd")
		args := []string{"build", "-o", buildBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		buildOut, buildErr = exec.Command("go", append(args, "../cmd/backupd")...).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building backupd: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "backupkit-reliability")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// long reports whether the long variants run (BACKUPKIT_LONG=1).
func long() bool { return os.Getenv("BACKUPKIT_LONG") == "1" }
