#!/usr/bin/python3
"""INT8 against FP32 on this CPU, and nnjoule's INT8 against ONNX Runtime's on the same QDQ
files: one table per run, every runtime interleaved round by round.

    /usr/bin/python3 bench/quant_compare.py [--build build] [--families mobilenetv2 resnet18 ...]
        [--resolution 224] [--runs 20] [--warmup 5] [--rounds 3] [--threads 1]
        [--energy] [--workdir DIR]

Needs a build with the `nnjoule` target and ONNX Runtime from npm in bench/ort
(./scripts/install-deps.sh --bench). Models come from `nnjoule zoo export` (fp32) and
`nnjoule zoo export --dtype int8` (the zoo's post-training quantizer, QDQ), so both runtimes read
the same files. Each latency is `measured (wall clock)` inside the runtime's own process
(`nnjoule run`, bench/ort/ort_run.js), the median of --runs after --warmup; a cell is the median
over --rounds rounds, the order of the runtimes rotating from round to round so that a drift of
the machine's speed hits all alike. Columns:
  int8/fp32   nnjoule's fp32 median over its int8 median (above 1: int8 is faster)
  vs ORT      ONNX Runtime's int8 median over nnjoule's int8 median (above 1: nnjoule faster)
  spread      the largest (p90 - p10) / median of the cells in the row: ratios within it are
              not distinguishable on this run
With --energy, `nnjoule measure --meter estimate` adds the energy per inference of both models:
`estimated (cpu-time model)` on a machine without a power sensor, labelled as such.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = ["mobilenetv1", "mobilenetv2", "mobilenetv3small", "shufflenetv2", "squeezenet",
           "resnet18", "resnet50", "googlenet"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"quant_compare: {' '.join(cmd)} failed ({p.returncode}): "
                 f"{p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''}")
    return p.stdout


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def spread(samples):
    s = sorted(samples)
    med = statistics.median(s)
    p10, p90 = s[int(0.1 * (len(s) - 1))], s[int(0.9 * (len(s) - 1))]
    return med, (p90 - p10) / med if med > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--families", nargs="+", default=DEFAULT)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--energy", action="store_true")
    ap.add_argument("--workdir")
    a = ap.parse_args()
    cli = os.path.join(a.build, "nnjoule")
    ort_run = os.path.join(HERE, "ort", "ort_run.js")
    if not os.access(cli, os.X_OK):
        sys.exit(f"quant_compare: {cli} not found (build the nnjoule target)")
    if not os.path.isdir(os.path.join(HERE, "ort", "node_modules", "onnxruntime-node")):
        sys.exit("quant_compare: bench/ort/node_modules/onnxruntime-node missing "
                 "(./scripts/install-deps.sh --bench)")
    work = a.workdir or tempfile.mkdtemp(prefix="nnjoule-quant-")
    os.makedirs(work, exist_ok=True)
    res = ["--resolution", str(a.resolution)]
    log(f"exporting {len(a.families)} families (fp32 and int8) to {work}")
    run([cli, "zoo", "export", *a.families, *res, "-o", work])
    run([cli, "zoo", "export", *a.families, *res, "--dtype", "int8", "-o", work])
    manifest = {m["file"]: m for m in json.load(open(os.path.join(work, "manifest.json")))["models"]}

    import random
    rng = random.Random(20261205)
    x = os.path.join(work, f"input-{a.resolution}.bin")
    import array
    array.array("f", [rng.uniform(-1, 1) for _ in range(3 * a.resolution * a.resolution)]).tofile(
        open(x, "wb"))

    def nnjoule(model):
        out = json.loads(run([cli, "run", model, "--threads", str(a.threads), "--runs",
                              str(a.runs), "--warmup", str(a.warmup), "--input", x, "--json"]))
        return out["samples_ms"]

    def ort(model):
        out = json.loads(run(["node", ort_run, model, "--threads", str(a.threads), "--runs",
                              str(a.runs), "--warmup", str(a.warmup), "--input", x]))
        return out["samples_ms"]

    kinds = [("fp32", nnjoule, ""), ("int8", nnjoule, "-int8"), ("ort-int8", ort, "-int8"),
             ("ort-fp32", ort, "")]
    rows = []
    load_before = load_average()
    for fam in a.families:
        cells = {k: [] for k, _, _ in kinds}
        spreads = []
        for r in range(a.rounds):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for kind, fn, suffix in order:
                med, sp = spread(fn(os.path.join(work, f"{fam}{suffix}.onnx")))
                cells[kind].append(med)
                spreads.append(sp)
        med = {k: statistics.median(v) for k, v in cells.items()}
        row = {"family": fam, **{f"{k}_ms": med[k] for k in med},
               "int8_speedup": med["fp32"] / med["int8"],
               "vs_ort_int8": med["ort-int8"] / med["int8"],
               "ort_int8_speedup": med["ort-fp32"] / med["ort-int8"],
               "spread": max(spreads)}
        q = manifest.get(f"{fam}-int8.onnx", {})
        row["top1_agreement"] = q.get("top1_agreement")
        row["snr_db"] = q.get("snr_db")
        if a.energy:
            for kind, suffix in (("fp32", ""), ("int8", "-int8")):
                m = json.loads(run([cli, "measure", os.path.join(work, f"{fam}{suffix}.onnx"),
                                    "--meter", "estimate", "--idle", "0", "--time-cap", "10",
                                    "--threads", str(a.threads), "--json"]))
                row[f"{kind}_mj"] = m["energy_per_inference_mj"]
        rows.append(row)
        log(f"{fam}: fp32 {med['fp32']:.2f} ms, int8 {med['int8']:.2f} ms, ORT int8 "
            f"{med['ort-int8']:.2f} ms")
    load_after = load_average()

    print(f"nnjoule int8 vs fp32 and vs ONNX Runtime int8, {a.threads} thread(s), "
          f"{a.resolution}x{a.resolution}; latency: measured (wall clock), median of {a.runs} "
          f"runs, median of {a.rounds} rounds; load average {load_before:.2f} before, "
          f"{load_after:.2f} after")
    head = ("| family | fp32 ms | int8 ms | int8/fp32 | ORT int8 ms | vs ORT | ORT fp32 ms | "
            "ORT int8/fp32 | spread | top-1 | SNR dB |")
    if a.energy:
        head += " fp32 mJ (est.) | int8 mJ (est.) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = (f"| {r['family']} | {r['fp32_ms']:.2f} | {r['int8_ms']:.2f} | "
                f"{r['int8_speedup']:.2f}x | {r['ort-int8_ms']:.2f} | {r['vs_ort_int8']:.2f}x | "
                f"{r['ort-fp32_ms']:.2f} | {r['ort_int8_speedup']:.2f}x | {r['spread']:.0%} | "
                f"{r['top1_agreement']:.3f} | {r['snr_db']:.1f} |")
        if a.energy:
            line += f" {r['fp32_mj']:.1f} | {r['int8_mj']:.1f} |"
        print(line)
    geo = statistics.geometric_mean
    print(f"geometric mean: int8/fp32 {geo([r['int8_speedup'] for r in rows]):.2f}x, "
          f"vs ORT int8 {geo([r['vs_ort_int8'] for r in rows]):.2f}x")
    with open(os.path.join(work, "quant_compare.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
