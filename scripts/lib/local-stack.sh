# Shared by scripts/demo and scripts/bench-e2e: starts the dev ClickHouse
# (chDB behind ClickHouse's HTTP interface) and a release aires-collector
# writing into it, on loopback, and stops both when the script exits.
#
# Usage (after `set -euo pipefail` and cd to the repository root):
#   source scripts/lib/local-stack.sh
#   stack_start WORKDIR [collector flags...]
#   -> sets CLICKHOUSE_URL, COLLECTOR_GRPC, COLLECTOR_METRICS
# CLICKHOUSE_DEV_FLAGS (optional) are added to the dev ClickHouse's own.

source scripts/lib/cargo-target.sh

stack_pids=()

# Stops in reverse order of start: the collector drains into ClickHouse
# before ClickHouse goes away.
stack_stop() {
    local i
    for ((i = ${#stack_pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${stack_pids[i]}" 2>/dev/null || true
        wait "${stack_pids[i]}" 2>/dev/null || true
    done
}

# wait_for PID FILE PATTERN: prints the first match of PATTERN in FILE, or
# fails when PID exits first or after 60 s.
wait_for() {
    for _ in $(seq 1 600); do
        if match=$(grep -o "$3" "$2" 2>/dev/null | head -n 1) && [ -n "$match" ]; then
            echo "$match"
            return 0
        fi
        if ! kill -0 "$1" 2>/dev/null; then
            echo "process $1 exited before printing $3:" >&2
            cat "$2" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "timed out waiting for $3 in $2:" >&2
    cat "$2" >&2
    return 1
}

stack_start() {
    local work=$1
    shift
    trap stack_stop EXIT
    scripts/clickhouse-dev setup
    cargo build --release --locked -q -p aires-collector --bin aires-collector
    rm -rf "$work"
    mkdir -p "$work"
    # shellcheck disable=SC2086
    tools/clickhouse-dev/.venv/bin/python tools/clickhouse-dev/server.py \
        --port 0 --data "$work/clickhouse" ${CLICKHOUSE_DEV_FLAGS:-} >"$work/clickhouse.log" 2>&1 &
    stack_pids+=($!)
    CLICKHOUSE_URL=$(wait_for "$!" "$work/clickhouse.log" 'http://[0-9.:]*')
    "$(cargo_target_dir)/release/aires-collector" --sink clickhouse --clickhouse-url "$CLICKHOUSE_URL" \
        --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 "$@" >"$work/collector.log" 2>&1 &
    stack_pids+=($!)
    COLLECTOR_GRPC=$(wait_for "$!" "$work/collector.log" 'grpc=[0-9.:]*' | cut -d= -f2)
    COLLECTOR_METRICS=$(wait_for "$!" "$work/collector.log" 'metrics=[0-9.:]*' | cut -d= -f2)
}
