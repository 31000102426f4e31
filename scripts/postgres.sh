#!/usr/bin/env bash
# A private PostgreSQL 15 server on 127.0.0.1 for development and tests, from Debian's `postgresql` package: its own
# data directory and port, run as the `postgres` user, nothing of the machine's own clusters touched.
#
#   scripts/postgres.sh start      initialise the data directory on first use, start the server unless it runs;
#                                  returns once it accepts connections
#   scripts/postgres.sh stop       stop it (fast shutdown); idempotent
#   scripts/postgres.sh restart    stop + start
#   scripts/postgres.sh status     exit 0 running, 3 stopped
#   scripts/postgres.sh with CMD…  run CMD with the server up; stop it afterwards only if this call started it
#   scripts/postgres.sh psql [ARGS…]   psql as the superuser over the server's own socket
#   scripts/postgres.sh url        the store URL for the test role (no password): postgres://cloudbus@127.0.0.1:PORT/cloudbus
#
# The server listens on 127.0.0.1:$CLOUDBUS_PG_PORT (55432) and on a socket in its data directory; TCP logins need a
# password (md5: see initialise below). On first start it creates the role `cloudbus` (password `cloudbus`, or
# $CLOUDBUS_PG_PASSWORD) owning the database `cloudbus`: test material, loopback only.
#
# Environment: CLOUDBUS_PG_PORT (55432), CLOUDBUS_PG_DIR (<repo>/.data/postgres), CLOUDBUS_PG_PASSWORD (cloudbus),
# CLOUDBUS_PG_WAIT_SECONDS (60). Must run as root (the server runs as `postgres`).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${CLOUDBUS_PG_PORT:-55432}
dir=${CLOUDBUS_PG_DIR:-$repo/.data/postgres}
password=${CLOUDBUS_PG_PASSWORD:-cloudbus}
wait_seconds=${CLOUDBUS_PG_WAIT_SECONDS:-60}
# shellcheck source=scripts/common.sh
. "$repo/scripts/common.sh"

say() { printf 'postgres: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[[ $port =~ ^[0-9]+$ ]] || die "CLOUDBUS_PG_PORT must be a port number: $port"

bin() {
    local found
    found=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null) || die "PostgreSQL 15 is not installed (Debian package postgresql; scripts/deps.sh installs it)"
    printf '%s/%s' "$found" "$1"
}
# From /: the postgres user may not be allowed into the caller's directory (a `mktemp -d` checkout), and psql and
# pg_ctl say so on every call. Every path given to them is absolute.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
data() { printf '%s/data' "$dir"; }
server_log() { printf '%s/server.log' "$dir"; }

require_root() {
    [[ $(id -u) == 0 ]] || die "run as root (the server runs as the postgres user): sudo $0 $*"
}

# The postgres user must own the directory and reach it (see owned_dir in common.sh); only it may read it.
prepare_dir() {
    dir=$(owned_dir postgres "$dir" "$([[ -n ${CLOUDBUS_PG_DIR:-} ]] && echo 1 || echo 0)" cloudbus-postgres) || exit 1
    chmod 0700 "$dir"
}

lock() {
    mkdir -p "$repo/.data"
    exec 8>"$repo/.data/.postgres-$port.lock"
    flock -w 120 8 || die "another scripts/postgres.sh holds $repo/.data/.postgres-$port.lock for over 120 s"
}
unlock() { exec 8>&-; }

admin() { as_postgres "$(bin psql)" -h "$(data)" -p "$port" -U postgres -v ON_ERROR_STOP=1 -q "$@" >/dev/null; }
running() { [[ -f $(data)/postmaster.pid ]] && as_postgres "$(bin pg_ctl)" -D "$(data)" status >/dev/null 2>&1; }

