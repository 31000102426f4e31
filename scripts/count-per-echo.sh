#!/usr/bin/env bash
# Counts, per echo request of a release worker binary, what does not move with the machine's load (issue 15's hot
# path: exact counts where CPU figures are too noisy; BENCHMARKS.md, sixteenth and seventeenth sessions):
#
#   scripts/count-per-echo.sh BINARY              the Swift runtime's reference-count operations (swift_retain,
#                                                 swift_release and the bridge-object pair), with uprobes
#   scripts/count-per-echo.sh BINARY --record     also `perf record -g` on those probes for 3 s, written as text to
#                                                 $OUT (default refcounts.txt): which value witness (initializeWithCopy
#                                                 for X, destroy for X) and which function made them
#   scripts/count-per-echo.sh BINARY --syscalls   the worker's system calls (all, and `ioctl`) and context switches
#
# Each over 4 s of the bench's echo load at WINDOW requests in flight (default 100; 1 is the latency case). The probes
# cost the worker time, and at W=100 a slower worker handles more per wake-up: there the syscall counts compare builds
# (e.g. 0.58 vs 0.44 per echo for the send queue's count), while unprobed `perf stat` gives 1.71 vs 1.46. At W=1 both
# agree.
# Needs root (uprobes), perf, a broker on CLOUDBUS_AMQP_URL (scripts/broker.sh start) and the release bench
# (.build/release/cloudbus-bench). The release build is static: its runtime symbols are local, so they are probed by
# file offset (the symbol's address less its segment's), and the echo count by a probe on DeliveryPipeline.accept.
# Bounded: one 17 s bench run on loopback; the probes are removed on exit.
set -euo pipefail

binary=${1:?usage: count-per-echo.sh BINARY [--record | --syscalls]}
mode=${2:-}
window=${WINDOW:-100}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${BENCH:-$repo/.build/release/cloudbus-bench}
out=${OUT:-refcounts.txt}
export CLOUDBUS_AMQP_URL=${CLOUDBUS_AMQP_URL:-amqp://guest@127.0.0.1:5672/%2F}
export CLOUDBUS_AMQP_PASSWORD=${CLOUDBUS_AMQP_PASSWORD:-guest}

# File offset of a local symbol: its address less the text segment's address-minus-offset (read once).
read -r text_offset text_address < <(readelf -lW "$binary" | awk '$1 == "LOAD" && / E / { print $2, $3; exit }')
symbols=$(nm "$binary")
offset() {
    local address
    address=$(grep -E " [tT] $1\$" <<< "$symbols" | head -1 | cut -d' ' -f1)
    [[ -n $address ]] || { echo "count-per-echo: no symbol matching $1 in $binary" >&2; exit 1; }
    printf '0x%x' $(( 0x$address - (text_address - text_offset) ))
}

perf probe -q -d 'probe_*:cbw*' 2>/dev/null || true
trap 'perf probe -q -d "probe_*:cbw*" 2>/dev/null || true' EXIT
accept="cbwaccept=$(offset '.s6Worker16DeliveryPipelineC6acceptyy4AMQP0B0[VC]YaF')"
if [[ $mode == --syscalls ]]; then
    perf probe -q -x "$binary" -a "$accept"
else
    perf probe -q -x "$binary" \
        -a "cbwretain=$(offset swift_retain)" -a "cbwrelease=$(offset swift_release)" \
        -a "cbwbretain=$(offset swift_bridgeObjectRetain)" -a "cbwbrelease=$(offset swift_bridgeObjectRelease)" \
        -a "$accept"
fi
group=$(perf probe -l 2>/dev/null | awk '/cbwaccept/ { split($1, a, ":"); print a[1]; exit }')
if [[ $mode == --syscalls ]]; then
    events=$group:cbwaccept,raw_syscalls:sys_enter,syscalls:sys_enter_ioctl,context-switches
else
    events=$group:cbwretain,$group:cbwrelease,$group:cbwbretain,$group:cbwbrelease,$group:cbwaccept
fi

CLOUDBUS_WORKER_BINARY=$binary timeout 120 "$bench" --rounds 1 --duration 15 --warmup 2 --windows "$window" \
    --responders worker --transient > "${TMPDIR:-/tmp}/count-per-echo-bench.log" 2>&1 &
bench_pid=$!
sleep 5
worker=$(pgrep -n -f "$binary run") || { echo "count-per-echo: the worker did not start" >&2; exit 1; }
perf stat -x, -e "$events" -p "$worker" -- sleep 4 2>&1 | awk -F, -v g="$group" -v mode="$mode" -v w="$window" '
    { n[$3] = $1 }
    END {
        a = n[g ":cbwaccept"]
        if (a == 0) { print "count-per-echo: no echo counted" > "/dev/stderr"; exit 1 }
        if (mode == "--syscalls") {
            printf "%d echoes at W=%d: per echo %.2f syscalls (%.2f ioctl), %.2f context switches\n",
                a, w, n["raw_syscalls:sys_enter"] / a, n["syscalls:sys_enter_ioctl"] / a, n["context-switches"] / a
            exit
        }
        printf "%d echoes at W=%d: per echo %.1f retain, %.1f release, %.1f bridge retain, %.1f bridge release: " \
            "%.1f in all\n", a, w, n[g ":cbwretain"] / a, n[g ":cbwrelease"] / a, n[g ":cbwbretain"] / a, n[g ":cbwbrelease"] / a,
            (n[g ":cbwretain"] + n[g ":cbwrelease"] + n[g ":cbwbretain"] + n[g ":cbwbrelease"]) / a
    }'
if [[ $mode == --record ]]; then
    data=$(mktemp)
    perf record -q -e "$events" -g -p "$worker" -o "$data" -- sleep 3
    perf script -i "$data" -F event,ip,sym 2>/dev/null | swift demangle --simplified > "$out"
    rm -f "$data"
    echo "count-per-echo: call stacks in $out"
fi
wait "$bench_pid" || true
