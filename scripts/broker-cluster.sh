#!/usr/bin/env bash
# A private three-node RabbitMQ cluster on 127.0.0.1 from Debian's rabbitmq-server (3.10), for failover tests of the
# worker: nodes cbw1@localhost, cbw2@localhost and cbw3@localhost, AMQP on 127.0.0.1:5681,5682,5683, Erlang
# distribution on 127.0.0.1:25681..25683 (AMQP port + 20000), no plugins. Same recipe as scripts/broker.sh (see
# shared/docs/BROKER.md), which it leaves alone: other node names, ports, data directory and Erlang cookie.
# Usage, as root: scripts/broker-cluster.sh COMMAND
#   start          start the nodes that are not running (all at once: from existing data each node waits for its
#                  peers), join cbw2 and cbw3 to cbw1 unless already clustered, enable all feature flags (quorum
#                  queues); returns once cluster_status shows three running nodes (idempotent)
#   stop [NODE]    stop every node (cbw3 first, cbw1 last), or one, gracefully (idempotent)
#   kill NODE      kill -9 that node's Erlang VM, a crash (NODE: 1|2|3|cbwN|cbwN@localhost)
#   restart NODE   start that node again (no-op if running); returns once it is back in the cluster
#   status         one line per node, then the cluster's running nodes; exit 0 all running, 3 all stopped, else 1
#   urls           the AMQP URLs as a comma list, as CLOUDBUS_AMQP_URLS takes them
#   with CMD…      start the cluster unless it runs, run CMD, stop the cluster again if this call started it
#   ctl NODE ARGS… rabbitmqctl ARGS against that node (with the cluster's cookie)
#
# Environment: CLOUDBUS_CLUSTER_PORTS (5681,5682,5683), CLOUDBUS_CLUSTER_DATA (<repo>/.data/rabbitmq-cluster; node N
# keeps its files in $CLOUDBUS_CLUSTER_DATA/cbwN), CLOUDBUS_CLUSTER_WAIT_SECONDS (90, per node).
#
# Cookie: the nodes and every rabbitmqctl call share one Erlang cookie, $data/.erlang.cookie (owner rabbitmq, mode
# 400), which Erlang reads from $HOME. Debian's /usr/sbin wrappers switch to rabbitmq through su/runuser, which reset
# HOME to /var/lib/rabbitmq (the machine's cookie, used by scripts/broker.sh's node), and -setcookie (even through
# -args_file) puts the cookie in the beam's /proc/PID/cmdline. So this script does what the wrappers do itself, as
# root: runuser -u rabbitmq -- env HOME=$data RABBITMQ_…=… /usr/lib/rabbitmq/bin/rabbitmq-server (or rabbitmqctl).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${CLOUDBUS_CLUSTER_DATA:-$repo/.data/rabbitmq-cluster}
wait_seconds=${CLOUDBUS_CLUSTER_WAIT_SECONDS:-90}
IFS=, read -r -a ports <<<"${CLOUDBUS_CLUSTER_PORTS:-5681,5682,5683}"
nodes=(cbw1@localhost cbw2@localhost cbw3@localhost)
# shellcheck source=scripts/common.sh
. "$repo/scripts/common.sh"

