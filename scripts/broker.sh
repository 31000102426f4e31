#!/usr/bin/env bash
# A private RabbitMQ node on 127.0.0.1 for development, tests and the demo, from Debian's rabbitmq-server
# (recipe: shared/docs/BROKER.md). The node keeps its data and logs under the checkout, binds AMQP, the Erlang
# distribution port and (when it has to start one) epmd to loopback, and coexists with any other broker on the
# machine as long as node name and ports differ.
#
#   scripts/broker.sh start      start the node unless it already runs; returns once it accepts connections
#   scripts/broker.sh wait       wait until the node is ready (CLOUDBUS_BROKER_WAIT_SECONDS, default 60)
#   scripts/broker.sh stop       stop the node; returns once its processes are gone (idempotent)
#   scripts/broker.sh restart    stop + start + wait
#   scripts/broker.sh status     print state; exit 0 running, 1 not answering, 3 stopped
#   scripts/broker.sh with CMD…  run CMD with the node up; stop it afterwards only if this call started it
#   scripts/broker.sh close-connections [REASON]   force-close every client connection (reconnect tests)
#   scripts/broker.sh memory-alarm on|off          raise a memory alarm (watermark near zero: the broker blocks every
#                                                  publishing connection) or clear it (watermark back to 0.4)
#   scripts/broker.sh add-vhost NAME | delete-vhost NAME   (add-vhost grants guest full rights on NAME)
#
# Environment: CLOUDBUS_NODE_NAME (cloudbus@localhost), CLOUDBUS_AMQP_PORT (5672), CLOUDBUS_DIST_PORT (25672),
# CLOUDBUS_BROKER_DIR (<repo>/.data/rabbitmq), CLOUDBUS_BROKER_WAIT_SECONDS (60), CLOUDBUS_BROKER_MANAGEMENT=1 for
# the management UI on 127.0.0.1:${CLOUDBUS_MANAGEMENT_PORT:-15672}, CLOUDBUS_AMQPS_PORT (5671; 0 = no TLS listener).
# A second node beside the first needs its own name and ports; it can share the directory (every file in it is named
# after the node, but for the test certificates in $dir/tls, which every node may use).
#
# TLS: the node also listens for AMQP over TLS on 127.0.0.1:$CLOUDBUS_AMQPS_PORT with a certificate for 127.0.0.1 and
# localhost from a throw-away test CA (scripts/tls-certs.sh makes them in $dir/tls); it verifies a client certificate
# when one is presented and does not require one. For the TLS tests, never for a real broker.
#
# Must run as root: Debian's rabbitmq-server and rabbitmqctl wrappers switch to the rabbitmq user themselves.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node=${CLOUDBUS_NODE_NAME:-cloudbus@localhost}
amqp_port=${CLOUDBUS_AMQP_PORT:-5672}
dist_port=${CLOUDBUS_DIST_PORT:-25672}
amqps_port=${CLOUDBUS_AMQPS_PORT:-5671}
wait_seconds=${CLOUDBUS_BROKER_WAIT_SECONDS:-60}
dir=${CLOUDBUS_BROKER_DIR:-$repo/.data/rabbitmq}
short=${node%@*}
# shellcheck source=scripts/common.sh
. "$repo/scripts/common.sh"

