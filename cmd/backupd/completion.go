package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/store"
)

// completionCommands are the commands the shell completion offers, with
// what their positional arguments are: words among "job" (the job names),
// "backup" and "run" (recent IDs from the store), or else literal words.
var completionCommands = []struct {
	name string
	args string
}{
	{"serve", ""}, {"backup", "job"}, {"list", "job"}, {"show", "backup run"}, {"runs", "job"},
	{"logs", "run"}, {"restore", "backup"}, {"verify", "backup job"}, {"download", "backup"},
	{"prune", "job"}, {"protect", "backup"}, {"unprotect", "backup"}, {"schedules", "job"},
	{"pause", "job"}, {"resume", "job"}, {"catalog", "rebuild"}, {"config", "check"},
	{"secrets", "rotate"}, {"token", "new hash"}, {"completion", "bash zsh fish"}, {"version", ""}, {"help", ""},
}

// completeLimit caps how many backup and run IDs completion offers.
const completeLimit = 100

// cmdCompletion prints the completion script for a shell.
func cmdCompletion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usageError{errors.New("completion: give the shell: backupd completion bash|zsh|fish")}
	}
	script, ok := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[args[0]]
	if !ok {
		return usageError{fmt.Errorf("completion: unknown shell %q (want bash, zsh or fish)", args[0])}
	}
	_, err := io.WriteString(stdout, script)
	return err
}

// cmdComplete is the hidden `__complete` command the completion scripts call:
//
//	__complete commands                 the commands
//	__complete flags CMD                CMD's flags (from its own flag set)
//	__complete args [--config FILE] CMD the candidates for CMD's arguments
//	__complete args [--config FILE] job the job names
//
// It prints one candidate per line and never fails: without a readable
// configuration or store it prints fewer candidates.
func cmdComplete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return nil
	}
	switch args[0] {
	case "commands":
		for _, c := range completionCommands {
			fmt.Fprintln(stdout, c.name)
		}
	case "flags":
		if len(args) < 2 {
			return nil
		}
		for _, f := range commandFlags(ctx, args[1:]) {
			fmt.Fprintln(stdout, f)
		}
	case "args":
		fs, path := flags("__complete", io.Discard)
		pos, err := parse(fs, args[1:])
		if err != nil || len(pos) == 0 {
			return nil
		}
		for _, c := range argCandidates(ctx, *path, pos[0]) {
			fmt.Fprintln(stdout, c)
		}
	}
	return nil
}

// commandFlags returns the flags of the command in cmdArgs ("--name", "-x"
// for one-letter flags), read
// from the usage its own flag set prints for -h, so that they never drift.
func commandFlags(ctx context.Context, cmdArgs []string) []string {
	cmd := cmdArgs[0]
	if cmd == "__complete" || cmd == "completion" || cmd == "help" || !slices.ContainsFunc(completionCommands, func(c struct{ name, args string }) bool { return c.name == cmd }) {
		return nil
	}
	argv := []string{cmd}
	switch cmd { // commands with a subcommand
	case "config":
		argv = append(argv, "check")
	case "secrets":
		argv = append(argv, "rotate")
	case "catalog":
		argv = append(argv, "rebuild")
	case "token":
		argv = append(argv, "new")
	}
	var usage bytes.Buffer
	_ = run(ctx, append(argv, "-h"), io.Discard, &usage)
	var out []string
	sc := bufio.NewScanner(&usage)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
		name, _, _ = strings.Cut(name, "\t")
		dashes := "--"
		if len(name) == 1 {
			dashes = "-"
		}
		if name != "" && !slices.Contains(out, dashes+name) {
			out = append(out, dashes+name)
		}
	}
	return out
}

// argCandidates returns the candidates for the positional arguments of cmd
// (or the job names for "job"), reading the configuration and its store
// only when needed.
func argCandidates(ctx context.Context, path, cmd string) []string {
	kinds := cmd
	for _, c := range completionCommands {
		if c.name == cmd {
			kinds = c.args
		}
	}
	var out []string
	var cfg *config.Config
	var st store.Store
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	for _, kind := range strings.Fields(kinds) {
		if kind != "job" && kind != "backup" && kind != "run" {
			out = append(out, kind)
			continue
		}
		if cfg == nil {
			var err error
			if cfg, err = config.Load(path); err != nil {
				return out
			}
		}
		if kind == "job" {
			for _, j := range cfg.Jobs {
				out = append(out, j.Name)
			}
			continue
		}
		if st == nil {
			var err error
			if st, err = store.Open(ctx, cfg.Store); err != nil {
				return out
			}
		}
		if kind == "backup" {
			backups, _ := st.ListBackups(ctx, store.BackupFilter{Limit: completeLimit})
			for _, b := range backups {
				out = append(out, b.ID)
			}
		} else {
			runs, _ := st.ListRuns(ctx, store.RunFilter{Limit: completeLimit})
			for _, r := range runs {
				out = append(out, r.ID)
			}
		}
	}
	return out
}

