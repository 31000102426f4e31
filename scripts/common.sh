# shellcheck shell=bash
# Process helpers shared by broker.sh, postgres.sh and demo.sh (sourced, not run).

# A pid counts as alive unless it is gone or a zombie: PID 1 in some sandboxes never reaps orphans, and a zombie
# still answers `kill -0`.
alive() {
    local state
    [[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
}

# Waits up to $2 seconds for pid $1 to go away; fails if it is still there.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while alive "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Replaces the calling (background) subshell with a daemon: `detach LOG COMMAND...`. The daemon keeps none of our
# descriptors (no lock, no caller's pipe: make or CI would wait for that pipe to close as long as the daemon runs),
# writes to LOG, runs in / and, through setsid, in a session of its own, so a Ctrl-C in `make` does not reach it.
# Use as `(detach LOG CMD...) &` or `detach LOG CMD... &`; $! is then the daemon's pid.
detach() {
    local log=$1 fd
    shift
    for fd in "/proc/$BASHPID/fd/"*; do
        fd=${fd##*/}
        if ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    exec </dev/null >>"$log" 2>&1
    cd /
    exec setsid "$@"
}

# Prints the last lines of each non-empty file given, to stderr.
show_tails() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '--- last lines of %s\n' "$f" >&2
        tail -n 30 "$f" >&2
    done
}

# Is anything listening on TCP port $1 (any address, IPv4 or IPv6)? Read from /proc: no extra tools, no connection
# (an AMQP connection opened and dropped only to probe would log a warning on the broker).
listening() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v port=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Makes $2 a directory owned by the user $1, who must be able to reach it, and prints its resolved path. When the
# operator did not choose it ($3 = 0) and $1 cannot enter its parent (a checkout in a `mktemp -d` directory is mode
# 700), the files go to /tmp/$4-<hash of the checkout> instead, linked from $2. Callers define `say` and `die`.
owned_dir() {
    local user=$1 dir=$2 chosen=$3 fallback
    mkdir -p "$(dirname "$dir")"
    if [[ $chosen == 0 && ! -L $dir ]] && ! runuser -u "$user" -- test -x "$(dirname "$dir")"; then
        fallback=/tmp/$4-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)
        say "the $user user cannot enter $(dirname "$dir"); keeping the files in $fallback (linked from $dir)"
        if [[ -d $dir ]]; then rmdir "$dir" 2>/dev/null || die "$dir holds files the $user user cannot reach; move them away"; fi
        mkdir -p "$fallback"
        ln -sfn "$fallback" "$dir"
    fi
    dir=$(readlink -f "$dir")
    mkdir -p "$dir"
    chown "$user:$user" "$dir"
    runuser -u "$user" -- test -w "$dir" || die "the $user user cannot write $dir (check the modes of its parent directories)"
    printf '%s' "$dir"
}

# The end of every script's `with COMMAND...`: runs COMMAND and, when this call started the server ($1 = 1), stops
# it again on any exit (cmd_stop of the calling script), Ctrl-C and TERM included. Returns COMMAND's status.
run_then_stop_if_started() {
    local started=$1 rc=0
    shift
    if ((started)); then
        trap 'cmd_stop || true' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    "$@" || rc=$?
    return "$rc"
}
