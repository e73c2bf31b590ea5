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
. tests/bench/lib.sh
bench_build
bench_start_redis
cc -O2 -Wall -o "$tmp/sse_load" tests/bench/sse_load.c $(pkg-config --cflags --libs libevent)
# shellcheck disable=SC2086 # PODIUMD_FLAGS is a list of flags
bench_start_podiumd tests/bench/rules.json --max_connections $((n + 100)) ${PODIUMD_FLAGS:-}
challenge=$(curl -sf -H "Authorization: Bearer $admin" "$base/v1/challenges" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["challenges"][0]["id"])')
for i in 0 1 2 3 4 5 6 7 8 9; do
    redis-cli -p "$rport" hset 'podium:{default}:leaders' "l$i" "{\"name\":\"Leader $i\"}" >/dev/null
    curl -sf -o /dev/null -H "Authorization: Bearer $admin" "$base/v1/events" -d "{\"leader\":\"l$i\",\"type\":\"post\"}"
done
reader=$(bench_token reader)
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