say() { printf 'broker-cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

((${#ports[@]} == 3)) || die "CLOUDBUS_CLUSTER_PORTS must list three AMQP ports: ${CLOUDBUS_CLUSTER_PORTS:-}"
for p in "${ports[@]}"; do [[ $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 35000)) || die "bad AMQP port (1..34999): $p"; done
[[ $data != *[[:space:]]* ]] || die "CLOUDBUS_CLUSTER_DATA must not contain spaces (the wrappers split it): $data"

# Per node i (0..2): its directory, ports and the pid file rabbitmq-server writes ($RABBITMQ_MNESIA_BASE/$NODE.pid).
ndir() { printf '%s/cbw%s' "$data" "$(($1 + 1))"; }
dist_port() { printf '%s' "$((ports[$1] + 20000))"; }
pidfile() { printf '%s/mnesia/%s.pid' "$(ndir "$1")" "${nodes[$1]}"; }
server_log() { printf '%s/server.log' "$(ndir "$1")"; }
# NODE given as 1|2|3, cbwN or cbwN@localhost: prints the index.
index() {
    [[ ${1:-} =~ ^(cbw)?([123])(@localhost)?$ ]] || die "unknown node '${1:-}': give 1, 2, 3 or cbwN@localhost"
    echo $((BASH_REMATCH[2] - 1))
}

# The node's environment, passed explicitly to each command; every configuration file points into the node's directory,
# so nothing in /etc/rabbitmq applies. rabbitmqctl gets a distribution port range of its own, 35781.. (its default,
# 35672..35682, is the one scripts/broker.sh's calls use).
node_env_vars() {
    local d dp args="-kernel inet_dist_use_interface {127,0,0,1}"
    d=$(ndir "$1") dp=$(dist_port "$1")
    node_env=(
        HOME="$data" ERL_CRASH_DUMP="$d/erl_crash.dump"
        RABBITMQ_NODENAME="${nodes[$1]}" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="${ports[$1]}"
        RABBITMQ_DIST_PORT="$dp" RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log"
        RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
        RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
        RABBITMQ_CTL_DIST_PORT_MIN=$((dp + 10100)) RABBITMQ_CTL_DIST_PORT_MAX=$((dp + 10110))
        ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$args" RABBITMQ_CTL_ERL_ARGS="$args"
    )
}
ctl() { # INDEX ARGS…, bounded to 60 s
    node_env_vars "$1"
    (cd "$(ndir "$1")" && timeout -k 5 60 runuser -u rabbitmq -- env "${node_env[@]}" \
        /usr/lib/rabbitmq/bin/rabbitmqctl -n "${nodes[$1]}" "${@:2}")
}

# The beam of node i: the pid in its pid file, if that process is a beam started as that node.
beam_pid() {
    local pid
    pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
    alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == beam.smp ]] &&
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -x "RABBITMQ_NODENAME=${nodes[$1]}" >/dev/null &&
        printf '%s' "$pid"
}
# members INDEX running_nodes|disk_nodes: that list from cluster_status on node INDEX, sorted, one per line.
members() {
    ctl "$1" -q cluster_status --formatter json | grep -o "\"$2\":\\[[^]]*\\]" | grep -o 'cbw[0-9]@localhost' | sort
}

# Directories owned by rabbitmq, the shared cookie (made once), configuration rewritten each time, and the lock.
prepare() {
    local i f chosen=${CLOUDBUS_CLUSTER_DATA:+1}
    data=$(owned_dir rabbitmq "$data" "${chosen:-0}" cloudbus-cluster) || exit 1
    exec 9>"$data/.lock"
    flock -w 300 9 || die "another scripts/broker-cluster.sh holds $data/.lock for over 300 s"
    f=$data/.erlang.cookie
    if [[ ! -s $f ]]; then
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$f.new")
        chown rabbitmq:rabbitmq "$f.new" && chmod 400 "$f.new" && mv "$f.new" "$f"
    fi
    for i in 0 1 2; do
        mkdir -p "$(ndir "$i")"
        printf '[].\n' >"$(ndir "$i")/enabled_plugins"
        printf 'loopback_users.guest = true\n' >"$(ndir "$i")/rabbitmq.conf" # the default: guest from 127.0.0.1 only
        chown -R rabbitmq:rabbitmq "$(ndir "$i")"
    done
}

fail_with_logs() { # INDEX MESSAGE…
    say "${@:2}"
    show_tails "$(server_log "$1")" "$(ndir "$1")/log/${nodes[$1]}.log"
    exit 1
}

# Starts node i in the background unless it runs; wait_node then waits for it.
launch() {
    local i=$1 p
    if beam_pid "$i" >/dev/null; then say "${nodes[$i]} already running (pid $(beam_pid "$i"))"; return 0; fi
    epmd -names 2>/dev/null | grep "^name ${nodes[$i]%@*} at port " >/dev/null &&
        die "a node named ${nodes[$i]} is registered with epmd but was not started from $(ndir "$i")"
    for p in "${ports[$i]}" "$(dist_port "$i")"; do
        listening "$p" && die "TCP port $p is already in use (see: ss -ltnp 'sport = :$p'); set CLOUDBUS_CLUSTER_PORTS"
    done
    rm -f "$(pidfile "$i")"
    : >"$(server_log "$i")"
    say "starting ${nodes[$i]} on 127.0.0.1:${ports[$i]} (distribution 127.0.0.1:$(dist_port "$i"), data $(ndir "$i"))"
    node_env_vars "$i"
    detach "$(server_log "$i")" runuser -u rabbitmq -- env "${node_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server &
    printf '%s\n' "$!" >"$(ndir "$i")/launcher.pid"
}

# The AMQP listener opens at the end of boot (after waiting for peers and recovering queues); only then is the CLI
# asked (each call boots an Erlang VM, so it is not polled).
wait_node() {
    local i=$1 deadline=$((SECONDS + wait_seconds)) launcher
    while ! listening "${ports[$i]}"; do
        launcher=$(cat "$(ndir "$i")/launcher.pid" 2>/dev/null) || launcher=""
        beam_pid "$i" >/dev/null || alive "$launcher" || fail_with_logs "$i" "${nodes[$i]} is not running: it exited"
        ((SECONDS < deadline)) || fail_with_logs "$i" "${nodes[$i]} not listening after ${wait_seconds} s (a node" \
            "that did not stop last waits up to 5 min for its peers; '$0 start' starts all three)"
        sleep 0.25
    done
    ctl "$i" -q await_startup --timeout "$wait_seconds" >/dev/null 2>&1 ||
        fail_with_logs "$i" "${nodes[$i]} listens on ${ports[$i]} but did not finish booting"
}

# Joins node i (1 or 2) to cbw1 unless it already is a member of cbw1's cluster.
join() {
    local i=$1 out
    members "$i" disk_nodes 2>/dev/null | grep -x "${nodes[0]}" >/dev/null && return 0
    say "joining ${nodes[$i]} to ${nodes[0]}"
    # start_app logs harmless errors (tracked connection tables of a peer still booting): shown only on failure.
    out=$({ ctl "$i" -q stop_app && ctl "$i" -q join_cluster "${nodes[0]}" && ctl "$i" -q start_app; } 2>&1) ||
        fail_with_logs "$i" "could not join ${nodes[$i]} to ${nodes[0]}: $out"
}

# Waits (30 s at most) until cluster_status on a running node lists as running exactly the nodes whose beam is up;
# leaves that list in $got.
verify() {
    local i want="" ref="" deadline=$((SECONDS + 30))
    for i in 2 1 0; do
        if beam_pid "$i" >/dev/null; then ref=$i want=${nodes[$i]}${want:+$'\n'}$want; fi
    done
    [[ -n $ref ]] || die "no node is running"
    until got=$(members "$ref" running_nodes 2>/dev/null) && [[ $got == "$want" ]]; do
        ((SECONDS < deadline)) ||
            die "cluster_status on ${nodes[$ref]} shows running: ${got//$'\n'/,}; expected: ${want//$'\n'/,}"
        sleep 1
    done
}

cmd_start() { # [INDEX]: that node (restart), or all three
    [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || die "rabbitmq-server is not installed: run scripts/deps.sh"
    prepare
    local i which=("$@")
    ((${#which[@]})) || which=(0 1 2)
    epmd -names >/dev/null 2>&1 || touch "$data/.epmd-started"
    for i in "${which[@]}"; do launch "$i"; done
    for i in "${which[@]}"; do wait_node "$i"; done
    for i in "${which[@]}"; do ((i == 0)) || join "$i"; done
    if beam_pid 0 >/dev/null; then
        ctl 0 -q enable_feature_flag all >/dev/null || die "could not enable the feature flags on ${nodes[0]}"
        ctl 0 -q list_feature_flags name state | grep -E "^quorum_queue[[:space:]]+enabled" >/dev/null ||
            die "feature flag quorum_queue is not enabled"
    fi
    verify
    (($#)) && { say "ready: ${nodes[$1]} on amqp://127.0.0.1:${ports[$1]}; running: ${got//$'\n'/,}"; return 0; }
    ctl 0 -q list_queues name >/dev/null || die "list_queues failed on ${nodes[0]}"
    say "ready: $(IFS=,; echo "${nodes[*]}") on amqp://127.0.0.1:$(IFS=,; echo "${ports[*]}")"
}

stop_node() {
    local i=$1 beam launcher
    launcher=$(cat "$(ndir "$i")/launcher.pid" 2>/dev/null) || launcher=""
    if beam=$(beam_pid "$i"); then
        say "stopping ${nodes[$i]} (pid $beam)"
        # A node still booting (waiting for its peers) would hold rabbitmqctl stop until its boot ends: SIGTERM it.
        if ! listening "${ports[$i]}"; then kill -TERM "$beam" 2>/dev/null || true
        elif ! ctl "$i" -q stop >/dev/null 2>&1; then say "rabbitmqctl stop failed on ${nodes[$i]}; terminating it"; fi
        if ! wait_gone "$beam" 30; then kill -TERM "$beam" 2>/dev/null || true; fi
        if ! wait_gone "$beam" 10; then kill -KILL "$beam" 2>/dev/null || true; wait_gone "$beam" 5 || true; fi
    else
        say "${nodes[$i]} is not running"
    fi
    # The launcher (runuser and the rabbitmq-server script) ends with the beam; what is left of its session is a stray.
    if alive "$launcher" && ! wait_gone "$launcher" 5; then kill -KILL -- "-$launcher" 2>/dev/null || true; fi
    rm -f "$(pidfile "$i")" "$(ndir "$i")/launcher.pid"
}

cmd_stop() { # [INDEX]
    [[ -d $data ]] || { say "nothing to stop: no $data"; return 0; }
    prepare
    local i
    if (($#)); then stop_node "$1"; return 0; fi
    for i in 2 1 0; do stop_node "$i"; done
    # End the epmd this script's start brought up, once no node is registered any more (epmd -kill refuses otherwise).
    if [[ -f $data/.epmd-started ]] && ! epmd -names 2>/dev/null | grep '^name ' >/dev/null; then
        epmd -kill >/dev/null 2>&1 || true
    fi
    rm -f "$data/.epmd-started"
    for i in 0 1 2; do listening "${ports[$i]}" && die "port ${ports[$i]} is still in use after the stop"; done
    return 0
}

cmd_kill() { # INDEX
    local i=$1 beam
    beam=$(beam_pid "$i") || die "${nodes[$i]} is not running"
    kill -KILL "$beam"
    wait_gone "$beam" 10 || die "pid $beam of ${nodes[$i]} survived kill -9"
    say "killed ${nodes[$i]} (pid $beam)"
}

cmd_status() {
    local i beam up=0 ref="" any=0
    for i in 0 1 2; do
        beam=$(beam_pid "$i") && any=1 || beam=""
        if [[ -n $beam ]] && listening "${ports[$i]}"; then
            printf '%s running: pid %s, amqp://127.0.0.1:%s\n' "${nodes[$i]}" "$beam" "${ports[$i]}"
            up=$((up + 1)) ref=${ref:-$i}
        elif [[ -n $beam ]]; then printf '%s starting or stopping: pid %s\n' "${nodes[$i]}" "$beam"
        else printf '%s stopped: port %s\n' "${nodes[$i]}" "${ports[$i]}"; fi
    done
    [[ -z $ref ]] || printf 'cluster running nodes (seen from %s): %s\n' "${nodes[$ref]}" \
        "$(members "$ref" running_nodes 2>/dev/null | paste -sd,)"
    if ((up == 3)); then return 0; elif ((any == 0)); then return 3; else return 1; fi
}

cmd_with() {
    (($# > 0)) || die "usage: $0 with COMMAND [ARGS...]"
    local started=0 i
    for i in 0 1 2; do beam_pid "$i" >/dev/null || started=1; done
    cmd_start
    exec 9>&-  # release the lock: the command may call this script (kill, restart) while it runs
    run_then_stop_if_started "$started" "$@"
}

[[ ! ${1:-} =~ ^(start|stop|kill|restart|status|ctl|with)$ || $(id -u) == 0 ]] ||
    die "run as root (the nodes run as the rabbitmq user): sudo $0 $*"
case ${1:-} in
    start) cmd_start ;;
    stop) if [[ -n ${2:-} ]]; then i=$(index "$2"); cmd_stop "$i"; else cmd_stop; fi ;;
    kill) i=$(index "${2:-}"); cmd_kill "$i" ;;
    restart) i=$(index "${2:-}"); cmd_start "$i" ;;
    status) cmd_status ;;
    urls) printf 'amqp://guest:guest@127.0.0.1:%s/%%2F\n' "${ports[@]}" | paste -sd, ;;
    with) shift; cmd_with "$@" ;;
    ctl) i=$(index "${2:-}"); shift 2; ctl "$i" "$@" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
