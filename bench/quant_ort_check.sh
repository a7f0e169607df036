#!/usr/bin/env bash
# Checks the zoo's INT8 (QDQ) exports with ONNX Runtime: for each family, exports the float
# and the int8 model, runs both with `nnjoule run` on one fixed input, then
# bench/ort/qdq_check.js loads the int8 file in ONNX Runtime (npm onnxruntime-node), runs it
# on the same input and compares. Prints one JSON line per family and a table.
#
#   bench/quant_ort_check.sh BUILD_DIR [OUT_DIR]
#   FAMILIES="mobilenetv2 resnet18 squeezenet" RESOLUTION=224 CALIBRATION=8 (defaults)
#
# Needs node and bench/ort/node_modules (cd bench/ort && npm ci). Exits non-zero naming the
# file when ONNX Runtime rejects one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [OUT_DIR]}"
out="${2:-$(mktemp -d)}"
nnjoule="$build/nnjoule"
families="${FAMILIES:-mobilenetv2 resnet18 squeezenet}"
res="${RESOLUTION:-224}"
cal="${CALIBRATION:-8}"
[[ -x "$nnjoule" ]] || { echo "quant_ort_check: $nnjoule not built" >&2; exit 1; }
[[ -d "$here/ort/node_modules/onnxruntime-node" ]] || {
  echo "quant_ort_check: bench/ort/node_modules missing (cd bench/ort && npm ci)" >&2; exit 1; }
mkdir -p "$out"

# One fixed input: uniform [-1, 1) from Python's seeded generator, raw float32 NCHW.
python3 - "$out/input.bin" "$res" <<'PY'
import random, struct, sys
path, r = sys.argv[1], int(sys.argv[2])
g = random.Random(20261205)
n = 3 * r * r
open(path, "wb").write(struct.pack("<%df" % n, *[g.uniform(-1, 1) for _ in range(n)]))
PY

results="$out/results.jsonl"
: > "$results"
for f in $families; do
  "$nnjoule" zoo export "$f" --resolution "$res" -o "$out" > /dev/null
  "$nnjoule" zoo export "$f" --resolution "$res" --dtype int8 --calibration "$cal" -o "$out" \
    > "$out/$f-int8.export.txt"
  "$nnjoule" run "$out/$f.onnx" --input "$out/input.bin" --output "$out/$f.fp32.bin" \
    --runs 1 --warmup 0 > /dev/null
  "$nnjoule" run "$out/$f-int8.onnx" --input "$out/input.bin" --output "$out/$f.int8.bin" \
    --runs 1 --warmup 0 > /dev/null
  node "$here/ort/qdq_check.js" "$out/$f-int8.onnx" --input "$out/input.bin" \
    --nnjoule "$out/$f.int8.bin" --float "$out/$f.fp32.bin" | tee -a "$results"
done

python3 - "$results" "$out/manifest.json" "$res" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
manifest = {m["name"]: m for m in json.load(open(sys.argv[2]))["models"]}
print(f"\nresolution {sys.argv[3]}; one fixed input; ORT {rows[0]['version'] if rows else '?'}")
print(f"{'model':<34} {'ORT':>8} {'max|nnj-ort|/range':>18} {'SNR nnj vs ort':>14} "
      f"{'argmax':>6} {'SNR ort int8 vs fp32':>20} {'manifest: top1, SNR (synthetic)':>32}")
for r in rows:
    name = r["model"].split("/")[-1][:-5]
    m = manifest[name]
    for level in ("disabled", "all"):
        c = r[level]["nnjoule_vs_ort"]
        snr = "exact" if c["snr_db"] is None else f"{c['snr_db']:.1f} dB"
        print(f"{name + ' (' + level + ')':<34} {'accepted' if r['accepted'] else 'REJECTED':>8} "
              f"{c['max_diff_of_range']:>18.4f} {snr:>14} {str(c['same_argmax']):>6} "
              f"{r[level]['ort_int8_vs_float']['snr_db']:>17.1f} dB "
              f"{m['top1_agreement']:>20.3f}, {m['snr_db']:.1f} dB")
PY
