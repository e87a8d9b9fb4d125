#!/usr/bin/env bash
# Compare kvhttp with two reference servers on the same bbolt store: the
# peers in bench/peers (Go's net/http, and fasthttp), driven by wrk over
# loopback.
#
#   bench/run.sh [seconds-per-run] [rounds] [modes] [servers]
#
#   seconds-per-run  wrk duration of each run (default 10; env SECS)
#   rounds           rounds, interleaved (default 3; env ROUNDS)
#   modes            any of: get pipeline put idle (default all; env MODES)
#   servers          any of: kvhttp nethttp fasthttp redis (default all, redis
#                    when redis-server and redis-benchmark are installed;
#                    env SERVERS). redis takes part in the put mode only:
#                    redis-server --appendonly yes --appendfsync always, driven
#                    by redis-benchmark -t set -c 64 -d 64 over 10,000 keys
#   Lists are separated by spaces or commas. Env IDLE_CONNS (default 10000)
#   and SETTLE (default 5s) tune the idle mode.
#
# Example: bench/run.sh 2 1               # a quick try of everything
#          bench/run.sh 10 3 get,put kvhttp,fasthttp
#
# Each server gets its own fresh data folder loaded with 10,000 keys
# (bench000000..bench009999) of 64 bytes by bench/cmd/load, 64 at a time.
# Then for each round, for each mode, for each server, the server is started
# afresh, one run is made, and the server is stopped (SIGTERM; it closes
# bbolt cleanly).
# Modes (wrk -t2 --latency, 64 connections, keep-alive):
#   get       GET /kv/{key} of random keys, one request at a time
#   pipeline  the same GETs, 16 pipelined per write. wrk counts every
#             response as one request, so Requests/sec is HTTP requests per
#             second, not batches; its latency is recorded once per batch
#             (from writing the 16 requests to reading the 16th answer).
#   put       PUT /kv/{key} of random keys, 64-byte bodies; every write is
#             on disk (synced) before it is answered
#   idle      bench/cmd/idle holds IDLE_CONNS keep-alive connections (each
#             made one GET) and reports the server's resident-set growth per
#             connection after SETTLE
# The table at the end gives, per mode, each server's median over the rounds
# and the ratios kvhttp/peer (for p99 and bytes, lower is better).
#
# kvhttp caps connections at 10,000 by default and the peers have no cap, so
# kvhttp is started with --max-conns above IDLE_CONNS. Everything started
# here gets the open-files limit raised to the hard limit. Needs wrk (Debian
# package wrk) and Go. Traffic stays on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

