#!/usr/bin/env bash
# Kill the server with SIGKILL at random moments under concurrent writes
# and check that no acknowledged write was lost (see crashtest/doc.go and
# docs/DURABILITY.md). Loopback only; bounded in time. Extra arguments go
# to the test: -writers 64, -run-for 2s, -seed N, -deadline 5m.
#
#   scripts/crash.sh [crashes] [test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
crashes=${1:-20}
shift || true
go test -tags crash -count=1 -run '^TestCrash$' ./crashtest -crashes "$crashes" -v "$@"
