#!/usr/bin/env bash
# Podium benchmark: drives a real podiumd (release build) and redis-server on
# loopback with wrk, and prints events/s and p99 latency for single-event
# posts, 100-event batches and top-10 reads, plus Redis's own view of the
# scoring script (EVALSHA calls and microseconds per call and per event).
#
#   bash tests/bench/bench.sh [seconds per run, default 10]
#
# ONLY="post1.lua read.lua" limits the runs to those wrk scripts; CONNS sets
# the connections (default 32), LEADERS the leaders (default 1000). RULES
# picks the rule set (default tests/bench/rules.json: one weekly challenge);
# RULES=tests/bench/rules-full.json URLS=1 measures the whole rules language
# (daily cap, first-of-day and streak bonuses, a campaign, a goal, and one
# score per URL with a fresh URL on every event).
#
# Load generator, daemon and Redis share the machine, as in the targets of
# the issues. Every server is started on a free loopback port and stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${CONNS:-32}
export LEADERS=${LEADERS:-1000} URLS=${URLS:-}

for p in wrk redis-server redis-cli curl; do
    command -v $p >/dev/null || { echo "bench needs $p (apt-get install wrk redis-server curl)"; exit 1; }
done
. tests/bench/lib.sh
bench_build
bench_start_redis
# shellcheck disable=SC2086 # PODIUMD_FLAGS is a list of flags
bench_start_podiumd "${RULES:-tests/bench/rules.json}" ${PODIUMD_FLAGS:-}
echo "podiumd pid $dpid on $base, redis on port $rport, $LEADERS leaders, $conns connections, ${secs}s per run"
bench_leaders "$LEADERS"
TOKEN=$(bench_token ingest)
export TOKEN

# CPU time (clock ticks) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
evalsha() { redis-cli -p "$rport" info commandstats | tr -d '\r' | awk -F'[=,:]' '/cmdstat_evalsha/ {print $3, $5}'; }
run() { # name script events-per-request
    local name=$1 script=$2 per=$3
    case " ${ONLY:-$name} " in *" $script "* | " $name ") ;; *) return 0 ;; esac
    redis-cli -p "$rport" config resetstat >/dev/null
    local out t0d t0r
    t0d=$(ticks "$dpid") t0r=$(ticks "$rpid")
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "tests/bench/$script" "$base" 2>"$tmp/wrk.err")
    local rps p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    read -r calls usec <<<"$(evalsha)" || true
    local cpu
    cpu=$(awk -v d=$(($(ticks "$dpid") - t0d)) -v r=$(($(ticks "$rpid") - t0r)) -v hz="$(getconf CLK_TCK)" \
        -v s="$secs" 'BEGIN {printf "cpu podiumd %d%% redis %d%%", 100 * d / hz / s, 100 * r / hz / s}')
    usec=$(awk -v u="$usec" -v c="$calls" 'BEGIN {printf "%.0f", c ? u / c : 0}')
    [ -n "${BENCH_STATS:-}" ] && redis-cli -p "$rport" info commandstats | head -20
    if [ "$per" = 0 ]; then
        printf '%-32s %10.0f requests/s %19s p99 %-8s' "$name" "$rps" "" "$p99"
    else
        printf '%-32s %10.0f requests/s %10.0f events/s   p99 %-8s' "$name" "$rps" \
            "$(awk -v r="$rps" -v p="$per" 'BEGIN {print r * p}')" "$p99"
    fi
    printf ' %s' "$cpu"
    if [ -n "${calls:-}" ] && [ "$per" != 0 ]; then
        local events
        events=$(awk -v r="$rps" -v p="$per" -v s="$secs" 'BEGIN {print r * p * s}')
        printf ' redis: %s EVALSHA, %s us/call, %.2f us/event' "$calls" "$usec" \
            "$(awk -v c="$calls" -v u="$usec" -v e="$events" 'BEGIN {print (e > 0 ? c * u / e : 0)}')"
    fi
    echo
    if [ -s "$tmp/wrk.err" ]; then head -3 "$tmp/wrk.err"; fi
}
run "single-event posts" post1.lua 1
run "100-event batches" post100.lua 100
MINIMAL=1 run "100-event, no ranks" post100.lua 100
conns=$((2 * conns))
run "100-event batches, ${conns}c" post100.lua 100
MINIMAL=1 run "100-event, no ranks, ${conns}c" post100.lua 100
conns=$((conns / 2))
run "top-10 reads" read.lua 0
[ -n "${ONLY:-}" ] && exit 0
# Redis alone: the scoring script for one event per call, sent straight to
# Redis (pipelined, so client and network cost nothing), for comparison with
# what podiumd gets out of it: calls/s = 1e6 / Redis's microseconds per call.
# The call is captured from a real post and replayed with fresh ids.
(timeout 2 redis-cli -p "$rport" monitor >"$tmp/monitor" 2>/dev/null &)
sleep 0.3
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$base/v1/events" \
    -d '{"id":"capture-000000000001","leader":"l1","type":"post"}'
sleep 0.3
# MONITOR costs Redis a formatted copy of every command: replay once it is gone.
while redis-cli -p "$rport" client list | grep -q 'cmd=monitor'; do sleep 0.1; done
python3 - "$tmp/monitor" "$rport" <<'PY'
import ast, re, socket, sys
line = next(l for l in open(sys.argv[1], "rb") if b'"EVALSHA"' in l)
args = [ast.literal_eval('b"' + t.decode("latin-1") + '"')
        for t in re.findall(rb'"((?:[^"\\]|\\.)*)"', line.split(b"] ", 1)[1])]
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
def send(cmds):
    s.sendall(b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in c)
                       for c in cmds))
def drain(n):  # reads n replies of any shape, counting top-level ones by their lines
    buf, got = b"", 0
    while got < n:
        buf += s.recv(1 << 20)
        got = buf.count(b"\r\n*2\r\n") + buf.startswith(b"*2\r\n")
send([[b"CONFIG", b"RESETSTAT"]]); s.recv(100)
for k in range(50):  # 50 x 200 calls; the id keeps its length so MessagePack stays valid
    send([[a.replace(b"capture-000000000001", b"capture-%012d" % (k * 200 + i + 2)) for a in args]
          for i in range(200)])
    drain(200)
send([[b"INFO", b"commandstats"]])
info = b""
while b"cmdstat_evalsha" not in info or not info.endswith(b"\r\n"):
    info += s.recv(1 << 16)
usec = float(re.search(rb"cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([0-9.]+)", info).group(1))
print("%-32s %10.0f calls/s of Redis time (%.1f us per one-event call)" % ("redis alone", 1e6 / usec, usec))
PY
echo "event log length: $(redis-cli -p "$rport" xlen 'podium:{default}:events') stream entries (one per call)"
