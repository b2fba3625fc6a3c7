#!/usr/bin/env bash
# Builds cairn and measures a training job's overhead around a script that does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/train_overhead.py build/cairn "$@"
