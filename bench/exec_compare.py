#!/usr/bin/python3
"""Side-by-side latency of nnjoule's engine, the bare XNNPACK operator sequence, PyTorch eager
and OpenCV's dnn module on torchvision ResNet-18 and MobileNetV2 (random weights), 1 and 2
threads, on the same exported ONNX files; plus the ratio of a whole-model run to the sum of its
kernels run standalone.

    /usr/bin/python3 bench/exec_compare.py [--build build] [--runs 30] [--warmup 10] [--rounds 3]

Needs python3-torch, python3-torchvision, python3-onnx and python3-opencv
(./scripts/install-deps.sh --bench) and a build with the `nnjoule` and
`bench_exec_bare_xnnpack` targets. Every latency is measured on the wall clock (medians over
runs x rounds, frameworks interleaved round by round so a change in machine load hits all of
them alike). See docs/execution.md for the recorded runs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

MODELS = {"resnet18": "resnet18", "mobilenetv2": "mobilenet_v2"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def export(torch, torchvision, name, workdir):
    """ONNX files of one torchvision model: opset 13 for nnjoule (batch-norm folded by the
    exporter, and a PRESERVE export that keeps it), opset 10 without Identity for OpenCV 4.6."""
    import onnx

    torch.manual_seed(0)
    model = getattr(torchvision.models, MODELS[name])(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    paths = {k: os.path.join(workdir, f"{name}_{k}.onnx") for k in ("op13", "bn", "op10")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        common = dict(input_names=["input"], output_names=["logits"])
        torch.onnx.export(model, x, paths["op13"], opset_version=13, **common)
        torch.onnx.export(model, x, paths["bn"], opset_version=13, do_constant_folding=False,
                          training=torch.onnx.TrainingMode.PRESERVE, **common)
        torch.onnx.export(model, x, paths["op10"], opset_version=10, **common)
    # OpenCV 4.6 rejects Identity nodes: route their consumers to the Identity's input.
    m = onnx.load(paths["op10"])
    alias = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Identity"}
    if alias:
        keep = [n for n in m.graph.node if n.op_type != "Identity"]
        for n in keep:
            for i, t in enumerate(n.input):
                while t in alias:
                    t = alias[t]
                n.input[i] = t
        for o in m.graph.output:
            while o.name in alias:
                o.name = alias[o.name]
        del m.graph.node[:]
        m.graph.node.extend(keep)
        onnx.save(m, paths["op10"])
    x_path = os.path.join(workdir, f"{name}_input.bin")
    x.numpy().astype("float32").tofile(x_path)
    with torch.inference_mode():
        reference = model(x).numpy()
    return model, x, paths, x_path, reference


def rel_diff(a, b):
    import numpy as np

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(here, "..", "build"))
    ap.add_argument("--runs", type=int, default=30, help="timed runs per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--workdir", help="keep the exported files here (default: a temp dir)")
    ap.add_argument("--no-standalone", action="store_true",
                    help="skip the whole-model / sum-of-standalone-kernels ratio")
    args = ap.parse_args()

    nnjoule = os.path.join(args.build, "nnjoule")
    bare = os.path.join(args.build, "bench", "bench_exec_bare_xnnpack")
    for exe in (nnjoule, bare):
        if not os.access(exe, os.X_OK):
            sys.exit(f"exec_compare: {exe} is missing; build the nnjoule and "
                     "bench_exec_bare_xnnpack targets first")
    import cv2
    import numpy as np
    import torch
    import torchvision

    workdir = args.workdir or tempfile.mkdtemp(prefix="nnjoule-exec-compare-")
    os.makedirs(workdir, exist_ok=True)
    load_start = load_average()
    models = {}
    for name in args.models:
        log(f"exporting {name} ...")
        model, x, paths, x_path, reference = export(torch, torchvision, name, workdir)
        # Agreement first: nnjoule (folded and preserved batch-norm) and OpenCV against PyTorch.
        agree = {}
        for kind in ("op13", "bn"):
            y_path = os.path.join(workdir, f"{name}_{kind}_out.bin")
            subprocess.run([nnjoule, "run", paths[kind], "--input", x_path, "--output", y_path,
                            "--runs", "1", "--warmup", "0"], check=True, capture_output=True)
            agree[kind] = rel_diff(np.fromfile(y_path, dtype=np.float32), reference)
        net = cv2.dnn.readNetFromONNX(paths["op10"])
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        net.setInput(x.numpy())
        agree["opencv"] = rel_diff(net.forward(), reference)
        models[name] = dict(model=model, x=x, paths=paths, net=net, agree=agree)
        log(f"  {name}: max |diff| / max |PyTorch| nnjoule {agree['op13']:.1e} "
            f"(BN kept: {agree['bn']:.1e}), OpenCV {agree['opencv']:.1e}")

    samples = {}  # (model, threads, framework) -> [ms]

    def add(key, values):
        samples.setdefault(key, []).extend(values)

    for rnd in range(args.rounds):
        log(f"round {rnd + 1}/{args.rounds} (load average {load_average():.2f})")
        for name, m in models.items():
            for t in args.threads:
                r = run_json([nnjoule, "run", m["paths"]["op13"], "--threads", str(t),
                              "--runs", str(args.runs), "--warmup", str(args.warmup), "--json"])
                add((name, t, "nnjoule"), r["samples_ms"])
                r = run_json([bare, name, "--threads", str(t), "--runs", str(args.runs),
                              "--warmup", str(args.warmup)])
                add((name, t, "bare"), r["samples_ms"])
                torch.set_num_threads(t)
                with torch.inference_mode():
                    for _ in range(args.warmup):
                        m["model"](m["x"])
                    ts = []
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        m["model"](m["x"])
                        ts.append((time.perf_counter() - t0) * 1e3)
                add((name, t, "pytorch"), ts)
                cv2.setNumThreads(t)
                for _ in range(args.warmup):
                    m["net"].forward()
                ts = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    m["net"].forward()
                    ts.append((time.perf_counter() - t0) * 1e3)
                add((name, t, "opencv"), ts)

    standalone = {}
    if not args.no_standalone:
        for name, m in models.items():
            for t in args.threads:
                log(f"standalone kernels of {name}, {t} thread(s) ...")
                r = run_json([nnjoule, "run", m["paths"]["op13"], "--threads", str(t),
                              "--runs", str(args.runs), "--warmup", str(args.warmup),
                              "--standalone", "--json"])
                standalone[(name, t)] = r["whole_over_standalone"]
    load_end = load_average()

    med = {k: statistics.median(v) for k, v in samples.items()}
    header = ["model", "threads", "nnjoule ms", "bare XNNPACK ms", "PyTorch ms", "OpenCV ms",
              "nnjoule/bare", "PyTorch/nnjoule", "OpenCV/nnjoule", "whole/standalone"]
    rows = []
    for name in models:
        for t in args.threads:
            n, b = med[(name, t, "nnjoule")], med[(name, t, "bare")]
            p, o = med[(name, t, "pytorch")], med[(name, t, "opencv")]
            s = standalone.get((name, t))
            rows.append([name, str(t), f"{n:.2f}", f"{b:.2f}", f"{p:.2f}", f"{o:.2f}",
                         f"{n / b:.3f}", f"{p / n:.2f}x", f"{o / n:.2f}x",
                         f"{s:.3f}" if s is not None else "-"])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"\nAll latencies measured (wall clock): medians of {args.runs} runs x {args.rounds} "
          f"rounds after {args.warmup} warm-up runs, frameworks interleaved per round; "
          f"{cpu_model()}, {os.cpu_count()} CPUs; load "
          f"average {load_start:.2f} at start, {load_end:.2f} at end; torch {torch.__version__}, "
          f"OpenCV {cv2.__version__}.")
    print("Agreement with PyTorch (max |diff| / max |PyTorch|): " + "; ".join(
        f"{n}: nnjoule {m['agree']['op13']:.1e} (BN kept {m['agree']['bn']:.1e}), "
        f"OpenCV {m['agree']['opencv']:.1e}" for n, m in models.items()))
    print("whole/standalone: whole-model median over the sum of each kernel's median run as a "
          "model of its own (nnjoule run --standalone).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
