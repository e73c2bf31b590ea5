#!/usr/bin/env bash
# SSE load: N streams (default 10000) held by one podiumd (release build)
# on loopback, then one posted event that changes the top. Prints the time
# from the POST to the event on every stream (p50/p99/max) and podiumd's RSS
# growth per stream. The load client is tests/bench/sse_load.c (libevent).
#
#   bash tests/bench/sse.sh [streams, default 10000]
#
# PODIUMD_FLAGS adds podiumd flags ("--log_level debug" also prints the
# daemon's own fan-out time). Every server is started on a free loopback port and stopped; the client
# gives up on any phase after 60 s, the whole run after 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000}
for p in redis-server redis-cli curl cc pkg-config; do
    command -v $p >/dev/null || { echo "sse.sh needs $p"; exit 1; }
done
# One descriptor per stream on both sides, plus a margin.
ulimit -n "$(( n * 2 + 1024 < $(ulimit -Hn) ? n * 2 + 1024 : $(ulimit -Hn) ))"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j2 --target podiumd >/dev/null
tmp=$(mktemp -d)
cc -O2 -Wall -o "$tmp/sse_load" tests/bench/sse_load.c $(pkg-config --cflags --libs libevent)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$tmp" --loglevel warning >"$tmp/redis.log" 2>&1 &
rpid=$!
cleanup() { kill "${dpid:-}" 2>/dev/null || true; kill "$rpid" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

./build/release/podiumd --redis "redis://127.0.0.1:$rport" --http_listen 127.0.0.1:0 \
    --data_dir "$tmp/data" --rules_file tests/bench/rules.json --log_level warning \
    --max_connections $((n + 100)) ${PODIUMD_FLAGS:-} 2>"$tmp/podiumd.log" &
dpid=$!
for _ in $(seq 50); do
    hport=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$dpid," '$0 ~ p {split($4,a,":"); print a[2]; exit}')
    [ -n "$hport" ] && curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null && break
    sleep 0.1
done
base="http://127.0.0.1:$hport"
admin=$(cat "$tmp/data/admin.token")
challenge=$(curl -sf -H "Authorization: Bearer $admin" "$base/v1/challenges" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["challenges"][0]["id"])')
for i in 0 1 2 3 4 5 6 7 8 9; do
    redis-cli -p "$rport" hset 'podium:{default}:leaders' "l$i" "{\"name\":\"Leader $i\"}" >/dev/null
    curl -sf -o /dev/null -H "Authorization: Bearer $admin" "$base/v1/events" -d "{\"leader\":\"l$i\",\"type\":\"post\"}"
done
reader=$(curl -sf -X POST -H "Authorization: Bearer $admin" "$base/v1/admin/tokens" \
    -d '{"role":"reader"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
echo "podiumd pid $dpid on $base, $n streams of /v1/challenges/$challenge/stream (top 10)"
# The trigger: a leader not on the board yet takes the lead.
redis-cli -p "$rport" hset 'podium:{default}:leaders' top '{"name":"Top"}' >/dev/null
body='{"events":[{"leader":"top","type":"post"},{"leader":"top","type":"post"},{"leader":"top","type":"post"}]}'
rc=0
timeout 300 "$tmp/sse_load" "$hport" "$reader" "/v1/challenges/$challenge/stream" "$n" "$dpid" \
    "$admin" "$body" || rc=$?
# With PODIUMD_FLAGS="--log_level debug": the daemon's own time for the fan-out.
grep -h "sse: standings of" "$tmp/podiumd.log" | tail -1 || true
exit $rc
