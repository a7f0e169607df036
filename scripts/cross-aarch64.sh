#!/usr/bin/env bash
# Cross-builds nnjoule for aarch64 (Linux, glibc) in DIR/build against the arm64 sysroot in
# DIR/sysroot (scripts/aarch64-sysroot.sh), warnings as errors, without the Python module and
# the benchmarks.
#   scripts/cross-aarch64.sh DIR [TARGET...]   (default target: nnjoule)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: cross-aarch64.sh DIR [TARGET...]" >&2
  exit 2
fi
# Absolute: pkg-config (libpq) puts the sysroot into include paths, which CMake wants absolute.
dir=$(realpath -m "$1")
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(nnjoule)
sysroot=$(realpath -m "${NNJOULE_AARCH64_SYSROOT:-$dir/sysroot}")
cmake -S "$src" -B "$dir/build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/toolchain-aarch64.cmake" \
  -DNNJOULE_AARCH64_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=Release -DNNJOULE_WERROR=ON \
  -DNNJOULE_PYTHON=OFF -DNNJOULE_BUILD_BENCH=OFF -DNNJOULE_BUILD_TESTS=ON
cmake --build "$dir/build" -j "$(nproc)" --target "${targets[@]}"
