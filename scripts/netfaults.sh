#!/usr/bin/env bash
# cairn against S3 over a bad network (issue 16, docs/cluster.md's test cluster): loss, resets, a
# 30 s partition, a slow link, and throughput at 50 ms against awscli. Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/cairn ] || scripts/setup.sh
CAIRN_NETFAULT_PARTITION_SECONDS=${CAIRN_NETFAULT_PARTITION_SECONDS:-30} \
  CAIRN_BIN=${CAIRN_BIN:-$PWD/build/cairn} exec /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
  tests/cluster/test_network_faults.py "$@"
