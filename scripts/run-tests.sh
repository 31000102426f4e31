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
# Each run is bounded by TEST_TIMEOUT so a hung test fails the run instead of stalling it.
set -euo pipefail
swift=${SWIFT:-swift}
timeout=${TEST_TIMEOUT:-40m}
# shellcheck disable=SC2086
timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} --skip Disruptive --skip '^AllocationBudgetTests\.'

# shellcheck disable=SC2086
listed=$("$swift" test list --skip-build ${SWIFT_FLAGS:-} 2>/dev/null)
grep -q '^AllocationBudgetTests\.' <<<"$listed" || { echo "run-tests: no AllocationBudgetTests found by 'swift test list'" >&2; exit 1; }
echo "== allocation budget, alone"
# shellcheck disable=SC2086
timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} --filter '^AllocationBudgetTests\.'

suites=$(sed -n 's#^\([A-Za-z0-9_]*\.Disruptive[A-Za-z0-9_]*\)/.*#\1#p' <<<"$listed" | sort -u)
[[ -n $suites ]] || { echo "run-tests: no Disruptive suites found by 'swift test list'" >&2; exit 1; }
for suite in $suites; do
    echo "== disruptive suite $suite, alone"
    # shellcheck disable=SC2086
    timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} --filter "^$suite/"
done

soak_seconds=${CI_SOAK_SECONDS:-120}
if [[ $soak_seconds != 0 ]]; then
    echo "== soak, ${soak_seconds} s (debug build, fault every 20 s)"
    # shellcheck disable=SC2086
    bench="$("$swift" build ${SWIFT_FLAGS:-} --show-bin-path)/cloudbus-bench"
    timeout --kill-after=30s "$((soak_seconds + 300))" env CLOUDBUS_AMQP_URL="$CLOUDBUS_TEST_AMQP_URL" \
        "$bench" soak --seconds "$soak_seconds" --fault-every 20 --rate 40 --drain 120
fi