# On first use: the cluster (UTF-8, md5 password logins over TCP), the test role and its database.
#
# md5, not scram-sha-256, for this test cluster only: postgres-nio computes SCRAM's 4096 PBKDF2 rounds on its event
# loop, and in the debug build the tests run (BoringSSL and swift-crypto at -O0) that takes long enough that the
# connection storm of a test run (hundreds of stores opened at once) stalls every other connection on those loops
# past the stores' 10 s bound. A production cluster keeps scram-sha-256; release builds compute it in milliseconds.
initialise() {
    [[ -f $(data)/PG_VERSION ]] && return 0
    say "initialising $(data)"
    local pwfile
    pwfile=$(mktemp "$dir/.pw.XXXXXX")
    chown postgres "$pwfile"
    printf '%s\n' "$password" >"$pwfile"
    as_postgres "$(bin initdb)" -D "$(data)" -U postgres --auth-local=peer --auth-host=md5 \
        --encoding=UTF8 --locale=C.UTF-8 --pwfile="$pwfile" >"$dir/initdb.log" 2>&1 ||
        { rm -f "$pwfile"; show_tails "$dir/initdb.log"; die "initdb failed"; }
    rm -f "$pwfile"
    # Only loopback TCP and the socket in the data directory; nothing from /etc/postgresql applies to this cluster.
    cat >>"$(data)/postgresql.conf" <<EOF
# Written by scripts/postgres.sh.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$(data)'
max_connections = 200
fsync = on
password_encryption = md5
EOF
    first_start=1
}

cmd_wait() {
    local deadline=$((SECONDS + wait_seconds))
    until as_postgres "$(bin pg_isready)" -q -h 127.0.0.1 -p "$port"; do
        ((SECONDS < deadline)) || { show_tails "$(server_log)"; die "not ready after $wait_seconds s"; }
        sleep 0.2
    done
}

cmd_start() {
    require_root start
    "$repo/scripts/deps.sh"
    prepare_dir
    lock
    first_start=0
    initialise
    if running; then
        say "already running on 127.0.0.1:$port (data $(data))"
        cmd_wait
        unlock
        return 0
    fi
    listening "$port" && die "TCP port $port is already in use (see: ss -ltnp 'sport = :$port'); set CLOUDBUS_PG_PORT"
    say "starting on 127.0.0.1:$port (data $(data))"
    # 8>&-: the server must not inherit the lock (it would hold it for as long as it runs).
    as_postgres "$(bin pg_ctl)" -D "$(data)" -l "$(server_log)" -o "-p $port" -w -t "$wait_seconds" start >/dev/null 8>&- ||
        { show_tails "$(server_log)"; die "the server did not start"; }
    cmd_wait
    if ((first_start)); then
        # Two statements, two calls: CREATE DATABASE cannot run inside the transaction one -c with both would open.
        admin -c "CREATE ROLE cloudbus LOGIN PASSWORD '${password//\'/\'\'}'"
        admin -c "CREATE DATABASE cloudbus OWNER cloudbus"
        say "created role and database cloudbus"
    fi
    say "ready: postgres://cloudbus@127.0.0.1:$port/cloudbus"
    unlock
}

cmd_stop() {
    require_root stop
    [[ -d $dir ]] || { say "not running"; return 0; }
    dir=$(readlink -f "$dir")
    lock
    if running; then
        say "stopping (data $(data))"
        as_postgres "$(bin pg_ctl)" -D "$(data)" -m fast -w -t 30 stop >/dev/null || say "pg_ctl stop failed"
    else
        say "not running"
    fi
    unlock
    if listening "$port" && ! running; then die "port $port is still in use after stopping"; fi
    return 0
}

cmd_status() {
    require_root status
    [[ -d $dir ]] && dir=$(readlink -f "$dir")
    if [[ -d $dir ]] && running; then
        printf 'running on 127.0.0.1:%s, data %s, log %s\n' "$port" "$(data)" "$(server_log)"
        return 0
    fi
    printf 'stopped\n'
    return 3
}

cmd_with() {
    (($# > 0)) || die "usage: $0 with COMMAND [ARGS...]"
    local started=0
    prepare_dir
    if running; then cmd_wait; else cmd_start; started=1; fi
    run_then_stop_if_started "$started" "$@"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop; cmd_start ;;
status) cmd_status ;;
wait) cmd_wait ;;
with) shift; cmd_with "$@" ;;
psql) shift; require_root psql; prepare_dir; as_postgres "$(bin psql)" -h "$(data)" -p "$port" -U postgres "$@" ;;
url) printf 'postgres://cloudbus@127.0.0.1:%s/cloudbus\n' "$port" ;;
*) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
