#!/usr/bin/env bash
# `make run` and `make stop`: the worker against the local broker and a simulated KVM host agent, all on 127.0.0.1.
#
#   scripts/demo.sh start BINARY [DEVTOOL]
#                                  import examples/demo-inventory.json, start `DEVTOOL simulate-agent` (default:
#                                  cloudbus-bench beside BINARY) and `BINARY run` in the background (pid files and logs
#                                  in .data/), publish every other examples/*.json to host.<DEMO_NODE_UUID> and print
#                                  the replies; the worker keeps running
#   scripts/demo.sh stop           stop the worker and the simulated agent (SIGTERM: the worker drains first)
#
# Expects the broker to be up (`make run` starts it). Environment: DEMO_NODE_UUID, CLOUDBUS_AMQP_PORT (5672),
# CLOUDBUS_AGENT_PORT (7070), CLOUDBUS_HEALTH_URL (http://127.0.0.1:9464/readyz).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$repo/scripts/common.sh"

data=$repo/.data
worker_data=$data/worker
node_uuid=${DEMO_NODE_UUID:-d0d0cafe0000400000000000000000a1}
agent_port=${CLOUDBUS_AGENT_PORT:-7070}
health_url=${CLOUDBUS_HEALTH_URL:-http://127.0.0.1:9464/readyz}
# The password travels in the environment, never on a command line (where `ps` shows it). guest/guest is
# RabbitMQ's default account and is accepted on loopback only.
export CLOUDBUS_AMQP_URL="amqp://guest@127.0.0.1:${CLOUDBUS_AMQP_PORT:-5672}/%2F"
export CLOUDBUS_AMQP_PASSWORD=guest

say() { printf 'demo: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

pidfile() { printf '%s/%s.pid' "$data" "$1"; }
logfile() { printf '%s/%s.log' "$data" "$1"; }

# The pid in .data/NAME.pid, if that process is still ours, cloudbus-worker or cloudbus-bench (a recycled pid is left
# alone).
daemon_pid() {
    local pid
    pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
    alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq 'cloudbus-(worker|bench)' && printf '%s' "$pid"
}

spawn() {
    local name=$1
    shift
    : >"$(logfile "$name")"
    detach "$(logfile "$name")" "$@" &
    printf '%s\n' "$!" >"$(pidfile "$name")"
    say "$name started (pid $!, log $(logfile "$name"))"
}

halt() {
    local pid
    if pid=$(daemon_pid "$1"); then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 20; then
            say "$1 (pid $pid) still running 20 s after SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
        fi
        say "$1 stopped"
    fi
    rm -f "$(pidfile "$1")"
}

# The worker counts as ready once its health endpoint answers. The examples are published only then: a request
# published before the worker has declared its queue would be dropped by the exchange, so /readyz should answer
# only once the worker consumes.
await_health() {
    local deadline=$((SECONDS + 60))
    command -v curl >/dev/null || { say "curl not installed; giving the worker 5 s"; sleep 5; return 0; }
    until curl -fsS --max-time 2 -o /dev/null "$health_url" 2>/dev/null; do
        daemon_pid worker >/dev/null || { show_tails "$(logfile worker)"; die "the worker exited during start-up"; }
        ((SECONDS < deadline)) || { show_tails "$(logfile worker)"; die "the worker did not answer $health_url within 60 s"; }
        sleep 0.5
    done
    say "worker healthy ($health_url)"
}

cmd_start() {
    local bin=${1:?usage: $0 start BINARY [DEVTOOL]} message
    # The simulated agent lives in the development tool, beside the worker unless named.
    local devtool=${2:-$(dirname "$bin")/cloudbus-bench}
    [[ -x $bin ]] || die "no worker binary at $bin (make release)"
    [[ -x $devtool ]] || die "no cloudbus-bench at $devtool (make release)"
    cmd_stop
    # A failed start leaves nothing running behind it.
    trap 'status=$?; if ((status != 0)); then cmd_stop; fi' EXIT
    mkdir -p "$worker_data"

    "$bin" inventory import "$repo/examples/demo-inventory.json" --data-dir "$worker_data"
    spawn simulate-agent "$devtool" simulate-agent --port "$agent_port"
    spawn worker "$bin" run --amqp-url "$CLOUDBUS_AMQP_URL" --node-uuid "$node_uuid" --data-dir "$worker_data"
    await_health

    for message in "$repo"/examples/*.json; do
        [[ $message == */demo-inventory.json || ! -f $message ]] && continue
        printf '\n== %s → host.%s\n' "${message#"$repo"/}" "$node_uuid"
        # publish exits 0 for a successful reply, 1 for an error reply (ping-unknown-host.json expects one),
        # 2 when no reply came.
        status=0
        timeout 60 "$bin" publish --service host --node "$node_uuid" "$message" || status=$?
        case $status in
            0) ;;
            1) say "error reply for ${message#"$repo"/} (the worker refused it; see above)" ;;
            *) say "no reply for ${message#"$repo"/} (exit $status); see $(logfile worker)" ;;
        esac
    done

    cat <<EOF

The worker keeps running (node $node_uuid, broker $CLOUDBUS_AMQP_URL, guest/guest on loopback only).
  logs:     $(logfile worker), $(logfile simulate-agent)
  publish:  CLOUDBUS_AMQP_PASSWORD=guest $bin publish --service host --node $node_uuid FILE
  stop:     make stop
EOF
    trap - EXIT
}

cmd_stop() {
    halt worker
    halt simulate-agent
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
