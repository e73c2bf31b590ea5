#!/usr/bin/env bash
# Podium quick start: install what is missing (Debian 12, as root), build,
# and run podiumd in the foreground with its embedded Redis and the sample
# rules (examples/rules.json). Ctrl-C stops it; data stays in ./data.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libevent-dev libhiredis-dev libjansson-dev libmsgpack-dev
          libssl-dev libcurl4-openssl-dev libjemalloc-dev redis-server curl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target podiumd podiumctl

port=${PODIUM_PORT:-7420}
mkdir -p data
./build/release/podiumd --data_dir "$PWD/data" --rules_file "$PWD/examples/rules.json" \
    --http_listen "127.0.0.1:$port" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { echo "podiumd did not start"; exit 1; }
    sleep 0.1
done
token=$(cat data/admin.token)
operator=$(cat data/operator.token)
cat <<MSG

Podium is running at http://127.0.0.1:$port
Admin token (org default): $token
Operator token (creates more orgs: build/release/podiumctl org --help): $operator

Try it (another terminal):
  T=$token
  curl -X PUT -H "Authorization: Bearer \$T" http://127.0.0.1:$port/v1/admin/leaders/ceo -d '{"name":"Ada (CEO)"}'
  curl -H "Authorization: Bearer \$T" http://127.0.0.1:$port/v1/events -d '{"leader":"ceo","type":"post","channel":"linkedin"}'
  curl -H "Authorization: Bearer \$T" http://127.0.0.1:$port/v1/challenges/weekly/leaderboard
  build/release/podiumctl watch weekly      (a live board; podiumctl --help for more)
Ctrl-C stops podiumd.
MSG
wait $pid
