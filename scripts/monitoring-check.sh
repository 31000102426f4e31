#!/usr/bin/env bash
# Checks the monitoring as code in docker/ with Debian's promtool (package `prometheus`, installed by
# scripts/deps.sh), offline: nothing is scraped and no Prometheus server is started (the integration test
# PrometheusScrapeTests does that against a real worker).
#
#   scripts/monitoring-check.sh     1. promtool check config docker/prometheus/prometheus.yml (syntax; it names the
#                                      compose hosts worker-N, which need not resolve here; loads the rule files)
#                                   2. promtool check rules docker/prometheus/alerts.yml
#                                   3. promtool test rules docker/prometheus/alerts.test.yml (each alert fires on
#                                      synthetic series of a broken worker, none on a healthy one)
#                                   4. docker/grafana/cloudbus-worker.json is JSON, and every panel's query is
#                                      valid PromQL (checked as recording rules by promtool, with the dashboard
#                                      variables replaced by sample values)
#
# Environment: PROMTOOL (promtool on the PATH), PYTHON (python3, to read the dashboard's JSON).
# Exits non-zero on the first failure, with promtool's own message.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
promtool=${PROMTOOL:-promtool}
python=${PYTHON:-python3}
prometheus_dir=$repo/docker/prometheus
dashboard=$repo/docker/grafana/cloudbus-worker.json

say() { printf 'monitoring-check: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v "$promtool" >/dev/null ||
    die "$promtool not found: install Debian's prometheus package (scripts/deps.sh does)"
command -v "$python" >/dev/null || die "$python not found: it reads the dashboard's JSON"

say "$("$promtool" --version 2>&1 | head -n 1)"

say "check config docker/prometheus/prometheus.yml"
"$promtool" check config "$prometheus_dir/prometheus.yml"

say "check rules docker/prometheus/alerts.yml"
"$promtool" check rules "$prometheus_dir/alerts.yml"

# Rule files in the test file are relative to the test file's directory.
say "test rules docker/prometheus/alerts.test.yml"
(cd "$prometheus_dir" && "$promtool" test rules alerts.test.yml)

say "dashboard docker/grafana/cloudbus-worker.json: JSON and PromQL"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Every target's expr becomes a recording rule; Grafana's variables get values that keep the PromQL valid.
"$python" - "$dashboard" "$scratch/dashboard-queries.yml" <<'PY'
import json
import sys

source, output = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    dashboard = json.load(f)

def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))

substitutions = {
    "$__rate_interval": "1m", "${__rate_interval}": "1m", "$__interval": "1m", "${__interval}": "1m",
    "$__range": "1h", "${__range}": "1h", "${instance:regex}": ".*", "${instance}": ".*", "$instance": ".*",
}
queries = []
for panel in panels(dashboard.get("panels", [])):
    for query in panel.get("targets", []):
        expr = query.get("expr")
        if not expr:
            continue
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        if "$" in expr:
            sys.exit(f"panel {panel.get('title')!r}: unknown dashboard variable in {query['expr']!r}")
        queries.append((panel.get("title", "?"), expr))
if not queries:
    sys.exit(f"{source}: no panel queries found")

with open(output, "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for index, (title, expr) in enumerate(queries):
        f.write(f"      # {title}\n      - record: dashboard_query_{index}\n        expr: {json.dumps(expr)}\n")
print(f"{len(queries)} queries", file=sys.stderr)
PY
"$promtool" check rules "$scratch/dashboard-queries.yml" >/dev/null ||
    die "a dashboard query is not valid PromQL (see promtool's message above)"

say "ok"
