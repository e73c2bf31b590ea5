#!/usr/bin/env bash
# Period close benchmark: how long closing a period of N leaders (default
# 100,000) holds up event intake. A challenge with 20-second periods gets N
# leaders on its current board (written straight into Redis); wrk posts
# single events to another challenge on 16 connections from before the
# period ends until well after it closed, and a probe posts one event every
# 10 ms on its own connection, timing each. Printed: the time the close
# took, Redis's slowest calls during it (SLOWLOG, every call over 1 ms), the
# probe's latencies while the close ran and outside it, and wrk's, beside a
# run without a close (issue target: intake stalls under 50 ms).
#
#   bash tests/bench/close.sh [leaders]
#
# Every server is started on a free loopback port and stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
leaders=${1:-100000}
length=20
for p in wrk redis-server redis-cli curl; do
    command -v $p >/dev/null || { echo "needs $p (apt-get install wrk redis-server curl)"; exit 1; }
done
. tests/bench/lib.sh
bench_build
bench_start_redis
cat >"$tmp/rules.json" <<EOF
{"activities": {"post": {"points": 10}, "stakeholder_interaction": {"points": 15}},
 "challenges": [
  {"id": "weekly", "name": "Weekly", "period": "week", "activities": ["post"]},
  {"id": "sprint", "name": "Sprint", "period": "interval", "length": "${length}s",
   "starts": "2026-01-01T00:00:00Z", "grace": "0s", "activities": ["stakeholder_interaction"]}]}
EOF
BENCH_LOG=info bench_start_podiumd "$tmp/rules.json"
export LEADERS=1000 TOKEN
TOKEN=$(bench_token ingest)

# Wait for a period with at least 12 s left, then fill its board.
/usr/bin/python3 - "$rport" "$leaders" "$length" <<'PY'
import socket, sys, time
port, n, length = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
anchor = 1767225600
while length - (time.time() - anchor) % length < 12:
    time.sleep(0.2)
start = int(time.time()) - (int(time.time()) - anchor) % length
pid = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(start))
K = 2 ** 32
s = socket.create_connection(("127.0.0.1", port))
def cmd(*a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
out = []
for lo in range(0, n, 1000):
    ids = range(lo, min(n, lo + 1000))
    out.append(cmd("HSET", "podium:{default}:leaders",
                   *sum((["m%d" % i, '{"name":"Member %d"}' % i] for i in ids), [])))
    out.append(cmd("ZADD", "podium:{default}:board:sprint:" + pid,
                   *sum(([(100000 - i // 3) * K + K - 1 - i % 7, "m%d" % i] for i in ids), [])))
s.sendall(b"".join(out))
got = b""
while got.count(b"\r\n") < len(out):
    got += s.recv(1 << 20)
print("board sprint:%s filled with %d leaders; it ends in %.1f s"
      % (pid, n, start + length - time.time()))
open("/dev/stdout", "w")
PY
end=$(( ( ($(date +%s) - 1767225600) / length + 1) * length + 1767225600 ))
bench_leaders 1000
redis-cli -p "$rport" config set slowlog-log-slower-than 1000 >/dev/null
redis-cli -p "$rport" slowlog reset >/dev/null
secs=$((end - $(date +%s) + 8))
echo "== intake while the period closes (${secs}s of single-event posts, 16 connections)"
/usr/bin/python3 - "$hport" "$TOKEN" "$secs" >"$tmp/probe" <<'PY' &
import http.client, json, sys, time
port, token, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
end, i = time.time() + secs, 0
while time.time() < end:
    t0 = time.time()
    c.request("POST", "/v1/events", body=json.dumps({"leader": "l1", "type": "post"}), headers=h)
    c.getresponse().read()
    t1 = time.time()
    print("%.6f %.6f" % (t0, t1 - t0))
    time.sleep(max(0, 0.01 - (t1 - t0)))
PY
probe=$!
wrk -t2 -c16 -d"${secs}s" --latency -s tests/bench/post1.lua "$base" | grep -E "Latency|50%|99%|Requests/sec"
wait $probe
grep -E "clos(ing|ed) sprint" "$tmp/podiumd.log" | tail -2
closed=$(curl -sf -H "Authorization: Bearer $admin" "$base/v1/challenges/sprint/periods?limit=1" |
    /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin)["periods"][0]; print(p["period"], p["leaders"], p["closed_at"])')
echo "closed: $closed (period ended at $(date -u -d @"$end" +%H:%M:%S))"
echo "Redis calls over 1 ms during the run (slowest first, microseconds):"
redis-cli -p "$rport" slowlog get 1000 | /usr/bin/python3 -c '
import sys, re
lines = sys.stdin.read().split("\n")
# redis-cli prints: id, time, duration, then the command words
durs = []
for i in range(0, len(lines) - 3):
    if re.fullmatch(r"\d+", lines[i].strip()) and re.fullmatch(r"\d{10}", lines[i + 1].strip()):
        cmd = lines[i + 3].strip() if i + 3 < len(lines) else ""
        durs.append((int(lines[i + 2]), " ".join(lines[i + 3:i + 8]).replace("\n", " ")[:80]))
durs.sort(reverse=True)
print("  %d calls over 1 ms" % len(durs))
for d, c in durs[:5]:
    print("  %6d us  %s" % (d, c))
'
took=$(grep -oE "leaders in [0-9.]+ s" "$tmp/podiumd.log" | tail -1 | awk '{print $3}')
/usr/bin/python3 - "$tmp/probe" "$end" "${took:-0}" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
lo, hi = float(sys.argv[2]), float(sys.argv[2]) + 1 + float(sys.argv[3]) + 1  # settle, close, slack
def show(name, xs):
    xs = sorted(x * 1000 for x in xs)
    if xs:
        print("probe %-22s %5d posts  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms"
              % (name, len(xs), xs[len(xs) // 2], xs[int(len(xs) * 0.99)], xs[-1]))
show("while closing:", [d for t, d in rows if lo <= t <= hi])
show("before and after:", [d for t, d in rows if not lo <= t <= hi])
PY
echo "digests of the first, middle and last leader: $(for m in 0 $((leaders / 2)) $((leaders - 1)); do
    redis-cli -p "$rport" hexists "podium:{default}:digest:m$m" sprint; done | tr '\n' ' ')"
echo "== the same intake, no close (8s)"
wrk -t2 -c16 -d8s --latency -s tests/bench/post1.lua "$base" | grep -E "Latency|50%|99%|Requests/sec"
