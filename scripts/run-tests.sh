#!/usr/bin/env bash
# The test suite in two phases, with the broker already up (`make test` runs this inside `broker.sh with`):
#   1. everything except the suites named Disruptive*, in parallel;
#   2. the Disruptive* suites alone: they close every broker connection, restart the broker or kill a worker,
#      which would pull the broker out from under tests running beside them.
# Each phase is bounded by TEST_TIMEOUT so a hung test fails the run instead of stalling it.
set -euo pipefail
swift=${SWIFT:-swift}
timeout=${TEST_TIMEOUT:-40m}
# shellcheck disable=SC2086
timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} --skip Disruptive
# shellcheck disable=SC2086
timeout --kill-after=30s "$timeout" "$swift" test --skip-build ${SWIFT_FLAGS:-} --filter Disruptive
