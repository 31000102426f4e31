#!/usr/bin/env bash
# The test suite in phases, with the broker already up (`make test` runs this inside `broker.sh with`):
#   1. everything except the suites named Disruptive* and the allocation budget, in parallel;
#   1b. the allocation budget (AllocationBudgetTests) alone: it counts the release worker's allocations per echo
#      (CLOUDBUS_ALLOC_WORKER_BINARY, CLOUDBUS_MALLOC_COUNTER_LIB), and neighbours' load would change how the worker
#      batches, hence the count;
#   2. each Disruptive* suite alone, one after the other: they close every broker connection, restart the broker
#      or kill a worker, which would pull the broker out from under any test running beside them — including
#      another disruptive suite — or broadcast events that change every worker on the broker (membership,
#      global-config updates);
#   3. the short soak (docs/soak.md): CI_SOAK_SECONDS (120) of mixed load on the debug build with a fault every 20 s;
#      it fails the run when a confirmed request goes unanswered or an announcement is lost. 0 skips it.
# Each run is bounded by TEST_TIMEOUT so a hung test fails the run instead of stalling it. A failing phase does not stop
# the ones after it (one CI run reports every failure it can); the run fails at the end, and its last lines repeat each
# failed phase's failure lines — the place a reader of a long log's tail looks first.
set -euo pipefail
swift=${SWIFT:-swift}
timeout=${TEST_TIMEOUT:-40m}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()

# Runs one phase (`phase NAME COMMAND...`), its output shown as it comes and kept; a failure is remembered with the
# lines that say what failed (Swift Testing's ✘ lines, XCTest's failures, a crash, the soak's verdict).
phase() {
    local name=$1 status=0
    shift
    "$@" 2>&1 | tee "$logs/phase.log" || status=$?
    if ((status != 0)); then
        failed+=("$name (exit $status)")
        {
            echo "== failed: $name (exit $status)"
            grep -E '^✘|error: |Test Case .* failed|Fatal error|fatalError|Crash|FAIL' "$logs/phase.log" | head -n 60 || true
            if ((status == 124 || status == 137)); then
                echo "timed out; tests started and never ended (none listed: not a test phase, or none under way):"
                comm -23 <(sed -n 's/^◇ Test "\(.*\)" started\.$/\1/p' "$logs/phase.log" | sort -u) \
                    <(sed -n 's/^[✔✘] Test "\(.*\)" \(passed\|failed\).*/\1/p' "$logs/phase.log" | sort -u) | head -n 20
            fi
        } >> "$logs/summary"
    fi
}

# shellcheck disable=SC2086
phase "parallel tests" timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} \
    --skip Disruptive --skip '^AllocationBudgetTests\.'

# shellcheck disable=SC2086
listed=$("$swift" test list --skip-build ${SWIFT_FLAGS:-} 2>/dev/null)
grep -q '^AllocationBudgetTests\.' <<<"$listed" || { echo "run-tests: no AllocationBudgetTests found by 'swift test list'" >&2; exit 1; }
echo "== allocation budget, alone"
# shellcheck disable=SC2086
phase "allocation budget" timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} \
    --filter '^AllocationBudgetTests\.'

suites=$(sed -n 's#^\([A-Za-z0-9_]*\.Disruptive[A-Za-z0-9_]*\)/.*#\1#p' <<<"$listed" | sort -u)
[[ -n $suites ]] || { echo "run-tests: no Disruptive suites found by 'swift test list'" >&2; exit 1; }
for suite in $suites; do
    echo "== disruptive suite $suite, alone"
    # shellcheck disable=SC2086
    phase "$suite" timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} --filter "^$suite/"
done

soak_seconds=${CI_SOAK_SECONDS:-120}
if [[ $soak_seconds != 0 ]]; then
    echo "== soak, ${soak_seconds} s (debug build, fault every 20 s)"
    # shellcheck disable=SC2086
    bench="$("$swift" build ${SWIFT_FLAGS:-} --show-bin-path)/cloudbus-bench"
    phase "soak" timeout --kill-after=30s "$((soak_seconds + 300))" env CLOUDBUS_AMQP_URL="$CLOUDBUS_TEST_AMQP_URL" \
        "$bench" soak --seconds "$soak_seconds" --fault-every 20 --rate 40 --drain 120
fi

if ((${#failed[@]} > 0)); then
    echo
    echo "== run-tests: ${#failed[@]} phase(s) failed, with what they said of it:"
    cat "$logs/summary"
    exit 1
fi
echo "== run-tests: every phase passed"