// The completion scripts. Each finds --config on the command line and asks
// `backupd __complete` for commands, flags, job names and IDs.

const bashCompletion = `# bash completion for backupd; load with: source <(backupd completion bash)
_backupd() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd=${COMP_WORDS[1]} cfg=() i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--config | -config)
			# COMP_WORDBREAKS may split --config=FILE into --config = FILE.
			if [[ ${COMP_WORDS[i+1]} == = ]]; then
				cfg=(--config "${COMP_WORDS[i+2]}")
			else
				cfg=(--config "${COMP_WORDS[i+1]}")
			fi
			;;
		--config=* | -config=*) cfg=(--config "${COMP_WORDS[i]#*=}") ;;
		esac
	done
	if ((COMP_CWORD == 1)); then
		mapfile -t COMPREPLY < <(compgen -W "$(backupd __complete commands 2>/dev/null)" -- "$cur")
		return
	fi
	case $prev in
	--config | -config | --identity | -identity | --target | -target | --output | -output | -o)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	--job | -job)
		mapfile -t COMPREPLY < <(compgen -W "$(backupd __complete args "${cfg[@]}" job 2>/dev/null)" -- "$cur")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(backupd __complete flags "$cmd" 2>/dev/null)" -- "$cur")
		return
	fi
	mapfile -t COMPREPLY < <(compgen -W "$(backupd __complete args "${cfg[@]}" "$cmd" 2>/dev/null)" -- "$cur")
}
complete -o default -F _backupd backupd
`

const zshCompletion = `#compdef backupd
# zsh completion for backupd; load with: source <(backupd completion zsh)
# or save it as _backupd in a folder of $fpath.
_backupd() {
	local -a cands cfg
	local i
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		--config | -config) cfg=(--config "${words[i+1]}") ;;
		--config=* | -config=*) cfg=(--config "${words[i]#*=}") ;;
		esac
	done
	if ((CURRENT == 2)); then
		cands=(${(f)"$(backupd __complete commands 2>/dev/null)"})
		compadd -a cands
		return
	fi
	case ${words[CURRENT-1]} in
	--config | -config | --identity | -identity | --target | -target | --output | -output | -o)
		_files
		return
		;;
	--job | -job)
		cands=(${(f)"$(backupd __complete args $cfg job 2>/dev/null)"})
		compadd -a cands
		return
		;;
	esac
	if [[ ${words[CURRENT]} == -* ]]; then
		cands=(${(f)"$(backupd __complete flags ${words[2]} 2>/dev/null)"})
	else
		cands=(${(f)"$(backupd __complete args $cfg ${words[2]} 2>/dev/null)"})
	fi
	compadd -a cands
}
if [[ ${funcstack[1]} == _backupd ]]; then
	_backupd "$@"
else
	compdef _backupd backupd
fi
`

const fishCompletion = `# fish completion for backupd; load with: backupd completion fish | source
function __backupd_config
	set -l tokens (commandline -opc)
	for i in (seq (count $tokens))
		switch $tokens[$i]
			case --config -config
				set -l j (math $i + 1)
				if test $j -le (count $tokens)
					echo --config
					echo $tokens[$j]
				end
			case '--config=*' '-config=*'
				echo --config
				string replace -r '^-+config=' '' -- $tokens[$i]
		end
	end
end
function __backupd_command
	set -l tokens (commandline -opc)
	if test (count $tokens) -ge 2
		echo $tokens[2]
	end
end
complete -c backupd -f
complete -c backupd -n 'test (count (commandline -opc)) -eq 1' -a '(backupd __complete commands 2>/dev/null)'
complete -c backupd -n 'test (count (commandline -opc)) -ge 2; and string match -qv -- "-*" (commandline -ct)' -a '(backupd __complete args (__backupd_config) (__backupd_command) 2>/dev/null)'
complete -c backupd -n 'test (count (commandline -opc)) -ge 2; and string match -q -- "-*" (commandline -ct)' -a '(backupd __complete flags (__backupd_command) 2>/dev/null)'
complete -c backupd -l config -r -F
complete -c backupd -l target -r -F
complete -c backupd -l identity -r -F
complete -c backupd -l output -r -F
complete -c backupd -l job -r -f -a '(backupd __complete args (__backupd_config) job 2>/dev/null)'
`
