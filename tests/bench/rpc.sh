#!/usr/bin/env bash
# msgpack-RPC benchmark: a release podiumd and redis-server on loopback,
# driven by podium-bench (clients/podium-bench, on libpodium and the shared
# codec). Runs post_events with ranks and without (minimal), checking each
# time that every acknowledged event is in the event log exactly once, then
# leaderboard reads. Prints events/s, requests/s, latency percentiles, the
# CPU of podiumd and Redis, and Redis's time per event in the scoring script.
#
#   bash tests/bench/rpc.sh [seconds per run, default 10]
#
# CONNS (default 4), DEPTH (requests in flight per connection, 16), BATCH
# (events per request, 100), LEADERS (1000), READ_DEPTH (64), PODIUMD_FLAGS
# (extra podiumd settings). Load generator, daemon and Redis share the
# machine, as in the targets of the issues. Every server is started on a
# free loopback port and stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${CONNS:-4} depth=${DEPTH:-16} batch=${BATCH:-100} leaders=${LEADERS:-1000}
for p in redis-server redis-cli curl; do
    command -v $p >/dev/null || { echo "bench needs $p"; exit 1; }
done
. tests/bench/lib.sh
bench_build podium-bench
bench_start_redis
# shellcheck disable=SC2086 # PODIUMD_FLAGS is a list of flags
bench_start_podiumd tests/bench/rules.json ${PODIUMD_FLAGS:-}
bench_leaders "$leaders"
token=$(bench_token ingest)
echo "podiumd pid $dpid, rpc port $pport, redis $rport; $conns connections, $depth in flight each, $batch events per request, ${secs}s per run"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu() { # t0d t0r seconds
    awk -v d=$(($(ticks "$dpid") - $1)) -v r=$(($(ticks "$rpid") - $2)) -v hz="$(getconf CLK_TCK)" \
        -v s="$3" 'BEGIN {printf "cpu podiumd %d%% redis %d%%", 100 * d / hz / s, 100 * r / hz / s}'
}
redis_view() { # events
    read -r calls usec <<<"$(redis-cli -p "$rport" info commandstats | tr -d '\r' |
        awk -F'[=,:]' '/cmdstat_evalsha/ {print $3, $5}')" || true
    awk -v c="${calls:-0}" -v u="${usec:-0}" -v e="$1" \
        'BEGIN {if (c && e) printf "redis: %d script calls, %.1f us per event", c, u / e}'
}
bench() { # what podium-bench args...
    local what=$1
    shift
    redis-cli -p "$rport" config resetstat >/dev/null
    local t0d t0r out events
    t0d=$(ticks "$dpid") t0r=$(ticks "$rpid")
    out=$(./build/release/podium-bench --port "$pport" --token "$token" --connections "$conns" \
        --leaders "$leaders" --duration "$secs" "$@")
    echo "== $what"
    echo "$out"
    events=$(sed -n 's/.* \([0-9]*\) events\/s.*/\1/p' <<<"$out")
    echo "  $(cpu "$t0d" "$t0r" "$secs")  $(redis_view $((${events:-0} * secs)))"
}
bench "post_events, ranks" --pipeline "$depth" --batch "$batch" --redis "127.0.0.1:$rport"
bench "post_events, minimal (no ranks)" --pipeline "$depth" --batch "$batch" --minimal \
    --redis "127.0.0.1:$rport"
bench "leaderboard (top 10)" --method leaderboard --pipeline "${READ_DEPTH:-64}"
