#!/usr/bin/env bash
# Builds cairn and runs the weights benchmark against torch.load / torch.save (prints ratios).
# Extra arguments go to bench/weights_bench.py (e.g. --gib 2 --reps 7).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/weights_bench.py build/bench/weights_bench "$@"
