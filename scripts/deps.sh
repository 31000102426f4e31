#!/usr/bin/env bash
# Installs what building, testing and running need, and only what is missing, so that it is cheap to call from every
# make target and from a fresh machine alike (CI installs nothing by hand).
#
#   scripts/deps.sh           Debian packages: librabbitmq-dev (rabbitmq-c headers and library), rabbitmq-server,
#                             zlib1g-dev (compressed bodies), openssl (test certificates for the TLS listener),
#                             postgresql (the shared store of a fleet; scripts/postgres.sh runs a private server),
#                             prometheus (promtool for scripts/monitoring-check.sh, and the server the Prometheus
#                             scrape test starts on a free loopback port; the package's own service is not used)
#   scripts/deps.sh --bench   also pika 1.4.4 for the reference peer in ../shared/bench; prints the Python
#                             interpreter that has it on stdout (everything else goes to stderr)
#
# Environment: PYTHON (python3) is the interpreter tried first for pika. Where pip may not install into it
# (a Debian system Python is "externally managed"), pika goes into a venv at .data/bench-venv instead.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
packages=(librabbitmq-dev rabbitmq-server zlib1g-dev openssl postgresql prometheus)
pika_version=1.4.4

say() { printf 'deps: %s\n' "$*" >&2; }

installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || { say "missing ${missing[*]} and not root; install them as root"; exit 1; }
        sudo=(sudo)
    fi
    say "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

[[ ${1:-} == --bench ]] || exit 0

has_pika() { "$1" -c "import sys, pika; sys.exit(pika.__version__ != '$pika_version')" 2>/dev/null; }

python=${PYTHON:-python3}
venv=$repo/.data/bench-venv
if has_pika "$python"; then
    command -v "$python"
elif [[ -x $venv/bin/python ]] && has_pika "$venv/bin/python"; then
    printf '%s\n' "$venv/bin/python"
elif say "installing pika==$pika_version for $python" && "$python" -m pip install -q "pika==$pika_version" >&2; then
    command -v "$python"
else
    say "pip would not install into $python; using a venv at $venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q "pika==$pika_version" >&2
    printf '%s\n' "$venv/bin/python"
fi
