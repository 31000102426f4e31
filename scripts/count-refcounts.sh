#!/usr/bin/env bash
# Counts the Swift runtime's reference-count operations per echo request of a release worker binary, with uprobes
# (issue 15's hot path: exact counts where CPU figures are too noisy; BENCHMARKS.md, sixteenth session).
#
#   scripts/count-refcounts.sh BINARY            per echo: swift_retain, swift_release and the bridge-object pair,
#                                                counted over 4 s of the bench's W=100 echo load
#   scripts/count-refcounts.sh BINARY --record   also `perf record -g` on the probes for 3 s, written as text to
#                                                $OUT (default refcounts.txt): which value witness (initializeWithCopy
#                                                for X, destroy for X) and which function made them
#
# Needs root (uprobes), perf, a broker on CLOUDBUS_AMQP_URL (scripts/broker.sh start) and the release bench
# (.build/release/cloudbus-bench). The release build is static: its runtime symbols are local, so they are probed by
# file offset (the symbol's address less its segment's), and the echo count by a probe on DeliveryPipeline.accept.
# Bounded: one 17 s bench run on loopback; the probes are removed on exit.
set -euo pipefail

binary=${1:?usage: count-refcounts.sh BINARY [--record]}
record=${2:-}
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
    [[ -n $address ]] || { echo "count-refcounts: no symbol matching $1 in $binary" >&2; exit 1; }
    printf '0x%x' $(( 0x$address - (text_address - text_offset) ))
}

perf probe -q -d 'probe_*:cbw*' 2>/dev/null || true
trap 'perf probe -q -d "probe_*:cbw*" 2>/dev/null || true' EXIT
perf probe -q -x "$binary" \
    -a "cbwretain=$(offset swift_retain)" -a "cbwrelease=$(offset swift_release)" \
    -a "cbwbretain=$(offset swift_bridgeObjectRetain)" -a "cbwbrelease=$(offset swift_bridgeObjectRelease)" \
    -a "cbwaccept=$(offset '.s6Worker16DeliveryPipelineC6acceptyy4AMQP0B0[VC]YaF')"
group=$(perf probe -l 2>/dev/null | awk '/cbwaccept/ { split($1, a, ":"); print a[1]; exit }')
events=$group:cbwretain,$group:cbwrelease,$group:cbwbretain,$group:cbwbrelease,$group:cbwaccept

CLOUDBUS_WORKER_BINARY=$binary timeout 120 "$bench" --rounds 1 --duration 15 --warmup 2 --windows 100 \
    --responders worker --transient > "${TMPDIR:-/tmp}/count-refcounts-bench.log" 2>&1 &
bench_pid=$!
sleep 5
worker=$(pgrep -n -f "$binary run") || { echo "count-refcounts: the worker did not start" >&2; exit 1; }
perf stat -x, -e "$events" -p "$worker" -- sleep 4 2>&1 | awk -F, -v g="$group" '
    { n[$3] = $1 }
    END {
        a = n[g ":cbwaccept"]
        if (a == 0) { print "count-refcounts: no echo counted" > "/dev/stderr"; exit 1 }
        printf "%d echoes: per echo %.1f retain, %.1f release, %.1f bridge retain, %.1f bridge release: %.1f in all\n",
            a, n[g ":cbwretain"] / a, n[g ":cbwrelease"] / a, n[g ":cbwbretain"] / a, n[g ":cbwbrelease"] / a,
            (n[g ":cbwretain"] + n[g ":cbwrelease"] + n[g ":cbwbretain"] + n[g ":cbwbrelease"]) / a
    }'
if [[ $record == --record ]]; then
    data=$(mktemp)
    perf record -q -e "$events" -g -p "$worker" -o "$data" -- sleep 3
    perf script -i "$data" -F event,ip,sym 2>/dev/null | swift demangle --simplified > "$out"
    rm -f "$data"
    echo "count-refcounts: call stacks in $out"
fi
wait "$bench_pid" || true
