#!/usr/bin/env bash
# Fuzzes every target of fuzz/ with libFuzzer for a set time each and reports executions and
# findings. Builds its own tree with clang, ASan and UBSan (NNJOULE_FUZZ=ON).
#   bench/fuzz.sh [SECONDS_PER_TARGET (60)] [TARGET ...]
# New corpus entries go to $OUT/fuzz/corpus/<target> (out/bench by default), never into the
# repo; a crash leaves its input in $OUT/fuzz/crash-<target>-*: reproduce it with
# `build-fuzz/fuzz/fuzz_<target> FILE`, fix it, and add the input to fuzz/corpus/<target> as
# crash-<what> so the replay tests keep it.
set -euo pipefail
seconds=${1:-60}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$here/out/bench}/fuzz
build=${FUZZ_BUILD:-$here/build-fuzz}
mkdir -p "$out"
# Targets that write files (importers into a fresh dataset, bundles) sync them: on tmpfs the
# importers run ~25x faster (76 against 3 inputs/s for deepen2023).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd "$here/fuzz" && ls ./*.cpp | sed 's|^\./||; s|\.cpp$||' |
    grep -v -x -e replay -e fuzz_support)
fi
CC=clang CXX=clang++ cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNNJOULE_FUZZ=ON -DNNJOULE_BUILD_TESTS=OFF -DNNJOULE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
printf '%-14s %10s %10s %8s %8s  %s\n' target seconds execs exec/s corpus findings
status=0
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  log="$out/$t.log"
  set +e
  ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/fuzz_$t" "$corpus" "$here/fuzz/corpus/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/crash-$t-" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  n=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$out" -maxdepth 1 -name "crash-$t-*" -newer "$log" 2>/dev/null | wc -l)
  found="none"
  if [ "$rc" -ne 0 ]; then
    found="exit $rc: $(grep -m1 -E 'ERROR: |==ERROR|deadly signal|uncaught' "$log" || echo see "$log")"
    status=1
  fi
  printf '%-14s %10s %10s %8s %8s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$n" "$found"
done
exit $status
