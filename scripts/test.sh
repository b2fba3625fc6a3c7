#!/usr/bin/env bash
# Sets everything up and runs all of cairn's tests:
#   1. the release build's unit and interop tests (real PyTorch),
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. a short smoke run of every libFuzzer target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j2
scripts/sanitize.sh
CAIRN_FUZZ_SECONDS=${CAIRN_FUZZ_SECONDS:-10} scripts/fuzz.sh
echo "all tests passed"
