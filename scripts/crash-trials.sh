#!/usr/bin/env bash
# Crash consistency of cairn server at length: N seeded trials (default 200) of kill -9 at a random
# moment during CreateTrainingJob, CreateEndpoint, UpdateEndpoint or DeleteEndpoint, each checked
# after a restart (tests/api/test_api_crash.py says what is checked). ctest runs 6 of them.
#   scripts/crash-trials.sh [N] [FIRST_SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export CAIRN_CRASH_TRIALS=${1:-200} CAIRN_CRASH_SEED=${2:-0} CAIRN_BIN=$PWD/build/cairn
exec /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/api/test_api_crash.py