secs=${1:-${SECS:-10}}
rounds=${2:-${ROUNDS:-3}}
modes=${3:-${MODES:-get pipeline put idle}}
default_servers="kvhttp nethttp fasthttp"
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  default_servers+=" redis"
fi
servers=${4:-${SERVERS:-$default_servers}}
modes=${modes//,/ }
servers=${servers//,/ }
idle_conns=${IDLE_CONNS:-10000}
settle=${SETTLE:-5s}
conns=64 depth=16 keys=10000 size=64

die() { echo "run.sh: $*" >&2; exit 1; }
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "seconds-per-run must be a positive integer: $secs"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "rounds must be a positive integer: $rounds"
[[ $idle_conns =~ ^[1-9][0-9]*$ ]] || die "IDLE_CONNS must be a positive integer: $idle_conns"
for m in $modes; do [[ $m =~ ^(get|pipeline|put|idle)$ ]] || die "unknown mode: $m"; done
for s in $servers; do [[ $s =~ ^(kvhttp|nethttp|fasthttp|redis)$ ]] || die "unknown server: $s"; done
if [[ -z ${modes// /} || -z ${servers// /} ]]; then die "no modes or no servers"; fi
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v go >/dev/null || die "go is not installed"

# Open files: raise the soft limit to the hard one for everything below.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard" 2>/dev/null || true
if [[ " $modes " == *" idle "* ]] && (($(ulimit -n) < idle_conns + 256)); then
  die "the idle mode needs more than $idle_conns open files, the limit is $(ulimit -n) (hard $(ulimit -Hn)); lower IDLE_CONNS or raise the hard limit"
fi

tmp=$(mktemp -d)
pid="" pname="" # the running server and its name
cleanup() {
  stop_server || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# alive PID: the process exists and is not a zombie. One read of its
# status: a process reaped between two reads (bash reaps its children
# whenever they end) must not look alive because the second found no file.
alive() {
  local state
  state=$(grep -m1 '^State:' "/proc/$1/status" 2>/dev/null) || return 1
  [[ $state != *Z* ]]
}

stop_server() {
  [ -n "$pid" ] || return 0
  local p=$pid rc=0
  pid=""
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 150); do alive "$p" || break; sleep 0.1; done
  local stuck=""
  if alive "$p"; then
    # The Go servers print every goroutine's stack on SIGQUIT: the log
    # then says what the shutdown waited for.
    stuck=1
    # What the kernel has it doing (a process past its main may sit in
    # the kernel, where SIGQUIT cannot reach it): its state and each
    # thread's kernel stack (root only), into its log.
    # (Each read may fail if it ends meanwhile: none may end the script.)
    {
      echo "run.sh: did not stop in 15 s: $(grep '^State:' "/proc/$p/status" 2>/dev/null || true)"
      for task in /proc/"$p"/task/*; do
        [ -e "$task" ] || continue
        echo "thread ${task##*/}: $(cat "$task/comm" 2>/dev/null || true) wchan=$(cat "$task/wchan" 2>/dev/null || true) $(grep '^State:' "$task/status" 2>/dev/null || true)"
        cat "$task/stack" 2>/dev/null || true
      done
    } >>"$tmp/$pname.log"
    kill -QUIT "$p" 2>/dev/null || true
    for _ in $(seq 20); do alive "$p" || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || rc=$?
  if [[ -n $stuck || $rc != 0 ]]; then
    # $tmp goes when the script ends; the log is kept beside it.
    local kept
    kept=$(mktemp "${TMPDIR:-/tmp}/run.sh-$pname-XXXXXX.log")
    cp "$tmp/$pname.log" "$kept" 2>/dev/null || true
    if [ -n "$stuck" ]; then
      echo "run.sh: $pname (pid $p) did not stop in 15 s; its log, with its goroutines' stacks if it is a Go server: $kept" >&2
    else
      echo "run.sh: $pname (pid $p) exited with status $rc; its log: $kept" >&2
    fi
  fi
  return 0
}

free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

# The machine's state around each run, printed with it: the share of CPU
# time the hypervisor took (steal) during the run and, before a put run,
# how long the disk takes to make one 4 KiB overwrite durable. On a shared
# VM both change from minute to minute, and they explain most of the
# spread between rounds.
#
# cpu_ticks prints the machine's CPU ticks so far, in all and stolen.
cpu_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $9; exit}' /proc/stat; }
# steal_pct BEFORE AFTER prints the stolen share, in percent, between two
# cpu_ticks readings.
steal_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[1] - x[1]
    printf "%.0f", (d > 0 ? 100 * (y[2] - x[2]) / d : 0)}'
}
# sync_probe prints the microseconds per durable 4 KiB overwrite (dd with
# O_DSYNC, 100 in a row, in a file of the folder the servers write to).
sync_probe() {
  local f=$tmp/sync-probe out secs
  [ -e "$f" ] || dd if=/dev/zero of="$f" bs=4k count=100 conv=fsync status=none
  out=$(LC_ALL=C dd if=/dev/zero of="$f" bs=4k count=100 oflag=dsync conv=notrunc 2>&1)
  secs=$(sed -n 's/.* copied, \([0-9.e-]*\) s,.*/\1/p' <<<"$out")
  awk -v s="$secs" 'BEGIN {if (s == "") print "?"; else printf "%.0f", s * 1e6 / 100}'
}

# start_server NAME: a fresh process on the server's data folder; sets pid
# and addr, returns once the port answers.
start_server() {
  local name=$1 port cmd
  pname=$name
  port=$(free_port)
  addr=127.0.0.1:$port
  case $name in
    kvhttp) cmd=("$tmp/kvhttp" serve --addr "$addr" --data "$tmp/data-$name" --max-conns $((idle_conns + 1000))) ;;
    redis)
      # A fresh folder each time: nothing to load at start, and the
      # append-only file does not grow from run to run.
      rm -rf "$tmp/data-redis" && mkdir -p "$tmp/data-redis"
      cmd=(redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/data-redis" --save ''
        --appendonly yes --appendfsync always --daemonize no)
      ;;
    *) cmd=("$tmp/$name" -addr "$addr" -data "$tmp/data-$name") ;;
  esac
  "${cmd[@]}" >>"$tmp/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    alive "$pid" || { tail -5 "$tmp/$name.log" >&2; die "$name exited at start"; }
    sleep 0.1
  done
  die "$name did not answer on $addr within 10 s"
}

