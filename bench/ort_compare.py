#!/usr/bin/python3
"""nnjoule's engine against ONNX Runtime (the official CPU build, npm `onnxruntime-node`) on the
same torchvision ONNX files with the same input: output agreement and latency ratio, 1 and 2
threads, the two runtimes interleaved round by round in one run.

    /usr/bin/python3 bench/ort_compare.py [--build build] [--runs 20] [--warmup 5] [--rounds 3]
        [--threads 1 2] [--models resnet18 ...] [--workdir DIR] [--profile] [--no-layers]

Needs python3-torch, python3-torchvision (./scripts/install-deps.sh --bench, which also runs
`npm ci --ignore-scripts` in bench/ort) and a build with the `nnjoule` target.

Agreement is max |a - b| / max |b| over the output (the metric of the engine tests), nnjoule
after three runs on one input against ONNX Runtime, and both against PyTorch. The ratio
is ONNX Runtime's median latency over nnjoule's: above 1, nnjoule is faster. Each latency is
`measured (wall clock)` inside the runtime's own process, after its warm-up runs; the order of
the two runtimes alternates from round to round so that a drift of the machine's speed hits
both alike. The spread column is the larger of the two (p90 - p10) / median: cells whose ratio
lies within it are not distinguishable on this run. With --profile, ONNX Runtime's per-node
trace and nnjoule's per-kernel breakdown are written to the work directory. A second table
sets the convolutions of ResNet-18 and ResNet-50 side by side by layer shape, from ONNX
Runtime's profiler and nnjoule's per-kernel times inside the whole model: the micro-kernels'
own throughput.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export_torchvision import MODELS, build  # noqa: E402

SHORT = {
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_small": "MobileNetV3-Small",
    "shufflenet_v2_x1_0": "ShuffleNetV2",
    "squeezenet1_0": "SqueezeNet",
    "googlenet": "GoogLeNet",
    "densenet121": "DenseNet-121",
}
BARE = {"resnet18": "resnet18", "mobilenet_v2": "mobilenetv2"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def rel_diff(a, b):
    import numpy as np

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"ort_compare: {' '.join(cmd)} failed: {p.stderr.strip()}")
    return json.loads(p.stdout)


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def spread(xs):
    return (quantile(xs, 0.9) - quantile(xs, 0.1)) / statistics.median(xs)


def conv_classes(path):
    """Conv node name -> (class label, FLOPs) from the ONNX file (shapes inferred)."""
    import onnx
    from onnx import shape_inference

    m = shape_inference.infer_shapes(onnx.load(path))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
    inits = {t.name: list(t.dims) for t in m.graph.initializer}
    out = {}
    for n in m.graph.node:
        if n.op_type != "Conv":
            continue
        w = inits[n.input[1]]
        y = shapes[n.output[0]]
        flops = 2.0 * y[1] * y[2] * y[3] * w[1] * w[2] * w[3]
        out[n.name] = (layer_label(w, y), flops)
    return out


def layer_label(w, y):
    cout, cin_g, kh, kw = w
    return f"{kh}x{kw} {cin_g}->{cout} @{y[2]}"


def per_layer(args, nnjoule, ort_run, workdir, paths, x_path):
    """Convolutions of ResNet-18/50 inside the whole model, 1 thread: ONNX Runtime's profiler
    against nnjoule's per-kernel times, summed per layer shape."""
    rows = []
    for name in [m for m in ("resnet18", "resnet50") if m in paths]:
        prefix = os.path.join(workdir, f"{name}_ort_profile")
        r = run_json(["node", ort_run, paths[name], "--input", x_path, "--runs", str(args.runs),
                      "--warmup", str(args.warmup), "--profile", prefix])
        with open(r["profile"]) as f:
            events = json.load(f)
        ort = {}  # label -> [per-run sums]
        node_times = {}
        for e in events:
            if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
                continue
            if e["args"].get("op_name") != "Conv":
                continue
            shapes = e["args"]["input_type_shape"]
            w = list(shapes[1].values())[0]
            y = list(e["args"]["output_type_shape"][0].values())[0]
            node_times.setdefault((e["name"], layer_label(w, y)), []).append(e["dur"] / 1e3)
        for (_, label), ts in node_times.items():
            ort[label] = ort.get(label, 0.0) + statistics.median(ts)
        j = run_json([nnjoule, "run", paths[name], "--input", x_path, "--runs", str(args.runs),
                      "--warmup", str(args.warmup), "--per-kernel", "--json"])
        classes = conv_classes(paths[name])
        nnj, flops = {}, {}
        for k in j["kernels"]:
            if k["name"] in classes and "latency_ms" in k:
                label, f = classes[k["name"]]
                nnj[label] = nnj.get(label, 0.0) + k["latency_ms"]["median"]
                flops[label] = flops.get(label, 0.0) + f
        for label in sorted(nnj, key=lambda x: -nnj[x]):
            if label not in ort:
                continue
            n, o, f = nnj[label], ort[label], flops[label]
            rows.append([SHORT[name], label, f"{f / 1e6:.0f}", f"{n:.3f}", f"{o:.3f}",
                         f"{f / n / 1e6:.0f}", f"{f / o / 1e6:.0f}", f"{o / n:.2f}x"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--runs", type=int, default=20, help="timed runs per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--workdir", help="keep the exported files here (default: a temp dir)")
    ap.add_argument("--profile", action="store_true",
                    help="write ONNX Runtime's per-node profile and nnjoule's per-kernel times")
    ap.add_argument("--json", help="also write the table as JSON to this file")
    ap.add_argument("--no-layers", dest="layers", action="store_false",
                    help="skip the per-layer convolution table of ResNet-18/50")
    args = ap.parse_args()

    nnjoule = os.path.join(args.build, "nnjoule")
    bare = os.path.join(args.build, "bench", "bench_exec_bare_xnnpack")
    ort_run = os.path.join(HERE, "ort", "ort_run.js")
    if not os.access(nnjoule, os.X_OK):
        sys.exit(f"ort_compare: {nnjoule} is missing; build nnjoule first")
    if not os.path.isdir(os.path.join(HERE, "ort", "node_modules", "onnxruntime-node")):
        sys.exit("ort_compare: onnxruntime-node is not installed; run "
                 "./scripts/install-deps.sh --bench (npm ci --ignore-scripts in bench/ort)")
    import numpy as np
    import torch
    import torchvision

    workdir = args.workdir or tempfile.mkdtemp(prefix="nnjoule-ort-compare-")
    os.makedirs(workdir, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    x_path = os.path.join(workdir, "input.bin")
    x.numpy().astype("float32").tofile(x_path)
    load_start = load_average()

    agree = {}
    paths = {}
    for name in args.models:
        log(f"exporting {name} ...")
        model = build(torchvision, name)
        path = os.path.join(workdir, f"{name}.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, x, path, opset_version=13, input_names=["input"],
                              output_names=["logits"])
        with torch.inference_mode():
            reference = model(x).numpy()
        paths[name] = path
        ny, oy = os.path.join(workdir, f"{name}.nnjoule.bin"), os.path.join(workdir, f"{name}.ort.bin")
        # nnjoule after warm-up and three runs on the input set once: later runs must compute
        # on it too.
        run_json([nnjoule, "run", path, "--input", x_path, "--output", ny, "--runs", "3",
                  "--warmup", "1", "--json"])
        run_json(["node", ort_run, path, "--input", x_path, "--output", oy, "--runs", "1",
                  "--warmup", "0"])
        n_out, o_out = np.fromfile(ny, dtype=np.float32), np.fromfile(oy, dtype=np.float32)
        agree[name] = dict(ort=rel_diff(n_out, o_out), nnjoule_torch=rel_diff(n_out, reference),
                           ort_torch=rel_diff(o_out, reference))
        log(f"  {name}: nnjoule vs ONNX Runtime {agree[name]['ort']:.1e}; against PyTorch: "
            f"nnjoule {agree[name]['nnjoule_torch']:.1e}, ONNX Runtime "
            f"{agree[name]['ort_torch']:.1e}")

    samples = {}  # (model, threads, runtime) -> [ms]
    version = None
    for rnd in range(args.rounds):
        log(f"round {rnd + 1}/{args.rounds} (load average {load_average():.2f})")
        for name in args.models:
            for t in args.threads:
                cmds = {
                    "nnjoule": [nnjoule, "run", paths[name], "--input", x_path, "--threads",
                                str(t), "--runs", str(args.runs), "--warmup", str(args.warmup),
                                "--json"],
                    "ort": ["node", ort_run, paths[name], "--input", x_path, "--threads", str(t),
                            "--runs", str(args.runs), "--warmup", str(args.warmup)],
                }
                if name in BARE and os.access(bare, os.X_OK):
                    cmds["bare"] = [bare, BARE[name], "--threads", str(t), "--runs",
                                    str(args.runs), "--warmup", str(args.warmup)]
                order = list(cmds) if rnd % 2 == 0 else list(reversed(list(cmds)))
                for rt in order:
                    r = run_json(cmds[rt])
                    if rt == "ort":
                        version = r.get("version")
                    samples.setdefault((name, t, rt), []).extend(r["samples_ms"])

    if args.profile:
        for name in args.models:
            for t in args.threads:
                prefix = os.path.join(workdir, f"{name}_t{t}_ort_profile")
                r = run_json(["node", ort_run, paths[name], "--input", x_path, "--threads",
                              str(t), "--runs", str(args.runs), "--warmup", str(args.warmup),
                              "--profile", prefix])
                r2 = run_json([nnjoule, "run", paths[name], "--input", x_path, "--threads", str(t),
                               "--runs", str(args.runs), "--warmup", str(args.warmup),
                               "--per-kernel", "--json"])
                with open(os.path.join(workdir, f"{name}_t{t}_nnjoule_kernels.json"), "w") as f:
                    json.dump(r2, f, indent=1)
                log(f"profiles of {name}, {t} thread(s): {r['profile']}")
    layer_rows = per_layer(args, nnjoule, ort_run, workdir, paths, x_path) if args.layers else []
    load_end = load_average()

    rows, table = [], []
    for name in args.models:
        for t in args.threads:
            n = samples[(name, t, "nnjoule")]
            o = samples[(name, t, "ort")]
            nm, om = statistics.median(n), statistics.median(o)
            b = samples.get((name, t, "bare"))
            row = dict(model=SHORT[name], threads=t, nnjoule_ms=nm, ort_ms=om, ratio=om / nm,
                       spread=max(spread(n), spread(o)), agreement=agree[name]["ort"],
                       bare_ms=statistics.median(b) if b else None)
            table.append(row)
            rows.append([row["model"], str(t), f"{nm:.2f}", f"{om:.2f}", f"{om / nm:.2f}x",
                         f"{row['spread'] * 100:.0f}%",
                         f"{row['bare_ms']:.2f}" if b else "-",
                         f"{nm / row['bare_ms']:.2f}" if b else "-",
                         f"{agree[name]['ort']:.1e}"])
    header = ["model", "threads", "nnjoule ms", "ONNX Runtime ms", "ORT/nnjoule", "spread",
              "bare XNNPACK ms", "nnjoule/bare", "max rel. error vs ORT"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"nnjoule vs ONNX Runtime {version or '?'} (onnxruntime-node, CPU), torchvision models "
          f"(random weights, opset 13, 1x3x224x224), medians of {args.runs} runs x "
          f"{args.rounds} rounds after {args.warmup} warm-up runs, interleaved; "
          f"load average {load_start:.2f} -> {load_end:.2f}; all latencies measured (wall clock)")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    bad = [r for r in table if not r["agreement"] < 1e-4]
    print(f"agreement < 1e-4: {len(table) // len(args.threads) - len(bad) // len(args.threads)}"
          f"/{len(args.models)} models; ORT/nnjoule >= 1.0 in "
          f"{sum(r['ratio'] >= 1.0 for r in table)}/{len(table)} cells")
    if layer_rows:
        print()
        print("convolutions inside ResNet-18/50 by layer shape, 1 thread: nnjoule --per-kernel "
              "against ONNX Runtime's profiler (both measured (wall clock); GFLOP/s = 2 x MACs / "
              "median; ONNX Runtime's conv includes the Add and Relu it fuses)")
        header = ["model", "layer", "MFLOPs", "nnjoule ms", "ONNX Runtime ms", "nnjoule GFLOP/s",
                  "ONNX Runtime GFLOP/s", "ORT/nnjoule"]
        widths = [max(len(h), *(len(r[i]) for r in layer_rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for r in layer_rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(version=version, rows=table, agreement=agree, layers=layer_rows,
                           load_average=[load_start, load_end]), f, indent=1)


if __name__ == "__main__":
    main()
