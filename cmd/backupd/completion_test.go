package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
)

// TestBashCompletion loads `backupd completion bash` into bash and asks it
// for completions as bash would on Tab, with the real binary on PATH: the
// commands, flags, job names from the config and IDs from the store.
func TestBashCompletion(t *testing.T) {
	bash := needShell(t, "bash")
	dir := quickstart(t, "")
	r := backupd(t, dir, "backup", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	id := backupIDRE.FindStringSubmatch(r.stdout)[1]
	r = backupd(t, dir, "completion", "bash")
	require.Equal(t, 0, r.code, r.stderr)
	script := filepath.Join(t.TempDir(), "backupd.bash")
	require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o644))

	// complete returns what Tab offers after "backupd WORDS…" (the last
	// word is the one being completed).
	complete := func(words ...string) []string {
		t.Helper()
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c",
			`source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _backupd; printf '%s\n' "${COMPREPLY[@]}"`,
			"bash", script, "backupd")
		cmd.Args = append(cmd.Args, words...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(backupdBin)+string(os.PathListSeparator)+os.Getenv("PATH"), "BACKUPD_CONFIG=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.Fields(string(out))
	}
	all := complete("")
	for _, c := range []string{"serve", "backup", "show", "logs", "schedules", "pause", "resume", "config", "completion", "version"} {
		assert.Contains(t, all, c)
	}
	assert.NotContains(t, all, "__complete", "the hidden command is not offered")
	assert.Equal(t, []string{"schedules"}, complete("sch"))
	assert.Equal(t, []string{"quickstart"}, complete("backup", "--config", "backupd.yaml", ""))
	assert.Equal(t, []string{"quickstart"}, complete("runs", "--config", "backupd.yaml", "--job", "q"))
	assert.Contains(t, complete("show", "--config", "=", "backupd.yaml", id[:4]), id)
	assert.Contains(t, complete("restore", "--config=backupd.yaml", ""), id)
	assert.Equal(t, []string{"--follow"}, complete("logs", "--fo"))
	assert.Contains(t, complete("config", "--c"), "--connect")
	assert.Equal(t, []string{"zsh"}, complete("completion", "z"))
	assert.Empty(t, complete("backup", "--config", "missing.yaml", ""), "no config: no candidates, no error")
}

// TestZshAndFishCompletion runs the zsh script with compadd and _files
// stubbed (zsh filters by prefix itself; the stubs print what the script
// offers) and asks fish for completions with complete -C. Each part is
// skipped when its shell is not installed.
func TestZshAndFishCompletion(t *testing.T) {
	dir := quickstart(t, "")
	env := append(os.Environ(), "PATH="+filepath.Dir(backupdBin)+string(os.PathListSeparator)+os.Getenv("PATH"), "BACKUPD_CONFIG=")
	shell := func(name string, args ...string) []string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.Fields(string(out))
	}
	t.Run("zsh", func(t *testing.T) {
		zsh := needShell(t, "zsh")
		script := filepath.Join(t.TempDir(), "_backupd")
		require.NoError(t, os.WriteFile(script, []byte(backupd(t, dir, "completion", "zsh").stdout), 0o644))
		shell(zsh, "-n", script)
		cmd := func(words ...string) []string {
			return shell(zsh, append([]string{"-f", "-c", `compdef() {}; compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} }; _files() { print -- FILES }
script=$1; shift; source "$script"; words=(backupd "$@"); CURRENT=${#words}; _backupd`, "zsh", script}, words...)...)
		}
		assert.Contains(t, cmd(""), "schedules")
		assert.Equal(t, []string{"quickstart"}, cmd("backup", "--config", "backupd.yaml", ""))
		assert.Contains(t, cmd("logs", "--fo"), "--follow")
		assert.Equal(t, []string{"FILES"}, cmd("restore", "--config", ""))
	})
	t.Run("fish", func(t *testing.T) {
		fish := needShell(t, "fish")
		script := filepath.Join(t.TempDir(), "backupd.fish")
		require.NoError(t, os.WriteFile(script, []byte(backupd(t, dir, "completion", "fish").stdout), 0o644))
		shell(fish, "-n", script)
		complete := func(line string) []string {
			return shell(fish, "--no-config", "-c", "source $argv[1]; complete -C $argv[2]", script, line)
		}
		assert.Equal(t, []string{"schedules"}, complete("backupd sch"))
		assert.Equal(t, []string{"quickstart"}, complete("backupd backup --config backupd.yaml "))
		assert.Equal(t, []string{"--follow"}, complete("backupd logs --fo"))
	})
}

// needShell returns the path of shell name. Without it the test is skipped
// with a line saying so, or fails when the servers and tools are required
// (scripts/test-all installs bash, zsh and fish).
func needShell(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if testenv.Required() {
			t.Fatalf("completion: no %s on this machine, and BACKUPKIT_REQUIRE_SERVERS is set", name)
		}
		t.Skipf("completion: skipped, no %s on this machine", name)
	}
	return path
}
