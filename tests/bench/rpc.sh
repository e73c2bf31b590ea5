#!/usr/bin/env bash
# msgpack-RPC benchmark: a release podiumd and redis-server on loopback,
# driven by tests/bench/rpc_load.c (pipelined, C, the shared codec). Runs
# post_events with ranks and without (minimal), then leaderboard reads, and
# checks that every event acknowledged as new is on the board exactly once.
#
#   bash tests/bench/rpc.sh [seconds per run, default 10]
#
# CONNS (default 4), DEPTH (16), BATCH (100 events per request), LEADERS
# (1000), READ_DEPTH (64), PODIUMD_FLAGS (extra podiumd settings). PERF_DIR=dir records each run's podiumd profile
# there (perf record -g; read it with perf report -i dir/MODE.data).
# Load generator, daemon and Redis share the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${CONNS:-4} depth=${DEPTH:-16} batch=${BATCH:-100} leaders=${LEADERS:-1000}
for p in redis-server redis-cli curl; do
    command -v $p >/dev/null || { echo "bench needs $p"; exit 1; }
done
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j2 --target podiumd pcodec >/dev/null
tmp=$(mktemp -d)
cc -O2 -Wall -Iproto -o "$tmp/rpc_load" tests/bench/rpc_load.c build/release/libpcodec.a \
    $(pkg-config --cflags --libs msgpack) -lpthread

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port) pport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$tmp" --loglevel warning >"$tmp/redis.log" 2>&1 &
rpid=$!
cleanup() { kill "${dpid:-}" 2>/dev/null || true; kill "$rpid" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
./build/release/podiumd ${PODIUMD_FLAGS:-} --redis "redis://127.0.0.1:$rport" --http_listen 127.0.0.1:0 \
    --rpc_listen "127.0.0.1:$pport" --data_dir "$tmp/data" --rules_file tests/bench/rules.json \
    --log_level warning 2>"$tmp/podiumd.log" &
dpid=$!
for _ in $(seq 50); do
    hport=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$dpid," -v r=":$pport" '$0 ~ p && $4 !~ r {split($4,a,":"); print a[2]; exit}')
    [ -n "$hport" ] && curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null && break
    sleep 0.1
done
base="http://127.0.0.1:$hport"
admin=$(cat "$tmp/data/admin.token")
for i in $(seq 0 $((leaders - 1))); do
    printf 'HSET podium:{default}:leaders l%d "{\\"name\\":\\"Leader %d\\"}"\n' "$i" "$i"
done | redis-cli -p "$rport" >/dev/null
token=$(curl -sf -X POST -H "Authorization: Bearer $admin" "$base/v1/admin/tokens" \
    -d '{"role":"ingest"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
echo "podiumd pid $dpid rpc port $pport, redis $rport; $conns connections, depth $depth, $batch events per request, ${secs}s per run"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu() { # t0d t0r seconds
    awk -v d=$(($(ticks "$dpid") - $1)) -v r=$(($(ticks "$rpid") - $2)) -v hz="$(getconf CLK_TCK)" \
        -v s="$3" 'BEGIN {printf "cpu podiumd %d%% redis %d%%", 100 * d / hz / s, 100 * r / hz / s}'
}
evalsha() { # "calls usec" of the scoring scripts since the last resetstat
    redis-cli -p "$rport" info commandstats | tr -d '\r' |
        awk -F'[=,:]' '/cmdstat_evalsha/ {print $3, $5}'
}
redis_view() { # events
    read -r calls usec <<<"$(evalsha)" || true
    awk -v c="${calls:-0}" -v u="${usec:-0}" -v e="$1" \
        'BEGIN {if (c) printf "  redis: %d script calls, %.0f us per call, %.1f us per event", c, u / c, e ? u / e : 0}'
}
profile() { # mode
    [ -n "${PERF_DIR:-}" ] || return 0
    perf record -q -g -p "$dpid" -o "$PERF_DIR/$1.data" -- sleep $((secs - 1)) >/dev/null 2>&1 &
}
fresh_total=0
for mode in post minimal; do
    redis-cli -p "$rport" config resetstat >/dev/null
    t0d=$(ticks "$dpid") t0r=$(ticks "$rpid")
    profile "$mode"
    out=$("$tmp/rpc_load" "$pport" "$token" "$conns" "$depth" "$batch" "$secs" "$leaders" "$mode")
    events=$(sed 's/.*, \([0-9]*\) events\/s.*/\1/' <<<"$out")
    echo "$out  $(cpu "$t0d" "$t0r" "$secs")$(redis_view $((events * secs)))"
    fresh_total=$((fresh_total + $(sed 's/.*fresh \([0-9]*\).*/\1/' <<<"$out")))
done
t0d=$(ticks "$dpid") t0r=$(ticks "$rpid")
profile read
out=$("$tmp/rpc_load" "$pport" "$token" "$conns" "${READ_DEPTH:-64}" 1 "$secs" "$leaders" read)
echo "$out  $(cpu "$t0d" "$t0r" "$secs")"

# Exactly once: every new event is a reply (3 points) on this week's board.
week=$(curl -sf -H "Authorization: Bearer $admin" "$base/v1/challenges" | sed 's/.*"current":{"id":"\([^"]*\)".*/\1/')
sum=$(redis-cli -p "$rport" zrange "podium:{default}:board:weekly:$week" 0 -1 withscores |
    awk 'NR % 2 == 0 {s += int($1 / 4294967296)} END {printf "%d", s}')
if [ "$sum" -eq $((3 * fresh_total)) ]; then
    echo "exactly once: ok ($fresh_total events acknowledged as new, board total $sum points)"
else
    echo "exactly once: FAILED (acknowledged $fresh_total new events = $((3 * fresh_total)) points, board holds $sum)"
    exit 1
fi