say() { printf 'broker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[[ $node == ?*@localhost ]] || die "CLOUDBUS_NODE_NAME must be NAME@localhost (the node is reachable on loopback only): $node"
[[ $amqp_port =~ ^[0-9]+$ && $dist_port =~ ^[0-9]+$ && $amqp_port != "$dist_port" ]] ||
    die "CLOUDBUS_AMQP_PORT ($amqp_port) and CLOUDBUS_DIST_PORT ($dist_port) must be two different port numbers"
[[ $amqps_port =~ ^[0-9]+$ && $amqps_port != "$amqp_port" && $amqps_port != "$dist_port" ]] ||
    die "CLOUDBUS_AMQPS_PORT ($amqps_port) must be 0 (no TLS listener) or a port of its own"

# Everything the node writes is named after it, so nodes may share $dir. The .pid file is where rabbitmq-server
# writes the beam's pid by default ($RABBITMQ_MNESIA_BASE/$RABBITMQ_NODENAME.pid).
beam_pidfile() { printf '%s/mnesia/%s.pid' "$dir" "$node"; }
launcher_pidfile() { printf '%s/%s.launcher.pid' "$dir" "$node"; }
server_log() { printf '%s/%s.server.log' "$dir" "$node"; }
epmd_marker() { printf '%s/%s.epmd-started' "$dir" "$node"; }

# The node's environment, passed explicitly to each rabbitmq command (never exported, so `with CMD` sees none of it).
# All configuration files point into $dir so that nothing in /etc/rabbitmq changes this node.
node_env_vars() {
    node_env=(
        RABBITMQ_NODENAME="$node" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port"
        RABBITMQ_DIST_PORT="$dist_port" RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log"
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/$node.enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/$node.conf"
        RABBITMQ_CONF_ENV_FILE="$dir/$node-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/$node.advanced.config"
        ERL_EPMD_ADDRESS=127.0.0.1
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    )
}
ctl() { node_env_vars; env "${node_env[@]}" timeout 60 rabbitmqctl -n "$node" "$@"; }

# The beam of our node: the pid rabbitmq-server wrote into our directory, if that process is still a beam.
beam_pid() {
    local pid
    pid=$(cat "$(beam_pidfile)" 2>/dev/null) || return 1
    alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == beam.smp ]] && printf '%s' "$pid"
}
launcher_pid() {
    local pid
    pid=$(cat "$(launcher_pidfile)" 2>/dev/null) && alive "$pid" && printf '%s' "$pid"
}
# grep without -q below: it reads to the end, so under pipefail the writer never dies of SIGPIPE (exit 141).
epmd_names() { epmd -names 2>/dev/null; }
registered() { epmd_names | grep "^name $short at port " >/dev/null; }
epmd_pid() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == epmd ]] && alive "${p#/proc/}" && { printf '%s' "${p#/proc/}"; return 0; }
    done
    return 1
}

lock() {
    mkdir -p "$repo/.data"
    exec 9>"$repo/.data/.broker-$node.lock"
    flock -w 180 9 || die "another scripts/broker.sh holds $repo/.data/.broker-$node.lock for over 180 s"
}
# Released before returning, so that a command run by `with` (a test that stops and starts the node) never waits on it.
unlock() { exec 9>&-; }

require_root() {
    [[ $(id -u) == 0 ]] || die "run as root (Debian's rabbitmq wrappers switch to the rabbitmq user): sudo $0 $*"
}

# The rabbitmq user must own the node's directory and be able to reach it (see owned_dir in common.sh).
prepare_dir() {
    dir=$(owned_dir rabbitmq "$dir" "$([[ -n ${CLOUDBUS_BROKER_DIR:-} ]] && echo 1 || echo 0)" cloudbus-broker) || exit 1
}

fail_with_logs() {
    say "$*"
    show_tails "$(server_log)" "$dir/log/$node.log"
    exit 1
}

cmd_wait() {
    require_root wait
    local deadline=$((SECONDS + wait_seconds)) beam launcher
    while :; do
        # The listener opens at the end of boot, after queue recovery; only then ask rabbitmqctl (about 2 s of CPU
        # per call, so it is not polled while the port is closed).
        if listening "$amqp_port" && ctl -q status >/dev/null 2>&1; then
            say "ready: $node on amqp://127.0.0.1:$amqp_port (data $dir)"
            return 0
        fi
        beam=$(beam_pid) || beam=""
        launcher=$(launcher_pid) || launcher=""
        if [[ -z $beam && -z $launcher ]]; then
            if [[ -f $(launcher_pidfile) ]]; then fail_with_logs "$node is not running: it exited"; fi
            listening "$amqp_port" || die "$node is not running; start it with: $0 start"
        fi
        ((SECONDS < deadline)) || fail_with_logs "$node was not ready after ${wait_seconds} s"
        sleep 0.25
    done
}

