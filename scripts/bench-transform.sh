#!/usr/bin/env bash
# Builds cairn and measures batch transform throughput against a plain Python loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/transform_bench.py build/cairn "$@"
