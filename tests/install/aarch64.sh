#!/usr/bin/env bash
# nnjoule on aarch64 under qemu-user, from this x86-64 machine: cross-builds the CLI and the test
# binaries against the arm64 sysroot (scripts/aarch64-sysroot.sh), runs the named subset of the
# suite (tests/install/aarch64-subset.txt) under qemu-aarch64, then bundles the CLI
# (scripts/make-bundle.sh) and runs the bundle under qemu-aarch64 with no sysroot: nothing of
# the arm64 world but the bundle's own files.
#   tests/install/aarch64.sh SOURCE_DIR AARCH64_DIR   (AARCH64_DIR holds sysroot/ and build/)
# Exits 77 (skipped) when the cross tools or the sysroot are missing.
set -euo pipefail
src=$(cd "$1" && pwd)
dir=$2
sysroot=${NNJOULE_AARCH64_SYSROOT:-$dir/sysroot}
xbuild=$dir/build
missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(crossbuild-essential-arm64)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e "$sysroot/usr/lib/aarch64-linux-gnu/libXNNPACK.so" ] || missing+=("an arm64 sysroot in $sysroot")
if [ ${#missing[@]} -gt 0 ]; then
  echo "aarch64: skipped: missing ${missing[*]} (scripts/install-deps.sh --aarch64 installs them)"
  exit 77
fi
qemu=$(command -v qemu-aarch64)
jobs=$(nproc)
started=$SECONDS
elapsed() { echo "$((SECONDS - $1)) s"; }

# Build: the CLI and the test binaries the subset names, warnings as errors.
subset=$src/tests/install/aarch64-subset.txt
mapfile -t lines < <(grep -v '^\s*\(#\|$\)' "$subset")
mapfile -t binaries < <(printf '%s\n' "${lines[@]}" | awk '{print $1}' | sort -u)
t=$SECONDS
mkdir -p "$xbuild"
if ! "$src/scripts/cross-aarch64.sh" "$dir" nnjoule "${binaries[@]}" >"$xbuild/aarch64-build.log" 2>&1; then
  tail -40 "$xbuild/aarch64-build.log"
  echo "aarch64: the cross build failed (log: $xbuild/aarch64-build.log)"
  exit 1
fi
build_time=$(elapsed "$t")
readelf -h "$xbuild/nnjoule" | grep -q 'Machine: *AArch64' || { echo "aarch64: $xbuild/nnjoule is not an aarch64 binary"; exit 1; }

# The subset, $jobs lines at a time, each under qemu-aarch64 -L SYSROOT; the CLI the tests start
# runs under the same emulator (NNJOULE_TEST_EMULATOR).
logs=$xbuild/aarch64-tests
rm -rf "$logs"
mkdir -p "$logs"
export NNJOULE_TEST_EMULATOR="$qemu -L $sysroot"
run_line() {
  local n=$1 bin=$2 filter=$3 t0=$SECONDS rc=0
  "$qemu" -L "$sysroot" "$xbuild/tests/$bin" --gtest_filter="$filter" --gtest_brief=1 \
    >"$logs/$n.log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - t0))" >"$logs/$n.rc"
}
t=$SECONDS
n=0
for line in "${lines[@]}"; do
  read -r bin filter <<<"$line"
  n=$((n + 1))
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_line "$n" "$bin" "$filter" &
done
wait
tests_time=$(elapsed "$t")
failed=0
total=0
printf '%-14s %7s %6s  %s\n' binary tests time filter
for i in $(seq 1 "$n"); do
  read -r bin filter <<<"${lines[$((i - 1))]}"
  read -r rc secs <"$logs/$i.rc"
  ran=$(sed -n 's/.*\[==========\] \([0-9]*\) tests\? from .* ran.*/\1/p' "$logs/$i.log" | tail -1)
  total=$((total + ${ran:-0}))
  printf '%-14s %7s %5ss  %s\n' "$bin" "${ran:-?}" "$secs" "$filter"
  if [ "$rc" != 0 ] || [ -z "$ran" ] || [ "$ran" = 0 ]; then
    failed=1
    grep -E 'Failure|FAILED|Error|error' "$logs/$i.log" | head -30
    echo "aarch64: $bin ($filter) failed (exit $rc; log: $logs/$i.log)"
  fi
done
[ "$failed" = 0 ] || exit 1

# The bundle, under qemu-aarch64 without -L: its loader, its libraries, nothing else.
t=$SECONDS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/make-bundle.sh" "$xbuild/nnjoule" "$tmp/b" "$sysroot/lib/aarch64-linux-gnu" \
  "$sysroot/usr/lib/aarch64-linux-gnu" >/dev/null
nn() { env -i NNJOULE_EMULATOR="$qemu" TMPDIR="$tmp" "$tmp/b/nnjoule" "$@"; }
check() {  # check WHAT PATTERN OUTPUT
  grep -q -- "$2" <<<"$3" || { echo "$3" | tail -20; echo "aarch64: bundle: $1: no '$2' in its output"; exit 1; }
}
check "--version" '^nnjoule [0-9]' "$(nn --version)"
check meters '^estimate  found' "$(nn meters)"
nn zoo export mobilenetv2 --resolution 64 -o "$tmp/m" >/dev/null
check inspect 'kernels from' "$(nn inspect "$tmp/m/mobilenetv2.onnx")"
check run 'latency_ms, measured' "$(nn run "$tmp/m/mobilenetv2.onnx" --runs 2 --warmup 1)"
check "collect kernels" '12 measured' "$(nn collect kernels --db "$tmp/k.db" --count 12 --floor 2 \
  --kernels conv-bn-relu,dwconv-bn-relu,fc --profile quick --idle 0 --no-host-reference)"
check train 'wrote predictor bundle' "$(nn train --db "$tmp/k.db" -o "$tmp/p" --cv-folds 0 --jobs 1)"
check predict 'predicted (p)' "$(nn predict "$tmp/m/mobilenetv2.onnx" --predictor "$tmp/p")"
bundle_time=$(elapsed "$t")
echo "aarch64: cross build $build_time; $total tests in $n lines under qemu-aarch64 -L sysroot, $tests_time ($jobs at a time); bundle ($(ls "$tmp/b/lib" | wc -l) libraries) without a sysroot: version, meters, zoo export, inspect, run, collect, train, predict, $bundle_time; in all $(elapsed "$started")"
