#!/usr/bin/env bash
# `make fleet` and `make fleet-stop`: three (or N) workers on one machine as one fleet, sharing the private
# PostgreSQL of scripts/postgres.sh and the broker of scripts/broker.sh, all on 127.0.0.1.
#
#   scripts/fleet.sh start BINARY [N]   import examples/demo-inventory.json into the shared store, start N workers
#                                        (default 3; node ids f1ee7…01, …02, …; data in .data/fleet/N, HTTP ports
#                                        8181, 8182, …) and wait until each is healthy and the store lists N live
#   scripts/fleet.sh stop                stop every fleet worker (SIGTERM: each announces its NodeLeft and drains)
#   scripts/fleet.sh status              the store's members (psql)
#
# Expects the broker and PostgreSQL to be up (`make fleet` starts both). Environment: FLEET_HEARTBEAT_SECONDS (5),
# FLEET_TIMEOUT_SECONDS (15), CLOUDBUS_AMQP_PORT (5672), CLOUDBUS_PG_PORT (55432).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$repo/scripts/common.sh"

data=$repo/.data/fleet
# Passwords travel in the environment, never on a command line. guest/guest and cloudbus/cloudbus are the local
# test accounts of the two servers, accepted on loopback only.
export CLOUDBUS_AMQP_URL="amqp://guest@127.0.0.1:${CLOUDBUS_AMQP_PORT:-5672}/%2F"
export CLOUDBUS_AMQP_PASSWORD=guest
export CLOUDBUS_STORE_URL="postgres://cloudbus@127.0.0.1:${CLOUDBUS_PG_PORT:-55432}/cloudbus"
export CLOUDBUS_STORE_PASSWORD=cloudbus
export CLOUDBUS_MEMBERSHIP_HEARTBEAT_SECONDS=${FLEET_HEARTBEAT_SECONDS:-5}
export CLOUDBUS_MEMBERSHIP_TIMEOUT_SECONDS=${FLEET_TIMEOUT_SECONDS:-15}

say() { printf 'fleet: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

node_of() { printf 'f1ee7000000040000000000000000%03d' "$1"; }
pidfile() { printf '%s/%s/worker.pid' "$data" "$1"; }
logfile() { printf '%s/%s/worker.log' "$data" "$1"; }

worker_pid() {
    local pid
    pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
    alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'cloudbus-worker' && printf '%s' "$pid"
}

cmd_start() {
    local bin=${1:?usage: $0 start BINARY [N]} count=${2:-3} index port deadline
    [[ -x $bin ]] || die "no worker binary at $bin (make release)"
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    cmd_stop
    trap 'status=$?; if ((status != 0)); then cmd_stop; fi' EXIT
    "$bin" inventory import "$repo/examples/demo-inventory.json"
    for ((index = 1; index <= count; index++)); do
        mkdir -p "$data/$index"
        port=$((8180 + index))
        : >"$(logfile "$index")"
        detach "$(logfile "$index")" env CLOUDBUS_ADMIN_PORT=$((9460 + index)) "$bin" run --node-uuid "$(node_of "$index")" --data-dir "$data/$index" \
            --http-host 127.0.0.1 --http-port "$port" &
        printf '%s\n' "$!" >"$(pidfile "$index")"
        say "worker $index started (node $(node_of "$index"), pid $!, /readyz and /metrics on 127.0.0.1:$((9460 + index)), log $(logfile "$index"))"
    done
    for ((index = 1; index <= count; index++)); do
        port=$((9460 + index))
        deadline=$((SECONDS + 60))
        until curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
            worker_pid "$index" >/dev/null || { show_tails "$(logfile "$index")"; die "worker $index exited during start-up"; }
            ((SECONDS < deadline)) || { show_tails "$(logfile "$index")"; die "worker $index not healthy within 60 s"; }
            sleep 0.5
        done
    done
    say "$count workers healthy; members:"
    cmd_status
    cat <<EOF

Route a request by the fleet's live ring (the store's members):
  CLOUDBUS_STORE_URL=$CLOUDBUS_STORE_URL CLOUDBUS_STORE_PASSWORD=cloudbus CLOUDBUS_AMQP_PASSWORD=guest \\
    $bin publish --resource <host uuid> --service host examples/ping-host.json
Stop one (its NodeLeft goes out at once): kill -TERM \$(cat $(pidfile 2)); kill -9 one to watch a takeover.
  stop all:  make fleet-stop
EOF
    trap - EXIT
}

cmd_stop() {
    local file index pid
    for file in "$data"/*/worker.pid; do
        [[ -f $file ]] || continue
        index=$(basename "$(dirname "$file")")
        if pid=$(worker_pid "$index"); then
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" 40 || { kill -KILL "$pid" 2>/dev/null || true; }
            say "worker $index stopped"
        fi
        rm -f "$file"
    done
}

cmd_status() {
    "$repo/scripts/postgres.sh" psql -d cloudbus -c \
        "SELECT node_uuid, state, services, now() - heartbeat_at AS silent_for, left_announced_by, drained_by FROM members ORDER BY node_uuid" \
        2>/dev/null || say "no members table yet (no worker has started against the store)"
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
