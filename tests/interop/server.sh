# Sourced by tests/interop/run: start/stop the real streamcart binary on free
# ports with a throwaway data directory.

# start_server BINARY -> sets SERVER_URL, SERVER_PID, SERVER_DIR
start_server() {
    local binary="$1"
    SERVER_DIR="$(mktemp -d)"
    printf 'rtc:\n  udp_port: 0\n  tcp_port: 0\n' >"$SERVER_DIR/config.yaml"
    # Extra livekit.yaml lines (keys:, webhook:) for stages that need them.
    [ -n "${SERVER_EXTRA_CONFIG:-}" ] && printf '%s\n' "$SERVER_EXTRA_CONFIG" >>"$SERVER_DIR/config.yaml"
    RUST_LOG="${INTEROP_RUST_LOG:-info}" "$binary" --config "$SERVER_DIR/config.yaml" --port 0 \
        --data-dir "$SERVER_DIR/data" >"$SERVER_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    SERVER_URL=""
    for _ in $(seq 1 100); do
        SERVER_URL="$(grep -Eo 'listening on http://[^ ]+' "$SERVER_DIR/server.log" | head -n1 | sed 's/listening on //' || true)"
        [ -n "$SERVER_URL" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    # The log may carry ANSI colour codes; keep the URL clean.
    SERVER_URL="$(printf '%s' "$SERVER_URL" | sed 's/\x1b\[[0-9;]*m//g')"
    [ -n "$SERVER_URL" ]
}

stop_server() {
    if [ -n "${SERVER_PID:-}" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
