#!/usr/bin/env bash
# Podium benchmark of many orgs: the same single-event load (post1.lua's
# events, the bench rules, LEADERS leaders per org) sent to one org and
# spread over ORGS orgs (default 1000), side by side in pairs, then the cost
# of the orgs when nothing happens: podiumd's CPU over IDLE seconds (default
# 60) and its memory per org.
#
#   bash tests/bench/orgs.sh [seconds per run, default 10]
#
# PAIRS sets the number of one-org / many-org pairs (default 2), CONNS the
# connections (32). The orgs are made through the operator API (POST
# /v1/orgs, PUT /v1/rules, POST /v1/admin/tokens with each org's admin
# token); their leaders straight in Redis. Every server runs on a free
# loopback port and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${CONNS:-32}
orgs=${ORGS:-1000}
pairs=${PAIRS:-2}
idle=${IDLE:-60}
export LEADERS=${LEADERS:-1000}

for p in wrk redis-server redis-cli curl; do
    command -v $p >/dev/null || { echo "bench needs $p (apt-get install wrk redis-server curl)"; exit 1; }
done
. tests/bench/lib.sh
bench_build
bench_start_redis
# shellcheck disable=SC2086 # PODIUMD_FLAGS is a list of flags
bench_start_podiumd tests/bench/rules.json ${PODIUMD_FLAGS:-}
operator=$(cat "$tmp/data/operator.token")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
rss0=$(rss_kib "$dpid")
echo "podiumd pid $dpid on $base, redis on port $rport; $orgs orgs of $LEADERS leaders, $conns connections, ${secs}s per run"

# The one org: default, with its rules from the file.
bench_leaders "$LEADERS"
one=$(bench_token ingest)

# The many orgs, each with the same rules and leaders and an ingest token.
t0=$(date +%s.%N)
: >"$tmp/tokens"
for i in $(seq 1 "$orgs"); do
    org=$(printf 'o%04d' "$i")
    adm=$(curl -sf -H "Authorization: Bearer $operator" "$base/v1/orgs" -d "{\"id\":\"$org\"}" |
        sed 's/.*"admin_token":"\([^"]*\)".*/\1/')
    curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $adm" -H 'Content-Type: application/json' \
        --data-binary @tests/bench/rules.json "$base/v1/rules"
    curl -sf -H "Authorization: Bearer $adm" "$base/v1/admin/tokens" -d '{"role":"ingest"}' |
        sed 's/.*"token":"\([^"]*\)".*/\1/' >>"$tmp/tokens"
    for j in $(seq 0 $((LEADERS - 1))); do
        printf 'HSET podium:{%s}:leaders l%d "{\\"name\\":\\"Leader %d\\"}"\n' "$org" "$j" "$j"
    done
done | redis-cli -p "$rport" >/dev/null
echo "made $orgs orgs in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
[ "$(wc -l <"$tmp/tokens")" = "$orgs" ] || { echo "not every org got a token"; exit 1; }

evalsha() { redis-cli -p "$rport" info commandstats | tr -d '\r' | awk -F'[=,:]' '/cmdstat_evalsha/ {print $3, $5}'; }
run() { # name script
    local name=$1 script=$2 t0d t0r out rps p99 calls usec
    redis-cli -p "$rport" config resetstat >/dev/null
    t0d=$(ticks "$dpid") t0r=$(ticks "$rpid")
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "tests/bench/$script" "$base" 2>"$tmp/wrk.err")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf '%-28s %10.0f events/s   p99 %-8s' "$name" "$rps" "$p99"
    awk -v d=$(($(ticks "$dpid") - t0d)) -v r=$(($(ticks "$rpid") - t0r)) -v hz="$(getconf CLK_TCK)" \
        -v s="$secs" 'BEGIN {printf " cpu podiumd %d%% redis %d%%", 100 * d / hz / s, 100 * r / hz / s}'
    read -r calls usec <<<"$(evalsha)" || true
    awk -v c="${calls:-0}" -v u="${usec:-0}" -v e="$(awk -v r="$rps" -v s="$secs" 'BEGIN {print r * s}')" \
        'BEGIN {printf " redis: %d EVALSHA, %.1f us/call, %.1f events/call, %.2f us/event\n", c, c ? u / c : 0, c ? e / c : 0, e ? u / e : 0}'
    if [ -s "$tmp/wrk.err" ]; then head -3 "$tmp/wrk.err"; fi
    echo "$rps" >>"$tmp/rps.$script"
}
for i in $(seq 1 "$pairs"); do # every run's event ids are new (RUN)
    RUN="$$-$i-one" TOKEN=$one run "one org" post1.lua
    RUN="$$-$i-many" TOKENS=$tmp/tokens run "$orgs orgs" post1_orgs.lua
done
awk -v f1="$tmp/rps.post1.lua" -v f2="$tmp/rps.post1_orgs.lua" -v ORGS="$orgs" 'BEGIN {
    while ((getline v < f1) > 0) { a += v; n++ }
    while ((getline v < f2) > 0) { b += v; m++ }
    printf "mean: one org %.0f events/s, %d orgs %.0f events/s: %.1f%% of one org\n", a / n, ORGS, b / m, 100 * (b / m) / (a / n)
}'

# Exactly once: every acknowledged event of the runs is in its org's log.
logged=$(for i in $(seq 1 "$orgs"); do printf 'HVALS podium:{o%04d}:usage\n' "$i"; done |
    redis-cli -p "$rport" | awk '{s += $1} END {print s}')
echo "events logged across the $orgs orgs: $logged"

# podiumd's CPU and the Redis commands over $idle s of nothing happening.
idle_for() { # what
    local t0d
    t0d=$(ticks "$dpid")
    redis-cli -p "$rport" config resetstat >/dev/null
    sleep "$idle"
    awk -v d=$(($(ticks "$dpid") - t0d)) -v hz="$(getconf CLK_TCK)" -v s="$idle" -v w="$1" \
        'BEGIN {printf "idle %d s %s: podiumd %.2f%% of a core", s, w, 100 * d / hz / s}'
    echo ", Redis commands: $(redis-cli -p "$rport" info stats | tr -d '\r' |
        awk -F: '/total_commands_processed/ {print $2}')"
}

# Idle: every org's context is loaded now.
rss1=$(rss_kib "$dpid")
idle_for "with $orgs orgs in use"
echo "podiumd memory: $((rss0 / 1024)) MiB at start, $((rss1 / 1024)) MiB with $orgs orgs in use:" \
    "$(((rss1 - rss0) / orgs)) KiB per org (rules, channels, read cache)"

# A restart: the orgs exist, none is in use.
kill "$dpid"
wait "$dpid" 2>/dev/null || true
# shellcheck disable=SC2086
bench_start_podiumd tests/bench/rules.json ${PODIUMD_FLAGS:-}
sleep 2
idle_for "after a restart ($orgs orgs, none in use)"