# Rewritten at every start from the environment: CLOUDBUS_BROKER_MANAGEMENT=1 enables the management UI, on
# 127.0.0.1:${CLOUDBUS_MANAGEMENT_PORT:-15672} (its default would be every address).
write_config() {
    local plugins=() conf="# Written by scripts/broker.sh at every start; edits are lost."
    if [[ ${CLOUDBUS_BROKER_MANAGEMENT:-0} == 1 ]]; then
        plugins=(rabbitmq_management)
        conf+=$'\n'"management.tcp.ip = 127.0.0.1"$'\n'"management.tcp.port = ${CLOUDBUS_MANAGEMENT_PORT:-15672}"
    fi
    if [[ $amqps_port != 0 ]]; then
        "$repo/scripts/tls-certs.sh" "$dir/tls"
        conf+=$'\n'"listeners.ssl.1 = 127.0.0.1:$amqps_port"
        conf+=$'\n'"ssl_options.cacertfile = $dir/tls/ca.pem"
        conf+=$'\n'"ssl_options.certfile = $dir/tls/server.pem"
        conf+=$'\n'"ssl_options.keyfile = $dir/tls/server.key"
        conf+=$'\n'"ssl_options.verify = verify_peer"
        conf+=$'\n'"ssl_options.fail_if_no_peer_cert = false"
    fi
    printf '[%s].\n' "${plugins[*]}" >"$dir/$node.enabled_plugins"
    printf '%s\n' "$conf" >"$dir/$node.conf"
}

cmd_start() {
    require_root start
    "$repo/scripts/deps.sh"
    prepare_dir
    lock
    if beam_pid >/dev/null; then
        say "$node already running (pid $(beam_pid))"
        cmd_wait
        unlock
        return 0
    fi
    if registered; then
        die "a node named $node is registered with epmd but was not started from $dir; stop it where it was started, or give this one another CLOUDBUS_NODE_NAME, CLOUDBUS_AMQP_PORT and CLOUDBUS_DIST_PORT"
    fi
    local port ports=("$amqp_port" "$dist_port")
    [[ ${CLOUDBUS_BROKER_MANAGEMENT:-0} == 1 ]] && ports+=("${CLOUDBUS_MANAGEMENT_PORT:-15672}")
    [[ $amqps_port != 0 ]] && ports+=("$amqps_port")
    for port in "${ports[@]}"; do
        listening "$port" && die "TCP port $port is already in use (see: ss -ltnp 'sport = :$port'); set CLOUDBUS_AMQP_PORT / CLOUDBUS_DIST_PORT"
    done
    # epmd outlives the nodes that start it. Remember whether it is ours, so that stop can end it again; an epmd
    # that was already running (the machine's, or another node's) is left alone.
    epmd_names >/dev/null || touch "$(epmd_marker)"
    rm -f "$(beam_pidfile)"
    write_config
    : >"$(server_log)"
    say "starting $node on 127.0.0.1:$amqp_port (distribution 127.0.0.1:$dist_port, data $dir)"
    node_env_vars
    detach "$(server_log)" env "${node_env[@]}" rabbitmq-server &
    printf '%s\n' "$!" >"$(launcher_pidfile)"
    cmd_wait
    if [[ -f $(epmd_marker) ]]; then epmd_pid >"$(epmd_marker)" || true; fi
    unlock
}

