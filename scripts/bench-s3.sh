#!/usr/bin/env bash
# Builds cairn and runs the S3 transfer benchmark against awscli and the curl ceiling on a
# throw-away Ceph RGW (prints ratios). Extra arguments go to bench/s3_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec /usr/bin/python3 bench/s3_bench.py build/cairn "$@"
