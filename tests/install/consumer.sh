#!/usr/bin/env bash
# nnjoule as a consumer gets it: installed into a fresh prefix, examples/ built against it with
# find_package(nnjoule) and again with pkg-config alone, a predictor bundle made with the
# installed CLI, and the example run: a measured (or labelled estimated) window, a prediction.
#   tests/install/consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  >"$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/ex" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }

pcdir=$(dirname "$(find "$prefix" -name nnjoule.pc)")
# shellcheck disable=SC2046
c++ -O1 "$src/examples/energy_window.cpp" -o "$tmp/energy_window_pc" \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs nnjoule)

nn=$prefix/bin/nnjoule
"$nn" collect kernels --db "$tmp/d.db" --kernels conv-bn-relu,dwconv-bn-relu,fc --count 12 \
  --floor 4 --profile quick --idle 0 --meter estimate --prior-variants 0 >/dev/null 2>"$tmp/collect.log" ||
  { cat "$tmp/collect.log"; exit 1; }
"$nn" train --db "$tmp/d.db" --out "$tmp/bundle" --min-samples 3 --cv-folds 0 >/dev/null \
  2>"$tmp/train.log" || { cat "$tmp/train.log"; exit 1; }

out=$("$tmp/ex/energy_window" "$tmp/bundle")
echo "$out"
grep -Eq '^20 inferences of mobilenetv2: .* mJ, .* mW \[(measured|estimated) \(' <<<"$out"
grep -Eq '^one inference, predicted \(bundle\): [0-9.]+ mJ, [0-9.]+ ms over [0-9]+ kernels' <<<"$out"
out=$("$tmp/energy_window_pc")
echo "$out"
grep -q 'no predictor bundle given: nothing predicted' <<<"$out"

# The Python module, where this build has it: imported from the prefix alone, outside the tree.
pydir=$(find "$prefix" -path '*dist-packages/nnjoule' -type d | head -1)
if [ -d "$build/python/nnjoule" ]; then
  [ -n "$pydir" ] || { echo "the build has the Python module but it was not installed"; exit 1; }
  out=$(cd "$tmp" && PYTHONPATH=$(dirname "$pydir") /usr/bin/python3 \
    "$src/examples/energy_window.py" "$tmp/bundle" "$tmp/d.db")
  echo "$out"
  grep -q "^imported from $pydir" <<<"$(cd "$tmp" && PYTHONPATH=$(dirname "$pydir") \
    /usr/bin/python3 -c 'import nnjoule; print("imported from", nnjoule.__path__[0])')"
  grep -Eq '^measured: [0-9.]+ mJ per inference .*\[(measured|estimated) \(' <<<"$out"
  grep -Eq '^predicted: [0-9.]+ mJ, [0-9.]+ ms over [0-9]+ kernels .*\[predicted \(bundle\)\]' <<<"$out"
  grep -q '^dataset: 12 kernel measurements' <<<"$out"
fi
echo "installed package: find_package and pkg-config consumers built and ran"
