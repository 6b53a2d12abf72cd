#!/usr/bin/env bash
# examples/custom-source/test.sh: run the tests of the plug-in source module
# (a separate Go module, so `go test ./...` at the repository root skips it).
# Arguments go to go test, e.g. examples/custom-source/test.sh -race -v
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec go test -count=1 "$@" ./...
