#!/usr/bin/env bash
# Sets everything up and runs all of cairn's tests:
#   1. the release build's unit and interop tests (real PyTorch), and every fuzz target over every
#      input its campaigns kept (fuzz/corpus/, the fuzz_replay_* tests),
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer.
# Fuzzing itself (libFuzzer, clang) is scripts/fuzz.sh: smoke runs and campaigns, not run here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j2
scripts/sanitize.sh
echo "all tests passed"
