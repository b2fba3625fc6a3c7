#!/usr/bin/env bash
# The whole cluster suite (docs/cluster.md): a Slurm cluster of network namespaces with its own
# RGW, made and removed by the tests; ctest runs the same as test `cluster`. Root only.
#   scripts/cluster-test.sh [PYTEST ARGS...]     e.g. -k endpoints
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/cairn ] || scripts/setup.sh
CAIRN_BIN=${CAIRN_BIN:-$PWD/build/cairn} exec /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/cluster "$@"
