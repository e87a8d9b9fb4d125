#!/usr/bin/env bash
# Attack a kvhttp server with slow and flooding clients while normal
# clients use it, and print what the normal clients saw (see
# scripts/hostile/main.go). Loopback only; bounded in time.
#
#   scripts/hostile.sh [-attackers 2000] [-duration 20s] [-scenario name]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/kvhttp" ./cmd/kvhttp
go run ./scripts/hostile -bin "$tmp/kvhttp" "$@"