cmd_stop() {
    require_root stop
    lock
    [[ -d $dir ]] && dir=$(readlink -f "$dir")
    local beam launcher marked
    beam=$(beam_pid) || beam=""
    if [[ -n $beam ]]; then
        say "stopping $node (pid $beam)"
        # rabbitmqctl stop returns once the node has agreed to halt; the beam's exit is awaited here (given the pid
        # file, rabbitmqctl would poll it only once a second).
        ctl -q stop >/dev/null 2>&1 || say "rabbitmqctl stop failed; terminating pid $beam"
        if ! wait_gone "$beam" 15; then kill -TERM "$beam" 2>/dev/null || true; fi
        if ! wait_gone "$beam" 10; then kill -KILL "$beam" 2>/dev/null || true; wait_gone "$beam" 5 || true; fi
    elif registered; then
        die "a node named $node is registered with epmd but was not started from $dir; not stopping it"
    else
        say "$node is not running"
    fi
    # The launcher (the rabbitmq-server wrapper and su) ends with the beam; anything left in its group is a stray.
    launcher=$(launcher_pid) || launcher=""
    if [[ -n $launcher ]] && ! wait_gone "$launcher" 5; then kill -KILL -- "-$launcher" 2>/dev/null || true; fi
    rm -f "$(launcher_pidfile)" "$(beam_pidfile)"
    # End the epmd this node's start brought up, once no node is registered with it any more (epmd -kill itself
    # refuses while nodes are registered, so a node that registered meanwhile keeps it).
    marked=$(cat "$(epmd_marker)" 2>/dev/null) || marked=""
    if [[ -f $(epmd_marker) ]]; then
        if [[ -z $marked ]] || ! alive "$marked"; then
            rm -f "$(epmd_marker)"
        elif ! epmd_names | grep '^name ' >/dev/null && epmd -kill >/dev/null 2>&1; then
            wait_gone "$marked" 5 || true
            rm -f "$(epmd_marker)"
        fi
    fi
    unlock
    if listening "$amqp_port"; then die "port $amqp_port is still in use after stopping $node"; fi
    return 0
}

cmd_status() {
    require_root status
    local beam
    beam=$(beam_pid) || beam=""
    if [[ -n $beam ]] && listening "$amqp_port" && ctl -q status >/dev/null 2>&1; then
        printf '%s running: pid %s, amqp://127.0.0.1:%s, distribution 127.0.0.1:%s\n  data %s\n  logs %s, %s\n' \
            "$node" "$beam" "$amqp_port" "$dist_port" "$(readlink -f "$dir")" "$(server_log)" "$dir/log/$node.log"
        return 0
    elif [[ -n $beam ]]; then
        printf '%s: pid %s is up but does not answer yet (starting or stopping)\n' "$node" "$beam"
        return 1
    elif registered; then
        printf '%s: a node of that name runs, but not from %s\n' "$node" "$dir"
        return 1
    fi
    printf '%s stopped\n' "$node"
    return 3
}

cmd_with() {
    (($# > 0)) || die "usage: $0 with COMMAND [ARGS...]"
    local started=0
    if beam_pid >/dev/null; then cmd_wait; else cmd_start; started=1; fi
    run_then_stop_if_started "$started" "$@"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop && cmd_start ;;
    wait) cmd_wait ;;
    status) cmd_status ;;
    with) shift; cmd_with "$@" ;;
    add-vhost)
        [[ -n ${2:-} ]] || die "usage: $0 add-vhost NAME"
        ctl -q add_vhost "$2" && ctl -q set_permissions -p "$2" guest '.*' '.*' '.*' ;;
    delete-vhost)
        [[ -n ${2:-} ]] || die "usage: $0 delete-vhost NAME"
        ctl -q delete_vhost "$2" ;;
    close-connections) ctl -q close_all_connections "${2:-closed by a test}" ;;
    memory-alarm)
        case ${2:-} in
            on) ctl -q set_vm_memory_high_watermark 0.000001 ;;
            off) ctl -q set_vm_memory_high_watermark 0.4 ;;
            *) die "usage: $0 memory-alarm on|off" ;;
        esac ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
