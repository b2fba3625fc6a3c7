#!/usr/bin/env bash
# Builds cairn and runs the floors benchmark (issue 16, part 6): verified load against the
# SHA-256 floor and torch.load, publish of a version with 10% of its tensors changed against its
# floor. Extra arguments go to bench/floors.py (e.g. --gib 2 --reps 7).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/floors.py build/bench/floors "$@"
