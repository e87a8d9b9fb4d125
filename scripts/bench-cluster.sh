#!/usr/bin/env bash
# kvhttp on a Redis Cluster under wrk: one front end, then two behind
# nginx (examples/nginx-kvhttp.conf). Starts a cluster of three masters and
# three replicas on loopback (no persistence), loads 10,000 keys, and runs
# wrk GET of random keys and PUT of random keys (64-byte values) against:
#
#   1 front end, direct
#   1 front end behind nginx (both upstream lines pointing at it)
#   2 front ends behind nginx
#
# then prints req/s and p99 latency for each. Front ends wait for one
# replica per write (--redis-wait-replicas 1). Everything runs on this
# machine: with few cores, Redis, nginx, kvhttp and wrk compete for them,
# and a second front end cannot show scaling (docs/SCALING.md).
# Needs redis-server, redis-cli, nginx and wrk.
#
#   scripts/bench-cluster.sh [seconds-per-run] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${2:-64}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
for bin in redis-server redis-cli wrk "$nginx"; do
  command -v "$bin" >/dev/null || { echo "$bin is not installed (apt-get install redis-server redis-tools nginx-light wrk)" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ports N: N free loopback ports in [20000, 45000) whose port+10000 (a
# cluster node's bus port) is free too.
ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
got = []
while len(got) < int(sys.argv[1]):
    p = random.randrange(20000, 45000)
    if p not in got and p + 10000 not in got and free(p) and free(p + 10000):
        got.append(p)
print(" ".join(map(str, got)))
PY
}

echo "building kvhttp" >&2
go build -o "$tmp/kvhttp" ./cmd/kvhttp

read -r -a rports <<<"$(ports 6)"
nodes=()
for p in "${rports[@]}"; do
  mkdir -p "$tmp/redis/$p"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$tmp/redis/$p" --logfile redis.log \
    --save "" --appendonly no --repl-diskless-sync-delay 0 \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 &
  pids+=($!)
  nodes+=("127.0.0.1:$p")
done
for p in "${rports[@]}"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
echo "creating the cluster" >&2
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$tmp/create.log"
for p in "${rports[@]}"; do
  for i in $(seq 600); do
    ok=$(redis-cli -p "$p" cluster info | grep -c 'cluster_state:ok' || true)
    role=$(redis-cli -p "$p" info replication | tr -d '\r')
    if [ "$ok" = 1 ] && { grep -q role:slave <<<"$role" || grep -q 'state=online' <<<"$role"; }; then break; fi
    [ "$i" = 600 ] && { echo "cluster node $p not ready" >&2; exit 1; }
    sleep 0.05
  done
done
redis_addrs=$(IFS=,; echo "${nodes[*]}")

# front PORT: a kvhttp server on the cluster, ready.
front() {
  "$tmp/kvhttp" serve --addr "127.0.0.1:$1" --store redis --redis-addrs "$redis_addrs" \
    --redis-wait-replicas 1 2>"$tmp/serve-$1.log" &
  pids+=($!)
  for _ in $(seq 100); do # ready once a get of a missing key says "not found" (exit 1)
    rc=0; "$tmp/kvhttp" --addr "127.0.0.1:$1" get nothing >/dev/null 2>&1 || rc=$?
    [ "$rc" = 1 ] && return
    sleep 0.1
  done
  echo "kvhttp on port $1 did not start:" >&2; cat "$tmp/serve-$1.log" >&2; exit 1
}

# proxy NAME LISTEN UPSTREAM1 UPSTREAM2: nginx with the example
# configuration, its addresses replaced.
proxy() {
  local dir="$tmp/nginx-$1"
  mkdir -p "$dir"
  sed -e "s/listen 127.0.0.1:8080;/listen 127.0.0.1:$2;/" \
      -e "s/server 127.0.0.1:10001;/server 127.0.0.1:$3;/" \
      -e "s/server 127.0.0.1:10002;/server 127.0.0.1:$4;/" \
      examples/nginx-kvhttp.conf >"$dir/nginx.conf"
  "$nginx" -p "$dir" -e error.log -c "$dir/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  for _ in $(seq 100); do
    rc=0; "$tmp/kvhttp" --addr "127.0.0.1:$2" get nothing >/dev/null 2>&1 || rc=$?
    [ "$rc" = 1 ] && return
    sleep 0.1
  done
  echo "nginx on port $2 did not start:" >&2; cat "$dir/error.log" >&2; exit 1
}

cat >"$tmp/get.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/kv/bench%06d", math.random(0, 9999)))
end
LUA
cat >"$tmp/put.lua" <<'LUA'
math.randomseed(os.time() + 1)
local body = string.rep("v", 64)
request = function()
  return wrk.format("PUT", string.format("/kv/bench%06d", math.random(0, 9999)), nil, body)
end
LUA

rows=()
# run LABEL PORT: wrk GET and PUT against 127.0.0.1:PORT, one table row each.
run() {
  for op in get put; do
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$tmp/$op.lua" "http://127.0.0.1:$2")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses/ {print $NF}' <<<"$out")
    errs=$(awk '/Socket errors/ {print}' <<<"$out")
    rows+=("$(printf '| %-26s | %-3s | %9.0f | %8s | %6s |' "$1" "$(tr a-z A-Z <<<"$op")" "$rps" "$p99" "${bad:-0}")")
    if [ -n "$errs" ]; then echo "$1 $op: $errs" >&2; fi
  done
}

read -r fp1 fp2 np1 np2 <<<"$(ports 4)"
front "$fp1"
echo "loading 10,000 keys" >&2
"$tmp/kvhttp" bench --addr "127.0.0.1:$fp1" -t get -n 100 -c 1 --keys 10000 >/dev/null
echo "1 front end" >&2
run "1 front end, direct" "$fp1"
proxy one "$np1" "$fp1" "$fp1"
run "1 front end, nginx" "$np1"
front "$fp2"
proxy two "$np2" "$fp1" "$fp2"
echo "2 front ends" >&2
run "2 front ends, nginx" "$np2"

printf '\nkvhttp on a 3+3 Redis Cluster, WAIT 1; wrk -t2 -c%d -d%ds; %d cores\n\n' "$conns" "$secs" "$(nproc)"
echo '| setup                      | op  |     req/s |      p99 | non-2xx |'
echo '|---|---|---|---|---|'
printf '%s\n' "${rows[@]}"
