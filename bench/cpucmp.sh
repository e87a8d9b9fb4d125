#!/usr/bin/env bash
# Compare two kvhttp builds' server CPU per durable PUT by running them at
# the same time, each under its own wrk load: whatever else the machine
# does (on a shared VM, a lot, and it changes from minute to minute) then
# falls on both alike, which adjacent runs cannot promise.
#
#   bench/cpucmp.sh OLD NEW [runs] [seconds]
#
#   OLD, NEW   two kvhttp binaries (go build -o /tmp/old ./cmd/kvhttp, ...)
#   runs       how many times to run the pair (default 6; env RUNS)
#   seconds    wrk duration of each run (default 4; env SECS)
#
# Each run starts both servers afresh on empty data folders on tmpfs
# (/dev/shm when writable: the disk's sync would hide CPU differences),
# drives each with `wrk -t1 -c64` PUTs of 64-byte values to 10,000 random
# keys, reads each server's CPU time (user + system) from /proc, and
# prints both servers' writes a second and CPU per write and the ratios
# NEW/OLD. The last line gives the medians of the ratios. Two copies of
# one build, on a two-core VM: single runs within 5.5% of each other,
# medians of six runs 0.994 and 0.995. So six runs resolve about 2%.
# Needs wrk and Linux's /proc. Traffic stays on 127.0.0.1.
set -euo pipefail

die() { echo "cpucmp.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: bench/cpucmp.sh OLD NEW [runs] [seconds]"
old=$1 new=$2
runs=${3:-${RUNS:-6}}
secs=${4:-${SECS:-4}}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "runs must be a positive integer: $runs"
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "seconds must be a positive integer: $secs"
for b in "$old" "$new"; do [ -x "$b" ] || die "not an executable: $b"; done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[ -r /proc/self/stat ] || die "needs /proc"

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$base/cpucmp.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hz=$(getconf CLK_TCK)
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}
# cpu_ticks PID: the process's user + system time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

cat >"$tmp/put.lua" <<'LUA'
local threads = 0
function setup(thread) threads = threads + 1; thread:set("thread_id", threads) end
local reqs, n = {}, 0
function request()
  n = n % #reqs + 1
  return reqs[n]
end
local body = string.rep("p", 64)
function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  for i = 1, 10000 do
    reqs[i] = wrk.format("PUT", string.format("/kv/bench%06d", math.random(0, 9999)),
      {["Content-Type"] = "application/octet-stream"}, body)
  end
end
LUA

# start BIN NAME: a fresh server on its own folder; sets spid and sport.
start() {
  local dir=$tmp/data-$2
  sport=$(free_port)
  rm -rf "$dir" && mkdir -p "$dir"
  "$1" serve --addr "127.0.0.1:$sport" --data "$dir" >>"$tmp/$2.log" 2>&1 &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$sport") 2>/dev/null; then return 0; fi
    kill -0 "$spid" 2>/dev/null || { tail -5 "$tmp/$2.log" >&2; die "$2 exited at start"; }
    sleep 0.1
  done
  die "$2 did not answer within 10 s"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, wrk -t1 -c64, $secs s per run, data in $base"
for i in $(seq "$runs"); do
  start "$old" old
  opid=$spid oport=$sport
  start "$new" new
  npid=$spid nport=$sport
  o0=$(cpu_ticks "$opid") n0=$(cpu_ticks "$npid")
  wrk -t1 -c64 -d"${secs}s" -s "$tmp/put.lua" "http://127.0.0.1:$oport" >"$tmp/old.wrk" &
  w=$!
  wrk -t1 -c64 -d"${secs}s" -s "$tmp/put.lua" "http://127.0.0.1:$nport" >"$tmp/new.wrk"
  wait "$w"
  o1=$(cpu_ticks "$opid") n1=$(cpu_ticks "$npid")
  kill "$opid" "$npid"
  wait "$opid" "$npid" || true # each writes its store out before it exits
  pids=()
  ow=$(awk '/requests in/ {print $1}' "$tmp/old.wrk")
  nw=$(awk '/requests in/ {print $1}' "$tmp/new.wrk")
  [[ $ow =~ ^[0-9]+$ && $nw =~ ^[0-9]+$ && $ow -gt 0 && $nw -gt 0 ]] || die "wrk reported no requests (see $tmp/*.wrk)"
  line=$(awk -v ow="$ow" -v nw="$nw" -v oc=$((o1 - o0)) -v nc=$((n1 - n0)) -v hz="$hz" -v s="$secs" -v i="$i" 'BEGIN {
    ou = oc * 1e6 / hz / ow; nu = nc * 1e6 / hz / nw
    printf "run %d  old %6d writes/s %6.2f us/write  new %6d writes/s %6.2f us/write  cpu new/old %.3f  rate new/old %.3f\n",
      i, ow / s, ou, nw / s, nu, (ou > 0 ? nu / ou : 0), nw / ow}')
  echo "$line"
  echo "$line" >>"$tmp/runs"
done
# median COLUMN: the median of a column of the runs' lines (from the end).
median() {
  awk -v k="$1" '{print $(NF - k)}' "$tmp/runs" | sort -g |
    awk '{v[NR] = $1} END {printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
echo "medians: cpu per write new/old $(median 3), writes a second new/old $(median 0)"
