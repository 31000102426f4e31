#!/usr/bin/env bash
# Counts the instructions a release worker binary executes per echo request, under callgrind (issue 15's hot path:
# BENCHMARKS.md, eighteenth session). The count is exact for a build and a load: two runs of one build differ by
# ~0.5 % at W=1 and ~1.5 % at W=100 (valgrind runs one thread at a time, so how many messages a pass handles varies),
# where CPU time on this shared VM moves by 10-20 % — so a change of a few per cent shows here and nowhere else.
#
#   scripts/count-instructions.sh BINARY              instructions per echo at WINDOW requests in flight (default 1)
#   scripts/count-instructions.sh BINARY --annotate   also the callgrind profile, by function, written to $OUT
#                                                     (default instructions.txt): inclusive costs and callers
#
# How: the bench starts the worker under `valgrind --tool=callgrind --instr-atstart=no` (a copy of the binary without
# its DWARF 5 debug info, which valgrind 3.19 cannot read; symbols stay), instrumentation is switched on after the
# warm-up for 12 s of the bench's echo load, and the total is divided by the calls of the ledger's admit (once per
# message). User-space instructions only: the kernel's share (poll, sendto, fdatasync) is not in it.
# Needs valgrind (Debian `valgrind`), a broker on CLOUDBUS_AMQP_URL (scripts/broker.sh start) and the release bench
# (.build/release/cloudbus-bench). Bounded: one bench run of at most 200 s on loopback.
set -euo pipefail

binary=${1:?usage: count-instructions.sh BINARY [--annotate]}
mode=${2:-}
window=${WINDOW:-1}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${BENCH:-$repo/.build/release/cloudbus-bench}
out=${OUT:-instructions.txt}
export CLOUDBUS_AMQP_URL=${CLOUDBUS_AMQP_URL:-amqp://guest@127.0.0.1:5672/%2F}
export CLOUDBUS_AMQP_PASSWORD=${CLOUDBUS_AMQP_PASSWORD:-guest}
command -v valgrind > /dev/null || { echo "count-instructions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
strip --strip-debug -o "$work/worker" "$binary"
cat > "$work/run-worker" <<WRAPPER
#!/usr/bin/env bash
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.%p" "$work/worker" "\$@" \
    2> "$work/valgrind.log"
WRAPPER
chmod +x "$work/run-worker"

CLOUDBUS_WORKER_BINARY=$work/run-worker timeout 200 "$bench" --rounds 1 --duration 40 --warmup 3 --windows "$window" \
    --responders worker --transient > "$work/bench.log" 2>&1 &
bench_pid=$!
for _ in $(seq 1 60); do
    sleep 1
    grep -q "warm-up" "$work/bench.log" && break
done
sleep 6
valgrind_pid=$(pgrep -n -f "callgrind.*$work/worker") || { echo "count-instructions: the worker did not start" >&2; exit 1; }
callgrind_control -i on "$valgrind_pid" > /dev/null 2>&1
sleep 12
callgrind_control -d "$valgrind_pid" > /dev/null 2>&1
callgrind_control -i off "$valgrind_pid" > /dev/null 2>&1
wait "$bench_pid" || true
dump=$(ls "$work"/callgrind.*.1 2>/dev/null | head -1)
[[ -n $dump ]] || { echo "count-instructions: no profile was dumped" >&2; exit 1; }

python3 - "$dump" "$window" <<'PY'
import re, sys
names, total, echoes, callee = {}, 0, 0, None
admit = "$s6Worker14DeliveryLedgerC5admit2id4copyAC9AdmissionOSS_AA10ParkedCopyVtF"
for line in open(sys.argv[1]):
    if line.startswith("summary:") or line.startswith("totals:"):
        total = int(line.split()[1])
    elif line.startswith(("fn=", "cfn=")):
        match = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
        if match.group(2):
            names[match.group(1)] = match.group(2)
        if line.startswith("cfn="):
            callee = names.get(match.group(1))
    elif line.startswith("calls=") and callee == admit:
        echoes += int(line[6:].split()[0])
if echoes == 0:
    sys.exit("count-instructions: no echo counted (is DeliveryLedger.admit(id:copy:) renamed?)")
print(f"{echoes} echoes at W={sys.argv[2]}: {total / echoes:,.0f} instructions per echo")
PY
if [[ $mode == --annotate ]]; then
    { callgrind_annotate --inclusive=yes "$dump"; callgrind_annotate --tree=caller "$dump"; } 2> /dev/null \
        | swift demangle --simplified > "$out"
    echo "count-instructions: profile in $out"
fi
