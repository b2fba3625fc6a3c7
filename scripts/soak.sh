#!/usr/bin/env bash
# Soak an endpoint: wrk at 64 connections for MINUTES (default 10) while its alias moves every
# 10 s and once a minute to a version that fails to load; prints requests, failures (0), p99 per
# minute, RSS and fds at start and end (bench/soak.py). Installs wrk if missing.
#   scripts/soak.sh [MINUTES] [--minute-seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
minutes=${1:-10}
shift || true
exec /usr/bin/python3 bench/soak.py build/cairn --minutes "$minutes" "$@"