echo "building..." >&2
(cd "$root" && go build -o "$tmp/kvhttp" ./cmd/kvhttp)
(cd "$here" && go build -o "$tmp/" ./peers/nethttp ./peers/fasthttp ./cmd/load ./cmd/idle)

# wrk scripts. Each wrk thread has its own Lua state; setup numbers the
# threads so that each seeds its own random sequence.
seed='local threads = 0
function setup(thread) threads = threads + 1; thread:set("thread_id", threads) end
local function seed() math.randomseed(os.time() * 1000 + (thread_id or 0)) end'
# The requests are formatted once, in init, and request only hands them
# out in turn: formatting each one in Lua doubled wrk's user CPU, and wrk
# shares the machine's cores with the server.
rotate='local reqs, n = {}, 0
function request()
  n = n % #reqs + 1
  return reqs[n]
end'
cat >"$tmp/get.lua" <<LUA
$seed
$rotate
function init(args)
  seed()
  for i = 1, $keys do
    reqs[i] = wrk.format("GET", string.format("/kv/bench%06d", math.random(0, $keys - 1)))
  end
end
LUA
# The standard wrk pipeline pattern: request returns one string of $depth
# requests; wrk counts them when it starts and expects $depth answers per
# write. A few such strings with different keys are rotated.
cat >"$tmp/pipeline.lua" <<LUA
$seed
$rotate
function init(args)
  seed()
  for b = 1, 64 do
    local batch = {}
    for i = 1, $depth do
      batch[i] = wrk.format("GET", string.format("/kv/bench%06d", math.random(0, $keys - 1)))
    end
    reqs[b] = table.concat(batch)
  end
end
LUA
cat >"$tmp/put.lua" <<LUA
$seed
$rotate
local body = string.rep("p", $size)
function init(args)
  seed()
  for i = 1, $keys do
    reqs[i] = wrk.format("PUT", string.format("/kv/bench%06d", math.random(0, $keys - 1)),
      {["Content-Type"] = "application/octet-stream"}, body)
  end
end
LUA

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version | cut -d' ' -f3), $(wrk -v 2>/dev/null | head -1 | cut -d' ' -f1-2), open files $(ulimit -n)"
for name in $servers; do
  [ "$name" = redis ] && continue # written to by redis-benchmark itself
  start_server "$name"
  "$tmp/load" -addr "$addr" -keys "$keys" -size "$size" -c 64 2>&1 | sed "s/^/$name /"
  stop_server
done

