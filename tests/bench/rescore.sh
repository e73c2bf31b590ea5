#!/usr/bin/env bash
# Rescore benchmark: logs N events (default 100,000, in 1000-event batches)
# for 1000 leaders on a fresh Redis, then times
# POST /v1/admin/challenges/weekly/rescore, which rebuilds this week's board
# from the event log (issue target: 100,000 events in under 5 s).
#
#   bash tests/bench/rescore.sh [events]
#
# Every server is started on a free loopback port and stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-100000}
for p in redis-server redis-cli curl; do
    command -v $p >/dev/null || { echo "needs $p"; exit 1; }
done
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target podiumd >/dev/null

tmp=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
hport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$tmp" --loglevel warning >"$tmp/redis.log" 2>&1 &
rpid=$!
cleanup() { kill "${dpid:-}" 2>/dev/null || true; kill "$rpid" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
./build/release/podiumd --redis "redis://127.0.0.1:$rport" --http_listen "127.0.0.1:$hport" \
    --data_dir "$tmp/data" --rules_file tests/bench/rules-full.json --log_level warning \
    --max_body 4194304 2>"$tmp/podiumd.log" &
dpid=$!
base="http://127.0.0.1:$hport"
for _ in $(seq 50); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq 0 999); do
    printf 'HSET podium:{default}:leaders l%d "{\\"name\\":\\"Leader %d\\"}"\n' "$i" "$i"
done | redis-cli -p "$rport" >/dev/null
/usr/bin/python3 - "$base" "$(cat "$tmp/data/admin.token")" "$events" <<'PY'
import http.client, json, sys, time, urllib.parse
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port)
now = int(time.time() * 1000)
sent = 0
while sent < n:
    k = min(1000, n - sent)
    evs = [{"id": "rs-%d" % (sent + i), "leader": "l%d" % ((sent + i) % 1000), "type": "post",
            "channel": "linkedin", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                       time.gmtime((now - 1000) // 1000)),
            "url": "https://example.com/p/%d" % (sent + i)} for i in range(k)]
    c.request("POST", "/v1/events", json.dumps({"events": evs}),
              {"Authorization": "Bearer " + token, "Prefer": "return=minimal"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
    sent += k
PY
echo "logged $events events: $(redis-cli -p "$rport" xlen 'podium:{default}:events') log entries"
start=$(date +%s%N)
out=$(curl -s -w " (HTTP %{http_code})" -X POST -H "Authorization: Bearer $(cat "$tmp/data/admin.token")" \
    "$base/v1/admin/challenges/weekly/rescore")
end=$(date +%s%N)
echo "rescore: $out"; grep -v "^<6>" "$tmp/podiumd.log" | tail -5 || true
echo "rescore wall time: $(( (end - start) / 1000000 )) ms"
redis-cli -p "$rport" info commandstats | tr -d '\r' | grep -E "cmdstat_(evalsha|xrange):" | \
    sed 's/^/redis: /'
