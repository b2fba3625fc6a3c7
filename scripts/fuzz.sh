#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with ASan+UBSan) into build-fuzz/ and runs them.
#   scripts/fuzz.sh                     smoke run: every target for CAIRN_FUZZ_SECONDS (20) s
#   scripts/fuzz.sh pickle_fuzz 3600    one target for an hour (a long run)
# New inputs go to build-fuzz/corpus-<target>/, crashes to build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN_SKIP_BUILD=1 scripts/setup.sh
B=build-fuzz
if [ ! -f $B/build.ninja ]; then
  cmake -S . -B $B -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCAIRN_BUILD_FUZZ=ON -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_BENCH=OFF >/dev/null
fi
cmake --build $B --target pytorch_fuzz safetensors_fuzz pickle_fuzz codec_fuzz http_fuzz
[ -d $B/seeds/http ] || /usr/bin/python3 fuzz/make_seeds.py $B/seeds
mkdir -p $B/artifacts

targets=(pytorch_fuzz safetensors_fuzz pickle_fuzz codec_fuzz http_fuzz)
seconds=${CAIRN_FUZZ_SECONDS:-20}
if [ $# -ge 1 ]; then targets=("$1"); fi
if [ $# -ge 2 ]; then seconds=$2; fi
for t in "${targets[@]}"; do
  seeds=$B/seeds/${t%_fuzz}
  mkdir -p $B/corpus-$t
  echo "fuzz: $t for ${seconds}s"
  $B/fuzz/$t -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -artifact_prefix=$B/artifacts/ -print_final_stats=1 $B/corpus-$t "$seeds" 2>&1 | tail -n 4
  test "${PIPESTATUS[0]}" -eq 0
done
