#!/usr/bin/env bash
# Builds cairn and runs the registry benchmark against torch.save + tar czf / tar xzf + torch.load.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/registry_bench.py build/bench/registry_bench "$@"
