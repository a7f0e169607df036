#!/usr/bin/env bash
# The self-contained bundle (scripts/make-bundle.sh): made from the built CLI, started through
# its own loader with an empty environment, it prints its version, lists meters, inspects and
# runs a model it exported itself.
#   tests/install/bundle.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/make-bundle.sh" "$build/nnjoule" "$tmp/b" >/dev/null
# Nothing of the CLI's but the bundle: its libraries and loader, no PATH, no LD_LIBRARY_PATH.
for lib in "$tmp"/b/lib/*; do
  [ -f "$lib" ] || { echo "bundle: $lib is not a plain file"; exit 1; }
done
grep -q 'lib/ld-linux' "$tmp/b/nnjoule" || { echo "bundle: launcher does not use its own loader"; exit 1; }
nn() { env -i "$tmp/b/nnjoule" "$@"; }
nn --version | grep -q '^nnjoule [0-9]'
nn meters | grep -q '^estimate  found'
nn zoo export mobilenetv2 --resolution 64 -o "$tmp/m" >/dev/null
nn inspect "$tmp/m/mobilenetv2.onnx" | grep -q 'kernels from'
nn run "$tmp/m/mobilenetv2.onnx" --runs 2 --warmup 1 | grep -q 'latency_ms, measured'
echo "bundle: $(ls "$tmp/b/lib" | wc -l) libraries; version, meters, zoo export, inspect, run ran"
