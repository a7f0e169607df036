#!/usr/bin/env bash
# Every benchmark of bench/, one after the other, each writing its table to $OUT/<name>.txt.
# Each benchmark runs its own baseline beside it and prints ratios; nothing here compares
# against stored numbers. Usage: bench/run-all.sh [BUILD_DIR] (OUT defaults to out/bench).
# Benchmarks time the machine: run them on an otherwise idle machine.
set -euo pipefail
build=${1:-build}
out=${OUT:-out/bench}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
mkdir -p "$out"
for b in onnx_load zoo_build exec_bare_xnnpack sampler_overhead collect_throughput predict_speed \
  store_backends; do
  [[ -x "$build/bench/bench_$b" ]] || {
    echo "bench/run-all.sh: $build/bench/bench_$b is missing (build with NNJOULE_BUILD_BENCH=ON)" >&2
    exit 1
  }
done
failed=()
run() {  # run NAME COMMAND...: tee the output, keep going when one benchmark fails
  local name=$1
  shift
  echo "== $name: $*"
  if ! "$@" 2>&1 | tee "$out/$name.txt"; then
    failed+=("$name")
  fi
}
run onnx_load "$build/bench/bench_onnx_load"
run zoo_build "$py" "$here/zoo_build_compare.py" "$build"
run zoo_vs_torchvision "$py" "$here/zoo_vs_torchvision.py" "$build"
run exec_compare "$py" "$here/exec_compare.py" --build "$build"
run ort_compare "$py" "$here/ort_compare.py" --build "$build"
run sampler_overhead "$build/bench/bench_sampler_overhead"
run collect_throughput "$build/bench/bench_collect_throughput"
run predict_eval "$py" "$here/predict_eval.py" --build "$build" --out "$out/predict_eval.json"
run store_backends "$here/store_backends.sh" "$build"
if ((${#failed[@]})); then
  echo "bench/run-all.sh: failed: ${failed[*]} (see $out/)" >&2
  exit 1
fi
echo "all benchmarks done; tables in $out/"
