#!/usr/bin/env bash
# Compare "kvhttp bench" with wrk: the same server, route (GET /kv/{key} of
# random keys among 10,000) and connection count, interleaved over several
# rounds. If kvhttp's own load generator were the bottleneck, it would
# report less than wrk does. Needs wrk (Debian package wrk).
#
#   scripts/bench-vs-wrk.sh [seconds-per-run] [rounds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-3}
conns=${3:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

tmp=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/kvhttp" ./cmd/kvhttp
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
"$tmp/kvhttp" serve --addr "$addr" --data "$tmp/data" 2>"$tmp/serve.log" &
server=$!
for _ in $(seq 50); do # ready once a get of a missing key says "not found" (exit 1)
  rc=0; "$tmp/kvhttp" --addr "$addr" get nothing >/dev/null 2>&1 || rc=$?
  [ "$rc" = 1 ] && break
  sleep 0.1
done

# Load the keyspace both tools read.
"$tmp/kvhttp" bench --addr "$addr" -t get -n 100 -c 1 --keys 10000 >/dev/null

cat > "$tmp/get.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/kv/bench%06d", math.random(0, 9999)))
end
LUA

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
: >"$tmp/wrk" ; : >"$tmp/bench"
for r in $(seq "$rounds"); do
  w=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$tmp/get.lua" "http://$addr" | awk '/^Requests\/sec/ {print $2}')
  b=$("$tmp/kvhttp" bench --addr "$addr" -t get -c "$conns" -d "${secs}s" --keys 10000 | awk '/requests\/s/ {print $3}')
  printf 'round %d: wrk %8.0f req/s   kvhttp bench %8.0f req/s\n' "$r" "$w" "$b"
  echo "$w" >>"$tmp/wrk"; echo "$b" >>"$tmp/bench"
done
w=$(median <"$tmp/wrk"); b=$(median <"$tmp/bench")
printf '\nmedians, GET /kv/{key}, %d connections, %ds runs, %d rounds:\n' "$conns" "$secs" "$rounds"
printf '  wrk           %8.0f req/s\n  kvhttp bench  %8.0f req/s\n  ratio bench/wrk %.2f\n' "$w" "$b" "$(echo "$b / $w" | bc -l)"
