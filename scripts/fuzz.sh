#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with ASan+UBSan) into build-fuzz/ and runs them.
#   scripts/fuzz.sh                     smoke run: every target for CAIRN_FUZZ_SECONDS (20) s
#   scripts/fuzz.sh pickle_fuzz 3600    one target for an hour (a long run)
#   scripts/fuzz.sh --campaign [RUNS] [TARGET]
#                                       every target (or one) for RUNS executions (default 10
#                                       million) on both cores, its corpus kept (merged, minimal)
#                                       under fuzz/corpus/<target>/ to commit
# New inputs go to build-fuzz/corpus-<target>/, crashes to build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN_SKIP_BUILD=1 scripts/setup.sh
B=build-fuzz
if [ ! -f $B/build.ninja ]; then
  cmake -S . -B $B -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCAIRN_BUILD_FUZZ=ON -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_BENCH=OFF >/dev/null
fi
targets=(pytorch_fuzz safetensors_fuzz pickle_fuzz codec_fuzz http_fuzz sigv4_fuzz api_json_fuzz tar_fuzz)
cmake --build $B --target "${targets[@]}"
[ -d $B/seeds/tar ] || /usr/bin/python3 fuzz/make_seeds.py $B/seeds
mkdir -p $B/artifacts

if [ "${1:-}" = "--campaign" ]; then
  runs=${2:-10000000}
  if [ $# -ge 3 ]; then targets=("$3"); fi
  jobs=$(nproc)
  for t in "${targets[@]}"; do
    seeds=$B/seeds/${t%_fuzz}
    kept=fuzz/corpus/$t
    mkdir -p $B/corpus-$t "$kept"
    echo "fuzz campaign: $t, $runs executions on $jobs workers"
    start=$(date +%s)
    # -runs counts per worker: each of the $jobs workers does its share.
    $B/fuzz/$t -runs=$((runs / jobs)) -jobs="$jobs" -workers="$jobs" -rss_limit_mb=2048 \
      -max_len=65536 -timeout=10 -artifact_prefix=$B/artifacts/ -print_final_stats=1 \
      $B/corpus-$t "$kept" "$seeds" >$B/campaign-$t.log 2>&1 || {
      tail -n 30 $B/campaign-$t.log fuzz-*.log 2>/dev/null; exit 1; }
    execs=$(cat fuzz-*.log 2>/dev/null | grep -o 'stat::number_of_executed_units: *[0-9]*' |
      awk '{s += $2} END {print s + 0}')
    rm -f fuzz-*.log
    # Keep a minimal corpus that covers what the campaign reached.
    rm -rf $B/merged-$t && mkdir -p $B/merged-$t
    $B/fuzz/$t -merge=1 $B/merged-$t "$kept" $B/corpus-$t >/dev/null 2>&1
    rm -rf "$kept" && mv $B/merged-$t "$kept"
    echo "fuzz campaign: $t: $execs executions in $(($(date +%s) - start)) s, no crash;" \
      "$(ls "$kept" | wc -l) inputs kept in $kept"
  done
  exit 0
fi

seconds=${CAIRN_FUZZ_SECONDS:-20}
if [ $# -ge 1 ]; then targets=("$1"); fi
if [ $# -ge 2 ]; then seconds=$2; fi
for t in "${targets[@]}"; do
  seeds=$B/seeds/${t%_fuzz}
  mkdir -p $B/corpus-$t
  echo "fuzz: $t for ${seconds}s"
  kept=fuzz/corpus/$t  # a campaign's corpus, when one was committed
  [ -d "$kept" ] || kept=""
  $B/fuzz/$t -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -artifact_prefix=$B/artifacts/ -print_final_stats=1 $B/corpus-$t $kept "$seeds" 2>&1 | tail -n 4
  test "${PIPESTATUS[0]}" -eq 0
done
