#!/usr/bin/env bash
# Installs the Debian packages cairn needs (only those missing) and configures + builds it.
# Idempotent: a second run on a ready machine installs nothing and rebuilds incrementally.
#   scripts/setup.sh            install packages, configure and build into build/
#   CAIRN_SKIP_BUILD=1 ...      install packages only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ cmake ninja-build pkg-config git
  libssl-dev zlib1g-dev libcurl4-openssl-dev libarchive-dev nlohmann-json3-dev libcli11-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  libtorch-dev python3-torch python3-numpy python3-pytest
  ceph-mon ceph-osd radosgw ceph-common awscli python3-boto3 curl wrk
  python3-importlib-metadata python3-pandas python3-jsonschema python3-platformdirs python3-schema
  python3-protobuf python3-yaml python3-attr
  slurmctld slurmd slurm-client munge haproxy iproute2 util-linux nftables
  libjs-chart.js chromium chromium-driver python3-selenium fonts-liberation
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists once, only when a package is not known yet.
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${CAIRN_SKIP_BUILD:-0}" = 1 ] && exit 0

BUILD_DIR=${CAIRN_BUILD_DIR:-build}
BUILD_TYPE=${CAIRN_BUILD_TYPE:-RelWithDebInfo}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${CAIRN_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR"
