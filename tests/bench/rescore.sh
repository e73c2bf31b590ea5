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
. tests/bench/lib.sh
bench_build
bench_start_redis
bench_start_podiumd tests/bench/rules-full.json --max_body 4194304
bench_leaders 1000
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
