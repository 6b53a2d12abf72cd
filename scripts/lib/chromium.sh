# shellcheck shell=bash
# Helpers for scripts/test-all: make sure a headless-capable Chromium is there
# for the web page's browser test (web/browser_test.go), which reads
# BACKUPKIT_CHROMIUM. Sourced, not run. Expects: set -euo pipefail, and the
# log, die and apt_install functions of scripts/lib/servers.sh.

# ensure_chromium: find Chromium (or Chrome) on PATH, installing Debian's
# chromium package when none is there, and export its path as
# BACKUPKIT_CHROMIUM. A BACKUPKIT_CHROMIUM already set is checked and kept.
ensure_chromium() {
	local name path=${BACKUPKIT_CHROMIUM:-}
	if [[ -n $path ]]; then
		[[ -x $path ]] || die "BACKUPKIT_CHROMIUM=$path is not an executable file"
	else
		for name in chromium chromium-browser google-chrome google-chrome-stable headless-shell; do
			if path=$(command -v "$name" 2>/dev/null); then
				break
			fi
			path=
		done
		if [[ -z $path ]]; then
			apt_install chromium
			path=$(command -v chromium 2>/dev/null) || die "apt-get installed chromium but it is not on PATH"
		fi
	fi
	export BACKUPKIT_CHROMIUM=$path
	log "Chromium    $path ($("$path" --version 2>/dev/null | head -n 1))"
}

# ensure_shells: install the shells whose completion scripts the tests load
# (cmd/backupd/completion_test.go), when missing.
ensure_shells() {
	local sh missing=()
	for sh in bash zsh fish; do
		command -v "$sh" >/dev/null 2>&1 || missing+=("$sh")
	done
	if ((${#missing[@]} > 0)); then
		apt_install "${missing[@]}"
	fi
	log "shells      bash zsh fish"
}
