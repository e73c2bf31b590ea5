# Shared by the benchmarks (sourced, not run): builds the release podiumd
# and starts redis-server and podiumd on free loopback ports in a temporary
# directory, and stops them and removes it on exit.
#
#   bench_build [TARGETS]           cmake release build of podiumd (and TARGETS)
#   bench_start_redis               sets tmp, rport, rpid; traps EXIT
#   bench_start_podiumd RULES ARGS  sets dpid, hport, pport (msgpack-RPC), base, admin
#                                   (log level: $BENCH_LOG)
#   bench_leaders N                 profiles l0 .. l(N-1) ("Leader i")
#   bench_token ROLE                prints a new token of that role

# Builds the release podiumd (RelWithDebInfo, no tests).
bench_build() {
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
    cmake --build build/release -j"$(nproc)" --target podiumd "$@" >/dev/null
}

# A TCP port on 127.0.0.1 that was free a moment ago.
bench_free_port() {
    /usr/bin/env python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Stops what was started and removes the temporary directory.
bench_cleanup() {
    kill "${dpid:-}" 2>/dev/null || true
    kill "${rpid:-}" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "${tmp:-/nonexistent}"
}

# Starts a redis-server without persistence in a new temporary directory.
bench_start_redis() {
    tmp=$(mktemp -d)
    trap bench_cleanup EXIT
    rport=$(bench_free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
        --dir "$tmp" --loglevel warning >"$tmp/redis.log" 2>&1 &
    rpid=$!
    for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# Starts podiumd on that Redis with rules file $1 and further flags; waits
# until it is ready.
bench_start_podiumd() {
    local rules=$1
    shift
    hport=$(bench_free_port)
    pport=$(bench_free_port)
    ./build/release/podiumd --redis "redis://127.0.0.1:$rport" --http_listen "127.0.0.1:$hport" \
        --rpc_listen "127.0.0.1:$pport" --data_dir "$tmp/data" --rules_file "$rules" --log_level "${BENCH_LOG:-warning}" "$@" \
        2>"$tmp/podiumd.log" &
    dpid=$!
    base="http://127.0.0.1:$hport"
    for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -sf "$base/readyz" >/dev/null || { echo "podiumd did not start:"; cat "$tmp/podiumd.log"; exit 1; }
    admin=$(cat "$tmp/data/admin.token")
}

# Creates leader profiles l0 .. l(N-1).
bench_leaders() {
    for i in $(seq 0 $(($1 - 1))); do
        printf 'HSET podium:{default}:leaders l%d "{\\"name\\":\\"Leader %d\\"}"\n' "$i" "$i"
    done | redis-cli -p "$rport" >/dev/null
}

# Prints a new token of role $1.
bench_token() {
    curl -sf -X POST -H "Authorization: Bearer $admin" "$base/v1/admin/tokens" \
        -d "{\"role\":\"$1\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/'
}
