#!/usr/bin/env bash
# HAProxy in front of endpoint instances: direct against HAProxy, two instances against one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/lb_bench.py build/cairn "$@"