: >"$tmp/results" # mode server round value p99-ms errors
for round in $(seq "$rounds"); do
  for mode in $modes; do
    for name in $servers; do
      [[ $name = redis && $mode != put ]] && continue
      start_server "$name"
      state=""
      [ "$mode" = put ] && state="disk sync $(sync_probe) us, "
      ticks=$(cpu_ticks)
      if [ "$name" = redis ]; then
        # The same durable write, Redis' way: SET of 64-byte values over
        # 64 connections, every write fsynced before its reply.
        out=$(redis-benchmark -h 127.0.0.1 -p "${addr##*:}" -t set -c "$conns" -d "$size" -r "$keys" \
          -n $((secs * 30000)) --csv 2>/dev/null | grep '^"SET"')
        rps=$(awk -F'"' '{print $4}' <<<"$out")
        p99=$(awk -F'"' '{print $14}' <<<"$out")
        if [[ -z $rps || -z $p99 ]]; then die "cannot read redis-benchmark's output: $out"; fi
        echo "$mode $name $round $rps $p99 0" >>"$tmp/results"
        printf 'round %d  %-8s  %-8s  %10.0f req/s  p99 %8.2f ms  (%ssteal %s%%)\n' "$round" "$mode" "$name" "$rps" "$p99" \
          "$state" "$(steal_pct "$ticks" "$(cpu_ticks)")"
      elif [ "$mode" = idle ]; then
        out=$("$tmp/idle" -addr "$addr" -pid "$pid" -n "$idle_conns" -settle "$settle")
        bytes=$(sed -n 's/.*per_conn_bytes=\(-\{0,1\}[0-9]*\).*/\1/p' <<<"$out")
        [ -n "$bytes" ] || die "no per_conn_bytes in: $out"
        echo "idle $name $round $bytes - 0" >>"$tmp/results"
        printf 'round %d  %-8s  %-8s  %7d B/conn   (%s)\n' "$round" "$mode" "$name" "$bytes" "${out#idle }"
      else
        out=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -s "$tmp/$mode.lua" "http://$addr")
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" { v = $2
          if (v ~ /us$/) x = v / 1000; else if (v ~ /ms$/) x = v + 0
          else if (v ~ /[0-9]s$/) x = v * 1000; else if (v ~ /[0-9]m$/) x = v * 60000
          else x = v * 3600000
          printf "%.3f", x }' <<<"$out")
        errs=$(awk '/Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10}
          /Non-2xx or 3xx responses:/ {n += $5} END {print n + 0}' <<<"$out")
        if [[ -z $rps || -z $p99 ]]; then die "cannot read wrk's output: $out"; fi
        echo "$mode $name $round $rps $p99 $errs" >>"$tmp/results"
        note="  (${state}steal $(steal_pct "$ticks" "$(cpu_ticks)")%)"
        ((errs == 0)) || note+="  ERRORS $errs: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ' | tr '\n' ';')"
        printf 'round %d  %-8s  %-8s  %10.0f req/s  p99 %8.2f ms%s\n' "$round" "$mode" "$name" "$rps" "$p99" "$note"
      fi
      stop_server
    done
  done
done

# median MODE SERVER COLUMN: the median of that column over the rounds.
median() {
  awk -v m="$1" -v s="$2" -v c="$3" '$1 == m && $2 == s {print $c}' "$tmp/results" | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}'; }

peers=""
[[ " $servers " == *" kvhttp "* ]] && for s in $servers; do [ "$s" = kvhttp ] || peers+=" $s"; done
echo
echo "medians of $rounds round(s); wrk -t2 -c$conns --latency, ${secs} s per run; pipeline $depth deep; idle $idle_conns conns, settle $settle"
printf '%-9s %-7s' mode metric
for s in $servers; do printf ' %10s' "$s"; done
for s in $peers; do printf ' %16s' "kvhttp/$s"; done
echo
for mode in $modes; do
  if [ "$mode" = idle ]; then rows=("B/conn 4"); else rows=("req/s 4" "p99_ms 5"); fi
  for row in "${rows[@]}"; do
    metric=${row% *} col=${row#* }
    printf '%-9s %-7s' "$mode" "$metric"
    for s in $servers; do
      v=$(median "$mode" "$s" "$col")
      case $metric in
        p99_ms) f=%.2f ;;
        *) f=%.0f ;;
      esac
      printf ' %10s' "$(awk -v v="$v" -v f="$f" 'BEGIN {if (v == "-") print "-"; else printf f, v}')"
    done
    for s in $peers; do printf ' %16s' "$(ratio "$(median "$mode" kvhttp "$col")" "$(median "$mode" "$s" "$col")")"; done
    echo
  done
done
bad=$(awk '$6 > 0' "$tmp/results" | wc -l)
((bad == 0)) || echo "warning: $bad run(s) saw wrk socket errors or 4xx/5xx answers (see the per-run lines)"
