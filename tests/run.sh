#!/usr/bin/env bash
# Podium's whole test suite: install what is missing (Debian 12, as root),
# check formatting, then build twice and run every test (unit, fuzz replay,
# integration against real redis-server and podiumd processes):
#   1. RelWithDebInfo with -Werror
#   2. Debug with AddressSanitizer and UndefinedBehaviorSanitizer, -Werror
# Tests start their own servers on free loopback ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libevent-dev libhiredis-dev libjansson-dev libmsgpack-dev
          libssl-dev libcurl4-openssl-dev libjemalloc-dev libcmocka-dev redis-server python3 python3-msgpack
          clang-format curl)
# Node.js runs a real EventSource client against the SSE streams
# (tests/integration/test_stream_node.py); Debian's when none is installed.
command -v node >/dev/null || packages+=(nodejs npm)
# Debian's Chromium, headless, shows the web widget to playwright-core
# (tests/integration/test_widget.py); playwright downloads no browser.
[ -x /usr/bin/chromium ] || packages+=(chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== npm ci (tests/integration/node)"
(cd tests/integration/node && npm ci --no-audit --no-fund --loglevel=error)

echo "== clang-format"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find daemon tests -name '*.[ch]')
clang-format --dry-run --Werror $files
echo "formatting ok"

jobs=$(nproc)
run() {
    local dir=$1; shift
    echo "== build $dir ($*)"
    cmake -S . -B "$dir" "$@" -DPODIUM_WERROR=ON >/dev/null
    cmake --build "$dir" -j"$jobs" 2>&1 | grep -Ev '^\[|^(Consolidate|Scanning|Built)' || true
    cmake --build "$dir" -j"$jobs" >/dev/null # fail here if the build failed
    echo "== test $dir"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600
}
run build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run build/asan -DCMAKE_BUILD_TYPE=Debug -DPODIUM_SANITIZE=address,undefined
